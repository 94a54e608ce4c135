//! @file The sampling loop shared by bilinear and trilinear multi-scale deformable attention: per element,
//! locate the corners of a batch of points (lane-generic math from the `Sampler`), then accumulate the
//! weighted corner rows of the value map.
#pragma once

#include <cstdint>

#include "voxformer/core/channel_vector.hpp"
#include "voxformer/core/lanes.hpp"
#include "voxformer/core/tensor_view.hpp"
#include "voxformer/ops/msda/msda_levels.hpp"

namespace voxformer::detail {

//! Loads up to `point_lanes<A>` points (coordinates and attention weights) of one head and level into lanes;
//! lanes past `n` get a coordinate far outside the map and weight 0. `Packed`: points are [P, Dims] and
//! weights [P] contiguous, so the strides are compile-time constants and full batches load as vectors.
template <int Dims, bool Packed, class A, class T, class F>
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE void load_points(const T* loc, const T* attn, int n, index_t point_stride,
                                                             index_t coord_stride, index_t weight_stride,
                                                             F (&coord)[Dims], F& weight) {
  constexpr int lanes = point_lanes<A>;
  if (Packed) point_stride = Dims, coord_stride = 1, weight_stride = 1;
  auto load = [&](auto full) {
    auto live = [&](int k) { return decltype(full)::value || k < n; };
    for (int d = 0; d < Dims; ++d)
      coord[d] = make_lanes<F>(
          [&](int k) { return live(k) ? static_cast<A>(loc[k * point_stride + d * coord_stride]) : A(-1); });
    weight = make_lanes<F>([&](int k) { return live(k) ? static_cast<A>(attn[k * weight_stride]) : A(0); });
  };
  if (n == lanes) load(std::true_type{});
  else load(std::false_type{});
}

}  // namespace voxformer::detail

namespace voxformer::kernels {

//! One kernel element = `Chunk` consecutive channels of `Group` consecutive heads of one (b, q).
struct msda_element {
  index_t b, q, h0, c0;
};

template <int Chunk, int Group, class T>
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE msda_element locate_msda_element(index_t e,
                                                                            const tensor_view<const T, 4>& value,
                                                                            const tensor_view<const T, 6>& locations) {
  const index_t groups = value.extent(2) / Group, chunks = value.extent(3) / Chunk, queries = locations.extent(1);
  // 64-bit divisions are slow; the common shapes (one chunk per head, one group per query) need none.
  const index_t c0 = chunks == 1 ? 0 : (e % chunks) * Chunk, gq = chunks == 1 ? e : e / chunks;
  const index_t h0 = groups == 1 ? 0 : (gq % groups) * Group, bq = groups == 1 ? gq : gq / groups;
  return {bq / queries, bq % queries, h0, c0};
}

//! out[b, q, h·dh + c] = Σ_l Σ_p a[b,q,h,l,p] · Σ_corners w · value_l[b, corner, h, c] over every element.
//! `Sampler::locate` turns a batch of points into one base row each and `corners` weights; the corners lie at
//! fixed offsets from the base (`Sampler::corner_offsets`), all inside the level, so the accumulation is
//! branch-free. Those fixed reads include cells that are not samples (weight 0), which a NaN/Inf there would
//! still poison (0 · NaN): an element whose outputs come out non-finite — rare, and only where the value map
//! holds NaN/Inf — is recomputed by `store_exact`, which adds only the neighbours of each point, so a
//! non-finite cell reaches exactly the outputs that sample it, as in the original. A head's corners are located `Lead` heads before its rows are read: the locate arithmetic
//! of later heads then sits in the instruction window next to the row loads of earlier ones and overlaps them,
//! and the rows of the next head can load as soon as its predecessor's taps start. `OneBatch`: one level and
//! exactly `point_lanes` points (VoxFormer's L = 1, P = 8 on AVX), known at compile time, so the loops, the tail
//! and the cross-level sums disappear. `AlignedRows`: every value row chunk starts 16-byte aligned, so device
//! code loads it 4 floats at a time (`channel_vector::add_scaled`).
template <class T, class Sampler, int Chunk, int Group, int Lead, bool Packed, bool OneBatch = false,
          bool AlignedRows = false>
struct msda_kernel {
  static constexpr int locate_lead = Group < Lead ? Group : Lead;

  tensor_view<const T, 4> value;      // [B, S, heads, dh]
  tensor_view<const T, 6> locations;  // [B, Q, heads, L, P, Dims]
  tensor_view<const T, 5> weights;    // [B, Q, heads, L, P]
  tensor_view<T, 3> out;              // [B, Q, heads·dh]
  msda_levels levels;

  VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE void operator()(index_t e) const {
    using A = detail::accumulate_t<T>;
    constexpr int lanes = detail::point_lanes<A>, dims = Sampler::dims, corners = Sampler::corners;
    using F = detail::lanes_t<A, lanes>;
    using I = detail::lanes_t<std::int32_t, lanes>;

    const auto [b, q, h0, c0] = locate_msda_element<Chunk, Group>(e, value, locations);
    const T* value_head = value.data() + value.offset(b, 0, h0, c0);
    const T* locations_head = locations.data() + locations.offset(b, q, h0, 0, 0, 0);
    const T* weights_head = weights.data() + weights.offset(b, q, h0, 0, 0);
    const index_t points = locations.extent(4), pixel_stride = value.stride(1);
    const index_t channel_stride = Packed ? 1 : value.stride(3);

    detail::channel_vector<A, Chunk> acc[Group];
    const int level_count = OneBatch ? 1 : levels.count;
    for (int l = 0; l < level_count; ++l) {
      index_t corner_offset[corners];
      Sampler::corner_offsets(levels.extent[l], corner_offset);
      for (int c = 0; c < corners; ++c) corner_offset[c] *= pixel_stride;
      // At least one batch, so that P = 0 still stores the (zero) output.
      const index_t batches = OneBatch || points == 0 ? 1 : (points + lanes - 1) / lanes;
      for (index_t batch = 0; batch < batches; ++batch) {
        const index_t p0 = batch * lanes;
        const int n = OneBatch || points - p0 >= lanes ? lanes : static_cast<int>(points - p0);
        std::int32_t row[Group][lanes];
        A weight[Group][corners][lanes];
        auto locate_head = [&](int g) {
          F coord[dims], attn;
          detail::load_points<dims, Packed, A>(
              locations_head + g * locations.stride(2) + l * locations.stride(3) + p0 * locations.stride(4),
              weights_head + g * weights.stride(2) + l * weights.stride(3) + p0 * weights.stride(4), n,
              locations.stride(4), locations.stride(5), weights.stride(4), coord, attn);
          I base_row, corner_valid[corners];  // validity is store_exact's concern: unused here, optimised away
          F corner_weight[corners];
          Sampler::template locate<A>(coord, attn, levels.extent[l], base_row, corner_weight, corner_valid);
          detail::store_lanes(row[g], base_row);
          for (int c = 0; c < corners; ++c) detail::store_lanes(weight[g][c], corner_weight[c]);
        };
        for (int g = 0; g < locate_lead; ++g) locate_head(g);
        for (int g = 0; g < Group; ++g) {
          if (g + locate_lead < Group) locate_head(g + locate_lead);
          const T* level = value_head + g * value.stride(2) + levels.start[l] * pixel_stride;
          // One accumulator per corner: the FMAs of a point do not wait on each other.
          detail::channel_vector<A, Chunk> part[corners];
          auto taps = [&](auto count) {
            for (int k = 0; k < count; ++k) {
              const T* base = level + row[g][k] * pixel_stride;
              for (int c = 0; c < corners; ++c)
                part[c].template add_scaled<Packed, AlignedRows>(weight[g][c][k], base + corner_offset[c],
                                                                 channel_stride);
            }
          };
          if (n == lanes) taps(std::integral_constant<int, lanes>{});
          else taps(n);
          T* head_out = &out(b, q, (h0 + g) * value.extent(3) + c0);
          if constexpr (OneBatch) {
            for (int c = 1; c < corners; ++c) part[0] += part[c];
            part[0].template store<Packed>(head_out, out.stride(2));
          } else {
            for (int c = 0; c < corners; ++c) acc[g] += part[c];
            // Store as soon as a head is complete: its accumulator need not survive the other heads' taps.
            if (l + 1 == levels.count && batch + 1 == batches) acc[g].template store<Packed>(head_out, out.stride(2));
          }
        }
      }
    }
    // The check reads the outputs back (from L1) rather than summing them in the loop above, whose registers
    // are all taken: in the loop it cost 8 % more instructions, here 3 % (cachegrind, docs/benchmarks.md).
    detail::channel_vector<A, Chunk> stored;
    const T* element_out = &out(b, q, h0 * value.extent(3) + c0);
    const index_t head_stride = value.extent(3) * out.stride(2);
    for (int g = 0; g < Group; ++g) stored.template add_scaled<Packed>(A(1), element_out + g * head_stride, out.stride(2));
    if (!stored.all_finite()) store_exact(b, q, h0, c0);
  }

  //! The element's heads whose outputs are not finite, again one point at a time, adding only the corners that
  //! are neighbours of a point inside the range test (`valid`), each with its weight — zero included, as
  //! grid_sample does. Scalar and slow: it runs only for elements whose fast result is not finite, and stays
  //! out of line so that the fast loop's registers are not shared with it. Finite heads keep their fast
  //! result (so a sum of large heads that overflows the check recomputes nothing).
  VOXFORMER_HOST_DEVICE VOXFORMER_NOINLINE void store_exact(index_t b, index_t q, index_t h0, index_t c0) const {
    using A = detail::accumulate_t<T>;
    constexpr int dims = Sampler::dims, corners = Sampler::corners;
    const index_t pixel_stride = value.stride(1), channel_stride = Packed ? 1 : value.stride(3);
    for (int g = 0; g < Group; ++g) {
      const index_t h = h0 + g;
      T* head_out = &out(b, q, h * value.extent(3) + c0);
      detail::channel_vector<A, Chunk> acc;
      acc.template add_scaled<Packed>(A(1), head_out, out.stride(2));
      if (acc.all_finite()) continue;
      acc = {};
      for (int l = 0; l < levels.count; ++l) {
        index_t corner_offset[corners];
        Sampler::corner_offsets(levels.extent[l], corner_offset);
        const T* level = value.data() + value.offset(b, levels.start[l], h, c0);
        for (index_t p = 0; p < locations.extent(4); ++p) {
          A coord[dims];
          for (int d = 0; d < dims; ++d) coord[d] = static_cast<A>(locations(b, q, h, l, p, d));
          std::int32_t base, valid[corners];
          A weight[corners];
          Sampler::template locate<A>(coord, static_cast<A>(weights(b, q, h, l, p)), levels.extent[l], base, weight,
                                      valid);
          for (int c = 0; c < corners; ++c)
            if (valid[c] != 0)
              acc.template add_scaled<Packed, AlignedRows>(weight[c], level + (base + corner_offset[c]) * pixel_stride,
                                                          channel_stride);
        }
      }
      acc.template store<Packed>(head_out, out.stride(2));
    }
  }
};

}  // namespace voxformer::kernels
