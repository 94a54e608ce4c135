// Camera-visibility rebatching at VoxFormer-T size: 5 cameras (the current one and 3, 6, 9, 12 m back)
// × 20 000 proposals. Projection (queries·cameras/s), CSR and padded list building, and the memory of
// each layout for a 128-channel query batch (counters csr_MiB, padded_MiB).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>
#include <vector>

#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/io/kitti.hpp"
#include "voxformer/ops/rebatch/camera_batches.hpp"
#include "voxformer/ops/rebatch/camera_projection.hpp"

namespace {

using namespace voxformer;
constexpr index_t cameras = 5, queries = 20000, channels = 128;

struct rebatch_data {
  std::vector<double> reference;
  std::vector<float> lidar2img;
  std::vector<float> reference_cam = std::vector<float>(cameras * queries * 2);
  std::vector<std::uint8_t> visible = std::vector<std::uint8_t>(cameras * queries);
  rebatch_data() {
    const auto calib = io::read_kitti_calibration(std::filesystem::path(VOXFORMER_EXAMPLE_DATA_DIR) /
                                                  "semantickitti_08_001000" / "calib.txt");
    for (index_t k = 0; k < cameras; ++k) {
      Eigen::Matrix4d back = Eigen::Matrix4d::Identity();
      back(0, 3) = 3.0 * double(k);  // straight driving: camera k is 3k metres behind
      const auto m = io::to_mat4f(calib.lidar_to_image() * back);
      lidar2img.insert(lidar2img.end(), m.m, m.m + 16);
    }
    std::mt19937 gen(3);  // proposals drawn from the voxels in front of the car
    std::uniform_int_distribution<int> x(0, 127), y(32, 95), z(0, 15);
    for (index_t q = 0; q < queries; ++q)
      reference.insert(reference.end(), {(x(gen) + 0.5) / 128, (y(gen) + 0.5) / 128, (z(gen) + 0.5) / 16});
  }
};

rebatch_data& data() {
  static rebatch_data d;
  return d;
}

void project(benchmark::State& state) {
  auto& d = data();
  for (auto _ : state)
    project_to_cameras(cpu_executor{static_cast<int>(state.range(0))}, make_view<3>(d.reference.data(), {queries, 1, 3}),
                       point_cloud_range::voxformer(), make_view<3>(d.lidar2img.data(), {cameras, 4, 4}),
                       image_size{370, 1220}, make_view<4>(d.reference_cam.data(), {cameras, queries, 1, 2}),
                       make_view<3>(d.visible.data(), {cameras, queries, 1}));
  state.SetItemsProcessed(state.iterations() * cameras * queries);
}

void build_csr(benchmark::State& state) {
  auto& d = data();
  std::vector<std::int32_t> offsets(cameras + 1), indices(cameras * queries), row_of(cameras * queries);
  camera_batch_sizes sizes;
  for (auto _ : state)
    sizes = build_camera_batches(cpu_executor{static_cast<int>(state.range(0))},
                                 make_view<3>(d.visible.data(), {cameras, queries, 1}),
                                 make_view<1>(offsets.data(), {cameras + 1}),
                                 make_view<1>(indices.data(), {cameras * queries}),
                                 make_view<2>(row_of.data(), {cameras, queries}));
  state.SetItemsProcessed(state.iterations() * cameras * queries);
  // Query batch memory of each layout: rows × 128 fp32 channels (+ the index lists).
  state.counters["rows_csr"] = double(sizes.total);
  state.counters["rows_padded"] = double(cameras * sizes.max_len);
  state.counters["csr_MiB"] = double(sizes.total * (channels * 4 + 4) + (cameras + 1) * 4) / (1 << 20);
  state.counters["padded_MiB"] = double(cameras * sizes.max_len * (channels * 4 + 4)) / (1 << 20);
}

void build_padded(benchmark::State& state) {
  auto& d = data();
  const auto sizes = camera_batch_sizes_of(cpu_executor{1}, make_view<3>(d.visible.data(), {cameras, queries, 1}));
  std::vector<std::int32_t> padded(cameras * sizes.max_len), lengths(cameras), row_of(cameras * queries);
  for (auto _ : state)
    build_padded_camera_batches(cpu_executor{static_cast<int>(state.range(0))},
                                make_view<3>(d.visible.data(), {cameras, queries, 1}),
                                make_view<2>(padded.data(), {cameras, sizes.max_len}),
                                make_view<1>(lengths.data(), {cameras}), make_view<2>(row_of.data(), {cameras, queries}));
  state.SetItemsProcessed(state.iterations() * cameras * queries);
}

BENCHMARK(project)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(build_csr)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(build_padded)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
