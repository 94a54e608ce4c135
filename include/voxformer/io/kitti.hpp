//! @file KITTI odometry / SemanticKITTI files: velodyne scans, point labels and `calib.txt`, and the
//! projection matrices VoxFormer derives from them (spec §2.1, §3.2).
#pragma once

#include <Eigen/Core>
#include <Eigen/Geometry>
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "voxformer/core/error.hpp"
#include "voxformer/core/mat4.hpp"
#include "voxformer/io/binary_file.hpp"

namespace voxformer::io {

using projection_matrix = Eigen::Matrix<double, 3, 4, Eigen::RowMajor>;

struct kitti_calibration {
  projection_matrix p[4];  //!< P0..P3: rectified camera projections
  Eigen::Matrix4d tr;      //!< velodyne → rectified camera 0, promoted to 4×4

  //! VoxFormer's lidar2img for camera 2: K4·Tr, K4 = identity with P2's 3×3 block — P2's fourth column
  //! (the baseline term) is dropped, as in the original (spec §3.2, §7 #12).
  Eigen::Matrix4d lidar_to_image() const {
    Eigen::Matrix4d k4 = Eigen::Matrix4d::Identity();
    k4.topLeftCorner<3, 3>() = p[2].leftCols<3>();
    return k4 * tr;
  }

  //! Rigid inverse of Tr: rectified camera → velodyne (for depth → pseudo-LiDAR).
  Eigen::Matrix4d camera_to_lidar() const {
    Eigen::Matrix4d inv = Eigen::Matrix4d::Identity();
    inv.topLeftCorner<3, 3>() = tr.topLeftCorner<3, 3>().transpose();
    inv.topRightCorner<3, 1>() = -inv.topLeftCorner<3, 3>() * tr.topRightCorner<3, 1>();
    return inv;
  }
};

//! Row-major float copy of a double matrix, for kernels (computed in float64 on the host, used in fp32).
inline mat4<float> to_mat4f(const Eigen::Matrix4d& m) {
  mat4<float> out{};
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) out.m[4 * r + c] = static_cast<float>(m(r, c));
  return out;
}

namespace detail {

//! The 12 finite numbers of one line of `calib.txt` or `poses.txt`, blank-separated, as a row-major 3×4 matrix;
//! anything else throws, naming the line and `what` it is.
inline void parse_matrix_row(std::string_view numbers, projection_matrix& row, std::string_view where,
                             std::size_t line_number, const std::string& what) {
  using voxformer::detail::fail;
  using voxformer::detail::require;
  constexpr std::string_view blank = " \t\r";  // '\r': files with CRLF line ends
  int count = 0;
  for (auto at = numbers.find_first_not_of(blank); at != std::string_view::npos; at = numbers.find_first_not_of(blank)) {
    numbers.remove_prefix(at);
    const auto token = numbers.substr(0, numbers.find_first_of(blank));
    numbers.remove_prefix(token.size());
    double value = 0;
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (ec != std::errc{} || end != token.data() + token.size())
      fail(where, ": line ", line_number, ": '", token.substr(0, 40), "' in ", what, " is ",
           ec == std::errc::result_out_of_range ? "out of the range of double" : "not a number");
    require(std::isfinite(value), where, ": line ", line_number, ": ", what, " holds a non-finite value");
    require(count < 12, where, ": line ", line_number, ": ", what, " has more than 12 numbers");
    row(count / 4, count % 4) = value;
    ++count;
  }
  require(count == 12, where, ": line ", line_number, ": ", what, " has ", count, " numbers, needs 12");
}

inline kitti_calibration parse_calibration(std::string_view text, std::string_view where) {
  using voxformer::detail::fail;
  using voxformer::detail::require;
  constexpr std::string_view blank = " \t\r";  // '\r': files with CRLF line ends
  constexpr std::array<std::string_view, 5> keys = {"P0", "P1", "P2", "P3", "Tr"};
  std::array<projection_matrix, 5> rows;
  std::array<bool, 5> seen{};
  for (std::size_t line_number = 1; !text.empty(); ++line_number) {
    const auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    const auto first = line.find_first_not_of(blank);
    if (first == std::string_view::npos) continue;
    line.remove_prefix(first);
    const auto colon = line.find(':');
    const auto key = line.substr(0, colon);
    require(colon != std::string_view::npos && !key.empty() && key.find_first_of(blank) == std::string_view::npos,
            where, ": line ", line_number, " does not start with a 'key:'");
    const auto k = static_cast<std::size_t>(std::find(keys.begin(), keys.end(), key) - keys.begin());
    if (k == keys.size()) continue;  // a row VoxFormer does not use (e.g. R0_rect of KITTI object calibrations)
    require(!seen[k], where, ": line ", line_number, " repeats the row '", key, ":'");
    seen[k] = true;
    parse_matrix_row(line.substr(colon + 1), rows[k], where, line_number, "row '" + std::string(key) + ":'");
  }
  for (std::size_t k = 0; k < keys.size(); ++k)
    require(seen[k], where, ": needs a row '", keys[k], ":' with 12 numbers");
  kitti_calibration calib;
  for (int i = 0; i < 4; ++i) calib.p[i] = rows[static_cast<std::size_t>(i)];
  calib.tr = Eigen::Matrix4d::Identity();
  calib.tr.topRows<3>() = rows[4];
  return calib;
}

//! A labels file must hold one uint32 per point of its scan (`bytes == 4·points`, without overflow).
inline void require_label_count(std::uintmax_t bytes, std::size_t points, std::string_view where) {
  voxformer::detail::require(bytes / 4 == points && bytes % 4 == 0, where, ": ", bytes,
                             " bytes, not one uint32 label for each of the scan's ", points, " points");
}

}  // namespace detail

