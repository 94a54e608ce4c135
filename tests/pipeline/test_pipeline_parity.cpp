// Stage-by-stage parity of the whole pipeline (stage 2 + head) with the PyTorch reference model written from
// the spec with the official module structure (tests/reference/voxformer_reference.py), on its committed
// fixtures: all four variants, a camera that sees nothing with proposals no camera sees, and an empty
// proposal; CSR and padded rebatching; 1 and 2 threads.
// Tolerance (the issue's): every stage output and every logit within 1e-4 absolute in fp32 (what we see is
// ≈ 1e-6: the same math in another summation order, with the offset/weight GEMMs folded, spec §7).
// Labels must be equal wherever the reference's top two logits are further apart than 2e-4 (twice the
// logit tolerance); nearer ties may go either way.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "support/fixtures.hpp"
#include "support/msda_case.hpp"
#include "support/pipeline_fixture.hpp"

namespace {

using voxformer::cpu_executor;
using voxformer::index_t;

std::filesystem::path case_dir(const std::string& name) {
  return std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "pipeline" / name;
}

void expect_matches_reference(const std::string& name, const voxformer::pipeline_options& options, int threads) {
  SCOPED_TRACE(name + (options.layout == voxformer::rebatch_layout::csr ? ", CSR" : ", padded") + ", " +
               std::to_string(threads) + " thread(s)");
  const test::pipeline_fixture f(case_dir(name));
  voxformer::weights_report report;
  const auto store = f.weights(&report);
  EXPECT_TRUE(report.warnings.empty());
  test::expect_all_stages(f, test::run_pipeline(f, store.parameters(), cpu_executor{threads}, options));
}

class PipelineParity : public ::testing::TestWithParam<std::string> {};

TEST_P(PipelineParity, EveryStageMatchesTheReferenceForBothLayoutsAndThreadCounts) {
  for (const auto layout : {voxformer::rebatch_layout::csr, voxformer::rebatch_layout::padded})
    for (int threads : {1, 2}) expect_matches_reference(GetParam(), {0, layout, 64}, threads);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PipelineParity,
                         ::testing::Values("t_small", "s_small", "t3d_small", "s3d_small", "t_blind_camera",
                                           "t_empty_proposal"));

// For a given chunk size the results are the same bits whatever the layout and the thread count (the layouts
// differ only in padding rows, which are discarded; every kernel element is computed the same way on any
// thread). Another chunk size changes the GEMM calls' shapes, so only rounding: within 1e-5.
TEST(Pipeline, ResultsAreIdenticalForEveryLayoutAndThreadCount) {
  for (const std::string name : {"t_small", "t3d_small", "t_blind_camera"}) {
    const test::pipeline_fixture f(case_dir(name));
    const auto store = f.weights();
    for (index_t chunk : {7, 64}) {
      const auto base = test::run_pipeline(f, store.parameters(), cpu_executor{1}, {0, voxformer::rebatch_layout::csr, chunk});
      for (const auto layout : {voxformer::rebatch_layout::csr, voxformer::rebatch_layout::padded})
        for (int threads : {1, 2, 3}) {
          const auto other = test::run_pipeline(f, store.parameters(), cpu_executor{threads}, {0, layout, chunk});
          EXPECT_EQ(other.stages, base.stages) << name << " chunk " << chunk << " threads " << threads;
          EXPECT_EQ(other.labels, base.labels);
          EXPECT_EQ(std::memcmp(other.logits.data(), base.logits.data(), base.logits.size() * sizeof(float)), 0);
        }
    }
    const auto a = test::run_pipeline(f, store.parameters(), cpu_executor{2}, {0, voxformer::rebatch_layout::csr, 1});
    const auto b = test::run_pipeline(f, store.parameters(), cpu_executor{2}, {0, voxformer::rebatch_layout::csr, 1000});
    test::expect_close(a.logits, b.logits, 1e-5, 0);
  }
}

}  // namespace
