// The pipelines on the GPU against the CPU executor on their parity fixtures — stage 1, the image path, stage 2 + head
// in both layouts — with the weights uploaded once and inputs and outputs in device memory. Tolerance: 1e-4 of each
// output's largest magnitude (the fp32 parity rule; the GPU rounds differently, as tests/cuda/test_cuda_backend.cu
// explains for MSDA); labels and the proposal are compared where the CPU's logits are further apart than twice that.
// Skipped without a GPU (none has run them yet). 16-bit layer weights have their own bound, derived at their test.
// The whole model is instantiated and its frame call compiled: it
// composes the three.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "support/backbone_fixture.hpp"
#include "support/device_buffer.hpp"
#include "support/frame_batch.hpp"
#include "support/pipeline_fixture.hpp"
#include "support/qpn_fixture.hpp"
#include "voxformer/backend/cuda/cuda_backend.hpp"
#include "voxformer/pipeline/voxformer_model.hpp"

template class voxformer::voxformer_model<voxformer::cuda_executor, float>;

namespace voxformer::compile_checks {

void whole_model_frame(voxformer_model<cuda_executor, float>& model, tensor_view<const std::uint8_t, 4> rgb,
                       tensor_view<const float, 3> lidar2img, tensor_view<const std::uint8_t, 3> occupancy,
                       tensor_view<std::uint8_t, 3> labels, tensor_view<float, 4> logits) {
  model.run(rgb, lidar2img, occupancy, labels, logits);
}

}  // namespace voxformer::compile_checks

namespace {

using test::device_buffer;
using voxformer::cpu_executor;
using voxformer::cuda_executor;
using voxformer::index_t;
using voxformer::tensor_view;

#define REQUIRE_GPU() \
  if (!test::gpu_present()) GTEST_SKIP() << "no CUDA device"

const std::filesystem::path fixtures = VOXFORMER_TEST_FIXTURES_DIR;
constexpr double tolerance = 1e-4;  // of the largest magnitude

double largest_magnitude(const std::vector<float>& values) {
  double largest = 0;
  for (const float v : values) largest = std::max(largest, std::abs(static_cast<double>(v)));
  return largest;
}

void expect_close_to_cpu(const std::vector<float>& gpu, const std::vector<float>& cpu, const char* what) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  double worst = 0;
  for (std::size_t i = 0; i < gpu.size(); ++i) {
    const double d = std::abs(static_cast<double>(gpu[i]) - cpu[i]);
    if (!(d <= worst)) worst = d;  // NaN is the worst
  }
  EXPECT_LE(worst, tolerance * largest_magnitude(cpu)) << what;
}

//! Labels (argmax over `classes` rows of `cpu_logits`) equal wherever the CPU's best logit leads the next by more than
//! twice the tolerance: nearer ties may go either way.
void expect_clear_labels_equal(const std::vector<std::uint8_t>& gpu, const std::vector<std::uint8_t>& cpu,
                               const std::vector<float>& cpu_logits, index_t classes) {
  const std::size_t voxels = cpu.size();
  const double margin = 2 * tolerance * largest_magnitude(cpu_logits);
  std::size_t clear = 0, differing = 0;
  for (std::size_t v = 0; v < voxels; ++v) {
    float best = -INFINITY, second = -INFINITY;
    for (index_t c = 0; c < classes; ++c) {
      const float l = cpu_logits[static_cast<std::size_t>(c) * voxels + v];
      if (l > best) second = best, best = l;
      else if (l > second) second = l;
    }
    if (best - second <= margin) continue;
    ++clear;
    differing += gpu[v] != cpu[v];
  }
  EXPECT_EQ(differing, 0u) << "of " << clear << " clearly labelled voxels";
  EXPECT_GT(clear, voxels / 2);
}

//! Feature levels uploaded to device memory, and views of them.
struct device_features {
  std::vector<std::unique_ptr<device_buffer<float>>> memory;
  std::vector<tensor_view<const float, 5>> views;
  void add(std::vector<float> values, const std::array<index_t, 5>& shape) {
    memory.push_back(std::make_unique<device_buffer<float>>(std::move(values)));
    views.emplace_back(memory.back()->view<5>(shape));
  }
  //! The fixture's own levels.
  explicit device_features(const test::pipeline_fixture& f) {
    for (const auto& level : f.features)
      add(std::vector<float>(level.data<float>(), level.data<float>() + level.size()), test::fixture_shape<5>(level));
  }
  //! A batch's levels.
  explicit device_features(const test::frame_batch& batch) {
    for (std::size_t l = 0; l < batch.features.size(); ++l) add(batch.features[l], batch.feature_views[l].extents());
  }
};

