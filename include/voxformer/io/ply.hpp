//! @file Coloured point sets as binary little-endian PLY, the layout MeshLab, Open3D and CloudCompare read:
//! `write_ply_points`, and `read_ply_points` to check what was written (docs/conventions.md, "Files").
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "voxformer/core/error.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/io/atomic_file.hpp"
#include "voxformer/io/binary_file.hpp"

namespace voxformer::io {

//! Points as read_ply_points returns them, row-major.
struct ply_points {
  index_t count = 0;
  std::vector<float> positions;      //!< [count, 3]: x, y, z
  std::vector<std::uint8_t> colors;  //!< [count, 3]: red, green, blue
};

namespace detail {

//! The header, line by line; the vertex count follows `ply_count_line`.
inline constexpr std::string_view ply_count_line = "element vertex ";
inline constexpr std::array<std::string_view, 11> ply_header_lines = {
    "ply",
    "format binary_little_endian 1.0",
    "comment written by voxformer",
    ply_count_line,
    "property float x",
    "property float y",
    "property float z",
    "property uchar red",
    "property uchar green",
    "property uchar blue",
    "end_header"};
inline constexpr std::size_t ply_vertex_bytes = 3 * 4 + 3;  // packed: PLY has no padding

inline void put_le32(std::uint32_t value, char* out) {
  for (int b = 0; b < 4; ++b) out[b] = static_cast<char>(value >> 8 * b & 0xFFu);
}

inline std::uint32_t get_le32(const char* in) {
  std::uint32_t value = 0;
  for (int b = 0; b < 4; ++b) value |= std::uint32_t{static_cast<unsigned char>(in[b])} << 8 * b;
  return value;
}

}  // namespace detail

//! Writes N points — `positions` [N, 3] float (x, y, z), `colors` [N, 3] uint8 (red, green, blue), any tensors in
//! host memory — as binary little-endian PLY: vertices with `float x, y, z` and `uchar red, green, blue`. Shapes,
//! memory and finiteness are checked before the file is opened, and the file is written whole or not at all
//! (atomic_file.hpp): a call that throws leaves it as it was. Each problem is one voxformer::error naming the file.
template <class Positions, class Colors>
void write_ply_points(const std::filesystem::path& path, Positions&& positions, Colors&& colors) {
  using voxformer::detail::require;
  const std::string where = "voxformer::io::write_ply_points('" + path.string() + "')";
  const auto p = as_view<const float, 2>(positions, where, "positions");
  const auto c = as_view<const std::uint8_t, 2>(colors, where, "colors");
  expect_shape(where, "positions", "[N, 3]", p, {any_extent, 3});
  expect_shape(where, "colors", "[N, 3]", c, {p.extent(0), 3});
  for (const auto& [arg, space] : {std::pair{"positions", p.space()}, std::pair{"colors", c.space()}})
    require(host_accessible(space), where, ": argument '", arg, "' lives in ", to_string(space),
            " memory; write_ply_points reads host memory");
  for (index_t r = 0; r < p.extent(0); ++r)
    require(std::isfinite(p(r, 0)) && std::isfinite(p(r, 1)) && std::isfinite(p(r, 2)), where, ": row ", r,
            " of 'positions' is not finite: (", p(r, 0), ", ", p(r, 1), ", ", p(r, 2), ")");

  std::string file;
  for (const auto line : detail::ply_header_lines) {
    file += line;
    if (line == detail::ply_count_line) file += std::to_string(p.extent(0));
    file += '\n';
  }
  const std::size_t header_bytes = file.size();
  file.resize(header_bytes + detail::ply_vertex_bytes * static_cast<std::size_t>(p.extent(0)));
  char* out = file.data() + header_bytes;
  for (index_t r = 0; r < p.extent(0); ++r, out += detail::ply_vertex_bytes) {
    for (int a = 0; a < 3; ++a) detail::put_le32(std::bit_cast<std::uint32_t>(p(r, a)), out + 4 * a);
    for (int a = 0; a < 3; ++a) out[12 + a] = static_cast<char>(c(r, a));
  }
  detail::write_file_atomically(path, where, file.data(), file.size());
}

//! Reads a PLY file of exactly write_ply_points's layout (any `comment` lines aside): anything else — another
//! format, other properties, a count that is not a non-negative decimal number, vertex data that does not fill
//! the rest of the file exactly — is a voxformer::error naming the file and the line.
inline ply_points read_ply_points(const std::filesystem::path& path) {
  using voxformer::detail::require;
  const std::string where = "voxformer::io::read_ply_points('" + path.string() + "')";
  const auto bytes = detail::read_file_as<char>(path, where);
  const std::string_view text(bytes.data(), bytes.size());
  std::size_t at = 0, line_number = 0;
  const auto next_line = [&] {
    const auto end = text.find('\n', at);
    require(end != std::string_view::npos, where, ": the header has no 'end_header' line");
    const auto line = text.substr(at, end - at);
    at = end + 1;
    ++line_number;
    return line;
  };
  ply_points points;
  const auto is_comment = [](std::string_view line) { return line == "comment" || line.starts_with("comment "); };
  for (const auto expected : detail::ply_header_lines) {
    if (is_comment(expected)) continue;  // comments may be anywhere after the first line, or nowhere
    auto line = next_line();
    while (line_number > 1 && is_comment(line)) line = next_line();
    if (expected == detail::ply_count_line) {
      const auto digits = line.substr(std::min(line.size(), expected.size()));
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), points.count);
      require(line.starts_with(expected) && ec == std::errc{} && end == digits.data() + digits.size() &&
                  points.count >= 0,
              where, ": header line ", line_number, " is '", line, "', expected 'element vertex <count>'");
    } else {
      require(line == expected, where, ": header line ", line_number, " is '", line, "', expected '", expected, "'");
    }
  }
  const std::size_t data_bytes = text.size() - at;
  require(data_bytes % detail::ply_vertex_bytes == 0 &&
              data_bytes / detail::ply_vertex_bytes == static_cast<std::uint64_t>(points.count),
          where, ": the header announces ", points.count, " vertices of ", detail::ply_vertex_bytes,
          " bytes, the file holds ", data_bytes, " bytes after it");

  points.positions.resize(3 * data_bytes / detail::ply_vertex_bytes);
  points.colors.resize(points.positions.size());
  for (std::size_t v = 0; v < data_bytes / detail::ply_vertex_bytes; ++v) {
    const char* in = text.data() + at + v * detail::ply_vertex_bytes;
    for (std::size_t a = 0; a < 3; ++a) {
      points.positions[3 * v + a] = std::bit_cast<float>(detail::get_le32(in + 4 * a));
      points.colors[3 * v + a] = static_cast<std::uint8_t>(in[12 + a]);
    }
  }
  return points;
}

}  // namespace voxformer::io
