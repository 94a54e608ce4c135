//! @file Depth map → pseudo-LiDAR points in the velodyne frame (VoxFormer's depth2lidar, spec §2.2).
#pragma once

#include <cmath>

#include "voxformer/core/mat4.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

//! Rectified pinhole camera with the stereo baseline offset of a KITTI projection matrix P (3×4).
struct pinhole_camera {
  float fu, fv, cu, cv;
  float bx, by;  //!< baseline offsets in metres: −P[0][3]/fu, −P[1][3]/fv

  //! From a row-major 3×4 projection matrix (KITTI `P2`).
  template <class T>
  static constexpr pinhole_camera from_projection(const T (&p)[12]) {
    const auto fu = static_cast<float>(p[0]), fv = static_cast<float>(p[5]);
    return {fu, fv, static_cast<float>(p[2]), static_cast<float>(p[6]), static_cast<float>(-p[3] / p[0]),
            static_cast<float>(-p[7] / p[5])};
  }
  //! From a 3×4 matrix indexed as p(row, column), such as `io::kitti_calibration::p[2]`.
  template <class Matrix>
  requires requires(const Matrix& m) { static_cast<double>(m(0, 0)); }
  static constexpr pinhole_camera from_projection(const Matrix& p) {
    double rows[12] = {};
    for (int i = 0; i < 12; ++i) rows[i] = static_cast<double>(p(i / 4, i % 4));
    return from_projection(rows);
  }
};

//! Points VoxFormer keeps: x ≥ 0 (in front of the car) and z < 80 m.
struct pseudo_lidar_filter {
  float min_x = 0.f;
  float max_z = 80.f;
};

namespace kernels {

template <class Depth, class Points>
struct depth_pixel_to_point {
  Depth depth;    // [H, W]
  Points points;  // [H·W, 4]
  pinhole_camera camera;
  mat4<float> camera_to_lidar;
  pseudo_lidar_filter filter;

  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    const index_t width = depth.extent(1);
    const index_t v = i / width, u = i % width;
    const float d = depth(v, u);
    const float xc = (static_cast<float>(u) - camera.cu) * d / camera.fu + camera.bx;
    const float yc = (static_cast<float>(v) - camera.cv) * d / camera.fv + camera.by;
    float p[3];
    for (int r = 0; r < 3; ++r) p[r] = camera_to_lidar.apply_row(r, xc, yc, d);
    const bool valid = d > 0.f && std::isfinite(d) && p[0] >= filter.min_x && p[2] < filter.max_z;
    const float nan = NAN;
    for (int r = 0; r < 3; ++r) points(i, r) = valid ? p[r] : nan;
    points(i, 3) = valid ? 1.f : 0.f;
  }
};

}  // namespace kernels

//! Back-projects every pixel of `depth` [H, W] (metres) into `points` [H·W, 4] = (x, y, z, 1) in the lidar
//! frame, pixel (v, u) at row v·W + u. `camera_to_lidar` is the rigid inverse of KITTI's `Tr`.
//! Pixels without a valid point — depth ≤ 0, NaN or Inf, or a point the filter rejects — become
//! (NaN, NaN, NaN, 0); `voxelize` ignores them, and column 3 tells them apart.
template <class Executor, class Depth, class Points>
void depth_to_points(const Executor& executor, Depth&& depth, const pinhole_camera& camera,
                     const mat4<float>& camera_to_lidar, Points&& points, pseudo_lidar_filter filter = {}) {
  constexpr const char* op = "voxformer::depth_to_points";
  const auto d = as_view<const float, 2>(depth, op, "depth");
  const auto p = as_view<float, 2>(points, op, "points");
  expect_shape(op, "points", "[H*W, 4]", p, {d.size(), 4});
  expect_accessible(op, "depth", executor, d);
  expect_accessible(op, "points", executor, p);
  expect_no_aliasing(op, {detail::memory_of("points", p)}, {detail::memory_of("depth", d)});
  parallel_for(executor, d.size(),
               kernels::depth_pixel_to_point<decltype(d), decltype(p)>{d, p, camera, camera_to_lidar, filter});
}

}  // namespace voxformer
