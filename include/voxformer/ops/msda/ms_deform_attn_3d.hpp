//! @file Multi-scale deformable attention, trilinear 3-D variant (VoxFormer's deform_attn_3d, spec §3.12):
//! a level is an (h, w, z) volume stored at row (ih·w + iw)·z + iz; a location is (x→w, y→h, z→z)
//! normalised to [0, 1], sampled at (y·h − 0.5, x·w − 0.5, z·z − 0.5) with zero padding.
#pragma once

#include <cmath>

#include "voxformer/core/channel_vector.hpp"
#include "voxformer/ops/msda/msda_arguments.hpp"

namespace voxformer {

namespace kernels {

//! Same element decomposition and branch-free corner scheme as `ms_deform_attn_bilinear`, with 8 corners.
template <class T, int Chunk, bool UnitChannelStride>
struct ms_deform_attn_trilinear {
  tensor_view<const T, 4> value;      // [B, S, heads, dh]
  tensor_view<const T, 6> locations;  // [B, Q, heads, L, P, 3]
  tensor_view<const T, 5> weights;    // [B, Q, heads, L, P]
  tensor_view<T, 3> out;              // [B, Q, heads·dh]
  msda_levels levels;

  VOXFORMER_HOST_DEVICE void operator()(index_t e) const {
    using A = detail::accumulate_t<T>;
    const auto element = locate_msda_element<Chunk>(e, value, locations, weights);
    const T* value_head = element.value_head;
    const T* loc = element.locations;
    const T* attn = element.weights;
    const index_t points = locations.extent(4), pixel_stride = value.stride(1);
    const index_t channel_stride = UnitChannelStride ? 1 : value.stride(3);
    const index_t coord_stride = locations.stride(5);

    detail::channel_vector<A, Chunk> acc;
    for (int l = 0; l < levels.count; ++l) {
      // Axis order of a sample: 0 = h (from location y), 1 = w (from location x), 2 = z.
      const index_t size[3] = {levels.extent[l][0], levels.extent[l][1], levels.extent[l][2]};
      const T* level_base = value_head + levels.start[l] * pixel_stride;
      for (index_t p = 0; p < points; ++p) {
        const T* xyz = loc + l * locations.stride(3) + p * locations.stride(4);
        const T coord[3] = {xyz[coord_stride], xyz[0], xyz[2 * coord_stride]};
        A pos[3];
        bool inside = true;
        for (int a = 0; a < 3; ++a) {
          pos[a] = static_cast<A>(coord[a]) * static_cast<A>(size[a]) - A(0.5);
          inside = inside && pos[a] > A(-1) && pos[a] < static_cast<A>(size[a]);
        }
        if (!inside) continue;
        const A a = static_cast<A>(attn[l * weights.stride(3) + p * weights.stride(4)]);
        index_t idx[3][2];
        A frac[3][2];
        for (int ax = 0; ax < 3; ++ax) {
          const A lo = std::floor(pos[ax]);
          const index_t i0 = static_cast<index_t>(lo);
          const A f = pos[ax] - lo;
          const bool lo_ok = i0 >= 0, hi_ok = i0 + 1 < size[ax];
          idx[ax][0] = lo_ok ? i0 : 0;
          idx[ax][1] = hi_ok ? i0 + 1 : i0;
          frac[ax][0] = lo_ok ? A(1) - f : A(0);
          frac[ax][1] = hi_ok ? f : A(0);
        }
        const T* corner[8];
        A weight[8];
        for (int n = 0; n < 8; ++n) {
          const int ih = n >> 2, iw = (n >> 1) & 1, iz = n & 1;
          corner[n] = level_base + ((idx[0][ih] * size[1] + idx[1][iw]) * size[2] + idx[2][iz]) * pixel_stride;
          weight[n] = frac[0][ih] * frac[1][iw] * frac[2][iz] * a;
        }
        for (int n = 0; n < 8; ++n) acc.template add_scaled<UnitChannelStride>(weight[n], corner[n], channel_stride);
      }
    }
    for (int c = 0; c < Chunk; ++c) out(element.b, element.q, element.column + c) = static_cast<T>(acc[c]);
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
  detail::run_msda<3, kernels::ms_deform_attn_trilinear, T>("voxformer::ms_deform_attn_3d", executor, value, spatial_shapes, level_start,
                                              sampling_locations, attention_weights, out);
}

}  // namespace voxformer
