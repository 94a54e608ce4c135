// The whole VoxFormer-T frame from camera images on the bundled frame (sequence 08, frame 1000: its occupancy
// downsampled as the proposal, 7 512 queries; lidar2img of t, t−12, t−9, t−6, t−3 from calib.txt and poses.txt),
// random weights at the official sizes, 370 × 1220 crops of camera-sized 8-bit images:
//   stream     — `run_stream`, one camera image per frame, the past frames' features from the ring buffer (one
//                image-path pass per frame), frames 1000, 1001, … after the 12 before them;
//   recompute  — `run` with the five images, every frame (the original's way), the baseline in the same process.
// Counters: ms per frame, each stage's ms, and the process's peak RSS in MiB (run one benchmark per process, with
// --benchmark_filter, for a peak RSS of its own).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "peak_memory.hpp"
#include "voxformer/io/kitti.hpp"
#include "voxformer/io/kitti_poses.hpp"
#include "voxformer/io/voxel_grid.hpp"
#include "voxformer/ops/voxel/downsample.hpp"
#include "voxformer/voxformer.hpp"

namespace {

using namespace voxformer;
namespace fs = std::filesystem;

const fs::path frame_dir = fs::path(VOXFORMER_EXAMPLE_DATA_DIR) / "semantickitti_08_001000";
constexpr index_t first_frame = 1000, height = 376, width = 1241;  // KITTI's camera images

struct model_fixture {
  voxformer_model_config config = voxformer_model_config::preset("T", false);
  // The head uses its weights in place (a checkpoint's mapping); the image path packs its own copy at construction,
  // after which its store is released, as a program would.
  parameter_store<float> head_weights = parameter_store<float>::random(config.head, 2);
  voxformer_model<cpu_executor, float> model;
  std::vector<std::uint8_t> proposal = std::vector<std::uint8_t>(128 * 128 * 16), labels = std::vector<std::uint8_t>(256 * 256 * 32);
  std::vector<std::uint8_t> pixels;
  io::kitti_calibration calibration = io::read_kitti_calibration(frame_dir / "calib.txt");
  std::vector<Eigen::Matrix4d> poses = io::read_kitti_poses(frame_dir / "poses.txt");

  explicit model_fixture(int threads)
      : model(cpu_executor{threads}, config,
              {image_backbone_store<float>::random(config.image, 1).parameters(), head_weights.parameters()}) {
    const auto occupancy = io::read_packed_grid(frame_dir / "voxels.bin", {256, 256, 32});
    downsample_occupancy(cpu_executor{threads}, make_view<3>(occupancy.data(), {256, 256, 32}),
                         make_view<3>(proposal.data(), {128, 128, 16}));
    pixels.resize(static_cast<std::size_t>(config.head.cameras * height * width * 3));
    std::mt19937 gen(7);
    for (auto& p : pixels) p = static_cast<std::uint8_t>(gen() >> 24);
  }

  std::vector<float> lidar2img(index_t frame) const {
    std::vector<float> m;
    for (const auto& matrix : io::temporal_lidar_to_image(calibration, poses, frame, config.temporal_offsets))
      for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c) m.push_back(static_cast<float>(matrix(r, c)));
    return m;
  }
  tensor_view<const std::uint8_t, 4> images(index_t count) const { return make_view<4>(pixels.data(), {count, height, width, 3}); }
  auto matrices(const std::vector<float>& m) const { return make_view<3>(m.data(), {config.head.cameras, 4, 4}); }
  auto proposal_view() const { return make_view<3>(proposal.data(), {128, 128, 16}); }
  auto labels_view() { return make_view<3>(labels.data(), {256, 256, 32}); }
};

void report(benchmark::State& state, const std::vector<std::string>& names, const std::vector<double>& stage_ms) {
  const double frames = static_cast<double>(state.iterations());
  double total = 0;
  for (std::size_t s = 0; s < names.size(); ++s) {
    state.counters[names[s] + "_ms"] = stage_ms[s] / frames;
    total += stage_ms[s];
  }
  state.counters["ms_per_frame"] = total / frames;
  state.counters["peak_rss_mib"] = bench::peak_rss_mib();
}

template <class RunFrame>
void time_frames(benchmark::State& state, model_fixture& f, const RunFrame& run_frame) {
  std::vector<double> stage_ms;
  std::vector<std::string> names;
  index_t frame = first_frame;
  for (auto _ : state) {
    state.PauseTiming();
    const auto matrices = f.lidar2img(frame);
    state.ResumeTiming();
    const run_report& r = run_frame(frame++, matrices);
    if (stage_ms.empty()) {
      stage_ms.assign(r.stages.size(), 0.0);
      for (const auto& stage : r.stages) names.push_back(stage.name);
    }
    for (std::size_t s = 0; s < r.stages.size(); ++s) stage_ms[s] += r.stages[s].milliseconds;
  }
  report(state, names, stage_ms);
}

void stream(benchmark::State& state) {
  model_fixture f(static_cast<int>(state.range(0)));
  const index_t history = f.config.history();
  for (index_t frame = first_frame - history + 1; frame < first_frame; ++frame)  // the frames t−12 … t−1 look back to
    f.model.keep_frame(frame, f.images(1));
  time_frames(state, f, [&](index_t frame, const std::vector<float>& m) -> const run_report& {
    return f.model.run_stream(frame, f.images(1), f.matrices(m), f.proposal_view(), f.labels_view());
  });
}

void recompute(benchmark::State& state) {
  model_fixture f(static_cast<int>(state.range(0)));
  time_frames(state, f, [&](index_t, const std::vector<float>& m) -> const run_report& {
    return f.model.run(f.images(f.config.head.cameras), f.matrices(m), f.proposal_view(), f.labels_view());
  });
}

BENCHMARK(stream)->ArgName("threads")->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(10.0);
BENCHMARK(recompute)->ArgName("threads")->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(10.0);

}  // namespace
