// Sparse voxel indexing on the real SemanticKITTI frame: voxelisation (points/s), downsampling to the
// proposal grid, bit packing and proposal compaction (voxels/s), 1 and 2 threads.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <vector>

#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/io/kitti.hpp"
#include "voxformer/ops/voxel/bit_pack.hpp"
#include "voxformer/ops/voxel/downsample.hpp"
#include "voxformer/ops/voxel/proposal.hpp"
#include "voxformer/ops/voxel/voxelize.hpp"

namespace {

using namespace voxformer;

struct frame_data {
  std::filesystem::path dir = std::filesystem::path(VOXFORMER_EXAMPLE_DATA_DIR) / "semantickitti_08_001000";
  std::vector<float> scan = io::read_kitti_scan(dir / "scan.bin");
  std::vector<std::uint32_t> labels = io::read_kitti_labels(dir / "scan.label", scan.size() / 4);
  std::vector<std::uint8_t> fine = std::vector<std::uint8_t>(256 * 256 * 32);
  std::vector<std::uint8_t> coarse = std::vector<std::uint8_t>(128 * 128 * 16);
  index_t points() const { return static_cast<index_t>(labels.size()); }
};

frame_data& frame() {
  static frame_data data;
  return data;
}

cpu_executor executor_of(const benchmark::State& state) { return {static_cast<int>(state.range(0))}; }

void voxelize_scan(benchmark::State& state) {
  auto& f = frame();
  for (auto _ : state)
    voxelize_labeled(executor_of(state), make_view<2>(f.scan.data(), {f.points(), 4}),
                     make_view<1>(f.labels.data(), {f.points()}), volume_geometry::voxformer_fine(),
                     make_view<3>(f.fine.data(), {256, 256, 32}));
  state.SetItemsProcessed(state.iterations() * f.points());
}

void downsample_to_proposal_grid(benchmark::State& state) {
  auto& f = frame();
  for (auto _ : state)
    downsample_occupancy(executor_of(state), make_view<3>(f.fine.data(), {256, 256, 32}),
                         make_view<3>(f.coarse.data(), {128, 128, 16}));
  state.SetItemsProcessed(state.iterations() * 256 * 256 * 32);
}

void pack_grid(benchmark::State& state) {
  auto& f = frame();
  std::vector<std::uint8_t> bytes(262144);
  for (auto _ : state)
    pack_bits(executor_of(state), make_view<3>(f.fine.data(), {256, 256, 32}), make_view<1>(bytes.data(), {262144}));
  state.SetItemsProcessed(state.iterations() * 256 * 256 * 32);
}

void proposal_lists(benchmark::State& state) {
  auto& f = frame();
  std::vector<std::int32_t> on(262144), off(262144);
  for (auto _ : state)
    proposal_indices(executor_of(state), make_view<3>(f.coarse.data(), {128, 128, 16}),
                     make_view<1>(on.data(), {262144}), make_view<1>(off.data(), {262144}));
  state.SetItemsProcessed(state.iterations() * 262144);
}

BENCHMARK(voxelize_scan)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(downsample_to_proposal_grid)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(pack_grid)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(proposal_lists)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
