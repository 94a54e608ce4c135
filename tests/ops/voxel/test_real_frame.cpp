// Real data: voxelising SemanticKITTI 08/001000's scan reproduces its input grid `voxels.bin` bit for bit.
// Convention found (spec §2.7): ix = ⌊x/0.2⌋, iy = ⌊(y+25.6)/0.2⌋, iz = ⌊(z+2)/0.2⌋ + 1 with 1 ≤ iz ≤ 31 (the
// pre-Aug-2020 "shifted one voxel up" data), no range filter, voxels holding an unlabeled point dropped.
#include <gtest/gtest.h>

#include <numeric>

#include "support/fixtures.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/io/kitti.hpp"
#include "voxformer/ops/voxel/bit_pack.hpp"
#include "voxformer/ops/voxel/downsample.hpp"
#include "voxformer/ops/voxel/proposal.hpp"
#include "voxformer/ops/voxel/voxelize.hpp"

namespace {

using voxformer::make_view;
using voxformer::volume_geometry;

struct real_frame {
  std::vector<float> scan = voxformer::io::read_kitti_scan(test::frame_path("scan.bin"));
  std::vector<std::uint32_t> labels = voxformer::io::read_kitti_labels(test::frame_path("scan.label"), scan.size() / 4);
  std::vector<std::uint8_t> packed = voxformer::io::read_binary_array<std::uint8_t>(test::frame_path("voxels.bin"));
  long points() const { return static_cast<long>(labels.size()); }
};

TEST(RealFrame, ScanReproducesVoxelsBinBitForBit) {
  const real_frame frame;
  ASSERT_EQ(frame.packed.size(), 262144u);
  for (int threads : {1, 2}) {
    std::vector<std::uint8_t> grid(256 * 256 * 32), packed(262144);
    voxformer::voxelize_labeled(voxformer::cpu_executor{threads}, make_view<2>(frame.scan.data(), {frame.points(), 4}),
                                make_view<1>(frame.labels.data(), {frame.points()}), volume_geometry::voxformer_fine(),
                                make_view<3>(grid.data(), {256, 256, 32}));
    EXPECT_EQ(std::accumulate(grid.begin(), grid.end(), 0L), 16150);
    voxformer::pack_bits(voxformer::cpu_executor{threads}, make_view<3>(grid.data(), {256, 256, 32}),
                         make_view<1>(packed.data(), {262144}));
    EXPECT_EQ(packed, frame.packed);
  }
}

TEST(RealFrame, ConventionIsPinned) {
  // Without the z shift, or without dropping unlabeled voxels, the grid differs: the test can fail.
  const real_frame frame;
  std::vector<std::uint8_t> grid(256 * 256 * 32), packed(262144);
  voxformer::voxelize_labeled(voxformer::cpu_executor{2}, make_view<2>(frame.scan.data(), {frame.points(), 4}),
                              make_view<1>(frame.labels.data(), {frame.points()}), volume_geometry::voxformer_fine(),
                              make_view<3>(grid.data(), {256, 256, 32}), voxformer::z_convention::voxformer);
  voxformer::pack_bits(voxformer::cpu_executor{2}, make_view<3>(grid.data(), {256, 256, 32}),
                       make_view<1>(packed.data(), {262144}));
  EXPECT_NE(packed, frame.packed);
  voxformer::voxelize(voxformer::cpu_executor{2}, make_view<2>(frame.scan.data(), {frame.points(), 4}),
                      volume_geometry::voxformer_fine(), make_view<3>(grid.data(), {256, 256, 32}),
                      voxformer::z_convention::semantickitti_pre_fix);
  EXPECT_EQ(std::accumulate(grid.begin(), grid.end(), 0L), 16150 + 14);  // the 14 voxels with label-0 points
}

TEST(RealFrame, ProposalsAtQueryResolution) {
  // Spec §6.2: the scan's 16 150 fine voxels cover 7 580 coarse voxels (any child occupied); voxelising the
  // scan directly at 0.4 m without the z shift proposes 7 512 (spec, header).
  const real_frame frame;
  std::vector<std::uint8_t> fine(256 * 256 * 32), coarse(128 * 128 * 16);
  voxformer::unpack_bits(voxformer::cpu_executor{2}, make_view<1>(frame.packed.data(), {262144}),
                         make_view<3>(fine.data(), {256, 256, 32}));
  voxformer::downsample_occupancy(voxformer::cpu_executor{2}, make_view<3>(fine.data(), {256, 256, 32}),
                                  make_view<3>(coarse.data(), {128, 128, 16}));
  std::vector<std::int32_t> unmasked(coarse.size()), masked(coarse.size());
  auto counts = voxformer::proposal_indices(voxformer::cpu_executor{2}, make_view<3>(coarse.data(), {128, 128, 16}),
                                            make_view<1>(unmasked.data(), {262144}),
                                            make_view<1>(masked.data(), {262144}));
  EXPECT_EQ(counts.unmasked, 7580);
  EXPECT_EQ(counts.masked, 262144 - 7580);
  voxformer::voxelize(voxformer::cpu_executor{2}, make_view<2>(frame.scan.data(), {frame.points(), 4}),
                      volume_geometry::voxformer_coarse(), make_view<3>(coarse.data(), {128, 128, 16}));
  EXPECT_EQ(std::accumulate(coarse.begin(), coarse.end(), 0L), 7512);
}

}  // namespace
