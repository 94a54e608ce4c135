// The pipeline as a user meets it: their own tensor types (Eigen, DLPack, a test-defined type, strided
// views), and bad inputs rejected with a clear error before anything is written (the double instantiation:
// test_pipeline_double.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <unsupported/Eigen/CXX11/Tensor>
#include <vector>

#include "support/error_of.hpp"
#include "support/msda_case.hpp"
#include "support/pipeline_fixture.hpp"
#include "support/tensor_families.hpp"

using test::error_of;

namespace {

using voxformer::cpu_executor;
using voxformer::index_t;

test::pipeline_fixture fixture(const std::string& name) {
  return test::pipeline_fixture(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "pipeline" / name);
}

// The README's example, on a one-level fixture: Eigen tensors in, DLPack matrices, a plain pointer proposal.
TEST(Pipeline, TakesTheUsersOwnTensorTypes) {
  const auto f = fixture("s_small");
  const auto store = f.weights();
  const auto expected = test::run_pipeline(f, store.parameters(), cpu_executor{2}, {});
  const auto& c = f.config;
  const auto grid = c.output_volume();
  const auto& shape = f.features[0].shape;
  // Features as an Eigen TensorMap [K, C, h, w] (no batch axis), stored in the fixture's memory.
  Eigen::TensorMap<const Eigen::Tensor<float, 4, Eigen::RowMajor>> features(f.features[0].data<float>(), shape[1],
                                                                            shape[2], shape[3], shape[4]);
  test::dlpack_tensor<3> matrices(f.lidar2img.data<float>(), {c.cameras, 4, 4});
  const test::plain_tensor<const std::uint8_t, 3> proposal{f.proposal.data<std::uint8_t>(),
                                                           {int(c.volume[0]), int(c.volume[1]), int(c.volume[2])}};
  Eigen::Tensor<std::uint8_t, 3, Eigen::RowMajor> labels(grid[0], grid[1], grid[2]);
  voxformer::pipeline<cpu_executor, float> pipe(cpu_executor{2}, c, store.parameters());
  pipe.run(features, matrices.tensor, proposal, labels);
  EXPECT_EQ(std::vector<std::uint8_t>(labels.data(), labels.data() + labels.size()), expected.labels);
}

// Features in another memory order ([1, K, h, w, C], channels last) read through strides, no copy.
TEST(Pipeline, ReadsStridedFeaturesInPlace) {
  const auto f = fixture("t3d_small");
  const auto store = f.weights();
  const auto expected = test::run_pipeline(f, store.parameters(), cpu_executor{1}, {});
  const auto& s = f.features[0].shape;  // [1, K, C, h, w]
  const index_t K = s[1], C = s[2], h = s[3], w = s[4];
  std::vector<float> channels_last(static_cast<std::size_t>(K * C * h * w));
  const float* src = f.features[0].data<float>();
  for (index_t k = 0; k < K; ++k)
    for (index_t c = 0; c < C; ++c)
      for (index_t i = 0; i < h * w; ++i) channels_last[((k * h * w) + i) * C + c] = src[(k * C + c) * h * w + i];
  const voxformer::tensor_view<const float, 5> view(channels_last.data(), {1, K, C, h, w},
                                                    {K * h * w * C, h * w * C, 1, w * C, C});
  const auto grid = f.config.output_volume();
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(f.config.output_voxels()));
  voxformer::pipeline<cpu_executor, float> pipe(cpu_executor{1}, f.config, store.parameters());
  pipe.run(view, f.lidar2img, f.proposal, voxformer::make_view<3>(labels.data(), {grid[0], grid[1], grid[2]}));
  EXPECT_EQ(labels, expected.labels);
}

