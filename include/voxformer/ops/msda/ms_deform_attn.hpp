//! @file Multi-scale deformable attention, bilinear (Deformable-DETR / mmcv formulation, spec §4):
//! out[b,q,h·dh+d] = Σ_l Σ_p a[b,q,h,l,p] · bilinear(value_l[b,:,h,d], x·w_l − 0.5, y·h_l − 0.5),
//! zero padding, identical to `grid_sample(align_corners=False, padding_mode='zeros')`.
#pragma once

#include "voxformer/core/lanes.hpp"
#include "voxformer/ops/msda/msda_arguments.hpp"

namespace voxformer {

namespace kernels {

//! Bilinear corners of a batch of points (lanes), written once for host SIMD and device scalars. The strict
//! range test is the CUDA kernels' (−1 < u < w, −1 < v < h); NaN fails it. A point outside, and a corner
//! outside the map, gets weight 0 and an in-bounds row (spec §4.5), so no lane branches.
struct bilinear_corners {
  static constexpr int dims = 2, corners = 4;

  //! coord = (x, y) ∈ [0, 1]; extent = (h, w, 1); rows are cells r·w + c, corners (r0c0, r0c1, r1c0, r1c1).
  template <class A, class F, class I>
  VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE static void locate(const F (&coord)[2], const F& attn,
                                                                 const index_t (&extent)[3], I (&row)[4],
                                                                 F (&weight)[4]) {
    const int height = static_cast<int>(extent[0]), width = static_cast<int>(extent[1]);
    const A fh = static_cast<A>(height), fw = static_cast<A>(width);
    F u = coord[0] * fw - A(0.5), v = coord[1] * fh - A(0.5);
    const auto inside = (u > A(-1)) & (v > A(-1)) & (u < fw) & (v < fh);
    const F zero{}, outside = zero - A(0.5);
    u = detail::select(inside, u, outside);
    v = detail::select(inside, v, outside);
    const I u0 = detail::floor_to_int<I>(u), v0 = detail::floor_to_int<I>(v);
    const F fu = u - detail::convert_lanes<F>(u0), fv = v - detail::convert_lanes<F>(v0);
    const F a = detail::select(inside, attn, zero);
    const auto left = u0 >= 0, right = u0 + 1 < width, top = v0 >= 0, bottom = v0 + 1 < height;
    const F wl = detail::select(left, A(1) - fu, zero), wr = detail::select(right, fu, zero);
    const F wt = detail::select(top, (A(1) - fv) * a, zero), wb = detail::select(bottom, fv * a, zero);
    const I col0 = detail::select(left, u0, I{}), col1 = detail::select(right, u0 + 1, u0);
    const I row0 = detail::select(top, v0, I{}) * width, row1 = detail::select(bottom, v0 + 1, v0) * width;
    row[0] = row0 + col0, row[1] = row0 + col1, row[2] = row1 + col0, row[3] = row1 + col1;
    weight[0] = wt * wl, weight[1] = wt * wr, weight[2] = wb * wl, weight[3] = wb * wr;
  }
};

}  // namespace kernels

//! Multi-scale deformable attention (bilinear):
//! - `value` [B, S, heads, head_dim], levels stacked along S in row-major (row·w + col) order;
//! - `spatial_shapes` [L, 2] = (h, w) and `level_start` [L], host memory, any signed integer type;
//! - `sampling_locations` [B, Q, heads, L, P, 2] = (x, y) normalised to [0, 1];
//! - `attention_weights` [B, Q, heads, L, P] (already softmaxed);
//! - `out` [B, Q, heads·head_dim], overwritten.
//! Taps outside the map, or with NaN/Inf coordinates, contribute 0. Any strides are accepted; contiguous
//! channels take the vectorised path.
template <class Element = deduce, class Executor, class Value, class Shapes, class Starts, class Locations,
          class Weights, class Out>
void ms_deform_attn(const Executor& executor, Value&& value, Shapes&& spatial_shapes, Starts&& level_start,
                    Locations&& sampling_locations, Weights&& attention_weights, Out&& out) {
  using T = resolve_element_t<Element, Value, float>;
  detail::run_msda<kernels::bilinear_corners, T>("voxformer::ms_deform_attn", executor, value, spatial_shapes, level_start,
                                                 sampling_locations, attention_weights, out);
}

}  // namespace voxformer
