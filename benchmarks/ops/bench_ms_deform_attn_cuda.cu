// Multi-scale deformable attention on the GPU at VoxFormer sizes (the same problems as bench_ms_deform_attn):
// the library's kernel launched by the CUDA backend, timed with CUDA events around each call.
// items_per_second = head-samples/s. Without a usable GPU every benchmark reports an error and is skipped.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "support/device_buffer.hpp"
#include "voxformer/backend/cuda/cuda_executor.hpp"
#include "voxformer/ops/msda/ms_deform_attn.hpp"
#include "voxformer/ops/msda/ms_deform_attn_3d.hpp"

namespace {

using bench::distribution;
using bench::msda_problem;

// One problem and its device copy per (size, distribution), made on first use: Google Benchmark calls a
// benchmark several times while it sizes the iteration count, and the 3-D problem takes seconds to generate.
struct gpu_problem {
  msda_problem host;
  test::device_buffer<float> value{host.value}, loc{host.locations}, w{host.weights}, out{host.out};
};

// Sizes as in bench_ms_deform_attn: T = 5 cameras × 20 000 queries, S = 1 camera, one 24×77 level; 3-D
// self-attention: 2 queue slots × 262 144 voxels of 128×128×16.
gpu_problem& problem(int which, distribution where) {
  static std::map<std::pair<int, int>, std::unique_ptr<gpu_problem>> cache;
  auto& slot = cache[{which, static_cast<int>(where)}];
  if (!slot) {
    switch (which) {
      case 0: slot.reset(new gpu_problem{msda_problem(2, 5, 20000, 8, 16, 8, {24, 77}, where)}); break;
      case 1: slot.reset(new gpu_problem{msda_problem(2, 1, 20000, 8, 16, 8, {24, 77}, where)}); break;
      default: slot.reset(new gpu_problem{msda_problem(3, 2, 262144, 8, 16, 8, {128, 128, 16}, where)});
    }
  }
  return *slot;
}

const char* const size_names[] = {"voxformer_T_cross", "voxformer_S_cross", "voxformer_self3d"};

void run_cuda(benchmark::State& state, int which, distribution where) {
  if (!test::gpu_present()) return state.SkipWithError("no CUDA device");
  auto& g = problem(which, where);
  const msda_problem& p = g.host;
  const voxformer::cuda_executor executor{};
  const auto device = voxformer::memory_space::on_device(executor.device);  // where the problem was allocated
  const auto value = voxformer::tensor_view<const float, 4>(g.value.data, {p.B, p.S, p.H, p.D}, device);
  const auto loc = voxformer::tensor_view<const float, 6>(g.loc.data, {p.B, p.Q, p.H, p.L, p.P, p.dims}, device);
  const auto w = voxformer::tensor_view<const float, 5>(g.w.data, {p.B, p.Q, p.H, p.L, p.P}, device);
  const auto out = voxformer::tensor_view<float, 3>(g.out.data, {p.B, p.Q, p.H * p.D}, device);
  const auto shapes = voxformer::make_view<2>(p.shapes.data(), {1, p.dims});
  const auto starts = voxformer::make_view<1>(p.starts.data(), {1});
  auto call = [&] {
    if (p.dims == 2) voxformer::ms_deform_attn(executor, value, shapes, starts, loc, w, out);
    else voxformer::ms_deform_attn_3d(executor, value, shapes, starts, loc, w, out);
  };
  cudaEvent_t start, stop;
  VOXFORMER_CUDA_CHECK(cudaEventCreate(&start));
  VOXFORMER_CUDA_CHECK(cudaEventCreate(&stop));
  call();  // warm-up: module load
  VOXFORMER_CUDA_CHECK(cudaDeviceSynchronize());
  for (auto _ : state) {
    VOXFORMER_CUDA_CHECK(cudaEventRecord(start));
    call();
    VOXFORMER_CUDA_CHECK(cudaEventRecord(stop));
    VOXFORMER_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    VOXFORMER_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(ms / 1e3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  bench::report_head_samples(state, p);
}

const bool registered = [] {
  for (int which : {0, 1, 2})
    for (auto where : {distribution::realistic, distribution::uniform})
      benchmark::RegisterBenchmark((std::string("msda_cuda/") + size_names[which] +
                                    (where == distribution::uniform ? "/uniform" : "/realistic"))
                                       .c_str(),
                                   run_cuda, which, where)
          ->Unit(benchmark::kMicrosecond)
          ->UseManualTime();
  return true;
}();

}  // namespace
