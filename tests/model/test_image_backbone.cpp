// The image path — preprocessing, ResNet-50 to layer3, the FPN — against the PyTorch reference written from the spec
// with the official module names (tests/reference/image_backbone_reference.py, itself checked against torchvision's
// resnet50), on its committed fixtures: width-reduced networks of the same graph (base width 8 and 4) on odd-sized
// images, 1 and 3 images, another mean and stddev, and float input already normalised. Every stage within 1e-4 of
// the largest magnitude of the reference's (the rule; observed below 1e-6). Also: loading by the official
// names from a full checkpoint (layer4, counters and the head ignored), and bad input rejected with nothing written.
// The official 370 × 1220 size is tested in tests/official_grid/ (its case is generated at test time).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "support/backbone_fixture.hpp"
#include "support/error_of.hpp"
#include "support/temp_file.hpp"
#include "support/tensor_families.hpp"

namespace {

using test::error_of;
using voxformer::cpu_executor;
using voxformer::index_t;

constexpr double tolerance = 1e-4;

test::backbone_fixture fixture(const std::string& name) {
  return test::backbone_fixture(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "backbone" / name);
}

void expect_matches_reference(const std::string& name, int threads) {
  SCOPED_TRACE(name + ", " + std::to_string(threads) + " thread(s)");
  const auto f = fixture(name);
  voxformer::weights_report report;
  const auto store = f.weights(&report);
  EXPECT_TRUE(report.warnings.empty());
  const auto ours = test::run_backbone(f, store.parameters(), cpu_executor{threads}, {100});
  for (const auto stage : voxformer::image_backbone<float>::stage_names)
    test::expect_stage_close(ours.stages.at(std::string(stage)), f.expected(std::string(stage)), tolerance,
                             std::string(stage));
}

TEST(ImageBackbone, EveryStageMatchesTheReference) {
  for (int threads : {1, 2})
    for (const char* name : {"w8_k1", "w8_k3", "w4_custom_norm", "w4_float_input"}) expect_matches_reference(name, threads);
}

// The fixtures' weights hold what a full checkpoint has besides the image path's tensors: layer4's first
// convolution and BatchNorm (layer4 is computed by the original and thrown away), and every BatchNorm's int64
// counter. Both are accepted and ignored; the head's tensors are another network's, ignored too.
TEST(ImageBackbone, AFullCheckpointsOtherTensorsAreIgnored) {
  const auto f = fixture("w8_k1");
  voxformer::weights_report report;
  (void)f.weights(&report);
  EXPECT_TRUE(report.warnings.empty());
  const index_t norms = 1 + 3 * 3 + 4 * 3 + 6 * 3 + 3;  // stem, three per block, a downsampling one per layer
  EXPECT_EQ(report.tensors_ignored, norms + 6);         // the counters, and layer4.0's conv1 + bn1 (5 + 1)
  EXPECT_TRUE(voxformer::image_backbone_checkpoint::is_foreign("pts_bbox_head.bev_embed.weight"));
  EXPECT_TRUE(voxformer::image_backbone_checkpoint::is_foreign("img_backbone.fc.weight"));
  EXPECT_FALSE(voxformer::image_backbone_checkpoint::is_foreign("img_backbone.layer3.0.conv1.weight"));
}

// Results do not depend on the thread count or on how the convolutions chunk their pixels.
TEST(ImageBackbone, FeaturesAreTheSameBitsForEveryThreadCount) {
  const auto f = fixture("w8_k3");
  const auto store = f.weights();
  const auto base = test::run_backbone(f, store.parameters(), cpu_executor{1}, {64});
  for (int threads : {2, 3}) {
    const auto other = test::run_backbone(f, store.parameters(), cpu_executor{threads}, {64});
    EXPECT_EQ(other.stages, base.stages) << threads << " threads";
  }
}

//! An 8-bit image pipeline on the w8_k3 fixture, with features to write and a poisoned copy of its images.
struct small_images {
  test::backbone_fixture f = fixture("w8_k3");
  voxformer::image_backbone_store<float> store = f.weights();
  voxformer::image_pipeline<cpu_executor, float> pipe{cpu_executor{1}, f.config, store.parameters()};
  std::array<index_t, 2> shape = f.config.feature_shape();
  std::vector<float> features = std::vector<float>(static_cast<std::size_t>(3 * 16 * shape[0] * shape[1]), 7.f);
  auto feature_view(index_t k = 3) { return voxformer::make_view<4>(features.data(), {k, 16, shape[0], shape[1]}); }
  bool untouched() const {
    return std::all_of(features.begin(), features.end(), [](float v) { return v == 7.f; });
  }
};

TEST(ImageBackbone, BadImagesAreRejectedBeforeAnythingIsWritten) {
  small_images s;
  const auto& images = s.f.images;  // uint8 [3, 37, 61, 3], crop 33 × 57
  const auto* pixels = images.data<std::uint8_t>();
  const std::string run = "voxformer::image_pipeline::run: ";
  EXPECT_EQ(error_of([&] { s.pipe.run(voxformer::make_view<4>(pixels, {3, 37, 61, 3}), s.feature_view(2)); }),
            run + "3 image(s) given, but 'features' [1, 2, 16, 3, 4] holds 2");
  EXPECT_EQ(error_of([&] { s.pipe.run(voxformer::make_view<4>(pixels, {3, 37, 20, 9}), s.feature_view()); }),
            run + "argument 'images' [K, H, W, 3] must be RGB images of at least the crop, 33x57, got [3, 37, 20, 9]");
  EXPECT_EQ(error_of([&] { s.pipe.run(voxformer::make_view<4>(pixels, {3, 32, 61, 3}), s.feature_view()); }),
            run + "argument 'images' [K, H, W, 3] must be RGB images of at least the crop, 33x57, got [3, 32, 61, 3]");
  EXPECT_EQ(error_of([&] { s.pipe.run(voxformer::make_view<4>(pixels, {3, 37, 61, 4}), s.feature_view()); }),
            run + "argument 'images' [K, H, W, 3] must be RGB images of at least the crop, 33x57, got [3, 37, 61, 4]");
  // A runtime-typed tensor of another element type (32-bit pixels).
  std::vector<std::uint32_t> wide(static_cast<std::size_t>(images.size()));
  test::dlpack_tensor<4> thirty_two_bit(wide.data(), {3, 37, 61, 3});
  EXPECT_CONTAINS(error_of([&] { s.pipe.run(thirty_two_bit.tensor, s.feature_view()); }),
                  "argument 'images' has element type uint32, expected uint8");
  // Float images already normalised must be the crop's size and finite.
  std::vector<float> normalised(static_cast<std::size_t>(3 * 3 * 33 * 57), 0.5f);
  const auto float_view = [&](index_t h) { return voxformer::make_view<4>(normalised.data(), {3, 3, h, 57}); };
  EXPECT_EQ(error_of([&] { s.pipe.run(float_view(32), s.feature_view()); }),
            run + "argument 'images' [K, 3, h, w] (normalised) expected shape [*, 3, 33, 57], got [3, 3, 32, 57]");
  for (const float poison : {NAN, INFINITY}) {
    normalised[1000] = poison;
    EXPECT_CONTAINS(error_of([&] { s.pipe.run(float_view(33), s.feature_view()); }),
                    run + "argument 'images' holds " + std::string(std::isnan(poison) ? "nan" : "inf") +
                        " at [0, 0, 17, 31]; every value must be finite");
  }
  // Features written over the images they are made from.
  std::vector<float> shared(normalised.size() + s.features.size(), 0.f);
  EXPECT_EQ(error_of([&] {
              s.pipe.run(voxformer::make_view<4>(shared.data(), {3, 3, 33, 57}),
                         voxformer::make_view<4>(shared.data() + 100, {3, 16, 3, 4}));
            }),
            run + "output 'features' overlaps input 'images'");
  EXPECT_TRUE(s.untouched());
  s.pipe.run(voxformer::make_view<4>(pixels, {3, 37, 61, 3}), s.feature_view());
  EXPECT_FALSE(s.untouched());
}

TEST(ImageBackbone, AWrongCheckpointIsAnErrorNamingTheTensor) {
  const auto f = fixture("w8_k1");
  auto config = f.config;
  config.base_width = 16;  // the checkpoint's widths are 8's
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::image_backbone_store<float>::from_file(
                                     config, voxformer::io::safetensors_file::open(f.dir / "weights.safetensors")); }),
                  "tensor 'img_backbone.conv1.weight' has shape [8, 3, 7, 7], expected [16, 3, 7, 7]");
  // A checkpoint without one of the tensors the network reads.
  const auto store = f.weights();
  std::vector<voxformer::io::safetensors_tensor_bytes> tensors;
  const auto file = voxformer::io::safetensors_file::open(f.dir / "weights.safetensors");
  for (const auto& entry : file.entries())
    if (entry.name != "img_backbone.layer2.0.downsample.1.running_var")
      tensors.push_back({entry.name, entry.dtype, entry.shape, std::span<const std::byte>(entry.data, entry.bytes())});
  const auto missing = test::temp_file("backbone_missing.safetensors");
  voxformer::io::write_safetensors(missing, tensors);
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::image_backbone_store<float>::from_file(
                                     f.config, voxformer::io::safetensors_file::open(missing)); }),
                  "missing tensor 'img_backbone.layer2.0.downsample.1.running_var' [64]");
  std::filesystem::remove(missing);
}

TEST(ImageBackbone, ParametersWithoutDataOrANegativeVarianceAreRejected) {
  const auto f = fixture("w8_k1");
  const auto store = f.weights();
  auto params = store.parameters();
  params.layers[2][3].conv2.weight = voxformer::tensor_view<const float, 5>(nullptr, params.layers[2][3].conv2.weight.extents());
  EXPECT_EQ(error_of([&] { voxformer::image_pipeline<cpu_executor, float>(cpu_executor{1}, f.config, params); }),
            "voxformer::image_pipeline: argument 'img_backbone.layer3.3.conv2.weight' has 9216 elements but no data (a "
            "null pointer)");
  params = store.parameters();
  const std::vector<float> negative(32, -1.f);
  params.layers[0][1].conv3.norm.running_var = voxformer::make_view<1>(negative.data(), {32});
  EXPECT_CONTAINS(error_of([&] { voxformer::image_pipeline<cpu_executor, float>(cpu_executor{1}, f.config, params); }),
                  "argument 'img_backbone.layer1.1.bn3.running_var' holds the negative variance -1 at element 0");
}

}  // namespace
