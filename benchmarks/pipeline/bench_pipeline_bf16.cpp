// Stage 2 + head of VoxFormer-T with its layers' projection and FFN weights in fp32 (`fp32`, the baseline) and in
// bfloat16 (`bf16`: `pipeline<cpu_executor, float, bfloat16>`, AVX512-BF16 where the CPU has it), in the same
// process, on the bundled frame (`bundled_frame.hpp`: 7 580 proposals, random weights at the official sizes and
// random image features). Counters: ms per frame and per stage, the derived weights' MiB, peak RSS (run one
// benchmark per process, --benchmark_filter, for a peak of its own); `bf16_error`: `logit_error` = max |logit − fp32's| ÷
// max |fp32 logit| and `label_agreement` = the share of voxels labelled as fp32 labels them (random weights: many
// near-ties, so a lower bound for a trained model's).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "peak_memory.hpp"
#include "pipeline/bundled_frame.hpp"

namespace {

using namespace voxformer;

struct frame_fixture : bench::bundled_frame {
  std::vector<std::uint8_t> labels = std::vector<std::uint8_t>(static_cast<std::size_t>(config.output_voxels()));
  std::vector<float> logits = std::vector<float>(static_cast<std::size_t>(config.output_voxels() * config.classes));

  frame_fixture() : bench::bundled_frame("T") {}

  template <class Pipeline>
  const run_report& run(Pipeline& pipe) {
    const auto grid = config.output_volume();
    return pipe.run(make_view<5>(static_cast<const float*>(features.data()), feature_shape()),
                    make_view<3>(static_cast<const float*>(lidar2img.data()), {config.cameras, 4, 4}),
                    make_view<3>(static_cast<const std::uint8_t*>(proposal.data()), {128, 128, 16}),
                    make_view<3>(labels.data(), {grid[0], grid[1], grid[2]}),
                    make_view<4>(logits.data(), {config.classes, grid[0], grid[1], grid[2]}));
  }
};

template <class Weight>
void stage2(benchmark::State& state) {
  frame_fixture f;
  pipeline<cpu_executor, float, Weight> pipe(cpu_executor{static_cast<int>(state.range(0))}, f.config,
                                             f.weights.parameters());
  std::vector<double> stage_ms;
  for (auto _ : state) {
    const run_report& r = f.run(pipe);
    stage_ms.resize(r.stages.size());
    for (std::size_t s = 0; s < r.stages.size(); ++s) stage_ms[s] += r.stages[s].milliseconds;
  }
  const double frames = static_cast<double>(state.iterations());
  double total = 0;
  for (std::size_t s = 0; s < stage_ms.size(); ++s) {
    state.counters[pipe.report().stages[s].name + "_ms"] = stage_ms[s] / frames;
    total += stage_ms[s];
  }
  state.counters["ms_per_frame"] = total / frames;
  state.counters["proposals"] = static_cast<double>(pipe.report().proposals);
  state.counters["derived_mib"] = static_cast<double>(pipe.report().derived_bytes) / (1 << 20);
  state.counters["peak_rss_mib"] = bench::peak_rss_mib();
}

//! One frame with each, compared (a process of its own holds both pipelines: its peak RSS is not either's).
void bf16_error(benchmark::State& state) {
  frame_fixture f;
  pipeline<cpu_executor, float> fp32(cpu_executor{2}, f.config, f.weights.parameters());
  pipeline<cpu_executor, float, bfloat16> bf16(cpu_executor{2}, f.config, f.weights.parameters());
  double logit_error = 0, label_agreement = 0;
  for (auto _ : state) {
    f.run(fp32);
    const std::vector<std::uint8_t> labels = f.labels;
    const std::vector<float> logits = f.logits;
    f.run(bf16);
    double largest = 0, worst = 0;
    for (std::size_t i = 0; i < logits.size(); ++i) {
      largest = std::max(largest, static_cast<double>(std::abs(logits[i])));
      worst = std::max(worst, static_cast<double>(std::abs(f.logits[i] - logits[i])));
    }
    std::size_t agree = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) agree += labels[i] == f.labels[i];
    logit_error = worst / largest;
    label_agreement = static_cast<double>(agree) / static_cast<double>(labels.size());
  }
  state.counters["logit_error"] = logit_error;
  state.counters["label_agreement"] = label_agreement;
}

BENCHMARK(stage2<float>)->Name("fp32")->ArgName("threads")->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond)
    ->MinTime(5.0);
BENCHMARK(stage2<bfloat16>)->Name("bf16")->ArgName("threads")->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond)
    ->MinTime(5.0);
BENCHMARK(bf16_error)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
