//! @file Multi-scale deformable attention, trilinear 3-D variant (VoxFormer's deform_attn_3d, spec §3.12):
//! a level is an (h, w, z) volume stored at row (ih·w + iw)·z + iz; a location is (x→w, y→h, z→z)
//! normalised to [0, 1], sampled at (y·h − 0.5, x·w − 0.5, z·z − 0.5) with zero padding.
#pragma once

#include "voxformer/core/lanes.hpp"
#include "voxformer/ops/msda/msda_arguments.hpp"

namespace voxformer {

namespace kernels {

//! Trilinear corners of a batch of points, with the same range test and zero-weight scheme as
//! `bilinear_corners`.
struct trilinear_corners {
  static constexpr int dims = 3, corners = 8;

  //! coord = (x along w, y along h, z along z) ∈ [0, 1]; extent = (h, w, z); rows are cells (ih·w + iw)·z + iz;
  //! corner n takes the upper neighbour along h if bit 2 is set, along w if bit 1, along z if bit 0.
  template <class A, class F, class I>
  VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE static void locate(const F (&coord)[3], const F& attn,
                                                                 const index_t (&extent)[3], I (&row)[8],
                                                                 F (&weight)[8]) {
    const int size[3] = {static_cast<int>(extent[0]), static_cast<int>(extent[1]), static_cast<int>(extent[2])};
    F pos[3] = {coord[1] * static_cast<A>(size[0]) - A(0.5), coord[0] * static_cast<A>(size[1]) - A(0.5),
                coord[2] * static_cast<A>(size[2]) - A(0.5)};
    auto inside = (pos[0] > A(-1)) & (pos[0] < static_cast<A>(size[0]));
    for (int axis = 1; axis < 3; ++axis)
      inside = inside & (pos[axis] > A(-1)) & (pos[axis] < static_cast<A>(size[axis]));
    const F zero{}, outside = zero - A(0.5);
    I index[3][2];
    F frac[3][2];
    for (int axis = 0; axis < 3; ++axis) {
      const F p = detail::select(inside, pos[axis], outside);
      const I lo = detail::floor_to_int<I>(p);
      const F f = p - detail::convert_lanes<F>(lo);
      const auto lo_in = lo >= 0, hi_in = lo + 1 < size[axis];
      index[axis][0] = detail::select(lo_in, lo, I{});
      index[axis][1] = detail::select(hi_in, lo + 1, lo);
      frac[axis][0] = detail::select(lo_in, A(1) - f, zero);
      frac[axis][1] = detail::select(hi_in, f, zero);
    }
    const F a = detail::select(inside, attn, zero);
    frac[0][0] = frac[0][0] * a;
    frac[0][1] = frac[0][1] * a;
    for (int n = 0; n < 8; ++n) {
      const int ih = n >> 2, iw = (n >> 1) & 1, iz = n & 1;
      row[n] = (index[0][ih] * size[1] + index[1][iw]) * size[2] + index[2][iz];
      weight[n] = frac[0][ih] * frac[1][iw] * frac[2][iz];
    }
  }
};

}  // namespace kernels

//! Trilinear multi-scale deformable attention:
//! - `value` [B, S, heads, head_dim], level l's (h, w, z) volume at rows [start_l, start_l + h·w·z);
//! - `spatial_shapes` [L, 3] = (h, w, z) and `level_start` [L], host memory;
//! - `sampling_locations` [B, Q, heads, L, P, 3] = (x along w, y along h, z along z) in [0, 1];
//! - `attention_weights` [B, Q, heads, L, P]; `out` [B, Q, heads·head_dim], overwritten.
//! For VoxFormer's 128×128×16 volume, voxel (x, y, z) is (h, w, z): location = ((y+0.5)/128, (x+0.5)/128,
//! (z+0.5)/16) samples its centre exactly. Taps outside, or NaN/Inf, contribute 0.
template <class Element = deduce, class Executor, class Value, class Shapes, class Starts, class Locations,
          class Weights, class Out>
void ms_deform_attn_3d(const Executor& executor, Value&& value, Shapes&& spatial_shapes, Starts&& level_start,
                       Locations&& sampling_locations, Weights&& attention_weights, Out&& out) {
  using T = resolve_element_t<Element, Value, float>;
  detail::run_msda<kernels::trilinear_corners, T>("voxformer::ms_deform_attn_3d", executor, value, spatial_shapes,
                                                  level_start, sampling_locations, attention_weights, out);
}

}  // namespace voxformer
