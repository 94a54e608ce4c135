// Stage 1, the query proposal network, against the PyTorch reference written from the spec with the official
// module structure (tests/reference/qpn_reference.py), on its committed fixtures: every stage within 1e-4 of the
// reference (relative to max(1, |value|); observed ≤ 2e-5 — the same sums in another order, through eleven layers), the
// logits too, and the proposal equal wherever the reference's two logits are more than 1e-4 apart (nearer ties may go
// either way). Also: loading by the official names, every bad input rejected with nothing written, and thread
// independence. The official 256×256×32 grid is tested in tests/official_grid/ (its case is generated at test time).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "support/fixtures.hpp"
#include "support/qpn_fixture.hpp"
#include "support/temp_file.hpp"

namespace {

using test::error_of;
using voxformer::cpu_executor;
using voxformer::index_t;

constexpr double tolerance = 1e-4;

std::filesystem::path case_dir(const std::string& name) {
  return std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "qpn" / name;
}

template <class Element>
void expect_matches_reference(const std::string& name, int threads) {
  SCOPED_TRACE(name + ", " + std::to_string(threads) + " thread(s)");
  const test::qpn_fixture f(case_dir(name));
  voxformer::weights_report report;
  const auto store = f.weights(&report);
  EXPECT_TRUE(report.warnings.empty());
  // The unused full-resolution decoders (2 × weight + bias) and the six BatchNorm counters.
  EXPECT_EQ(report.tensors_ignored, 4 + 6);
  const auto ours = test::run_qpn<Element>(f, store.parameters(), cpu_executor{threads}, {777});
  // Every stage the fixture holds (f32_64x64 leaves out its three largest; the other cases have them all).
  for (const auto stage : voxformer::query_proposal_network<float>::stage_names) {
    const std::string name(stage);
    if (name != "logits" && std::filesystem::exists(f.dir / (name + ".npy")))
      test::expect_close_relative(ours.stages.at(name), f.expected(name), tolerance, name);
  }
  test::expect_close_relative(ours.logits, f.expected("logits"), tolerance, "logits");
  test::expect_proposal_matches(f, ours, tolerance);
}

TEST(QueryProposalNetwork, EveryStageMatchesTheReference) {
  for (int threads : {1, 2}) {
    expect_matches_reference<std::uint8_t>("f16_32x24", threads);
    expect_matches_reference<std::uint8_t>("f32_64x64", threads);
    expect_matches_reference<float>("f32_values", threads);
  }
}

// Each output element is computed by the same code whatever the thread count: the same bits for 1, 2 and 3
// threads. The chunk size moves voxels between the GEMM's vector and narrower column tiles, which may round
// differently (fused multiply-adds), through eleven layers: within the parity tolerance (observed 1.0e-5).
TEST(QueryProposalNetwork, ResultsAreTheSameBitsForEveryThreadCount) {
  const test::qpn_fixture f(case_dir("f32_64x64"));
  const auto store = f.weights();
  for (const index_t chunk : {100, 4096}) {
    const auto base = test::run_qpn<std::uint8_t>(f, store.parameters(), cpu_executor{1}, {chunk});
    for (int threads : {2, 3}) {
      const auto other = test::run_qpn<std::uint8_t>(f, store.parameters(), cpu_executor{threads}, {chunk});
      EXPECT_EQ(other.stages, base.stages) << "chunk " << chunk << ", " << threads << " threads";
      EXPECT_EQ(other.proposal, base.proposal);
      EXPECT_EQ(std::memcmp(other.logits.data(), base.logits.data(), base.logits.size() * sizeof(float)), 0);
    }
  }
  const auto one = test::run_qpn<std::uint8_t>(f, store.parameters(), cpu_executor{2}, {7});
  const auto many = test::run_qpn<std::uint8_t>(f, store.parameters(), cpu_executor{2}, {4096});
  for (std::size_t i = 0; i < one.logits.size(); ++i)
    ASSERT_NEAR(one.logits[i], many.logits[i], tolerance * std::max(1.f, std::abs(many.logits[i]))) << i;
}

// ---- weights by the official names ----

TEST(QueryProposalNetwork, RandomWeightsRoundTripThroughAFile) {
  voxformer::qpn_config config;
  config.grid = {16, 16, 8};
  const auto store = voxformer::qpn_parameter_store<float>::random(config, 3);
  const auto file = test::temp_file("qpn_random.safetensors");
  store.write_safetensors(file);
  voxformer::weights_report report;
  const auto loaded =
      voxformer::qpn_parameter_store<float>::from_file(config, voxformer::io::safetensors_file::open(file), &report);
  EXPECT_TRUE(report.warnings.empty());
  EXPECT_EQ(report.tensors_ignored, 0);  // random weights hold only what inference reads
  const auto& a = store.parameters().seg_head.bn2[2].running_var;
  const auto& b = loaded.parameters().seg_head.bn2[2].running_var;
  for (index_t c = 0; c < a.extent(0); ++c) EXPECT_EQ(a(c), b(c));
  EXPECT_EQ(loaded.parameters().conv1_2.weight.extent(1), 8 * 3 / 2 + 8 / 4 + 8 / 8);
}

TEST(QueryProposalNetwork, AWrongCheckpointIsAnErrorNamingTheTensor) {
  voxformer::qpn_config small;
  small.grid = {16, 16, 8};
  const auto file = test::temp_file("qpn_f8.safetensors");
  voxformer::qpn_parameter_store<float>::random(small, 1).write_safetensors(file);
  // The f = 32 network expects other channel counts.
  const voxformer::qpn_config official;
  EXPECT_CONTAINS(error_of([&] {
                    voxformer::qpn_parameter_store<float>::from_file(official,
                                                                     voxformer::io::safetensors_file::open(file));
                  }),
                  "tensor 'Encoder_block1.0.weight' has shape [8, 8, 3, 3], expected [32, 32, 3, 3] (query proposal "
                  "network: grid 256x256x32)");
  // A stage-2 checkpoint is not a QPN one.
  const auto head = test::temp_file("qpn_head.safetensors");
  auto head_config = voxformer::model_config::voxformer_s();
  head_config.volume = {4, 2, 2}, head_config.view_shape = {4, 4}, head_config.embed_dims = 8, head_config.heads = 2;
  head_config.points_cross = head_config.points_self = 2, head_config.ffn_hidden = 16;
  voxformer::parameter_store<float>::random(head_config, 1).write_safetensors(head);
  EXPECT_CONTAINS(error_of([&] {
                    voxformer::qpn_parameter_store<float>::from_file(small,
                                                                     voxformer::io::safetensors_file::open(head));
                  }),
                  "missing tensor 'Encoder_block1.0.weight' [8, 8, 3, 3]");
}

TEST(QueryProposalNetwork, ConfigurationsAreChecked) {
  voxformer::qpn_config config;
  config.grid = {256, 250, 32};
  EXPECT_EQ(error_of([&] { config.validate(); }),
            "voxformer::qpn_config: grid extent 1 must be a positive multiple of 8 up to 65536, got 250");
  config.grid = {256, 256, 0};
  EXPECT_CONTAINS(error_of([&] { config.validate(); }), "grid extent 2 must be a positive multiple of 8");
}

// ---- bad input: one clear error, nothing written ----

struct small_network {
  voxformer::qpn_config config;
  voxformer::qpn_parameter_store<float> store;
  voxformer::proposal_pipeline<cpu_executor, float> pipe;
  std::vector<float> grid;
  std::vector<std::uint8_t> proposal;
  std::vector<float> logits;

