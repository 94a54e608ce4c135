// Every pipeline, and the whole model they compose, under the emulated device (tests/support/emulated_device.hpp):
// weights uploaded, inputs and outputs in device memory that the host cannot read outside a kernel — a read faults —
// and the host's reads through `copy_to_host` counted. Each gives the CPU executor's outputs bit for bit on its
// parity fixture. A file of its own: more pipeline instantiations, compiled at -O1 and left out of the sanitizer
// build, whose CPU pipelines run the same kernels (tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <vector>

#include "support/backbone_fixture.hpp"
#include "support/emulated_device.hpp"
#include "support/error_of.hpp"
#include "support/frame_batch.hpp"
#include "support/model_fixture.hpp"
#include "support/pipeline_fixture.hpp"
#include "support/qpn_fixture.hpp"

// The CPU's 16-bit pipelines, the references of the device's, are compiled once, in test_pipeline_types.cpp.
extern template class voxformer::pipeline<voxformer::cpu_executor, float, voxformer::bfloat16>;
extern template class voxformer::pipeline<voxformer::cpu_executor, float, voxformer::float16>;

namespace {

using test::emulated_device_executor;
using test::emulated_device_tensor;
using voxformer::cpu_executor;
using voxformer::index_t;
using voxformer::tensor_view;

//! The pipeline fixture's frame in emulated device memory: its feature levels, matrices and proposal — poisoned on
//! request with a NaN as the last element of one level, or an Inf at one element of the matrices.
struct device_frame {
  std::vector<emulated_device_tensor<float, 5>> levels;
  std::vector<tensor_view<const float, 5>> level_views;
  emulated_device_tensor<float, 3> lidar2img;
  emulated_device_tensor<std::uint8_t, 1> proposal;

  explicit device_frame(const test::pipeline_fixture& f, std::size_t nan_level = SIZE_MAX,
                        std::size_t inf_matrix_element = SIZE_MAX)
      : lidar2img({f.config.cameras, 4, 4}, values_of<float>(f.lidar2img, inf_matrix_element, INFINITY)),
        proposal({f.proposal.size()}, values_of<std::uint8_t>(f.proposal, SIZE_MAX, 0)) {
    for (std::size_t l = 0; l < f.features.size(); ++l) {
      const auto& level = f.features[l];
      levels.emplace_back(test::fixture_shape<5>(level),
                          values_of<float>(level, l == nan_level ? level.size() - 1 : SIZE_MAX, NAN));
      level_views.emplace_back(levels.back().view);
    }
  }
  tensor_view<const float, 3> matrices() const { return lidar2img.view; }
  tensor_view<const std::uint8_t, 1> mask() const { return proposal.view; }

  template <class E>
  static std::vector<E> values_of(const voxformer::io::npy_array& a, std::size_t poisoned, E poison) {
    std::vector<E> values(a.data<E>(), a.data<E>() + a.size());
    if (poisoned < values.size()) values[poisoned] = poison;
    return values;
  }
};

// Stage 1 on the device: the weights uploaded, the occupancy in device memory, the proposal and logits written
// there; the frame reads nothing of device memory on the host but its proposal count, once, after the frame
// (`copy_to_host`). Against the CPU executor on the same fixture, bit for bit.
TEST(PipelinesOnEmulatedDevice, ProposalPipelineAsOnTheCpu) {
  const test::qpn_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "qpn" / "f32_64x64");
  const auto weights = f.weights();
  const auto on_cpu = test::run_qpn<std::uint8_t>(f, weights.parameters(), cpu_executor{2});

  const emulated_device_executor device;
  const auto uploaded = weights.upload(device);
  const auto& g = f.config.grid;
  const auto* grid = f.grid.data<std::uint8_t>();
  emulated_device_tensor<std::uint8_t, 3> occupancy({g[0], g[1], g[2]}, std::vector<std::uint8_t>(grid, grid + f.grid.size()));
  const auto half = f.config.output_grid();
  emulated_device_tensor<std::uint8_t, 3> proposal({half[0], half[1], half[2]});
  emulated_device_tensor<float, 4> logits({2, half[0], half[1], half[2]});
  voxformer::proposal_pipeline<emulated_device_executor, float> pipe(device, f.config, uploaded.parameters());
  const std::size_t reads_before = test::emulated_host_reads();
  const auto& report = pipe.run(tensor_view<const std::uint8_t, 3>(occupancy.view), proposal.view, logits.view);
  EXPECT_EQ(test::emulated_host_reads() - reads_before, 1u);

