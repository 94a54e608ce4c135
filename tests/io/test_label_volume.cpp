// SemanticKITTI voxel label volumes (.label, uint16 per voxel): byte order, round trips, and every size that is not
// exactly two bytes per voxel.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "support/temp_file.hpp"
#include "voxformer/io/label_volume.hpp"

namespace {

using test::error_of;
using test::temp_file;

void write_bytes(const std::filesystem::path& path, std::size_t count) {
  std::ofstream(path, std::ios::binary) << std::string(count, '\x01');
}

TEST(LabelVolume, LittleEndianCOrder) {
  const std::vector<std::byte> bytes = {std::byte{0x0A}, std::byte{0x00}, std::byte{0x00}, std::byte{0x01},
                                        std::byte{0xFF}, std::byte{0xFF}, std::byte{0x30}, std::byte{0x00}};
  EXPECT_EQ(voxformer::io::parse_label_volume(bytes, {1, 2, 2}, "memory"),
            (std::vector<std::uint16_t>{10, 256, 65535, 48}));
}

TEST(LabelVolume, RoundTripAtTheBenchmarkSize) {
  std::vector<std::uint16_t> labels(256 * 256 * 32);
  for (std::size_t v = 0; v < labels.size(); ++v) labels[v] = static_cast<std::uint16_t>(v * 2654435761u >> 7);
  const auto path = temp_file("round_trip.label");
  voxformer::io::write_label_volume(path, labels, {256, 256, 32});
  EXPECT_EQ(std::filesystem::file_size(path), 4u << 20);  // 4 MiB, spec §5.2
  EXPECT_EQ(voxformer::io::read_label_volume(path, {256, 256, 32}), labels);
  std::filesystem::remove(path);
}

TEST(LabelVolume, EmptyVolume) {
  const auto path = temp_file("empty.label");
  voxformer::io::write_label_volume(path, {}, {0, 256, 32});
  EXPECT_TRUE(voxformer::io::read_label_volume(path, {0, 256, 32}).empty());
  EXPECT_TRUE(voxformer::io::parse_label_volume({}, {256, 0, 32}, "memory").empty());
}

TEST(LabelVolume, EveryOtherSizeIsAnError) {
  const auto path = temp_file("sized.label");
  for (const std::size_t bytes : {0, 1, 118, 119, 121, 122, 240}) {
    write_bytes(path, bytes);
    EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_label_volume(path, {3, 4, 5}); }),
                    "voxformer::io::read_label_volume('" + path.string() + "'): " + std::to_string(bytes) +
                        " bytes, a 3x4x5 volume of uint16 labels is 120");
    const std::vector<std::byte> memory(bytes);
    EXPECT_EQ(error_of([&] { (void)voxformer::io::parse_label_volume(memory, {3, 4, 5}, "memory"); }),
              "voxformer::io::parse_label_volume('memory'): " + std::to_string(bytes) +
                  " bytes, a 3x4x5 volume of uint16 labels is 120");
  }
  // The benchmark size read as the wrong grid: a voxels.bin-sized file is not a label volume.
  write_bytes(path, 262144);
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_label_volume(path, {256, 256, 32}); }),
                  "262144 bytes, a 256x256x32 volume of uint16 labels is 4194304");
  std::filesystem::remove(path);
}

TEST(LabelVolume, BadExtentsAreAnError) {
  const std::vector<std::byte> none;
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::parse_label_volume(none, {4, -8, 2}, "memory"); }),
                  "parse_label_volume('memory'): negative grid extent -8");
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::parse_label_volume(none, {1ll << 40, 1ll << 40}, "memory"); }),
                  "voxel count overflows 64 bits");
  // 2^63 voxels fit 64 bits, their 2^64 bytes do not.
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::parse_label_volume(none, {1ll << 62, 2}, "memory"); }),
                  "parse_label_volume('memory'): a 4611686018427387904x2 volume of uint16 labels overflows 64 bits");
}

TEST(LabelVolume, FileErrorsNameTheFile) {
  const auto missing = temp_file("missing.label");
  EXPECT_EQ(error_of([&] { (void)voxformer::io::read_label_volume(missing, {256, 256, 32}); }),
            "voxformer::io::read_label_volume('" + missing.string() + "'): cannot open: no such file");
  const auto folder = std::filesystem::temp_directory_path();
  EXPECT_EQ(error_of([&] { (void)voxformer::io::read_label_volume(folder, {8}); }),
            "voxformer::io::read_label_volume('" + folder.string() + "'): is a directory, not a file");
}

TEST(LabelVolume, WriterChecksTheVoxelCountAndThePath) {
  const std::vector<std::uint16_t> labels(26);
  const auto path = temp_file("never_written.label");
  EXPECT_EQ(error_of([&] { voxformer::io::write_label_volume(path, labels, {3, 3, 3}); }),
            "voxformer::io::write_label_volume('" + path.string() + "'): 26 labels, a 3x3x3 volume has 27");
  EXPECT_FALSE(std::filesystem::exists(path));
  const auto unwritable = temp_file("no_such_folder") / "x.label";
  EXPECT_EQ(error_of([&] { voxformer::io::write_label_volume(unwritable, labels, {26}); }),
            "voxformer::io::write_label_volume('" + unwritable.string() +
                "'): cannot open for writing: No such file or directory");
}

}  // namespace