  static voxformer::qpn_config make_config() {
    voxformer::qpn_config c;
    c.grid = {16, 16, 8};
    return c;
  }
  small_network()
      : config(make_config()),
        store(voxformer::qpn_parameter_store<float>::random(config, 5)),
        pipe(cpu_executor{2}, config, store.parameters()),
        grid(16 * 16 * 8, 0.f),
        proposal(8 * 8 * 4, 7),
        logits(2 * 8 * 8 * 4, 7.f) {}

  auto grid_view() { return voxformer::make_view<3>(grid.data(), {16, 16, 8}); }
  auto proposal_view() { return voxformer::make_view<3>(proposal.data(), {8, 8, 4}); }
  auto logits_view() { return voxformer::make_view<4>(logits.data(), {2, 8, 8, 4}); }
  bool untouched() const {
    return std::all_of(proposal.begin(), proposal.end(), [](std::uint8_t v) { return v == 7; }) &&
           std::all_of(logits.begin(), logits.end(), [](float v) { return v == 7.f; });
  }
};

TEST(QueryProposalNetwork, BadInputIsRejectedBeforeAnythingIsWritten) {
  small_network n;
  EXPECT_EQ(
      error_of([&] {
        n.pipe.run(voxformer::make_view<3>(n.grid.data(), {16, 8, 16}), n.proposal_view());
      }),
      "voxformer::proposal_pipeline::run: argument 'occupancy' [X, Y, Z] expected shape [16, 16, 8], got [16, 8, 16]");
  EXPECT_EQ(
      error_of([&] {
        n.pipe.run(n.grid_view(), voxformer::make_view<3>(n.proposal.data(), {8, 4, 8}));
      }),
      "voxformer::proposal_pipeline::run: argument 'proposal' [X/2, Y/2, Z/2] expected shape [8, 8, 4], got [8, 4, 8]");
  EXPECT_EQ(error_of([&] {
              n.pipe.run(n.grid_view(), n.proposal_view(), voxformer::make_view<4>(n.logits.data(), {8, 8, 4, 2}));
            }),
            "voxformer::proposal_pipeline::run: argument 'logits' [2, X/2, Y/2, Z/2] expected shape [2, 8, 8, 4], got "
            "[8, 8, 4, 2]");
  n.grid[100] = NAN;
  EXPECT_EQ(
      error_of([&] { n.pipe.run(n.grid_view(), n.proposal_view(), n.logits_view()); }),
      "voxformer::proposal_pipeline::run: argument 'occupancy' holds nan at flat index 100; the grid must be finite");
  n.grid[100] = INFINITY;
  EXPECT_CONTAINS(error_of([&] { n.pipe.run(n.grid_view(), n.proposal_view()); }), "holds inf at flat index 100");
  n.grid[100] = 0;
  // The proposal written over the logits, or over the grid it reads.
  EXPECT_CONTAINS(error_of([&] {
                    n.pipe.run(n.grid_view(),
                               voxformer::make_view<3>(reinterpret_cast<std::uint8_t*>(n.logits.data()), {8, 8, 4}),
                               n.logits_view());
                  }),
                  "outputs 'proposal' and 'logits' overlap");
  EXPECT_CONTAINS(
      error_of([&] {
        n.pipe.run(n.grid_view(), voxformer::make_view<3>(reinterpret_cast<std::uint8_t*>(n.grid.data()), {8, 8, 4}));
      }),
      "output 'proposal' overlaps input 'occupancy'");
  EXPECT_TRUE(n.untouched());
  // And then a good frame runs: an empty grid proposes what the biases say, the same for every empty frame.
  n.pipe.run(n.grid_view(), n.proposal_view(), n.logits_view());
  EXPECT_FALSE(n.untouched());
}

TEST(QueryProposalNetwork, ParametersOfTheWrongShapeAreRejectedAtConstruction) {
  small_network n;
  auto params = n.store.parameters();
  params.seg_head.conv2[1] = params.seg_head.conv2[0];  // fine: same shape
  voxformer::proposal_pipeline<cpu_executor, float> ok(cpu_executor{1}, n.config, params);
  params.conv1_4.weight = params.encoder[0][0].weight;
  EXPECT_CONTAINS(
      error_of([&] { voxformer::proposal_pipeline<cpu_executor, float>(cpu_executor{1}, n.config, params); }),
      "voxformer::proposal_pipeline: argument 'conv1_4.weight' (configuration) expected shape [16, 17, 1, 3, 3], "
      "got [8, 8, 1, 3, 3]");
  // A negative running variance would make every folded logit NaN and the proposal silently empty.
  params = n.store.parameters();
  const std::vector<float> negative = {1.f, 1.f, -0.5f, 1.f, 1.f, 1.f, 1.f, 1.f};
  params.seg_head.bn2[1].running_var = voxformer::make_view<1>(negative.data(), {8});
  EXPECT_EQ(
      error_of([&] { voxformer::proposal_pipeline<cpu_executor, float>(cpu_executor{1}, n.config, params); }),
      "voxformer::proposal_pipeline: argument 'seg_head_1_2.bn2.1.running_var' holds the negative variance -0.5 at "
      "element 2");
}

// A grid of any arithmetic type is read as its values; an integer grid gives the float grid's result.
TEST(QueryProposalNetwork, OccupancyOfAnyArithmeticTypeIsReadAsItsValues) {
  small_network n;
  for (std::size_t i = 0; i < n.grid.size(); ++i) n.grid[i] = (i * 7919 % 23) < 4 ? 1.f : 0.f;
  n.pipe.run(n.grid_view(), n.proposal_view(), n.logits_view());
  const auto expected = n.logits;
  std::vector<std::int16_t> integers(n.grid.begin(), n.grid.end());
  std::fill(n.logits.begin(), n.logits.end(), 0.f);
  n.pipe.run(voxformer::make_view<3>(integers.data(), {16, 16, 8}), n.proposal_view(), n.logits_view());
  EXPECT_EQ(n.logits, expected);
  EXPECT_NE(std::count(n.proposal.begin(), n.proposal.end(), 1), 0);
}

}  // namespace