  EXPECT_EQ(test::download(proposal.view), on_cpu.proposal);
  EXPECT_EQ(test::download(logits.view), on_cpu.logits);
  EXPECT_EQ(report.proposals, on_cpu.report.proposals);
}

// The image path on the device: 8-bit camera images in device memory, the features written there, no host read at all.
TEST(PipelinesOnEmulatedDevice, ImagePipelineAsOnTheCpu) {
  const test::backbone_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "backbone" / "w8_k3");
  const auto weights = f.weights();
  const auto on_cpu = test::run_backbone(f, weights.parameters(), cpu_executor{2});

  const emulated_device_executor device;
  const auto uploaded = weights.upload(device);
  const auto* pixels = f.images.data<std::uint8_t>();
  emulated_device_tensor<std::uint8_t, 4> images(test::fixture_shape<4>(f.images),
                                        std::vector<std::uint8_t>(pixels, pixels + f.images.size()));
  const auto [h, w] = f.config.feature_shape();
  emulated_device_tensor<float, 4> features({f.image_count(), f.config.neck_channels, h, w});
  voxformer::image_pipeline<emulated_device_executor, float> pipe(device, f.config, uploaded.parameters());
  const std::size_t reads_before = test::emulated_host_reads();
  pipe.run(tensor_view<const std::uint8_t, 4>(images.view), features.view);
  EXPECT_EQ(test::emulated_host_reads() - reads_before, 0u);
  EXPECT_EQ(test::download(features.view), on_cpu.stages.at("features"));
}

// Stage 2 + head on the device, both layouts: weights uploaded, features, matrices and the proposal in device
// memory, labels and logits written there. The host reads device memory only through `copy_to_host`, which the
// emulated executor counts: before anything is written, one read per floating input (the matrices, each feature
// level: where its first non-finite value is) and the proposal count; then, once the projection has run, one read of
// every count the rest of the frame needs (the cameras' list offsets, the self-attention chunks' seed ranges, the
// report's count of proposals no camera sees) — two reads a frame, each a synchronisation on a GPU. Against the CPU
// executor on the same fixture, bit for bit.
TEST(PipelinesOnEmulatedDevice, PipelineAsOnTheCpu) {
  const test::pipeline_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "pipeline" / "t_small");
  const auto weights = f.weights();
  const emulated_device_executor device;
  const auto uploaded = weights.upload(device);
  const device_frame frame(f);
  const auto grid = f.config.output_volume();
  test::for_each_layout(f, weights.parameters(), [&](const voxformer::pipeline_options& options, const test::pipeline_outputs& on_cpu) {
    voxformer::pipeline<emulated_device_executor, float> pipe(device, f.config, uploaded.parameters(), options);
    emulated_device_tensor<std::uint8_t, 3> labels({grid[0], grid[1], grid[2]});
    emulated_device_tensor<float, 4> logits({f.config.classes, grid[0], grid[1], grid[2]});
    const std::size_t reads_before = test::emulated_host_reads();
    const auto& report = pipe.run(frame.level_views, frame.matrices(), frame.mask(), labels.view, logits.view);
    EXPECT_EQ(test::emulated_host_reads() - reads_before, 1 + f.features.size() + 2);
    EXPECT_EQ(test::download(labels.view), on_cpu.labels);
    EXPECT_EQ(test::download(logits.view), on_cpu.logits);
    EXPECT_EQ(report.proposals, on_cpu.report.proposals);
    EXPECT_EQ(report.visible_per_camera, on_cpu.report.visible_per_camera);
    EXPECT_EQ(report.seen_by_no_camera, on_cpu.report.seen_by_no_camera);
  });
}

