// The CUDA backend runs the very kernels the CPU backend runs; results are compared with the float64 oracle
// (MSDA) or with the CPU's (voxelisation, scatter).
// Without a usable GPU every GPU test is skipped (GTEST_SKIP), never failed.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "support/device_buffer.hpp"
#include "support/error_of.hpp"
#include "support/msda_case.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/backend/cuda/cuda_backend.hpp"
#include "voxformer/ops/rebatch/camera_batches.hpp"
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
     voxformer::tensor_view<const float, 4>(value.data + value_shift, {c.B, c.S, c.H, c.D}, value.space()),
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
  // So is another GPU's memory (the tag is all that is checked: nothing is launched).
  const voxformer::cuda_executor gpu;
  const auto elsewhere = voxformer::memory_space::on_device(gpu.device + 1);
  EXPECT_EQ(test::error_of([&] {
              voxformer::scatter_with_mask_token(
                  gpu, voxformer::tensor_view<const float, 2>(seed.data(), {2, 3}, elsewhere),
                  voxformer::tensor_view<const std::int32_t, 1>(rows.data(), {2}, elsewhere),
                  voxformer::tensor_view<const float, 1>(token.data(), {3}, elsewhere),
                  voxformer::tensor_view<float, 2>(volume.data(), {8, 3}, elsewhere));
            }),
            "voxformer::scatter_with_mask_token: argument 'seed' lives in device " + std::to_string(gpu.device + 1) +
                " memory, which the cuda_executor on device " + std::to_string(gpu.device) + " cannot access");
}

// The backend's algorithms against the CPU backend's. GEMM: every layout, both modes, with an epilogue; fp32 within
// 1e-4 relative (cuBLAS sums in another order, and may use TF32 only when asked: the default math mode does not).
template <class T>
std::vector<T> random_vector(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(normal(rng));
  return v;
}

struct add_row_index {
  voxformer::tensor_view<float, 2> c;
  VOXFORMER_HOST_DEVICE void operator()(voxformer::index_t row, voxformer::index_t first, voxformer::index_t end) const {
    for (voxformer::index_t j = first; j < end; ++j) c(row, j) += static_cast<float>(row);
  }
};

TEST(CudaBackend, GemmMatchesCpuInEveryLayout) {
  REQUIRE_GPU();
  using voxformer::index_t;
  const voxformer::execution_context<voxformer::cuda_executor> context(voxformer::cuda_executor{});
  const index_t m = 300, k = 70, n = 45;
  const auto a = random_vector<float>(m * k, 1), b = random_vector<float>(k * n, 2), c0 = random_vector<float>(m * n, 3);
  auto view = [](const float* data, index_t rows, index_t cols, bool column_major) {
    return column_major ? voxformer::tensor_view<const float, 2>(data, {rows, cols}, {1, rows})
                        : voxformer::tensor_view<const float, 2>(data, {rows, cols}, {cols, 1});
  };
  for (int layout = 0; layout < 8; ++layout)
    for (const bool accumulate : {false, true}) {
      std::vector<float> cpu = c0;
      const auto c_cpu = voxformer::tensor_view<float, 2>(cpu.data(), {m, n}, layout & 4 ? std::array<index_t, 2>{1, m} : std::array<index_t, 2>{n, 1});
      voxformer::gemm<float>(voxformer::cpu_executor{2}, view(a.data(), m, k, layout & 1), view(b.data(), k, n, layout & 2),
                             c_cpu, accumulate, add_row_index{c_cpu});
      device_buffer<float> da(a), db(b), dc(c0);
      const auto c_gpu = voxformer::tensor_view<float, 2>(dc.data, {m, n}, c_cpu.stride(0) == 1 ? std::array<index_t, 2>{1, m} : std::array<index_t, 2>{n, 1}, dc.space());
      auto device_view = [&](const float* data, voxformer::tensor_view<const float, 2> like) {
        return voxformer::tensor_view<const float, 2>(data, like.extents(), {like.stride(0), like.stride(1)}, c_gpu.space());
      };
      voxformer::gemm<float>(context.executor(), device_view(da.data, view(a.data(), m, k, layout & 1)),
                             device_view(db.data, view(b.data(), k, n, layout & 2)), c_gpu, accumulate, add_row_index{c_gpu});
      voxformer::synchronize(context.executor());
      test::expect_close(dc.to_host(), cpu, 1e-4, 1e-4);
    }
}

