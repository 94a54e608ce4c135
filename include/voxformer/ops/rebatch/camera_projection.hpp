//! @file Projection of 3-D reference points into every camera with VoxFormer's visibility rules
//! (point_sampling, spec §3.6).
#pragma once

#include <cstddef>
#include <cstdint>

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

//! Metric box that normalised reference points span: p = r·(max − min) + min.
struct point_cloud_range {
  double min[3];
  double max[3];
  static constexpr point_cloud_range voxformer() { return {{0.0, -25.6, -2.0}, {51.2, 25.6, 4.4}}; }
};

//! Image size used to normalise pixel coordinates (VoxFormer: the 370 × 1220 crop, not the feature map).
struct image_size {
  index_t height;
  index_t width;
};

//! Depth below which a point counts as behind the camera (and the divisor it is clamped to).
inline constexpr float projection_depth_eps = 1e-5f;

namespace kernels {

template <class Reference, class Matrices, class ReferenceCam, class Visible>
struct project_reference_point {
  Reference reference;         // [Q, D, 3] normalised
  Matrices lidar2img;          // [K, 4, 4]
  ReferenceCam reference_cam;  // [K, Q, D, 2] (un, vn)
  Visible visible;             // [K, Q, D]
  point_cloud_range range;
  image_size image;

  VOXFORMER_HOST_DEVICE void operator()(index_t e) const {
    const index_t queries = reference.extent(0), anchors = reference.extent(1);
    const index_t k = e / (queries * anchors), q = (e / anchors) % queries, d = e % anchors;
    using R = typename Reference::value_type;
    float p[3];
    // De-normalise in the reference type (float64 in VoxFormer), project in fp32 — the original's order.
    for (int a = 0; a < 3; ++a)
      p[a] = static_cast<float>(reference(q, d, a) * static_cast<R>(range.max[a] - range.min[a]) +
                                static_cast<R>(range.min[a]));
    float row[3];
    for (int r = 0; r < 3; ++r)
      row[r] = lidar2img(k, r, 0) * p[0] + lidar2img(k, r, 1) * p[1] + lidar2img(k, r, 2) * p[2] + lidar2img(k, r, 3);
    const float w = row[2] > projection_depth_eps ? row[2] : projection_depth_eps;
    const float un = row[0] / w / static_cast<float>(image.width);
    const float vn = row[1] / w / static_cast<float>(image.height);
    reference_cam(k, q, d, 0) = un;
    reference_cam(k, q, d, 1) = vn;
    // All strict; NaN anywhere fails every comparison and leaves the point invisible.
    const bool seen = row[2] > projection_depth_eps && vn > 0.f && vn < 1.f && un < 1.f && un > 0.f;
    visible(k, q, d) = seen ? 1 : 0;
  }
};

}  // namespace kernels

//! One call of `project_to_cameras`: `reference` [Q, D, 3] (normalised over `range`), `lidar2img` [K, 4, 4],
//! `reference_cam` [K, Q, D, 2] and `visible` [K, Q, D].
template <class R>
struct projection_arguments {
  tensor_view<const R, 3> reference;
  point_cloud_range range;
  tensor_view<const float, 3> lidar2img;
  image_size image;
  tensor_view<float, 4> reference_cam;
  tensor_view<std::uint8_t, 3> visible;
};

template <class Executor, class R>
void validate(const Executor& executor, const projection_arguments<R>& args) {
  constexpr const char* op = "voxformer::project_to_cameras";
  const auto& [ref, range, mats, image, cam, vis] = args;
  const index_t k = mats.extent(0), q = ref.extent(0), d = ref.extent(1);
  expect_shape(op, "reference", "[Q, D, 3]", ref, {any_extent, any_extent, 3});
  expect_shape(op, "lidar2img", "[K, 4, 4]", mats, {any_extent, 4, 4});
  expect_shape(op, "reference_cam", "[K, Q, D, 2]", cam, {k, q, d, 2});
  expect_shape(op, "visible", "[K, Q, D]", vis, {k, q, d});
  detail::require(image.height > 0 && image.width > 0, op, ": image size must be positive, got ", image.height, "x",
                  image.width);
  expect_accessible(op, "reference", executor, ref);
  expect_accessible(op, "lidar2img", executor, mats);
  expect_accessible(op, "reference_cam", executor, cam);
  expect_accessible(op, "visible", executor, vis);
  expect_no_aliasing(op, {detail::memory_of("reference_cam", cam), detail::memory_of("visible", vis)},
                     {detail::memory_of("reference", ref), detail::memory_of("lidar2img", mats)});
}

template <class Executor, class R>
constexpr std::size_t workspace_bytes(const Executor&, const projection_arguments<R>&) {
  return 0;
}

template <class Executor, class R>
void run(const Executor& executor, const projection_arguments<R>& args) {
  const auto& [ref, range, mats, image, cam, vis] = args;
  parallel_for(executor, vis.size(),
               kernels::project_reference_point<decltype(ref), decltype(mats), decltype(cam), decltype(vis)>{
                   ref, mats, cam, vis, range, image});
}

//! Projects `reference` [Q, D, 3] (normalised over `range`; float or double) with `lidar2img` [K, 4, 4]
//! (float) into `reference_cam` [K, Q, D, 2] = (u/W, v/H) and `visible` [K, Q, D] (uint8): w′ > 1e-5 and
//! 0 < un, vn < 1, all strict. Invisible points keep their (possibly huge) coordinates, never NaN from
//! the division: the depth is clamped to 1e-5 first.
template <class Executor, class Reference, class Matrices, class ReferenceCam, class Visible>
void project_to_cameras(const Executor& executor, Reference&& reference, const point_cloud_range& range,
                        Matrices&& lidar2img, image_size image, ReferenceCam&& reference_cam, Visible&& visible) {
  constexpr const char* op = "voxformer::project_to_cameras";
  using R = resolve_element_t<deduce, Reference, double>;
  const projection_arguments<R> args{as_view<const R, 3>(reference, op, "reference"), range,
                                     as_view<const float, 3>(lidar2img, op, "lidar2img"), image,
                                     as_view<float, 4>(reference_cam, op, "reference_cam"),
                                     as_view<std::uint8_t, 3>(visible, op, "visible")};
  validate(executor, args);
  run(executor, args);
}

}  // namespace voxformer