// 16-bit layer weights on the device: the pipeline rounds its uploaded fp32 weights there, and its products are the
// backend's 16-bit ones. The CPU executor's pipeline of the same W's outputs, bit for bit, with the fp32 pipeline's
// reads.
template <class W>
void expect_narrow_weights_as_on_the_cpu() {
  SCOPED_TRACE(voxformer::to_string(voxformer::dtype_of<W>()));
  const test::pipeline_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "pipeline" / "t_small");
  const auto weights = f.weights();
  const auto on_cpu = test::run_pipeline<W>(f, weights.parameters(), cpu_executor{2}, {});

  const emulated_device_executor device;
  const auto uploaded = weights.upload(device);
  const device_frame frame(f);
  const auto grid = f.config.output_volume();
  emulated_device_tensor<std::uint8_t, 3> labels(grid);
  emulated_device_tensor<float, 4> logits({f.config.classes, grid[0], grid[1], grid[2]});
  voxformer::pipeline<emulated_device_executor, float, W> pipe(device, f.config, uploaded.parameters());
  const std::size_t reads_before = test::emulated_host_reads();
  pipe.run(frame.level_views, frame.matrices(), frame.mask(), labels.view, logits.view);
  EXPECT_EQ(test::emulated_host_reads() - reads_before, 1 + f.features.size() + 2);
  EXPECT_EQ(test::download(labels.view), on_cpu.labels);
  EXPECT_EQ(test::download(logits.view), on_cpu.logits);
}

TEST(PipelinesOnEmulatedDevice, PipelineWithBfloat16WeightsAsOnTheCpu) {
  expect_narrow_weights_as_on_the_cpu<voxformer::bfloat16>();
}
TEST(PipelinesOnEmulatedDevice, PipelineWithFloat16WeightsAsOnTheCpu) {
  expect_narrow_weights_as_on_the_cpu<voxformer::float16>();
}

// A batch of two frames on the device — the fixture's, then one with its features shifted and its proposal empty —
// against the CPU executor's batch, bit for bit: after the inputs' checks, one read of both frames' proposal counts,
// then one read per frame.
TEST(PipelinesOnEmulatedDevice, PipelineBatchAsOnTheCpu) {
  const test::pipeline_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "pipeline" / "t_small");
  const auto weights = f.weights();
  const auto* mask = f.proposal.data<std::uint8_t>();
  const test::frame_batch batch(f, {std::vector<std::uint8_t>(mask, mask + f.config.voxels()),
                                    std::vector<std::uint8_t>(static_cast<std::size_t>(f.config.voxels()), 0)});
  const auto grid = f.config.output_volume();
  const std::array<index_t, 4> label_shape{2, grid[0], grid[1], grid[2]};
  const std::array<index_t, 5> logit_shape{2, f.config.classes, grid[0], grid[1], grid[2]};
  std::vector<std::uint8_t> cpu_labels(static_cast<std::size_t>(2 * f.config.output_voxels()));
  std::vector<float> cpu_logits(cpu_labels.size() * static_cast<std::size_t>(f.config.classes));
  voxformer::pipeline<cpu_executor, float> on_cpu(cpu_executor{2}, f.config, weights.parameters());
  on_cpu.run_batch(batch.feature_views, batch.matrices(),
                   voxformer::make_view<2>(batch.proposals.data(), {2, f.config.voxels()}),
                   voxformer::make_view<4>(cpu_labels.data(), label_shape),
                   voxformer::make_view<5>(cpu_logits.data(), logit_shape));

  const emulated_device_executor device;
  const auto uploaded = weights.upload(device);
  std::vector<emulated_device_tensor<float, 5>> levels;
  std::vector<tensor_view<const float, 5>> level_views;
  for (std::size_t l = 0; l < batch.features.size(); ++l) {
    levels.emplace_back(batch.feature_views[l].extents(), batch.features[l]);
    level_views.emplace_back(levels.back().view);
  }
  emulated_device_tensor<float, 4> lidar2img(batch.matrices().extents(), batch.lidar2img);
  emulated_device_tensor<std::uint8_t, 2> proposal({2, f.config.voxels()}, batch.proposals);
  emulated_device_tensor<std::uint8_t, 4> labels(label_shape);
  emulated_device_tensor<float, 5> logits(logit_shape);
  voxformer::pipeline<emulated_device_executor, float> pipe(device, f.config, uploaded.parameters());
  const std::size_t reads_before = test::emulated_host_reads();
  const auto reports = pipe.run_batch(level_views, tensor_view<const float, 4>(lidar2img.view),
                                      tensor_view<const std::uint8_t, 2>(proposal.view), labels.view, logits.view);
  EXPECT_EQ(test::emulated_host_reads() - reads_before, 1 + batch.features.size() + 1 + 2);
  EXPECT_EQ(test::download(labels.view), cpu_labels);
  EXPECT_EQ(test::download(logits.view), cpu_logits);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].proposals, 62);
  EXPECT_EQ(reports[1].proposals, 0);
}