//! The pipeline fixture's frame in device memory: its feature levels, matrices and proposal.
struct device_frame {
  device_features levels;
  device_buffer<float> lidar2img;
  device_buffer<std::uint8_t> proposal;
  index_t cameras, voxels;
  explicit device_frame(const test::pipeline_fixture& f)
      : levels(f), lidar2img(test::fixture_values<float>(f.lidar2img)),
        proposal(test::fixture_values<std::uint8_t>(f.proposal)), cameras(f.config.cameras), voxels(f.config.voxels()) {}
  tensor_view<const float, 3> matrices() const { return lidar2img.view<3>({cameras, 4, 4}); }
  tensor_view<const std::uint8_t, 1> mask() const { return proposal.view<1>({voxels}); }
};

TEST(CudaPipelines, ProposalPipelineMatchesCpu) {
  REQUIRE_GPU();
  const test::qpn_fixture f(fixtures / "qpn" / "f32_64x64");
  const auto weights = f.weights();
  const auto on_cpu = test::run_qpn<std::uint8_t>(f, weights.parameters(), cpu_executor{2});
  const cuda_executor gpu{};
  const auto uploaded = weights.upload(gpu);
  const auto& g = f.config.grid;
  const auto half = f.config.output_grid();
  const auto* grid = f.grid.data<std::uint8_t>();
  device_buffer<std::uint8_t> occupancy(std::vector<std::uint8_t>(grid, grid + f.grid.size()));
  device_buffer<std::uint8_t> proposal(std::vector<std::uint8_t>(on_cpu.proposal.size()));
  device_buffer<float> logits(std::vector<float>(on_cpu.logits.size()));
  voxformer::proposal_pipeline<cuda_executor, float> pipe(gpu, f.config, uploaded.parameters());
  const auto& report = pipe.run(tensor_view<const std::uint8_t, 3>(occupancy.view<3>({g[0], g[1], g[2]})),
                                proposal.view<3>({half[0], half[1], half[2]}),
                                logits.view<4>({2, half[0], half[1], half[2]}));
  VOXFORMER_CUDA_CHECK(cudaDeviceSynchronize());
  expect_close_to_cpu(logits.to_host(), on_cpu.logits, "logits");
  expect_clear_labels_equal(proposal.to_host(), on_cpu.proposal, on_cpu.logits, 2);
  EXPECT_NEAR(static_cast<double>(report.proposals), static_cast<double>(on_cpu.report.proposals),
              0.01 * static_cast<double>(on_cpu.report.proposals));
}

TEST(CudaPipelines, ImagePipelineMatchesCpu) {
  REQUIRE_GPU();
  const test::backbone_fixture f(fixtures / "backbone" / "w8_k3");
  const auto weights = f.weights();
  const auto on_cpu = test::run_backbone(f, weights.parameters(), cpu_executor{2});
  const cuda_executor gpu{};
  const auto uploaded = weights.upload(gpu);
  const auto* pixels = f.images.data<std::uint8_t>();
  device_buffer<std::uint8_t> images(std::vector<std::uint8_t>(pixels, pixels + f.images.size()));
  const auto [h, w] = f.config.feature_shape();
  device_buffer<float> features(std::vector<float>(static_cast<std::size_t>(f.image_count() * f.config.neck_channels * h * w)));
  voxformer::image_pipeline<cuda_executor, float> pipe(gpu, f.config, uploaded.parameters());
  pipe.run(tensor_view<const std::uint8_t, 4>(images.view<4>(test::fixture_shape<4>(f.images))),
           features.view<4>({f.image_count(), f.config.neck_channels, h, w}));
  VOXFORMER_CUDA_CHECK(cudaDeviceSynchronize());
  expect_close_to_cpu(features.to_host(), on_cpu.stages.at("features"), "features");
}

