// Stage 2 + head of VoxFormer-T over four frames: one `run_batch` call (`batch`) against four `run` calls
// (`one_by_one`, the baseline), on the bundled frame's features and matrices (`bundled_frame.hpp`) with four
// proposals of different sizes (the bundled 7 580 voxels, then every voxel v of it with v mod 4 ≥ b: about ¾, ½ and
// ¼ of it), labels only. Counters: items = frames (so frames per second), ms per frame, peak RSS (run one benchmark
// per process, --benchmark_filter, for a peak of its own: the batch should need no more memory than a frame).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "peak_memory.hpp"
#include "pipeline/bundled_frame.hpp"

namespace {

using namespace voxformer;
constexpr index_t frames = 4;

struct batch_fixture : bench::bundled_frame {
  // Members of the derived fixture: the bundled frame is loaded by then.
  std::vector<float> all_features = bench::repeated(features, frames);
  std::vector<float> all_lidar2img = bench::repeated(lidar2img, frames);
  std::vector<std::uint8_t> proposals, labels;

  batch_fixture() : bench::bundled_frame("T") {
    for (index_t b = 0; b < frames; ++b) {
      for (std::size_t v = 0; v < proposal.size(); ++v)
        proposals.push_back(proposal[v] != 0 && static_cast<index_t>(v % 4) >= b ? 1 : 0);
    }
    labels.resize(static_cast<std::size_t>(frames * config.output_voxels()));
  }

  auto feature_view() const {
    auto shape = feature_shape();
    shape[0] = frames;
    return make_view<5>(static_cast<const float*>(all_features.data()), shape);
  }
  auto matrix_view() const {
    return make_view<4>(static_cast<const float*>(all_lidar2img.data()), {frames, config.cameras, 4, 4});
  }
  auto proposal_view() const {
    return make_view<4>(static_cast<const std::uint8_t*>(proposals.data()), {frames, 128, 128, 16});
  }
  auto label_view() {
    const auto grid = config.output_volume();
    return make_view<4>(labels.data(), {frames, grid[0], grid[1], grid[2]});
  }
};

void finish(benchmark::State& state, double ms) {
  const double run_frames = static_cast<double>(state.iterations() * frames);
  state.SetItemsProcessed(static_cast<std::int64_t>(run_frames));
  state.counters["ms_per_frame"] = ms / run_frames;
  state.counters["peak_rss_mib"] = bench::peak_rss_mib();
}

void one_by_one(benchmark::State& state) {
  batch_fixture f;
  pipeline<cpu_executor, float> pipe(cpu_executor{2}, f.config, f.weights.parameters());
  const auto features = f.feature_view();
  const auto matrices = f.matrix_view();
  const auto proposals = f.proposal_view();
  const auto labels = f.label_view();
  double ms = 0;
  for (auto _ : state)
    for (index_t b = 0; b < frames; ++b)
      ms += pipe.run(leading_slice(features, b, 1), leading_entry(matrices, b), leading_entry(proposals, b),
                     leading_entry(labels, b))
                .total_milliseconds();
  finish(state, ms);
}

void batch(benchmark::State& state) {
  batch_fixture f;
  pipeline<cpu_executor, float> pipe(cpu_executor{2}, f.config, f.weights.parameters());
  double ms = 0;
  for (auto _ : state)
    for (const auto& report : pipe.run_batch(f.feature_view(), f.matrix_view(), f.proposal_view(), f.label_view()))
      ms += report.total_milliseconds();
  finish(state, ms);
}

BENCHMARK(one_by_one)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(10.0);
BENCHMARK(batch)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(10.0);

}  // namespace