// The whole model on the device, images to labels (VoxFormer-S and -T, shape-reduced): both checkpoints' parts
// uploaded, the camera images, matrices and proposal in device memory. Its host reads are stage 2's — the image path
// reads none — and its outputs are the CPU's bit for bit.
TEST(PipelinesOnEmulatedDevice, WholeModelAsOnTheCpu) {
  for (const char* name : {"s_images", "t_images"}) {
    SCOPED_TRACE(name);
    const test::model_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "model" / name);
    const auto weights = f.load();
    const auto& head = f.config.head;
    const auto grid = head.output_volume();
    const auto images_shape = test::fixture_shape<4>(f.images);
    std::vector<std::uint8_t> cpu_labels(static_cast<std::size_t>(head.output_voxels()));
    std::vector<float> cpu_logits(cpu_labels.size() * static_cast<std::size_t>(head.classes));
    voxformer::voxformer_model<cpu_executor, float> on_cpu(cpu_executor{2}, f.config, weights.parameters());
    on_cpu.run(voxformer::make_view<4>(f.images.data<std::uint8_t>(), images_shape), f.lidar2img, f.proposal,
               voxformer::make_view<3>(cpu_labels.data(), grid),
               voxformer::make_view<4>(cpu_logits.data(), {head.classes, grid[0], grid[1], grid[2]}));

    const emulated_device_executor device;
    const auto image_weights = weights.image.upload(device);
    const auto head_weights = weights.head.upload(device);
    const auto* pixels = f.images.data<std::uint8_t>();
    emulated_device_tensor<std::uint8_t, 4> images(images_shape, std::vector<std::uint8_t>(pixels, pixels + f.images.size()));
    const float* matrices = f.lidar2img.data<float>();
    emulated_device_tensor<float, 3> lidar2img({head.cameras, 4, 4}, std::vector<float>(matrices, matrices + f.lidar2img.size()));
    const auto* mask = f.proposal.data<std::uint8_t>();
    emulated_device_tensor<std::uint8_t, 1> proposal({f.proposal.size()}, std::vector<std::uint8_t>(mask, mask + f.proposal.size()));
    emulated_device_tensor<std::uint8_t, 3> labels(grid);
    emulated_device_tensor<float, 4> logits({head.classes, grid[0], grid[1], grid[2]});
    voxformer::voxformer_model<emulated_device_executor, float> model(
        device, f.config, {image_weights.parameters(), head_weights.parameters()});
    const std::size_t reads_before = test::emulated_host_reads();
    model.run(tensor_view<const std::uint8_t, 4>(images.view), tensor_view<const float, 3>(lidar2img.view),
              tensor_view<const std::uint8_t, 1>(proposal.view), labels.view, logits.view);
    EXPECT_EQ(test::emulated_host_reads() - reads_before, static_cast<std::size_t>(1 + f.config.head.levels() + 2));
    EXPECT_EQ(test::download(labels.view), cpu_labels);
    EXPECT_EQ(test::download(logits.view), cpu_logits);
  }
}