TEST(Pipeline, BadInputsAreClearErrorsAndNothingIsWritten) {
  const auto f = fixture("t_small");
  const auto store = f.weights();
  const auto& c = f.config;
  const auto grid = c.output_volume();
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(c.output_voxels()), 77);
  const auto label_view = voxformer::make_view<3>(labels.data(), {grid[0], grid[1], grid[2]});
  voxformer::pipeline<cpu_executor, float> pipe(cpu_executor{2}, c, store.parameters(), {20});
  const std::string run = "voxformer::pipeline::run: ";
  // More proposals than the pipeline was sized for (the fixture proposes 62).
  EXPECT_EQ(error_of([&] { pipe.run(f.features, f.lidar2img, f.proposal, label_view); }),
            run + "the proposal has 62 voxels, more than the max_proposals (20) this pipeline was built for");
  voxformer::pipeline<cpu_executor, float> sized(cpu_executor{2}, c, store.parameters());
  const std::vector<voxformer::io::npy_array> one_level(f.features.begin(), f.features.begin() + 1);
  EXPECT_EQ(error_of([&] { sized.run(one_level, f.lidar2img, f.proposal, label_view); }),
            run + "1 feature levels given, the configuration has 2");
  EXPECT_EQ(error_of([&] { sized.run(f.features[0], f.lidar2img, f.proposal, label_view); }),
            run + "the configuration has 2 feature levels; pass one tensor per level (a range of tensors)");
  std::vector<voxformer::io::npy_array> swapped = {f.features[1], f.features[0]};
  EXPECT_EQ(error_of([&] { sized.run(swapped, f.lidar2img, f.proposal, label_view); }),
            run + "argument 'features[0]' [1, cameras, C, h, w] expected shape [1, 2, 32, 6, 10], got [1, 2, 32, 3, 5]");
  const std::vector<float> one_camera(16, 0.f);
  EXPECT_EQ(error_of([&] { sized.run(f.features, voxformer::make_view<3>(one_camera.data(), {1, 4, 4}), f.proposal, label_view); }),
            run + "argument 'lidar2img' [cameras, 4, 4] expected shape [2, 4, 4], got [1, 4, 4]");
  const std::vector<std::uint8_t> short_proposal(100, 1);
  EXPECT_EQ(error_of([&] {
              sized.run(f.features, f.lidar2img, voxformer::make_view<1>(short_proposal.data(), {100}), label_view);
            }),
            run + "argument 'proposal' [X*Y*Z] expected shape [192], got [100]");
  std::vector<std::uint8_t> small_labels(8);
  EXPECT_EQ(error_of([&] {
              sized.run(f.features, f.lidar2img, f.proposal, voxformer::make_view<3>(small_labels.data(), {2, 2, 2}));
            }),
            run + "argument 'labels' [2X, 2Y, 2Z] expected shape [16, 12, 8], got [2, 2, 2]");
  std::vector<float> logits(10);
  EXPECT_EQ(error_of([&] {
              sized.run(f.features, f.lidar2img, f.proposal, label_view, voxformer::make_view<4>(logits.data(), {1, 1, 2, 5}));
            }),
            run + "argument 'logits' [classes, 2X, 2Y, 2Z] expected shape [20, 16, 12, 8], got [1, 1, 2, 5]");
  // A grid of the right size in another axis order ([Z, Y, X]) would be read in the wrong voxel order.
  const std::vector<std::uint8_t> transposed(192, 1);
  EXPECT_EQ(error_of([&] {
              sized.run(f.features, f.lidar2img, voxformer::make_view<3>(transposed.data(), {4, 6, 8}), label_view);
            }),
            run + "argument 'proposal' [X, Y, Z] expected shape [8, 6, 4], got [4, 6, 8]");
  // A non-finite matrix would make its camera see nothing and the frame look normal.
  std::vector<float> matrices(f.lidar2img.data<float>(), f.lidar2img.data<float>() + 32);
  matrices[5] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(error_of([&] { sized.run(f.features, voxformer::make_view<3>(matrices.data(), {2, 4, 4}), f.proposal, label_view); }),
            run + "argument 'lidar2img' holds inf at [0, 1, 1]; every value must be finite");
  // Labels written into the logits' own memory.
  std::vector<float> full_logits(static_cast<std::size_t>(c.classes * c.output_voxels()));
  const auto labels_in_logits =
      voxformer::make_view<3>(reinterpret_cast<std::uint8_t*>(full_logits.data()), {grid[0], grid[1], grid[2]});
  EXPECT_EQ(error_of([&] {
              sized.run(f.features, f.lidar2img, f.proposal, labels_in_logits,
                        voxformer::make_view<4>(full_logits.data(), {c.classes, grid[0], grid[1], grid[2]}));
            }),
            run + "output 'labels' overlaps input 'logits'");
  EXPECT_EQ(std::count(labels.begin(), labels.end(), 77), static_cast<long>(labels.size()));
  EXPECT_EQ(std::count(full_logits.begin(), full_logits.end(), 0.f), static_cast<long>(full_logits.size()));
}

