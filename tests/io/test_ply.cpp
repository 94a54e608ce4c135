// Binary PLY point sets: the exact header and vertex bytes, round trips (strided input included), and the errors —
// each naming the file, none leaving a file behind.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "support/temp_file.hpp"
#include "voxformer/io/ply.hpp"

namespace {

using test::error_of;
using test::temp_file;
using voxformer::make_view;
using voxformer::io::read_ply_points;
using voxformer::io::write_ply_points;

std::string file_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string header(long count) {
  return "ply\n"
         "format binary_little_endian 1.0\n"
         "comment written by voxformer\n"
         "element vertex " +
         std::to_string(count) +
         "\n"
         "property float x\n"
         "property float y\n"
         "property float z\n"
         "property uchar red\n"
         "property uchar green\n"
         "property uchar blue\n"
         "end_header\n";
}

TEST(Ply, HeaderAndVertexBytesAreExactlyAsDocumented) {
  std::vector<float> positions = {1.5f, -2.f, 0.25f, 51.2f, 25.6f, -2.f};
  std::vector<std::uint8_t> colors = {255, 0, 7, 1, 2, 3};
  const auto path = temp_file("points.ply");
  write_ply_points(path, make_view<2>(positions.data(), {2, 3}), make_view<2>(colors.data(), {2, 3}));
  const auto text = file_text(path);
  const auto head = header(2);
  ASSERT_EQ(text.size(), head.size() + 2 * 15);
  EXPECT_EQ(text.substr(0, head.size()), head);
  // x = 1.5f = 0x3FC00000, y = −2.f = 0xC0000000, z = 0.25f = 0x3E800000, little-endian; then red, green, blue.
  const std::string first_vertex("\x00\x00\xC0\x3F\x00\x00\x00\xC0\x00\x00\x80\x3E\xFF\x00\x07", 15);
  EXPECT_EQ(text.substr(head.size(), 15), first_vertex);
  std::filesystem::remove(path);
}

TEST(Ply, RoundTrip) {
  const long n = 5;
  std::vector<float> positions;
  std::vector<std::uint8_t> colors;
  for (long i = 0; i < 3 * n; ++i) {
    positions.push_back(static_cast<float>(i) * 0.1f - 0.7f);
    colors.push_back(static_cast<std::uint8_t>(50 * i));
  }
  positions[4] = std::numeric_limits<float>::max();
  positions[5] = std::numeric_limits<float>::denorm_min();
  const auto path = temp_file("round_trip.ply");
  write_ply_points(path, make_view<2>(positions.data(), {n, 3}), make_view<2>(colors.data(), {n, 3}));
  const auto back = read_ply_points(path);
  EXPECT_EQ(back.count, n);
  EXPECT_EQ(back.positions, positions);
  EXPECT_EQ(back.colors, colors);
  std::filesystem::remove(path);
}

TEST(Ply, StridedTensorsAreReadInPlace) {
  // Positions stored [3, N] (one row per axis) and viewed [N, 3] through strides; colours likewise.
  const std::vector<float> by_axis = {1, 2, 3, 4, 10, 20, 30, 40, -1, -2, -3, -4};
  const std::vector<std::uint8_t> colors_by_channel = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const voxformer::tensor_view<const float, 2> positions(by_axis.data(), {4, 3}, {1, 4});
  const voxformer::tensor_view<const std::uint8_t, 2> colors(colors_by_channel.data(), {4, 3}, {1, 4});
  const auto path = temp_file("strided.ply");
  write_ply_points(path, positions, colors);
  const auto back = read_ply_points(path);
  EXPECT_EQ(back.positions, (std::vector<float>{1, 10, -1, 2, 20, -2, 3, 30, -3, 4, 40, -4}));
  EXPECT_EQ(back.colors, (std::vector<std::uint8_t>{1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12}));
  std::filesystem::remove(path);
}

TEST(Ply, NoPointsIsAValidFile) {
  const auto path = temp_file("empty.ply");
  write_ply_points(path, make_view<2>(static_cast<const float*>(nullptr), {0, 3}),
                   make_view<2>(static_cast<const std::uint8_t*>(nullptr), {0, 3}));
  EXPECT_EQ(file_text(path), header(0));
  const auto back = read_ply_points(path);
  EXPECT_EQ(back.count, 0);
  EXPECT_TRUE(back.positions.empty());
  std::filesystem::remove(path);
}

TEST(Ply, BadArgumentsAreErrorsThatWriteNothing) {
  std::vector<float> positions(12, 1.f);
  std::vector<std::uint8_t> colors(12, 9);
  const auto path = temp_file("never_written.ply");
  const std::string where = "write_ply_points('" + path.string() + "'): ";
  const auto write = [&](long rows, long columns, long color_rows) {
    write_ply_points(path, make_view<2>(positions.data(), {rows, columns}),
                     make_view<2>(colors.data(), {color_rows, 3}));
  };
  EXPECT_CONTAINS(error_of([&] { write(6, 2, 4); }),
                  where + "argument 'positions' [N, 3] expected shape [*, 3], got [6, 2]");
  EXPECT_CONTAINS(error_of([&] { write(4, 3, 3); }),
                  where + "argument 'colors' [N, 3] expected shape [4, 3], got [3, 3]");
  positions[7] = std::nanf("");  // row 2, y
  EXPECT_CONTAINS(error_of([&] { write(4, 3, 4); }), where + "row 2 of 'positions' is not finite: (1, nan, 1)");
  positions[7] = 1.f;
  positions[11] = -std::numeric_limits<float>::infinity();
  EXPECT_CONTAINS(error_of([&] { write(4, 3, 4); }), where + "row 3 of 'positions' is not finite: (1, 1, -inf)");
  positions[11] = 1.f;
  const voxformer::tensor_view<const float, 2> on_device(positions.data(), {4, 3}, voxformer::memory_space::device);
  EXPECT_CONTAINS(error_of([&] { write_ply_points(path, on_device, make_view<2>(colors.data(), {4, 3})); }),
                  where + "argument 'positions' lives in device 0 memory; write_ply_points reads host memory");
  EXPECT_FALSE(std::filesystem::exists(path));

  const auto unwritable = temp_file("no_such_folder") / "points.ply";
  EXPECT_CONTAINS(error_of([&] {
                    write_ply_points(unwritable, make_view<2>(positions.data(), {4, 3}),
                                     make_view<2>(colors.data(), {4, 3}));
                  }),
                  "write_ply_points('" + unwritable.string() + "'): cannot open for writing");
}

TEST(Ply, OtherLayoutsAreRejected) {
  const auto path = temp_file("other.ply");
  const std::string where = "read_ply_points('" + path.string() + "'): ";
  const auto error_reading = [&](const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
    return error_of([&] { (void)read_ply_points(path); });
  };
  const std::string vertex(15, '\0');
  const auto replaced = [&](const std::string& from, const std::string& to) {
    auto text = header(1) + vertex;
    return text.replace(text.find(from), from.size(), to);
  };
  EXPECT_CONTAINS(error_reading("P3 2 2 255\n"), where + "header line 1 is 'P3 2 2 255', expected 'ply'");
  EXPECT_CONTAINS(error_reading(replaced("binary_little_endian", "ascii")),
                  where + "header line 2 is 'format ascii 1.0', expected 'format binary_little_endian 1.0'");
  EXPECT_CONTAINS(error_reading(replaced("float y", "double y")),
                  where + "header line 6 is 'property double y', expected 'property float y'");
  EXPECT_CONTAINS(error_reading(replaced("property uchar blue\n", "property uchar blue\nproperty uchar alpha\n")),
                  where + "header line 11 is 'property uchar alpha', expected 'end_header'");
  for (const std::string count : {"-1", "1x", "", "+1", "99999999999999999999"})
    EXPECT_CONTAINS(error_reading(replaced("vertex 1", "vertex " + count)),
                    where + "header line 4 is 'element vertex " + count + "', expected 'element vertex <count>'");
  EXPECT_CONTAINS(error_reading(replaced("end_header\n", "end_header\r\n")),
                  where + "header line 11 is 'end_header\r', expected 'end_header'");
  EXPECT_CONTAINS(error_reading("ply\nformat binary_little_endian 1.0\n"),
                  where + "the header has no 'end_header' line");
  EXPECT_CONTAINS(error_reading(header(2) + vertex),
                  where + "the header announces 2 vertices of 15 bytes, the file holds 15 bytes after it");
  EXPECT_CONTAINS(error_reading(header(1) + vertex + "x"),
                  where + "the header announces 1 vertices of 15 bytes, the file holds 16 bytes after it");
  std::filesystem::remove(path);
  EXPECT_CONTAINS(error_of([&] { (void)read_ply_points(path); }), where + "cannot open: no such file");
}

TEST(Ply, CommentsAnywhereAfterTheFirstLineAreSkipped) {
  const auto path = temp_file("comments.ply");
  auto text = header(1) + std::string("\x00\x00\x80\x3F\x00\x00\x00\x40\x00\x00\x40\x40\x01\x02\x03", 15);
  text.replace(text.find("comment written by voxformer\n"), 29, "");  // no comment at all
  text.insert(text.find("property float y"), "comment made by hand\ncomment\n");
  std::ofstream(path, std::ios::binary) << text;
  const auto back = read_ply_points(path);
  EXPECT_EQ(back.positions, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(back.colors, (std::vector<std::uint8_t>{1, 2, 3}));
  std::filesystem::remove(path);
}

}  // namespace
