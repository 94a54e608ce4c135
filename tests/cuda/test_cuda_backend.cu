// The CUDA backend runs the very kernels the CPU backend runs; results are compared with the float64 oracle
// (MSDA) or with the CPU's (voxelisation, scatter).
// Without a usable GPU every GPU test is skipped (GTEST_SKIP), never failed.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/device_buffer.hpp"
#include "support/error_of.hpp"
#include "support/msda_case.hpp"
#include "voxformer/backend/cuda/cuda_executor.hpp"
#include "voxformer/ops/scatter/mask_token_scatter.hpp"
#include "voxformer/ops/voxel/voxelize.hpp"

namespace {

using voxformer::memory_space;

#define REQUIRE_GPU() \
  if (!test::gpu_present()) GTEST_SKIP() << "no CUDA device"

using test::device_buffer;

struct bilinear {
  template <class... A>
  void operator()(A&&... a) const { voxformer::ms_deform_attn(std::forward<A>(a)...); }
};
struct trilinear {
  template <class... A>
  void operator()(A&&... a) const { voxformer::ms_deform_attn_3d(std::forward<A>(a)...); }
};

//! Runs the case on the GPU with the value tensor `value_shift` floats past a 256-byte aligned allocation.
template <class Op>
std::vector<float> run_msda_on_gpu(const test::msda_case<float>& c, Op op, int value_shift = 0) {
  std::vector<float> shifted_value(static_cast<std::size_t>(value_shift));
  shifted_value.insert(shifted_value.end(), c.value.begin(), c.value.end());
  device_buffer<float> value(shifted_value), loc(c.locations), w(c.weights);
  device_buffer<float> out(std::vector<float>(static_cast<std::size_t>(c.B * c.Q * c.H * c.D)));
  op(voxformer::cuda_executor{},
     voxformer::tensor_view<const float, 4>(value.data + value_shift, {c.B, c.S, c.H, c.D}, memory_space::device),
     voxformer::make_view<2>(c.shapes.data(), {c.L, c.dims}), voxformer::make_view<1>(c.starts.data(), {c.L}),
     loc.template view<6>({c.B, c.Q, c.H, c.L, c.P, c.dims}), w.template view<5>({c.B, c.Q, c.H, c.L, c.P}),
     out.template view<3>({c.B, c.Q, c.H * c.D}));
  VOXFORMER_CUDA_CHECK(cudaDeviceSynchronize());
  return out.to_host();
}

// The GPU is held to the float64 oracle, not to the CPU's output: nvcc contracts x·W − 0.5 and the corner
// weights into FMAs where the portable CPU build does not, so the two round the sampling coordinate differently
// (on an H200 they differed by up to 1.4e-5). Tolerance |Δ| ≤ 2e-5 + 1e-5·|ref|: the fp32 coordinate is off by
// up to W·2^-24 px (4.6e-6 at W = 77) per tap, which moves each of the 16 taps (unnormalised weights up to 1,
// N(0,1) values) by that times the value step; the CPU's fixed cases stay under 1e-5 + 1e-5·|ref| (tests/ops/msda),
// the GPU's reached 1.38e-5 against the oracle on an H200.
constexpr double gpu_abs_tol = 2e-5, gpu_rel_tol = 1e-5;

TEST(CudaBackend, BilinearMsdaMatchesFloat64Reference) {
  REQUIRE_GPU();
  for (long dh : {16L, 8L, 6L}) {
    const auto c = test::msda_case<float>::random(2, 2, 3000, 8, dh, 8, {24, 77, 6, 9}, static_cast<unsigned>(dh));
    test::expect_close(run_msda_on_gpu(c, bilinear{}), c.reference_output(), gpu_abs_tol, gpu_rel_tol);
  }
}

// GPU threads load 4 channels as one 16-byte vector where the value row is 16-byte aligned; a value tensor that
// starts one float off takes the scalar loads, with the same result.
TEST(CudaBackend, MisalignedValueMatchesFloat64Reference) {
  REQUIRE_GPU();
  const auto c = test::msda_case<float>::random(2, 2, 1000, 8, 16, 8, {24, 77}, 5);
  const auto aligned = run_msda_on_gpu(c, bilinear{}), misaligned = run_msda_on_gpu(c, bilinear{}, 1);
  test::expect_close(misaligned, c.reference_output(), gpu_abs_tol, gpu_rel_tol);
  EXPECT_EQ(misaligned, aligned);  // the same arithmetic, only the loads differ
}

TEST(CudaBackend, TrilinearMsdaMatchesFloat64Reference) {
  REQUIRE_GPU();
  const auto c = test::msda_case<float>::random(3, 2, 3000, 8, 16, 8, {16, 16, 4}, 11);
  test::expect_close(run_msda_on_gpu(c, trilinear{}), c.reference_output(), gpu_abs_tol, gpu_rel_tol);
}

TEST(CudaBackend, VoxelizeAndScatterMatchCpu) {
  REQUIRE_GPU();
  std::vector<float> points;
  for (int i = 0; i < 30000; ++i)
    points.insert(points.end(), {0.0017f * float(i % 30011), -25.f + 0.0016f * float((i * 7) % 31013),
                                 -2.5f + 0.0002f * float((i * 13) % 33013), 1.f});
  const auto geometry = voxformer::volume_geometry::voxformer_fine();
  std::vector<std::uint8_t> cpu_grid(static_cast<std::size_t>(geometry.voxel_count()));
  voxformer::voxelize(voxformer::cpu_executor{2}, voxformer::make_view<2>(points.data(), {30000, 4}), geometry,
                      voxformer::make_view<3>(cpu_grid.data(), {256, 256, 32}));
  device_buffer<float> d_points(points);
  device_buffer<std::uint8_t> d_grid(std::vector<std::uint8_t>(cpu_grid.size(), 7));
  voxformer::voxelize(voxformer::cuda_executor{}, d_points.view<2>({30000, 4}), geometry,
                      d_grid.view<3>({256, 256, 32}));
  EXPECT_EQ(d_grid.to_host(), cpu_grid);

  const std::vector<float> seed = {1, 2, 3, 4, 5, 6}, token = {-1, -2, -3};
  const std::vector<std::int32_t> rows = {1, 6};
  std::vector<float> cpu_volume(24);
  voxformer::scatter_with_mask_token(voxformer::cpu_executor{1}, voxformer::make_view<2>(seed.data(), {2, 3}),
                                     voxformer::make_view<1>(rows.data(), {2}), voxformer::make_view<1>(token.data(), {3}),
                                     voxformer::make_view<2>(cpu_volume.data(), {8, 3}));
  device_buffer<float> d_seed(seed), d_token(token), d_volume(std::vector<float>(24));
  device_buffer<std::int32_t> d_rows(rows);
  voxformer::scatter_with_mask_token(voxformer::cuda_executor{}, d_seed.view<2>({2, 3}), d_rows.view<1>({2}),
                                     d_token.view<1>({3}), d_volume.view<2>({8, 3}));
  EXPECT_EQ(d_volume.to_host(), cpu_volume);
}

TEST(CudaBackend, HostMemoryIsRejectedBeforeLaunch) {
  // Pure host-side validation: runs (and passes) without a GPU.
  std::vector<float> seed(6), token(3), volume(24);
  std::vector<std::int32_t> rows = {1, 6};
  EXPECT_THROW(voxformer::scatter_with_mask_token(voxformer::cuda_executor{}, voxformer::make_view<2>(seed.data(), {2, 3}),
                                                  voxformer::make_view<1>(rows.data(), {2}),
                                                  voxformer::make_view<1>(token.data(), {3}),
                                                  voxformer::make_view<2>(volume.data(), {8, 3})),
               voxformer::error);
}

struct add_one {
  int* values;
  VOXFORMER_HOST_DEVICE void operator()(voxformer::index_t i) const { values[i] += 1; }
};

// Also pure host-side: the block size is checked when the executor is made and again at the launch (a field
// changed afterwards), before any CUDA call; a block size of 0 used to divide by zero on the host (SIGFPE).
TEST(CudaBackend, BlockSizeIsCheckedOnTheHostBeforeAnyCudaCall) {
  const auto message = [](int threads) {
    return "voxformer::cuda_executor: argument 'threads_per_block' must be in [1, 1024], got " +
           std::to_string(threads);
  };
  for (int threads : {0, -1, 1025})
    EXPECT_EQ(test::error_of([&] { (void)voxformer::cuda_executor{nullptr, threads}; }), message(threads));
  EXPECT_EQ((voxformer::cuda_executor{nullptr, 1024}.threads_per_block), 1024);
  EXPECT_EQ(voxformer::cuda_executor{}.threads_per_block, 256);
  voxformer::cuda_executor changed{};
  changed.threads_per_block = 0;
  EXPECT_EQ(test::error_of([&] { voxformer::parallel_for(changed, 10, add_one{nullptr}); }), message(0));
}

}  // namespace
