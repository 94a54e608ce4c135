// Stage 2 + head of VoxFormer-T and -S on the GPU at the official size, on the bundled frame (`bundled_frame.hpp`:
// 7 580 proposals, random weights and features), weights uploaded once, inputs and outputs in device memory; B = 1
// and B = 4 (the frame four times, through `run_batch`, which runs a batch's frames one after another); fp32 layer
// weights, then bfloat16 (`stage2_bf16`), then float16 at B = 1 (`stage2_fp16`: the same GEMMs as bfloat16's, with
// another storage type, so two cases suffice).
// Counters: `ms_per_frame` by CUDA events on the pipeline's stream around `run_batch`, over B (its host reads
// included), each stage's ms (the report's host clock after a synchronize), `pipeline_mib` = the device memory the
// pipeline holds (derived weights + frame memory), `weights_mib` (the upload), `device_used_mib` = the device's memory
// in use after the frames less before the weights (cudaMemGetInfo: the CUDA context's own share excluded). Not yet run
// on a GPU.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "pipeline/bundled_frame.hpp"
#include "support/device_buffer.hpp"
#include "voxformer/backend/cuda/cuda_backend.hpp"

namespace {

using namespace voxformer;
using test::device_buffer;

std::size_t device_memory_in_use() {
  std::size_t free = 0, total = 0;
  VOXFORMER_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return total - free;
}

//! W: the layers' weight type — float, bfloat16 or float16 (`gemm_narrow.hpp`: activations rounded, fp32 sums).
template <class W>
void stage2(benchmark::State& state, const char* variant, index_t frames) {
  if (!test::gpu_present()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  const bench::bundled_frame f(variant);
  cudaStream_t stream = nullptr;
  VOXFORMER_CUDA_CHECK(cudaStreamCreate(&stream));
  const cuda_executor gpu(stream);
  const std::size_t before = device_memory_in_use();
  {
    const auto uploaded = f.weights.upload(gpu);
    device_buffer<float> features(bench::repeated(f.features, frames)), lidar2img(bench::repeated(f.lidar2img, frames));
    device_buffer<std::uint8_t> proposal(bench::repeated(f.proposal, frames));
    const auto voxels = static_cast<std::size_t>(f.config.output_voxels() * frames);
    device_buffer<std::uint8_t> labels{std::vector<std::uint8_t>(voxels)};
    device_buffer<float> logits(std::vector<float>(voxels * static_cast<std::size_t>(f.config.classes)));
    pipeline<cuda_executor, float, W> pipe(gpu, f.config, uploaded.parameters());
    const auto grid = f.config.output_volume();
    auto shape = f.feature_shape();
    shape[0] = frames;
    cudaEvent_t start = nullptr, stop = nullptr;
    VOXFORMER_CUDA_CHECK(cudaEventCreate(&start));
    VOXFORMER_CUDA_CHECK(cudaEventCreate(&stop));
    std::vector<double> stage_ms;
    double total_ms = 0;
    for (auto _ : state) {
      VOXFORMER_CUDA_CHECK(cudaEventRecord(start, stream));
      const auto reports =
          pipe.run_batch(tensor_view<const float, 5>(features.view<5>(shape)),
                         tensor_view<const float, 4>(lidar2img.view<4>({frames, f.config.cameras, 4, 4})),
                         tensor_view<const std::uint8_t, 4>(proposal.view<4>({frames, 128, 128, 16})),
                         labels.view<4>({frames, grid[0], grid[1], grid[2]}),
                         logits.view<5>({frames, f.config.classes, grid[0], grid[1], grid[2]}));
      VOXFORMER_CUDA_CHECK(cudaEventRecord(stop, stream));
      VOXFORMER_CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      VOXFORMER_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      state.SetIterationTime(ms / 1e3);
      total_ms += ms;
      stage_ms.resize(pipe.report().stages.size());
      for (const auto& r : reports)
        for (std::size_t s = 0; s < r.stages.size(); ++s) stage_ms[s] += r.stages[s].milliseconds;
    }
    const double run_frames = static_cast<double>(state.iterations() * frames);
    state.counters["ms_per_frame"] = total_ms / run_frames;
    for (std::size_t s = 0; s < stage_ms.size(); ++s)
      state.counters[pipe.report().stages[s].name + "_ms"] = stage_ms[s] / run_frames;
    state.counters["proposals"] = static_cast<double>(pipe.report().proposals);
    state.counters["pipeline_mib"] =
        static_cast<double>(pipe.report().derived_bytes + pipe.report().workspace_bytes) / (1 << 20);
    state.counters["weights_mib"] = static_cast<double>(uploaded.bytes()) / (1 << 20);
    state.counters["device_used_mib"] = static_cast<double>(device_memory_in_use() - before) / (1 << 20);
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  cudaStreamDestroy(stream);
}

void stage2_fp32(benchmark::State& state, const char* variant, index_t frames) {
  stage2<float>(state, variant, frames);
}
void stage2_bf16(benchmark::State& state, const char* variant, index_t frames) {
  stage2<bfloat16>(state, variant, frames);
}
void stage2_fp16(benchmark::State& state, const char* variant, index_t frames) {
  stage2<voxformer::float16>(state, variant, frames);
}

#define VOXFORMER_STAGE2_BENCHMARKS(weights)                                                                     \
  BENCHMARK_CAPTURE(weights, T_B1, "T", 1)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(3.0);        \
  BENCHMARK_CAPTURE(weights, T_B4, "T", 4)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(3.0);        \
  BENCHMARK_CAPTURE(weights, S_B1, "S", 1)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(3.0);        \
  BENCHMARK_CAPTURE(weights, S_B4, "S", 4)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(3.0)
VOXFORMER_STAGE2_BENCHMARKS(stage2_fp32);
VOXFORMER_STAGE2_BENCHMARKS(stage2_bf16);
BENCHMARK_CAPTURE(stage2_fp16, T_B1, "T", 1)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(3.0);
BENCHMARK_CAPTURE(stage2_fp16, S_B1, "S", 1)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(3.0);

}  // namespace