// One NaN or Inf among a camera's features would make every logit NaN and every label 0 with no error.
TEST(Pipeline, NonFiniteFeaturesAreAnErrorNamingTheLevelAndTheElement) {
  const auto f = fixture("t_small");
  const auto store = f.weights();
  const auto grid = f.config.output_volume();
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(f.config.output_voxels()), 77);
  voxformer::pipeline<cpu_executor, float> pipe(cpu_executor{2}, f.config, store.parameters());
  for (const float poison : {NAN, INFINITY, -INFINITY}) {
    auto features = f.features;
    features[1].data<float>()[features[1].size() - 1] = poison;  // [0, 1, 31, 2, 4]: the last element
    EXPECT_CONTAINS(error_of([&] {
                      pipe.run(features, f.lidar2img, f.proposal,
                               voxformer::make_view<3>(labels.data(), {grid[0], grid[1], grid[2]}));
                    }),
                    "voxformer::pipeline::run: argument 'features[1]' holds " + std::string(std::isnan(poison) ? "nan" : poison > 0 ? "inf" : "-inf") +
                        " at [0, 1, 31, 2, 4]; every value must be finite");
  }
  EXPECT_EQ(std::count(labels.begin(), labels.end(), 77), static_cast<long>(labels.size()));
}

// Labels or logits written over any input — the proposal, a feature level, the matrices — are rejected first.
TEST(Pipeline, OutputsOverlappingAnInputAreRejected) {
  const auto f = fixture("s_small");
  const auto store = f.weights();
  const auto& c = f.config;
  const auto grid = c.output_volume();
  voxformer::pipeline<cpu_executor, float> pipe(cpu_executor{1}, c, store.parameters());
  const std::string run = "voxformer::pipeline::run: output ";
  // One buffer holding the labels, with an input copied into its first bytes.
  std::vector<std::uint8_t> shared(static_cast<std::size_t>(c.output_voxels()), 77);
  const auto labels = voxformer::make_view<3>(shared.data(), {grid[0], grid[1], grid[2]});
  std::copy_n(f.proposal.data<std::uint8_t>(), c.voxels(), shared.begin());
  EXPECT_EQ(error_of([&] {
              pipe.run(f.features[0], f.lidar2img, voxformer::make_view<1>(static_cast<const std::uint8_t*>(shared.data()), {c.voxels()}),
                       labels);
            }),
            run + "'labels' overlaps input 'proposal'");
  std::vector<float> logits(static_cast<std::size_t>(c.classes * c.output_voxels()), 7.f);
  const auto logits_view = voxformer::make_view<4>(logits.data(), {c.classes, grid[0], grid[1], grid[2]});
  const auto matrices = voxformer::make_view<3>(static_cast<const float*>(logits.data()), {c.cameras, 4, 4});
  std::copy_n(f.lidar2img.data<float>(), 16 * c.cameras, logits.begin());
  std::vector<std::uint8_t> own_labels(shared.size(), 77);
  const auto label_view = voxformer::make_view<3>(own_labels.data(), {grid[0], grid[1], grid[2]});
  EXPECT_EQ(error_of([&] { pipe.run(f.features[0], matrices, f.proposal, label_view, logits_view); }),
            run + "'logits' overlaps input 'lidar2img'");
  const auto& s = f.features[0].shape;
  const auto features = voxformer::make_view<5>(static_cast<const float*>(logits.data()) + 1000, {s[0], s[1], s[2], s[3], s[4]});
  EXPECT_EQ(error_of([&] { pipe.run(features, f.lidar2img, f.proposal, label_view, logits_view); }),
            run + "'logits' overlaps input 'features[0]'");
  EXPECT_EQ(std::count(own_labels.begin(), own_labels.end(), 77), static_cast<long>(own_labels.size()));
  EXPECT_TRUE(std::all_of(logits.begin() + 16 * c.cameras, logits.end(), [](float v) { return v == 7.f; }));
}

// The rule is the original's (spec §2.6): a voxel is proposed when its value is > 0; zero, negative and NaN are not.
TEST(Pipeline, OnlyPositiveProposalValuesAreProposed) {
  const auto f = fixture("t_small");
  const auto store = f.weights();
  const auto expected = test::run_pipeline(f, store.parameters(), cpu_executor{1}, {});
  std::vector<std::int8_t> signed_proposal(static_cast<std::size_t>(f.config.voxels()));
  std::vector<float> float_proposal(signed_proposal.size());
  const std::uint8_t* mask = f.proposal.data<std::uint8_t>();
  for (std::size_t v = 0; v < signed_proposal.size(); ++v) {
    signed_proposal[v] = mask[v] != 0 ? std::int8_t{3} : std::int8_t{-1};
    float_proposal[v] = mask[v] != 0 ? 0.25f : v % 2 == 0 ? -2.f : NAN;
  }
  const auto grid = f.config.output_volume();
  voxformer::pipeline<cpu_executor, float> pipe(cpu_executor{1}, f.config, store.parameters());
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(f.config.output_voxels()));
  const auto label_view = voxformer::make_view<3>(labels.data(), {grid[0], grid[1], grid[2]});
  EXPECT_EQ(pipe.run(f.features, f.lidar2img, voxformer::make_view<1>(signed_proposal.data(), {f.config.voxels()}), label_view)
                .proposals,
            expected.report.proposals);
  EXPECT_EQ(labels, expected.labels);
  std::fill(labels.begin(), labels.end(), 0);
  pipe.run(f.features, f.lidar2img, voxformer::make_view<1>(float_proposal.data(), {f.config.voxels()}), label_view);
  EXPECT_EQ(labels, expected.labels);
}

