//! @file KITTI odometry / SemanticKITTI files: velodyne scans, point labels and `calib.txt`, and the
//! projection matrices VoxFormer derives from them (spec §2.1, §3.2).
#pragma once

#include <Eigen/Core>
#include <Eigen/Geometry>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
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

//! Parses `calib.txt` (rows `P0:`..`P3:` and `Tr:`, 12 numbers each). Missing rows or short rows throw.
inline kitti_calibration read_kitti_calibration(const std::filesystem::path& path) {
  std::ifstream in(path);
  voxformer::detail::require(in.good(), "voxformer::io::read_kitti_calibration: cannot open '", path.string(), "'");
  std::map<std::string, std::vector<double>> rows;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string key;
    if (!(fields >> key) || key.back() != ':') continue;
    key.pop_back();
    std::vector<double>& values = rows[key];
    for (double v; fields >> v;) values.push_back(v);
  }
  kitti_calibration calib;
  auto matrix = [&](const std::string& key) {
    const auto it = rows.find(key);
    voxformer::detail::require(it != rows.end() && it->second.size() == 12, "voxformer::io::read_kitti_calibration: '",
                    path.string(), "' needs a row '", key, ":' with 12 numbers");
    return projection_matrix(Eigen::Map<const projection_matrix>(it->second.data()));
  };
  for (int i = 0; i < 4; ++i) calib.p[i] = matrix(std::string{'P', static_cast<char>('0' + i)});
  calib.tr = Eigen::Matrix4d::Identity();
  calib.tr.topRows<3>() = matrix("Tr");
  return calib;
}

//! A velodyne scan: N × 4 float32 (x, y, z, reflectance), row-major.
inline std::vector<float> read_kitti_scan(const std::filesystem::path& path) {
  auto values = read_binary_array<float>(path);
  voxformer::detail::require(values.size() % 4 == 0, "voxformer::io::read_kitti_scan: '", path.string(),
                  "' does not hold whole (x, y, z, r) points");
  return values;
}

//! SemanticKITTI point labels: uint32 per point, semantic class in the low 16 bits, instance id above.
inline std::vector<std::uint32_t> read_kitti_labels(const std::filesystem::path& path) {
  return read_binary_array<std::uint32_t>(path);
}

}  // namespace voxformer::io