// A context given no stream makes its own, and a context given another's executor makes nothing.
TEST(CudaBackend, ContextMakesItsStreamAndHandleOnce) {
  REQUIRE_GPU();
  const voxformer::execution_context<voxformer::cuda_executor> own(voxformer::cuda_executor{});
  EXPECT_NE(own.executor().stream, nullptr);
  EXPECT_NE(own.executor().blas, nullptr);
  const voxformer::execution_context<voxformer::cuda_executor> shared(own.executor());
  EXPECT_EQ(shared.executor().stream, own.executor().stream);
  EXPECT_EQ(shared.executor().blas, own.executor().blas);
}

static_assert(voxformer::dtype_of<__half>() == voxformer::dtype{voxformer::scalar_kind::floating, 16});
static_assert(voxformer::dtype_of<__nv_bfloat16>() == voxformer::dtype{voxformer::scalar_kind::brain_floating, 16});

// Without a context the executor has no cuBLAS handle: an error before any CUDA call (runs without a GPU).
TEST(CudaBackend, GemmWithoutAContextIsAnError) {
  std::vector<float> a(4), c(4);
  const auto av = voxformer::make_view<2>(static_cast<const float*>(a.data()), {2, 2});
  EXPECT_EQ(test::error_of([&] { voxformer::gemm<float>(voxformer::cuda_executor{}, av, av, voxformer::make_view<2>(c.data(), {2, 2}), false); }),
            "voxformer::gemm: the cuda_executor has no cuBLAS handle (take the executor from an "
            "execution_context<cuda_executor>, which makes one)");
}

struct flagged_byte {
  voxformer::tensor_view<const std::uint8_t, 1> flags;
  VOXFORMER_HOST_DEVICE bool operator()(voxformer::index_t i) const { return flags(i) != 0; }
};
struct store_rank {
  voxformer::tensor_view<std::int32_t, 1> list;
  VOXFORMER_HOST_DEVICE void operator()(voxformer::index_t i, voxformer::index_t rank) const { list(rank) = static_cast<std::int32_t>(i); }
};

//! A device workspace of `bytes`, sized by the backend's own functions.
struct device_workspace {
  voxformer::cuda_buffer memory;
  explicit device_workspace(std::size_t bytes) : memory(voxformer::allocate_buffer(voxformer::cuda_executor{}, bytes)) {}
  voxformer::workspace get() const { return {memory.data(), memory.size(), memory.space()}; }
};

// Compaction on the device: the same list and count as the CPU's, the count never read on the host until the end;
// over capacity nothing is emitted and the count is still written.
TEST(CudaBackend, CompactionMatchesCpu) {
  REQUIRE_GPU();
  using voxformer::index_t;
  const voxformer::cuda_executor gpu{};
  for (const index_t n : {index_t{0}, index_t{1}, index_t{1000003}}) {
    std::mt19937 rng(static_cast<unsigned>(n));
    std::vector<std::uint8_t> flags(static_cast<std::size_t>(n));
    for (auto& f : flags) f = rng() % 3 == 0;
    const auto host_flags = voxformer::make_view<1>(static_cast<const std::uint8_t*>(flags.data()), {n});
    std::vector<std::int32_t> cpu_list(flags.size() + 1, -1);
    std::vector<std::byte> cpu_scratch(voxformer::compact_workspace_bytes(voxformer::cpu_executor{2}, n) + 64);
    index_t cpu_count = -1;
    voxformer::compact(voxformer::cpu_executor{2}, n, flagged_byte{host_flags}, store_rank{voxformer::make_view<1>(cpu_list.data(), {n + 1})}, n,
                       voxformer::make_view<1>(&cpu_count, {1}), voxformer::workspace::aligned(cpu_scratch.data(), cpu_scratch.size()));
    for (const index_t capacity : {n, cpu_count - 1}) {
      device_buffer<std::uint8_t> d_flags(flags);
      device_buffer<std::int32_t> d_list(std::vector<std::int32_t>(flags.size() + 1, -1));
      device_buffer<index_t> d_count(std::vector<index_t>{-1});
      const device_workspace scratch(voxformer::compact_workspace_bytes(gpu, n));
      voxformer::compact(gpu, n, flagged_byte{d_flags.view<1>({n})}, store_rank{d_list.view<1>({n + 1})}, capacity,
                         d_count.view<1>({1}), scratch.get());
      EXPECT_EQ(d_count.to_host(), std::vector<index_t>{cpu_count});
      EXPECT_EQ(d_list.to_host(), capacity >= cpu_count ? cpu_list : std::vector<std::int32_t>(flags.size() + 1, -1));
    }
  }
}

