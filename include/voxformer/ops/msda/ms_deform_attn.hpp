//! @file Multi-scale deformable attention, bilinear (Deformable-DETR / mmcv formulation, spec §4):
//! out[b,q,h·dh+d] = Σ_l Σ_p a[b,q,h,l,p] · bilinear(value_l[b,:,h,d], x·w_l − 0.5, y·h_l − 0.5),
//! zero padding, identical to `grid_sample(align_corners=False, padding_mode='zeros')`.
#pragma once

#include <cmath>
#include <cstdint>

#include "voxformer/core/channel_vector.hpp"
#include "voxformer/ops/msda/msda_arguments.hpp"

namespace voxformer {

namespace kernels {

//! One element = `Chunk` consecutive channels of one (b, q, head). Coordinates and corner weights are
//! computed once per tap and reused across the chunk (the original kernels recompute them for every
//! channel). Corners outside the map keep an in-bounds address and get weight 0, so the channel loops are
//! branch-free; each corner has its own accumulator, so the four FMAs of a tap do not wait on each other.
template <class T, int Chunk, bool UnitChannelStride>
struct ms_deform_attn_bilinear {
  tensor_view<const T, 4> value;      // [B, S, heads, dh]
  tensor_view<const T, 6> locations;  // [B, Q, heads, L, P, 2]
  tensor_view<const T, 5> weights;    // [B, Q, heads, L, P]
  tensor_view<T, 3> out;              // [B, Q, heads·dh]
  msda_levels levels;

  VOXFORMER_HOST_DEVICE void operator()(index_t e) const {
    using A = detail::accumulate_t<T>;
    const auto element = locate_msda_element<Chunk>(e, value, locations, weights);
    const index_t points = locations.extent(4), pixel_stride = value.stride(1), channel_stride = value.stride(3);
    const index_t loc_level = locations.stride(3), loc_point = locations.stride(4), loc_y = locations.stride(5);
    const index_t attn_level = weights.stride(3), attn_point = weights.stride(4);

    detail::channel_vector<A, Chunk> acc00, acc01, acc10, acc11;
    for (int l = 0; l < levels.count; ++l) {
      const index_t height = levels.extent[l][0], width = levels.extent[l][1];
      const T* level_base = element.value_head + levels.start[l] * pixel_stride;
      const T* loc = element.locations + l * loc_level;
      const T* attn = element.weights + l * attn_level;
      const A fh = static_cast<A>(height), fw = static_cast<A>(width);
      for (index_t p = 0; p < points; ++p) {
        const A u = static_cast<A>(loc[p * loc_point]) * fw - A(0.5);
        const A v = static_cast<A>(loc[p * loc_point + loc_y]) * fh - A(0.5);
        // Strict range test of the CUDA kernels; NaN fails it and adds nothing (spec §4.5).
        if (!(u > A(-1) && v > A(-1) && u < fw && v < fh)) continue;
        const A a = static_cast<A>(attn[p * attn_point]);
        const A u0f = std::floor(u), v0f = std::floor(v);
        const A fu = u - u0f, fv = v - v0f;
        const index_t u0 = static_cast<index_t>(u0f), v0 = static_cast<index_t>(v0f);
        const bool left = u0 >= 0, right = u0 + 1 < width, top = v0 >= 0, bottom = v0 + 1 < height;
        const index_t col0 = left ? u0 : 0, col1 = right ? u0 + 1 : u0;
        const T* row0 = level_base + (top ? v0 : 0) * width * pixel_stride;
        const T* row1 = level_base + (bottom ? v0 + 1 : v0) * width * pixel_stride;
        acc00.template add_scaled<UnitChannelStride>((top && left) ? (A(1) - fv) * (A(1) - fu) * a : A(0),
                                                    row0 + col0 * pixel_stride, channel_stride);
        acc01.template add_scaled<UnitChannelStride>((top && right) ? (A(1) - fv) * fu * a : A(0),
                                                    row0 + col1 * pixel_stride, channel_stride);
        acc10.template add_scaled<UnitChannelStride>((bottom && left) ? fv * (A(1) - fu) * a : A(0),
                                                    row1 + col0 * pixel_stride, channel_stride);
        acc11.template add_scaled<UnitChannelStride>((bottom && right) ? fv * fu * a : A(0),
                                                    row1 + col1 * pixel_stride, channel_stride);
      }
    }
    acc00 += acc01;
    acc10 += acc11;
    acc00 += acc10;
    for (int c = 0; c < Chunk; ++c) out(element.b, element.q, element.column + c) = static_cast<T>(acc00[c]);
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
  detail::run_msda<2, kernels::ms_deform_attn_bilinear, T>("voxformer::ms_deform_attn", executor, value, spatial_shapes, level_start,
                                              sampling_locations, attention_weights, out);
}

}  // namespace voxformer
