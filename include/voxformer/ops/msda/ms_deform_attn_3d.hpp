//! @file Multi-scale deformable attention, trilinear 3-D variant (VoxFormer's deform_attn_3d, spec §3.12):
//! a level is an (h, w, z) volume stored at row (ih·w + iw)·z + iz; a location is (x→w, y→h, z→z)
//! normalised to [0, 1], sampled at (y·h − 0.5, x·w − 0.5, z·z − 0.5) with zero padding.
#pragma once

#include "voxformer/ops/msda/msda_arguments.hpp"

namespace voxformer {

//! Trilinear multi-scale deformable attention:
//! - `value` [B, S, heads, head_dim], level l's (h, w, z) volume at rows [start_l, start_l + h·w·z);
//! - `spatial_shapes` [L, 3] = (h, w, z) and `level_start` [L], host memory;
//! - `sampling_locations` [B, Q, heads, L, P, 3] = (x along w, y along h, z along z) in [0, 1];
//! - `attention_weights` [B, Q, heads, L, P]; `out` [B, Q, heads·head_dim], overwritten.
//! For VoxFormer's 128×128×16 volume, voxel (x, y, z) is (h, w, z): location = ((y+0.5)/128, (x+0.5)/128,
//! (z+0.5)/16) samples its centre exactly. Taps outside, or NaN/Inf, contribute 0; `value` must be finite.
template <class Element = deduce, class Executor, class Value, class Shapes, class Starts, class Locations,
          class Weights, class Out>
void ms_deform_attn_3d(const Executor& executor, Value&& value, Shapes&& spatial_shapes, Starts&& level_start,
                       Locations&& sampling_locations, Weights&& attention_weights, Out&& out) {
  using T = resolve_element_t<Element, Value, float>;
  detail::run_msda<3, T>(executor, value, spatial_shapes, level_start, sampling_locations, attention_weights,
                         out);
}

}  // namespace voxformer
