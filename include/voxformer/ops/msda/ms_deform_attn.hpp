//! @file Multi-scale deformable attention, bilinear (Deformable-DETR / mmcv formulation, spec §4):
//! out[b,q,h·dh+d] = Σ_l Σ_p a[b,q,h,l,p] · bilinear(value_l[b,:,h,d], x·w_l − 0.5, y·h_l − 0.5),
//! zero padding, identical to `grid_sample(align_corners=False, padding_mode='zeros')`.
#pragma once

#include "voxformer/ops/msda/msda_arguments.hpp"

namespace voxformer {

//! Multi-scale deformable attention (bilinear):
//! - `value` [B, S, heads, head_dim], levels stacked along S in row-major (row·w + col) order;
//! - `spatial_shapes` [L, 2] = (h, w) and `level_start` [L], host memory, any signed integer type;
//! - `sampling_locations` [B, Q, heads, L, P, 2] = (x, y) normalised to [0, 1];
//! - `attention_weights` [B, Q, heads, L, P] (already softmaxed);
//! - `out` [B, Q, heads·head_dim], overwritten.
//! Taps outside the map, or with NaN/Inf coordinates, contribute 0; `value` must be finite (zero-weight taps
//! still read it, docs/conventions.md). Any strides are accepted; contiguous channels take the vectorised path.
template <class Element = deduce, class Executor, class Value, class Shapes, class Starts, class Locations,
          class Weights, class Out>
void ms_deform_attn(const Executor& executor, Value&& value, Shapes&& spatial_shapes, Starts&& level_start,
                    Locations&& sampling_locations, Weights&& attention_weights, Out&& out) {
  using T = resolve_element_t<Element, Value, float>;
  detail::run_msda<2, T>(executor, value, spatial_shapes, level_start, sampling_locations, attention_weights,
                         out);
}

}  // namespace voxformer