// Camera batches on the device (one pass over the pairs, one scan): the CPU's lists, offsets, lengths and rows.
TEST(CudaBackend, CameraBatchesMatchCpu) {
  REQUIRE_GPU();
  using voxformer::index_t;
  const index_t cameras = 3, queries = 40000, anchors = 2;
  std::mt19937 rng(5);
  std::vector<std::uint8_t> visible(static_cast<std::size_t>(cameras * queries * anchors));
  for (auto& v : visible) v = rng() % 5 == 0;
  const auto host_visible = voxformer::make_view<3>(static_cast<const std::uint8_t*>(visible.data()), {cameras, queries, anchors});
  const auto sizes = voxformer::camera_batch_sizes_of(voxformer::cpu_executor{2}, host_visible);
  std::vector<std::int32_t> offsets(cameras + 1), indices(static_cast<std::size_t>(sizes.total)), row_of(static_cast<std::size_t>(cameras * queries));
  voxformer::build_camera_batches(voxformer::cpu_executor{2}, host_visible, voxformer::make_view<1>(offsets.data(), {cameras + 1}),
                                  voxformer::make_view<1>(indices.data(), {sizes.total}), voxformer::make_view<2>(row_of.data(), {cameras, queries}));
  std::vector<std::int32_t> padded(static_cast<std::size_t>(cameras * sizes.max_len)), lengths(cameras), padded_row_of(row_of.size());
  voxformer::build_padded_camera_batches(voxformer::cpu_executor{2}, host_visible, voxformer::make_view<2>(padded.data(), {cameras, sizes.max_len}),
                                         voxformer::make_view<1>(lengths.data(), {cameras}), voxformer::make_view<2>(padded_row_of.data(), {cameras, queries}));

  const voxformer::cuda_executor gpu{};
  device_buffer<std::uint8_t> d_visible(visible);
  const auto dv = voxformer::tensor_view<const std::uint8_t, 3>(d_visible.data, {cameras, queries, anchors}, d_visible.space());
  device_buffer<std::int32_t> d_offsets(std::vector<std::int32_t>(offsets.size())), d_indices(std::vector<std::int32_t>(indices.size())),
      d_row_of(std::vector<std::int32_t>(row_of.size())), d_padded(std::vector<std::int32_t>(padded.size())),
      d_lengths(std::vector<std::int32_t>(lengths.size())), d_padded_row_of(std::vector<std::int32_t>(row_of.size()));
  const voxformer::camera_batch_arguments<std::int32_t> csr{dv, d_offsets.view<1>({cameras + 1}), d_indices.view<1>({sizes.total}),
                                                            d_row_of.view<2>({cameras, queries})};
  const voxformer::padded_camera_batch_arguments<std::int32_t> pad{dv, d_padded.view<2>({cameras, sizes.max_len}), d_lengths.view<1>({cameras}),
                                                                   d_padded_row_of.view<2>({cameras, queries})};
  voxformer::validate(gpu, csr);
  voxformer::validate(gpu, pad);
  const device_workspace scratch(std::max(workspace_bytes(gpu, csr), workspace_bytes(gpu, pad)));
  voxformer::run(gpu, csr, scratch.get());
  voxformer::run(gpu, pad, scratch.get());
  EXPECT_EQ(d_offsets.to_host(), offsets);
  EXPECT_EQ(d_indices.to_host(), indices);
  EXPECT_EQ(d_row_of.to_host(), row_of);
  EXPECT_EQ(d_padded.to_host(), padded);
  EXPECT_EQ(d_lengths.to_host(), lengths);
  EXPECT_EQ(d_padded_row_of.to_host(), padded_row_of);
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