// A NaN or Inf in device memory is found where it lives (the host cannot scan it) and named as on the CPU — the
// argument and the element — before anything is written: the outputs keep what they held. So is memory of another
// GPU (here the emulated memory tagged as device 1's), which the kernels would otherwise read.
TEST(PipelinesOnEmulatedDevice, NonFiniteOrForeignInputsAreErrorsAndWriteNothing) {
  const emulated_device_executor device;
  {
    const test::pipeline_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "pipeline" / "t_small");
    const auto weights = f.weights();
    const auto uploaded = weights.upload(device);
    const auto grid = f.config.output_volume();
    const std::vector<std::uint8_t> untouched(static_cast<std::size_t>(f.config.output_voxels()), 77);
    emulated_device_tensor<std::uint8_t, 3> labels(grid, untouched);
    voxformer::pipeline<emulated_device_executor, float> pipe(device, f.config, uploaded.parameters());
    auto run = [&](const device_frame& frame) {
      return test::error_of([&] { pipe.run(frame.level_views, frame.matrices(), frame.mask(), labels.view); });
    };
    const std::string op = "voxformer::pipeline::run: ";
    const std::string finite = "; every value must be finite";
    EXPECT_EQ(run(device_frame(f, 1)), op + "argument 'features[1]' holds nan at [0, 1, 31, 2, 4]" + finite);
    EXPECT_EQ(run(device_frame(f, SIZE_MAX, 5)), op + "argument 'lidar2img' holds inf at [0, 1, 1]" + finite);
    const device_frame good(f);
    const tensor_view<const float, 3> on_gpu_1(good.lidar2img.view.data(), good.lidar2img.view.extents(),
                                               voxformer::memory_space::on_device(1));
    EXPECT_EQ(test::error_of([&] { pipe.run(good.level_views, on_gpu_1, good.mask(), labels.view); }),
              op + "argument 'lidar2img' lives in device 1 memory, which the emulated_device_executor on device 0 "
                   "cannot access");
    EXPECT_EQ(test::download(labels.view), untouched);
  }
  {
    const test::qpn_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "qpn" / "f32_64x64");
    const auto weights = f.weights();
    const auto uploaded = weights.upload(device);
    const auto& g = f.config.grid;
    std::vector<float> grid(f.grid.data<std::uint8_t>(), f.grid.data<std::uint8_t>() + f.grid.size());
    grid[static_cast<std::size_t>((3 * g[1] + 4) * g[2] + 5)] = -INFINITY;
    const emulated_device_tensor<float, 3> occupancy({g[0], g[1], g[2]}, grid);
    const auto half = f.config.output_grid();
    const emulated_device_tensor<std::uint8_t, 3> proposal({half[0], half[1], half[2]},
                                                           std::vector<std::uint8_t>(f.grid.size() / 8, 77));
    voxformer::proposal_pipeline<emulated_device_executor, float> pipe(device, f.config, uploaded.parameters());
    EXPECT_EQ(test::error_of([&] { pipe.run(tensor_view<const float, 3>(occupancy.view), proposal.view); }),
              "voxformer::proposal_pipeline::run: argument 'occupancy' holds -inf at [3, 4, 5]; "
              "every value must be finite");
    EXPECT_EQ(test::download(proposal.view), std::vector<std::uint8_t>(f.grid.size() / 8, 77));
  }
  {
    const test::backbone_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "backbone" / "w8_k3");
    const auto weights = f.weights();
    const auto uploaded = weights.upload(device);
    const auto [h, w] = f.config.crop;
    std::vector<float> normalised(static_cast<std::size_t>(f.image_count() * 3 * h * w), 0.5f);
    normalised[static_cast<std::size_t>(3 * h * w + 2 * w + 1)] = NAN;  // image 1, channel 0, row 2, column 1
    const emulated_device_tensor<float, 4> images({f.image_count(), 3, h, w}, normalised);
    const auto [fh, fw] = f.config.feature_shape();
    const emulated_device_tensor<float, 4> features({f.image_count(), f.config.neck_channels, fh, fw});
    voxformer::image_pipeline<emulated_device_executor, float> pipe(device, f.config, uploaded.parameters());
    EXPECT_EQ(test::error_of([&] { pipe.run(tensor_view<const float, 4>(images.view), features.view); }),
              "voxformer::image_pipeline::run: argument 'images' holds nan at [1, 0, 2, 1]; every value must be finite");
    const auto untouched = test::download(features.view);
    EXPECT_EQ(std::count(untouched.begin(), untouched.end(), -1.f), static_cast<long>(untouched.size()));
  }
}