TEST(CudaPipelines, PipelineMatchesCpuInBothLayouts) {
  REQUIRE_GPU();
  const test::pipeline_fixture f(fixtures / "pipeline" / "t_small");
  const auto weights = f.weights();
  const cuda_executor gpu{};
  const auto uploaded = weights.upload(gpu);
  const device_frame frame(f);
  const auto grid = f.config.output_volume();
  test::for_each_layout(f, weights.parameters(), [&](const voxformer::pipeline_options& options, const test::pipeline_outputs& on_cpu) {
    device_buffer<std::uint8_t> labels(std::vector<std::uint8_t>(on_cpu.labels.size()));
    device_buffer<float> logits(std::vector<float>(on_cpu.logits.size()));
    voxformer::pipeline<cuda_executor, float> pipe(gpu, f.config, uploaded.parameters(), options);
    const auto& report = pipe.run(frame.levels.views, frame.matrices(), frame.mask(),
                                  labels.view<3>({grid[0], grid[1], grid[2]}),
                                  logits.view<4>({f.config.classes, grid[0], grid[1], grid[2]}));
    VOXFORMER_CUDA_CHECK(cudaDeviceSynchronize());
    EXPECT_EQ(report.proposals, on_cpu.report.proposals);
    EXPECT_EQ(report.visible_per_camera, on_cpu.report.visible_per_camera);
    expect_close_to_cpu(logits.to_host(), on_cpu.logits, "logits");
    expect_clear_labels_equal(labels.to_host(), on_cpu.labels, on_cpu.logits, f.config.classes);
  });
}

// 16-bit layer weights on the GPU (`gemm_narrow.hpp`: fp32 activations rounded into the staging buffer, W × W
// summed in fp32 by cuBLAS) against the fixture's fp32 reference, with the CPU's bound
// (tests/pipeline/test_pipeline_types.cpp): each product differs from fp32's by its operands' rounding, at most
// 2u + u² of Σ|a·b| (u = 2⁻⁸ for bfloat16, 2⁻¹¹ for float16), so after n products (4 a layer) the logits are within
// n·u of their largest reference magnitude — the CPU's bfloat16 land 6–20× inside it, which leaves room for the GPU's
// other order of fp32 sums — and the labels agree with the reference's on ≥ 99 % of the voxels.
template <class W>
void expect_narrow_weights_near_the_reference(int unit_roundoff_exponent) {
  const test::pipeline_fixture f(fixtures / "pipeline" / "t_small");
  const auto weights = f.weights();
  const auto reference_logits = test::fixture_values<float>(f.expected("logits"));
  const auto reference_labels = test::fixture_values<std::uint8_t>(f.expected("labels"));

  const cuda_executor gpu{};
  const auto uploaded = weights.upload(gpu);
  const device_frame frame(f);
  const auto grid = f.config.output_volume();
  device_buffer<std::uint8_t> labels(std::vector<std::uint8_t>(reference_labels.size()));
  device_buffer<float> logits(std::vector<float>(reference_logits.size()));
  voxformer::pipeline<cuda_executor, float, W> pipe(gpu, f.config, uploaded.parameters());
  pipe.run(frame.levels.views, frame.matrices(), frame.mask(), labels.view<3>(grid),
           logits.view<4>({f.config.classes, grid[0], grid[1], grid[2]}));
  VOXFORMER_CUDA_CHECK(cudaDeviceSynchronize());

  const auto gpu_logits = logits.to_host();
  double worst = 0;
  for (std::size_t i = 0; i < gpu_logits.size(); ++i) {
    const double d = std::abs(static_cast<double>(gpu_logits[i]) - reference_logits[i]);
    if (!(d <= worst)) worst = d;  // NaN is the worst
  }
  const int products = 4 * static_cast<int>(f.config.layers_cross + f.config.layers_self);
  EXPECT_LE(worst, products * std::ldexp(largest_magnitude(reference_logits), unit_roundoff_exponent))
      << "after " << products << " products";
  const auto gpu_labels = labels.to_host();
  std::size_t agree = 0;
  for (std::size_t i = 0; i < gpu_labels.size(); ++i) agree += gpu_labels[i] == reference_labels[i];
  EXPECT_GE(static_cast<double>(agree) / static_cast<double>(gpu_labels.size()), 0.99);
}

