//! @file A KITTI odometry sequence's `poses.txt` and the projection matrices VoxFormer-T derives from it (spec §3.2):
//! its five "cameras" are camera 2 at frames t, t−12, t−9, t−6, t−3, each seen from the current frame's LiDAR.
#pragma once

#include <Eigen/Core>
#include <Eigen/LU>
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "voxformer/core/config.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/io/binary_file.hpp"
#include "voxformer/io/kitti.hpp"

namespace voxformer::io {

//! VoxFormer-T's temporal offsets: the current frame and four past ones (spec §1.2); VoxFormer-S has only {0}.
inline constexpr index_t voxformer_t_offsets[] = {0, -12, -9, -6, -3};

namespace detail {

inline std::vector<Eigen::Matrix4d> parse_poses(std::string_view text, std::string_view where) {
  std::vector<Eigen::Matrix4d> poses;
  for (std::size_t line_number = 1; !text.empty(); ++line_number) {
    const auto newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    projection_matrix row;
    parse_matrix_row(line, row, where, line_number, "the pose");
    Eigen::Matrix4d pose = Eigen::Matrix4d::Identity();
    pose.topRows<3>() = row;
    poses.push_back(pose);
  }
  voxformer::detail::require(!poses.empty(), where, ": holds no pose");
  return poses;
}

}  // namespace detail

//! Parses `poses.txt` text: one line per frame of 12 finite numbers, the row-major 3×4 pose of camera 0 (points of
//! frame i's camera 0 → the sequence's first camera-0 frame), promoted to 4×4. Blank lines are skipped; any other line
//! that is not 12 numbers, or a text without a pose, throws naming the line. `name` identifies the text in messages.
inline std::vector<Eigen::Matrix4d> parse_kitti_poses(std::string_view text, std::string_view name) {
  return detail::parse_poses(text, "voxformer::io::parse_kitti_poses('" + std::string(name) + "')");
}

//! Reads `poses.txt` (see parse_kitti_poses).
inline std::vector<Eigen::Matrix4d> read_kitti_poses(const std::filesystem::path& path) {
  const std::string where = "voxformer::io::read_kitti_poses('" + path.string() + "')";
  const auto text = detail::read_file_as<char>(path, where);
  return detail::parse_poses({text.data(), text.size()}, where);
}

//! The lidar2img matrices [K][4×4] (float64) of frame `frame` for `offsets` (VoxFormer-T: `voxformer_t_offsets`),
//! as the original dataset forms them (spec §3.2): offset 0 is the current camera, K4·Tr; for another offset the
//! target frame t = frame + offset — or the current frame when t falls outside the sequence, as the original
//! replaces it (image and matrix) — is seen from the current LiDAR frame r through the LiDAR poses
//! Pl = Tr⁻¹·(Pcam·Tr): lidar2img = K4·(Tr·(Pl_t⁻¹·Pl_r)), in the original's order of operations (a replaced target
//! thus gets K4·Tr up to rounding, ≤ 5e-14 relative). K4 is P2's 3×3 block in a 4×4 identity (P2's baseline column
//! dropped, spec §7 #12). `frame` must be a frame of the sequence.
inline std::vector<Eigen::Matrix4d> temporal_lidar_to_image(const kitti_calibration& calibration,
                                                            std::span<const Eigen::Matrix4d> camera_poses,
                                                            index_t frame, std::span<const index_t> offsets) {
  const auto frames = static_cast<index_t>(camera_poses.size());
  voxformer::detail::require(frame >= 0 && frame < frames, "voxformer::io::temporal_lidar_to_image: frame ", frame,
                             " is not one of the sequence's ", frames, " frames");
  const Eigen::Matrix4d& tr = calibration.tr;
  const Eigen::Matrix4d tr_inverse = tr.inverse();
  const auto lidar_pose = [&](index_t f) -> Eigen::Matrix4d {
    return tr_inverse * (camera_poses[static_cast<std::size_t>(f)] * tr);
  };
  const Eigen::Matrix4d current = calibration.lidar_to_image(), reference = lidar_pose(frame);
  Eigen::Matrix4d k4 = Eigen::Matrix4d::Identity();
  k4.topLeftCorner<3, 3>() = calibration.p[2].leftCols<3>();
  std::vector<Eigen::Matrix4d> matrices;
  for (const index_t offset : offsets) {
    if (offset == 0) {
      matrices.push_back(current);
      continue;
    }
    const index_t target = frame + offset >= 0 && frame + offset < frames ? frame + offset : frame;
    const Eigen::Matrix4d reference_to_target = lidar_pose(target).inverse() * reference;
    matrices.push_back(k4 * (tr * reference_to_target));
  }
  return matrices;
}

}  // namespace voxformer::io