// Stage times need the device's work done at each stage's end: one synchronisation per stage. Without them
// (`time_stages = false`, each pipeline's options) a frame waits for nothing but its reads — stage 2 for its two, the
// image path and stage 1 never beyond them — its stages report 0 ms, and its outputs do not change.
TEST(PipelinesOnEmulatedDevice, WithoutStageTimesAFrameNeverWaits) {
  const emulated_device_executor device;
  {
    const test::pipeline_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "pipeline" / "t_small");
    const auto weights = f.weights();
    const auto uploaded = weights.upload(device);
    const device_frame frame(f);
    const auto on_cpu = test::run_pipeline(f, weights.parameters(), cpu_executor{2}, {});
    for (const bool timed : {true, false}) {
      SCOPED_TRACE(timed ? "timed" : "not timed");
      voxformer::pipeline_options options;
      options.time_stages = timed;
      voxformer::pipeline<emulated_device_executor, float> pipe(device, f.config, uploaded.parameters(), options);
      emulated_device_tensor<std::uint8_t, 3> labels(f.config.output_volume());
      const std::size_t waits_before = test::emulated_synchronizations();
      const auto& report = pipe.run(frame.level_views, frame.matrices(), frame.mask(), labels.view);
      EXPECT_EQ(test::emulated_synchronizations() - waits_before, timed ? report.stages.size() : 0u);
      if (!timed) {
        EXPECT_EQ(report.total_milliseconds(), 0.0);
      }
      EXPECT_EQ(test::download(labels.view), on_cpu.labels);
    }
  }
  {
    const test::qpn_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "qpn" / "f32_64x64");
    const auto weights = f.weights();
    const auto uploaded = weights.upload(device);
    const auto& g = f.config.grid;
    const auto* grid = f.grid.data<std::uint8_t>();
    const emulated_device_tensor<std::uint8_t, 3> occupancy({g[0], g[1], g[2]},
                                                            std::vector<std::uint8_t>(grid, grid + f.grid.size()));
    const auto half = f.config.output_grid();
    emulated_device_tensor<std::uint8_t, 3> proposal({half[0], half[1], half[2]});
    voxformer::proposal_options options;
    options.time_stages = false;
    voxformer::proposal_pipeline<emulated_device_executor, float> pipe(device, f.config, uploaded.parameters(), options);
    const std::size_t waits_before = test::emulated_synchronizations();
    EXPECT_EQ(pipe.run(tensor_view<const std::uint8_t, 3>(occupancy.view), proposal.view).total_milliseconds(), 0.0);
    EXPECT_EQ(test::emulated_synchronizations() - waits_before, 0u);
  }
  {
    const test::backbone_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "backbone" / "w8_k3");
    const auto weights = f.weights();
    const auto uploaded = weights.upload(device);
    const auto* pixels = f.images.data<std::uint8_t>();
    const emulated_device_tensor<std::uint8_t, 4> images(test::fixture_shape<4>(f.images),
                                                         std::vector<std::uint8_t>(pixels, pixels + f.images.size()));
    const auto [h, w] = f.config.feature_shape();
    const emulated_device_tensor<float, 4> features({f.image_count(), f.config.neck_channels, h, w});
    voxformer::image_options options;
    options.time_stages = false;
    voxformer::image_pipeline<emulated_device_executor, float> pipe(device, f.config, uploaded.parameters(), options);
    const std::size_t waits_before = test::emulated_synchronizations();
    EXPECT_EQ(pipe.run(tensor_view<const std::uint8_t, 4>(images.view), features.view).total_milliseconds(), 0.0);
    EXPECT_EQ(test::emulated_synchronizations() - waits_before, 0u);
  }
}

}  // namespace
