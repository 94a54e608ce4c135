// Bit-packed voxel grids: the real frame's voxels.bin, the bit order, and files of the wrong size.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "support/temp_file.hpp"
#include "support/fixtures.hpp"
#include "voxformer/io/voxel_grid.hpp"

namespace {

using test::error_of;
using test::temp_file;

TEST(PackedGrid, ReadsTheRealFrame) {
  const auto grid = voxformer::io::read_packed_grid(test::frame_path("voxels.bin"), {256, 256, 32});
  ASSERT_EQ(grid.size(), 256u * 256 * 32);
  EXPECT_EQ(std::accumulate(grid.begin(), grid.end(), 0), 16150);  // docs/conventions.md
  EXPECT_TRUE(std::all_of(grid.begin(), grid.end(), [](std::uint8_t v) { return v <= 1; }));
}

TEST(PackedGrid, WrongFileSizeIsAnError) {
  const auto path = test::frame_path("voxels.bin");
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_packed_grid(path, {128, 128, 16}); }),
                  "read_packed_grid('" + path.string() + "'): 262144 bytes, a 128x128x16 grid packs into 32768");
  const std::vector<std::byte> bytes(3);
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::parse_packed_grid(bytes, {5, 5}, "memory"); }),
                  "parse_packed_grid('memory'): 3 bytes, a 5x5 grid packs into 4");
}

TEST(PackedGrid, MostSignificantBitFirst) {
  const std::vector<std::byte> bytes = {std::byte{0x81}, std::byte{0x40}};
  const auto grid = voxformer::io::parse_packed_grid(bytes, {2, 5}, "memory");
  EXPECT_EQ(grid, (std::vector<std::uint8_t>{1, 0, 0, 0, 0, 0, 0, 1, 0, 1}));
}

TEST(PackedGrid, SetPaddingBitsAreAnError) {
  const std::vector<std::byte> bytes = {std::byte{0}, std::byte{0x20}};  // bit 10 of a 10-voxel grid
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::parse_packed_grid(bytes, {2, 5}, "memory"); }),
                  "padding bits after the last voxel are set: not a 2x5 grid");
}

TEST(PackedGrid, BadExtentsAreAnError) {
  const std::vector<std::byte> none;
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::parse_packed_grid(none, {4, -8}, "memory"); }),
                  "negative grid extent -8");
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::parse_packed_grid(none, {1ll << 40, 1ll << 40}, "memory"); }),
                  "voxel count overflows 64 bits");
  EXPECT_TRUE(voxformer::io::parse_packed_grid(none, {0, 256}, "memory").empty());
}

TEST(PackedGrid, RoundTrip) {
  std::vector<std::uint8_t> grid(3 * 3 * 3);
  for (std::size_t v = 0; v < grid.size(); v += 2) grid[v] = static_cast<std::uint8_t>(v + 1);  // non-zero = 1
  const auto path = temp_file("grid.pseudo");
  voxformer::io::write_packed_grid(path, grid, {3, 3, 3});
  EXPECT_EQ(std::filesystem::file_size(path), 4u);
  const auto back = voxformer::io::read_packed_grid(path, {3, 3, 3});
  for (std::size_t v = 0; v < grid.size(); ++v) EXPECT_EQ(back[v], grid[v] != 0) << v;
  EXPECT_EQ(voxformer::io::pack_grid(back), voxformer::io::pack_grid(grid));
}

TEST(PackedGrid, WriterChecksTheVoxelCount) {
  const std::vector<std::uint8_t> grid(26);
  const auto path = temp_file("never_written.pseudo");
  EXPECT_CONTAINS(error_of([&] { voxformer::io::write_packed_grid(path, grid, {3, 3, 3}); }),
                  "write_packed_grid('" + path.string() + "'): 26 voxels, a 3x3x3 grid has 27");
}

TEST(PackedGrid, FileErrorsNameTheFile) {
  const auto missing = temp_file("missing.invalid");
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_packed_grid(missing, {256, 256, 32}); }),
                  "read_packed_grid('" + missing.string() + "'): cannot open: no such file");
  EXPECT_CONTAINS(
      error_of([&] { (void)voxformer::io::read_packed_grid(std::filesystem::temp_directory_path(), {8}); }),
      "is a directory");
}

}  // namespace
