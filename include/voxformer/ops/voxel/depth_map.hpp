//! @file LiDAR points → a sparse depth map in a rectified camera: the inverse of `depth_to_points` (spec §2.2), so
//! that a scan can stand in for the stereo depth VoxFormer's stage 1 starts from (its depth network is external).
//! Each pixel keeps the nearest point that lands on it; pixels no point reaches hold 0 (which `depth_to_points`
//! treats as "no depth").
#pragma once

#include <cmath>
#include <limits>

#include "voxformer/core/atomic_store.hpp"
#include "voxformer/core/mat4.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/ops/common/fill.hpp"
#include "voxformer/ops/voxel/pseudo_lidar.hpp"

namespace voxformer {

namespace kernels {

//! Point i → camera coordinates (lidar_to_camera, KITTI's Tr) → pixel (u, v) = (fu·(x − bx)/z + cu,
//! fv·(y − by)/z + cv), rounded to the nearest pixel centre; the depth z is kept if it is the pixel's nearest.
template <class Points>
struct point_depth_to_pixel {
  Points points;                // [N, >=3]
  tensor_view<float, 2> depth;  // [H, W], +inf where nothing landed yet
  pinhole_camera camera;
  mat4<float> lidar_to_camera;
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    const float x = points(i, 0), y = points(i, 1), z = points(i, 2);
    const float xc = lidar_to_camera.apply_row(0, x, y, z), yc = lidar_to_camera.apply_row(1, x, y, z),
                zc = lidar_to_camera.apply_row(2, x, y, z);
    if (!(zc > 0.f && zc < std::numeric_limits<float>::infinity())) return;  // behind the camera, or NaN
    const float u = std::floor(camera.fu * (xc - camera.bx) / zc + camera.cu + 0.5f);
    const float v = std::floor(camera.fv * (yc - camera.by) / zc + camera.cv + 0.5f);
    // Compared in float before converting, so that no out-of-range value (or NaN) reaches the cast.
    if (!(u >= 0.f && u < static_cast<float>(depth.extent(1)) && v >= 0.f && v < static_cast<float>(depth.extent(0))))
      return;
    detail::min_relaxed(&depth(static_cast<index_t>(v), static_cast<index_t>(u)), zc);
  }
};

//! +inf (no point landed) → 0, the "no depth" of `depth_to_points`.
struct clear_unreached {
  tensor_view<float, 2> depth;
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    float& d = depth(i / depth.extent(1), i % depth.extent(1));
    if (d == std::numeric_limits<float>::infinity()) d = 0.f;
  }
};

}  // namespace kernels

//! Projects `points` [N, ≥3] (x, y, z in the lidar frame; extra columns ignored; NaN/Inf points ignored) into
//! `depth` [H, W] (overwritten entirely): depth = the point's z in the camera frame `lidar_to_camera`·p, at the
//! pixel nearest to its projection, the nearest point winning; 0 where no point lands. With KITTI's `Tr` and the
//! `pinhole_camera` of `P2`, `depth_to_points` turns the map back into the points, moved to pixel centres.
template <class Executor, class Points, class Depth>
void points_to_depth_map(const Executor& executor, Points&& points, const pinhole_camera& camera,
                         const mat4<float>& lidar_to_camera, Depth&& depth) {
  constexpr const char* op = "voxformer::points_to_depth_map";
  const auto p = as_view<const float, 2>(points, op, "points");
  const auto d = as_view<float, 2>(depth, op, "depth");
  expect_xyz_points(op, p);
  detail::require(std::isfinite(camera.fu) && std::isfinite(camera.fv) && camera.fu != 0.f && camera.fv != 0.f &&
                      std::isfinite(camera.cu) && std::isfinite(camera.cv) && std::isfinite(camera.bx) &&
                      std::isfinite(camera.by),
                  op, ": argument 'camera' needs finite intrinsics and non-zero focal lengths");
  for (const float value : lidar_to_camera.m)
    detail::require(std::isfinite(value), op, ": argument 'lidar_to_camera' holds a non-finite value");
  expect_accessible(op, "points", executor, p);
  expect_accessible(op, "depth", executor, d);
  expect_disjoint(op, "depth", d, "points", p);
  fill(executor, d, std::numeric_limits<float>::infinity());
  parallel_for(executor, p.extent(0), kernels::point_depth_to_pixel<decltype(p)>{p, d, camera, lidar_to_camera});
  parallel_for(executor, d.size(), kernels::clear_unreached{d});
}

}  // namespace voxformer
