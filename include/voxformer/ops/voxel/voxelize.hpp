//! @file Points → occupancy grid (spec §2.3, §2.7).
#pragma once

#include <cmath>
#include <cstdint>

#include "voxformer/core/atomic_store.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/ops/common/fill.hpp"
#include "voxformer/ops/voxel/volume_geometry.hpp"

namespace voxformer {

//! How a point's z maps to a voxel layer.
enum class z_convention : std::uint8_t {
  //! VoxFormer's pseudo-LiDAR voxeliser: points strictly inside the box, iz = ⌊(z − z0)/s⌋ (spec §2.3).
  voxformer,
  //! SemanticKITTI input grids released before Aug 2020 ("shifted one voxel upward"): iz = ⌊(z − z0)/s⌋ + 1,
  //! kept if 1 ≤ iz ≤ Z−1; x and y only need 0 ≤ index < dims, no range filter (spec §2.7).
  semantickitti_pre_fix,
};

namespace kernels {

//! Flat voxel index of point (x, y, z), or −1 if the point is not stored. Non-finite coordinates → −1.
VOXFORMER_HOST_DEVICE inline index_t voxel_of_point(const volume_geometry& g, z_convention convention, float px,
                                                    float py, float pz) {
  const float p[3] = {px, py, pz};
  index_t idx[3];
  for (int a = 0; a < 3; ++a) {
    if (convention == z_convention::voxformer && !(p[a] > g.origin[a] && p[a] < g.upper(a))) return -1;
    const float f = std::floor((p[a] - g.origin[a]) / g.voxel_size[a]);
    const index_t shift = (convention == z_convention::semantickitti_pre_fix && a == 2) ? 1 : 0;
    // Compare in float before converting: NaN fails here, and no out-of-range float reaches the cast.
    if (!(f >= 0.f && f < static_cast<float>(g.dims[a] - shift))) return -1;
    idx[a] = static_cast<index_t>(f) + shift;
  }
  return g.flat_index(idx[0], idx[1], idx[2]);
}

//! Stores `value` into the voxel of point i (if it has one and, when labels are given, `label_filter` says so).
template <class Points, class Labels>
struct mark_point_voxels {
  Points points;    // [N, >=3]
  Labels labels;    // [N] or empty
  std::uint8_t* grid;  // contiguous [X·Y·Z]
  volume_geometry geometry;
  z_convention convention;
  std::uint8_t value;
  bool only_unlabeled;  // mark only points whose semantic label (low 16 bits) is 0

  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    if (only_unlabeled && (labels(i) & 0xFFFFu) != 0) return;
    const index_t k = voxel_of_point(geometry, convention, points(i, 0), points(i, 1), points(i, 2));
    if (k >= 0) detail::store_relaxed(grid + k, value);
  }
};

}  // namespace kernels

namespace detail {

template <class Executor, class PointsView, class LabelsView>
void voxelize_views(const Executor& executor, const char* op, PointsView pts, LabelsView labels, bool has_labels,
                    tensor_view<std::uint8_t, 3> grid, const volume_geometry& geometry, z_convention convention) {
  expect_xyz_points(op, pts);
  expect_shape(op, "occupancy", "[X, Y, Z]", grid, {geometry.dims[0], geometry.dims[1], geometry.dims[2]});
  require(grid.is_contiguous(), op, ": argument 'occupancy' must be contiguous (it is written as a flat grid)");
  expect_accessible(op, "points", executor, pts);
  expect_accessible(op, "occupancy", executor, grid);
  if (has_labels) {
    expect_shape(op, "labels", "[N]", labels, {pts.extent(0)});
    expect_accessible(op, "labels", executor, labels);
  }
  // Checked before the fill below zeroes the grid, which would otherwise clear the points it is about to read.
  expect_no_aliasing(op, {detail::memory_of("occupancy", grid)}, {detail::memory_of("points", pts), detail::memory_of("labels", labels)});
  fill(executor, grid, std::uint8_t{0});
  using kernel = kernels::mark_point_voxels<PointsView, LabelsView>;
  parallel_for(executor, pts.extent(0), kernel{pts, labels, grid.data(), geometry, convention, 1, false});
  // A voxel holding any unlabeled point is not stored (SemanticKITTI input grids, spec §2.7). A second pass,
  // after all marks, keeps the result independent of point order and thread count.
  if (has_labels)
    parallel_for(executor, pts.extent(0), kernel{pts, labels, grid.data(), geometry, convention, 0, true});
}

}  // namespace detail

//! Occupancy of `points` [N, ≥3] (x, y, z in metres, extra columns ignored) in `occupancy` [X, Y, Z]
//! (uint8, 1 = occupied), overwritten entirely. Points outside the grid or with NaN/Inf are ignored.
template <class Executor, class Points, class Occupancy>
void voxelize(const Executor& executor, Points&& points, const volume_geometry& geometry, Occupancy&& occupancy,
              z_convention convention = z_convention::voxformer) {
  constexpr const char* op = "voxformer::voxelize";
  const auto pts = as_view<const float, 2>(points, op, "points");
  const auto grid = as_view<std::uint8_t, 3>(occupancy, op, "occupancy");
  detail::voxelize_views(executor, op, pts, tensor_view<const std::uint32_t, 1>{}, false, grid, geometry, convention);
}

//! As `voxelize`, with SemanticKITTI point labels [N] (uint32, semantic class in the low 16 bits): a voxel
//! that contains any point labelled 0 ("unlabeled") is left empty. With the pre-fix z convention this
//! reproduces SemanticKITTI's input `voxels.bin` bit for bit (verified on frame 08/001000).
template <class Executor, class Points, class Labels, class Occupancy>
void voxelize_labeled(const Executor& executor, Points&& points, Labels&& labels, const volume_geometry& geometry,
                      Occupancy&& occupancy, z_convention convention = z_convention::semantickitti_pre_fix) {
  constexpr const char* op = "voxformer::voxelize_labeled";
  const auto pts = as_view<const float, 2>(points, op, "points");
  const auto lab = as_view<const std::uint32_t, 1>(labels, op, "labels");
  const auto grid = as_view<std::uint8_t, 3>(occupancy, op, "occupancy");
  detail::voxelize_views(executor, op, pts, lab, true, grid, geometry, convention);
}

}  // namespace voxformer