TEST(CudaPipelines, PipelineWithBfloat16WeightsMatchesTheReference) {
  REQUIRE_GPU();
  expect_narrow_weights_near_the_reference<voxformer::bfloat16>(-8);
}

TEST(CudaPipelines, PipelineWithFloat16WeightsMatchesTheReference) {
  REQUIRE_GPU();
  expect_narrow_weights_near_the_reference<voxformer::float16>(-11);
}

// A batch of three frames on the GPU — the fixture's proposal, none, every voxel; features shifted per frame — against
// the CPU's batch, frame by frame, with the fp32 tolerance above.
TEST(CudaPipelines, PipelineBatchMatchesCpu) {
  REQUIRE_GPU();
  const test::pipeline_fixture f(fixtures / "pipeline" / "t_small");
  const auto weights = f.weights();
  const auto voxels = static_cast<std::size_t>(f.config.voxels());
  const auto* mask = f.proposal.data<std::uint8_t>();
  const test::frame_batch batch(f, {std::vector<std::uint8_t>(mask, mask + voxels),
                                    std::vector<std::uint8_t>(voxels, 0), std::vector<std::uint8_t>(voxels, 1)});
  const auto grid = f.config.output_volume();
  const std::array<index_t, 4> label_shape{3, grid[0], grid[1], grid[2]};
  const std::array<index_t, 5> logit_shape{3, f.config.classes, grid[0], grid[1], grid[2]};
  const auto frame_voxels = static_cast<std::size_t>(f.config.output_voxels());
  const auto frame_logits = frame_voxels * static_cast<std::size_t>(f.config.classes);
  std::vector<std::uint8_t> cpu_labels(3 * frame_voxels);
  std::vector<float> cpu_logits(3 * frame_logits);
  voxformer::pipeline<cpu_executor, float> on_cpu(cpu_executor{2}, f.config, weights.parameters());
  const auto masks = voxformer::make_view<2>(batch.proposals.data(), {3, f.config.voxels()});
  on_cpu.run_batch(batch.feature_views, batch.matrices(), masks,
                   voxformer::make_view<4>(cpu_labels.data(), label_shape),
                   voxformer::make_view<5>(cpu_logits.data(), logit_shape));

  const cuda_executor gpu{};
  const auto uploaded = weights.upload(gpu);
  const device_features levels(batch);
  device_buffer<float> lidar2img(batch.lidar2img);
  device_buffer<std::uint8_t> proposal(batch.proposals);
  device_buffer<std::uint8_t> labels(std::vector<std::uint8_t>(cpu_labels.size()));
  device_buffer<float> logits(std::vector<float>(cpu_logits.size()));
  voxformer::pipeline<cuda_executor, float> pipe(gpu, f.config, uploaded.parameters());
  const auto reports =
      pipe.run_batch(levels.views, tensor_view<const float, 4>(lidar2img.view<4>(batch.matrices().extents())),
                     tensor_view<const std::uint8_t, 2>(proposal.view<2>(masks.extents())), labels.view<4>(label_shape),
                     logits.view<5>(logit_shape));
  VOXFORMER_CUDA_CHECK(cudaDeviceSynchronize());
  ASSERT_EQ(reports.size(), 3u);
  const auto gpu_labels = labels.to_host();
  const auto gpu_logits = logits.to_host();
  for (std::size_t b = 0; b < 3; ++b) {
    SCOPED_TRACE("frame " + std::to_string(b));
    auto frame = [&](const auto& all, std::size_t size) {  // frame b's part of a batch's values
      using value = typename std::decay_t<decltype(all)>::value_type;
      return std::vector<value>(all.begin() + b * size, all.begin() + (b + 1) * size);
    };
    expect_close_to_cpu(frame(gpu_logits, frame_logits), frame(cpu_logits, frame_logits), "logits");
    expect_clear_labels_equal(frame(gpu_labels, frame_voxels), frame(cpu_labels, frame_voxels),
                              frame(cpu_logits, frame_logits), f.config.classes);
  }
  EXPECT_EQ(reports[0].proposals, 62);
  EXPECT_EQ(reports[1].proposals, 0);
  EXPECT_EQ(reports[2].proposals, f.config.voxels());
}

}  // namespace
