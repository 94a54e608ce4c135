// Raw binary arrays: every failure is a voxformer::error naming the file (never a std::filesystem_error).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "support/temp_file.hpp"
#include "voxformer/io/binary_file.hpp"

namespace {

using test::error_of;
using test::temp_file;

TEST(BinaryFile, RoundTrip) {
  const std::vector<std::uint16_t> values = {1, 2, 65535};
  const auto path = temp_file("array.bin");
  voxformer::io::write_binary_array(path, values.data(), values.size());
  EXPECT_EQ(voxformer::io::read_binary_array<std::uint16_t>(path), values);
  voxformer::io::write_binary_array(path, values.data(), 0);
  EXPECT_TRUE(voxformer::io::read_binary_array<std::uint16_t>(path).empty());
}

TEST(BinaryFile, ParsesFromMemory) {
  const std::vector<std::byte> bytes = {std::byte{1}, std::byte{0}, std::byte{0}, std::byte{0}};
  EXPECT_EQ(voxformer::io::parse_binary_array<std::uint32_t>(bytes, "memory"), std::vector<std::uint32_t>{1});
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::parse_binary_array<double>(bytes, "memory"); }),
                  "parse_binary_array('memory'): 4 bytes is not a whole number of 8-byte elements");
}

// Was: std::filesystem_error from file_size for a directory.
TEST(BinaryFile, DirectoryIsAnError) {
  const auto directory = std::filesystem::temp_directory_path();
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_binary_array<float>(directory); }),
                  "read_binary_array('" + directory.string() + "'): is a directory, not a file");
}

TEST(BinaryFile, MissingFileIsAnError) {
  const auto missing = temp_file("does_not_exist.bin");
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_binary_array<float>(missing); }),
                  "read_binary_array('" + missing.string() + "'): cannot open: no such file");
  const auto below_a_file = temp_file("a_file.bin") / "x.bin";  // a path through a regular file
  voxformer::io::write_binary_array(temp_file("a_file.bin"), "ab", 2);
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_binary_array<float>(below_a_file); }), "cannot open");
}

TEST(BinaryFile, NonRegularFileIsAnError) {
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_binary_array<float>("/dev/null"); }),
                  "'/dev/null'): is not a regular file");
}

TEST(BinaryFile, TruncatedArrayIsAnError) {
  const auto path = temp_file("odd.bin");
  voxformer::io::write_binary_array(path, "abcdefg", 7);
  const std::string expected = "'): 7 bytes is not a whole number of 4-byte elements";  // (+ on a temporary makes
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_binary_array<float>(path); }),  // GCC 12 warn: -Wrestrict)
                  path.string().append(expected));
}

TEST(BinaryFile, UnwritablePathIsAnError) {
  const std::uint8_t byte = 0;
  const auto directory = std::filesystem::temp_directory_path();
  EXPECT_CONTAINS(error_of([&] { voxformer::io::write_binary_array(directory, &byte, 1); }),
                  "write_binary_array('" + directory.string() + "'): cannot open for writing: Is a directory");
}

}  // namespace