//! Parses `calib.txt` text: rows `P0:`..`P3:` and `Tr:` of 12 finite numbers each (row-major 3×4), any order.
//! Blank lines and rows with other keys are skipped; a missing, repeated or short/long row, a non-number, NaN/Inf,
//! or a non-blank line that does not start with `key:` throws. `name` identifies the text in messages.
inline kitti_calibration parse_kitti_calibration(std::string_view text, std::string_view name) {
  return detail::parse_calibration(text, "voxformer::io::parse_kitti_calibration('" + std::string(name) + "')");
}

//! Reads `calib.txt` (see parse_kitti_calibration).
inline kitti_calibration read_kitti_calibration(const std::filesystem::path& path) {
  const std::string where = "voxformer::io::read_kitti_calibration('" + path.string() + "')";
  const auto text = detail::read_file_as<char>(path, where);
  return detail::parse_calibration({text.data(), text.size()}, where);
}

//! A velodyne scan: N × 4 float32 (x, y, z, reflectance), row-major; a size that is not a multiple of 16 bytes
//! throws. Non-finite values are kept: the voxeliser ignores points with NaN/Inf coordinates.
inline std::vector<float> read_kitti_scan(const std::filesystem::path& path) {
  return detail::read_file_as<float>(path, "voxformer::io::read_kitti_scan('" + path.string() + "')", 16,
                                     "(x, y, z, r) point");
}

//! The same from bytes in memory; `name` identifies them in messages.
inline std::vector<float> parse_kitti_scan(std::span<const std::byte> bytes, std::string_view name) {
  return detail::array_from_bytes<float>(bytes, "voxformer::io::parse_kitti_scan('" + std::string(name) + "')", 16,
                                         "(x, y, z, r) point");
}

//! SemanticKITTI point labels: uint32 per point, semantic class in the low 16 bits, instance id above.
inline std::vector<std::uint32_t> read_kitti_labels(const std::filesystem::path& path) {
  return detail::read_file_as<std::uint32_t>(path, "voxformer::io::read_kitti_labels('" + path.string() + "')");
}

//! The labels of a scan of `expected_points` points: a file with another count throws (checked before reading).
inline std::vector<std::uint32_t> read_kitti_labels(const std::filesystem::path& path, std::size_t expected_points) {
  const std::string where = "voxformer::io::read_kitti_labels('" + path.string() + "')";
  detail::require_label_count(detail::regular_file_size(path, where), expected_points, where);
  return detail::read_file_as<std::uint32_t>(path, where);
}

//! The same from bytes in memory; `name` identifies them in messages.
inline std::vector<std::uint32_t> parse_kitti_labels(std::span<const std::byte> bytes, std::string_view name) {
  return detail::array_from_bytes<std::uint32_t>(bytes,
                                                 "voxformer::io::parse_kitti_labels('" + std::string(name) + "')");
}

inline std::vector<std::uint32_t> parse_kitti_labels(std::span<const std::byte> bytes, std::string_view name,
                                                     std::size_t expected_points) {
  const std::string where = "voxformer::io::parse_kitti_labels('" + std::string(name) + "')";
  detail::require_label_count(bytes.size(), expected_points, where);
  return detail::array_from_bytes<std::uint32_t>(bytes, where);
}

}  // namespace voxformer::io
