// Stage 1, the query proposal network: loading by the official names, every bad input rejected with nothing
// written, configurations and parameters checked. Its parity with the PyTorch reference: test_qpn_parity.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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
  config.grid = {index_t{1} << 60, 256, 32};
  EXPECT_CONTAINS(error_of([&] { config.validate(); }), "grid extent 0 must be a positive multiple of 8 up to 65536");
  // Was: no bound on the voxels (65536 x 65536 x 8 failed with a bare std::bad_alloc when allocated).
  config.grid = {65536, 65536, 8};
  EXPECT_EQ(error_of([&] { config.validate(); }),
            "voxformer::qpn_config: voxels X*Y*Z (65536 x 65536 x 8) must be at most 2147483647: the proposal is stage "
            "2's query grid, whose output grid, this one, is indexed in int32");
  config.grid = {65536, 4096, 8};  // 2^31
  EXPECT_CONTAINS(error_of([&] { config.validate(); }), "voxels X*Y*Z (65536 x 4096 x 8) must be at most 2147483647");
  config.grid = {65536, 4088, 8};  // the largest below it
  EXPECT_EQ(error_of([&] { config.validate(); }), "no error");
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
      "voxformer::proposal_pipeline::run: argument 'occupancy' holds nan at [0, 12, 4]; every value must be finite");
  n.grid[100] = INFINITY;
  EXPECT_CONTAINS(error_of([&] { n.pipe.run(n.grid_view(), n.proposal_view()); }), "holds inf at [0, 12, 4]");
  n.grid[100] = 0;
  // A float64 grid is computed in float32: a value beyond float32's range would become Inf there.
  std::vector<double> wide(n.grid.begin(), n.grid.end());
  wide[100] = 1e300;
  EXPECT_EQ(error_of([&] { n.pipe.run(voxformer::make_view<3>(wide.data(), {16, 16, 8}), n.proposal_view()); }),
            "voxformer::proposal_pipeline::run: argument 'occupancy' holds 1e+300 at [0, 12, 4]; it overflows float32, "
            "which the pipeline computes in");
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
  // A view of the right shape without data is an error, not a crash.
  params = n.store.parameters();
  params.deconv1_4.weight = voxformer::tensor_view<const float, 5>(nullptr, params.deconv1_4.weight.extents());
  EXPECT_EQ(error_of([&] { voxformer::proposal_pipeline<cpu_executor, float>(cpu_executor{1}, n.config, params); }),
            "voxformer::proposal_pipeline: argument 'deconv1_4.weight' has 144 elements but no data (a null pointer)");
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

// ---- batches ----

// Three grids (empty, sparse, full) in one call give, frame for frame, what three calls give.
TEST(QueryProposalNetwork, ABatchEqualsItsFramesRunOneByOne) {
  small_network n;
  const std::size_t cells = n.grid.size(), out = n.proposal.size();
  std::vector<float> grids(3 * cells, 0.f);
  for (std::size_t i = 0; i < cells; ++i) grids[cells + i] = (i * 7919 % 23) < 4 ? 1.f : 0.f, grids[2 * cells + i] = 1.f;
  std::vector<std::uint8_t> proposals(3 * out, 7);
  std::vector<float> logits(3 * 2 * out, 7.f);
  const auto reports = n.pipe.run_batch(voxformer::make_view<4>(grids.data(), {3, 16, 16, 8}),
                                        voxformer::make_view<4>(proposals.data(), {3, 8, 8, 4}),
                                        voxformer::make_view<5>(logits.data(), {3, 2, 8, 8, 4}));
  ASSERT_EQ(reports.size(), 3u);
  for (std::size_t b = 0; b < 3; ++b) {
    SCOPED_TRACE("frame " + std::to_string(b));
    std::copy_n(grids.begin() + static_cast<long>(b * cells), cells, n.grid.begin());
    const auto report = n.pipe.run(n.grid_view(), n.proposal_view(), n.logits_view());
    EXPECT_EQ(reports[b].proposals, report.proposals);
    EXPECT_TRUE(std::equal(n.proposal.begin(), n.proposal.end(), proposals.begin() + static_cast<long>(b * out)));
    EXPECT_TRUE(std::equal(n.logits.begin(), n.logits.end(), logits.begin() + static_cast<long>(b * 2 * out)));
  }
  // The frames differ (else the comparison above could not tell them apart).
  EXPECT_FALSE(std::equal(logits.begin(), logits.begin() + static_cast<long>(2 * out), logits.begin() + static_cast<long>(4 * out)));
}

TEST(QueryProposalNetwork, ABatchIsCheckedWholeBeforeAnyFrameIsWritten) {
  small_network n;
  std::vector<float> grids(3 * n.grid.size(), 0.f);
  std::vector<std::uint8_t> proposals(3 * n.proposal.size(), 7);
  const auto grid_view = voxformer::make_view<4>(grids.data(), {3, 16, 16, 8});
  const auto proposal_view = voxformer::make_view<4>(proposals.data(), {3, 8, 8, 4});
  const std::string op = "voxformer::proposal_pipeline::run_batch: ";
  EXPECT_EQ(error_of([&] { n.pipe.run_batch(grid_view, voxformer::make_view<4>(proposals.data(), {2, 8, 8, 4})); }),
            op + "argument 'occupancy' [B, X, Y, Z] expected shape [2, 16, 16, 8], got [3, 16, 16, 8]");
  grids.back() = NAN;  // the last frame's last cell
  EXPECT_EQ(error_of([&] { n.pipe.run_batch(grid_view, proposal_view); }),
            op + "argument 'occupancy' holds nan at [2, 15, 15, 7]; every value must be finite");
  grids.back() = 0.f;
  EXPECT_EQ(error_of([&] {
              n.pipe.run_batch(grid_view, proposal_view, voxformer::make_view<5>(n.logits.data(), {1, 2, 8, 8, 4}));
            }),
            op + "argument 'logits' [B, 2, X/2, Y/2, Z/2] expected shape [3, 2, 8, 8, 4], got [1, 2, 8, 8, 4]");
  EXPECT_TRUE(std::all_of(proposals.begin(), proposals.end(), [](std::uint8_t v) { return v == 7; }));
}

}  // namespace