// A parameter view of the right shape without data (a null pointer) is an error at construction, not a crash.
TEST(Pipeline, ParameterViewsWithoutDataAreRejected) {
  const auto f = fixture("t_small");
  const auto store = f.weights();
  auto params = store.parameters();
  params.self[1].ffn.fc2.bias = voxformer::tensor_view<const float, 1>(nullptr, {f.config.embed_dims});
  EXPECT_EQ(error_of([&] { voxformer::pipeline<cpu_executor, float>(cpu_executor{1}, f.config, params); }),
            "voxformer::pipeline: argument 'self[1].ffn.fc2.bias' has 32 elements but no data (a null pointer)");
  params = store.parameters();
  params.bev_embed = voxformer::tensor_view<const float, 2>(nullptr, {f.config.voxels(), f.config.embed_dims});
  EXPECT_CONTAINS(error_of([&] { voxformer::pipeline<cpu_executor, float>(cpu_executor{1}, f.config, params); }),
                  "argument 'bev_embed' has 6144 elements but no data");
}

TEST(Pipeline, ChunksLargerThanTheVolumeGiveTheSameLabels) {
  // A chunk of 2^58 rows would overflow every scratch size computed from it; no chunk needs more rows than the
  // volume has voxels, so the pipeline clamps it, and chunking never changes the result.
  const auto f = fixture("t_small");
  const auto store = f.weights();
  const auto grid = f.config.output_volume();
  std::vector<std::uint8_t> expected(static_cast<std::size_t>(f.config.output_voxels())), labels(expected.size());
  voxformer::pipeline<cpu_executor, float> small_chunks(cpu_executor{2}, f.config, store.parameters(), {0, {}, 7});
  small_chunks.run(f.features, f.lidar2img, f.proposal, voxformer::make_view<3>(expected.data(), {grid[0], grid[1], grid[2]}));
  voxformer::pipeline<cpu_executor, float> huge_chunks(cpu_executor{2}, f.config, store.parameters(),
                                                       {0, {}, voxformer::index_t{1} << 58});
  huge_chunks.run(f.features, f.lidar2img, f.proposal, voxformer::make_view<3>(labels.data(), {grid[0], grid[1], grid[2]}));
  EXPECT_EQ(huge_chunks.options().chunk_rows, f.config.voxels());
  EXPECT_EQ(labels, expected);
}

TEST(Pipeline, ConstructionChecksTheConfigurationAndTheParameters) {
  const auto f = fixture("t_small");
  const auto store = f.weights();
  auto other = f.config;
  other.ffn_hidden = 32;
  EXPECT_EQ(error_of([&] { voxformer::pipeline<cpu_executor, float>(cpu_executor{1}, other, store.parameters()); }),
            "voxformer::pipeline: argument 'cross[0].ffn.fc1.weight' (configuration) expected shape [32, 32], got [64, "
            "32]");
  EXPECT_EQ(error_of([&] {
              voxformer::pipeline<cpu_executor, float>(cpu_executor{1}, f.config, store.parameters(), {1000});
            }),
            "voxformer::pipeline: max_proposals must be in [0, 192] (0 = every voxel), got 1000");
  EXPECT_EQ(error_of([&] {
              voxformer::pipeline<cpu_executor, float>(cpu_executor{1}, f.config, store.parameters(), {-1});
            }),
            "voxformer::pipeline: max_proposals must be in [0, 192] (0 = every voxel), got -1");
  other = f.config;
  other.heads = 3;
  EXPECT_EQ(error_of([&] { voxformer::pipeline<cpu_executor, float>(cpu_executor{1}, other, store.parameters()); }),
            "voxformer::model_config: heads (3) must divide embed_dims (32)");
}

}  // namespace
