// Stage 1, the query proposal network, against the PyTorch reference written from the spec with the official
// module structure (tests/reference/qpn_reference.py), on its committed fixtures: every stage within 1e-4 of the
// reference (relative to max(1, |value|); observed ≤ 2e-5 — the same sums in another order, through eleven layers), the
// logits too, and the proposal equal wherever the reference's two logits are more than 1e-4 apart (nearer ties may go
// either way); and thread independence. Built again for each SIMD width (tests/CMakeLists.txt). The official
// 256×256×32 grid is tested in tests/official_grid/ (its case is generated at test time).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "support/fixtures.hpp"
#include "support/qpn_fixture.hpp"

namespace {

using voxformer::cpu_executor;
using voxformer::index_t;

constexpr double tolerance = 1e-4;

std::filesystem::path case_dir(const std::string& name) {
  return std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "qpn" / name;
}

template <class Element>
void expect_matches_reference(const std::string& case_name, int threads) {
  SCOPED_TRACE(case_name + ", " + std::to_string(threads) + " thread(s)");
  const test::qpn_fixture f(case_dir(case_name));
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

}  // namespace
