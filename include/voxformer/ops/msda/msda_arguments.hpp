//! @file What the 2-D and 3-D multi-scale deformable attention ops share: argument checks, the element
//! decomposition of their kernels, and the launch.
#pragma once

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/ops/msda/msda_levels.hpp"

namespace voxformer {

namespace kernels {

//! One kernel element = `Chunk` consecutive channels of one (b, q, head): where its inputs start.
template <class T>
struct msda_element {
  index_t b, q, column;         //!< output row (b, q) and first output channel h·dh + c0
  const T* value_head;          //!< value[b, 0, h, c0]
  const T* locations;           //!< sampling_locations[b, q, h, 0, 0, 0]
  const T* weights;             //!< attention_weights[b, q, h, 0, 0]
};

template <int Chunk, class T>
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE msda_element<T> locate_msda_element(
    index_t e, const tensor_view<const T, 4>& value, const tensor_view<const T, 6>& locations,
    const tensor_view<const T, 5>& weights) {
  const index_t heads = value.extent(2), chunks = value.extent(3) / Chunk, queries = locations.extent(1);
  // One chunk per head is the common case (head_dim 16): skip a 64-bit division there.
  const index_t c0 = chunks == 1 ? 0 : (e % chunks) * Chunk, hq = chunks == 1 ? e : e / chunks;
  const index_t h = hq % heads, bq = hq / heads;
  const index_t b = bq / queries, q = bq % queries;
  return {b, q, h * value.extent(3) + c0, value.data() + value.offset(b, 0, h, c0),
          locations.data() + locations.offset(b, q, h, 0, 0, 0), weights.data() + weights.offset(b, q, h, 0, 0)};
}

}  // namespace kernels

namespace detail {

//! Validates value [B, S, heads, head_dim], sampling_locations [B, Q, heads, L, P, Dims],
//! attention_weights [B, Q, heads, L, P], out [B, Q, heads·head_dim] and the level metadata, then runs
//! `Kernel<T, Chunk, UnitChannelStride>` over every (b, q, head, chunk).
template <int Dims, template <class, int, bool> class Kernel, class T, class Executor, class Value, class Shapes,
          class Starts, class Locations, class Weights, class Out>
void run_msda(const char* op, const Executor& executor, Value&& value, Shapes&& spatial_shapes, Starts&& level_start,
              Locations&& sampling_locations, Weights&& attention_weights, Out&& out) {
  const auto val = as_view<const T, 4>(value, op, "value");
  const auto loc = as_view<const T, 6>(sampling_locations, op, "sampling_locations");
  const auto attn = as_view<const T, 5>(attention_weights, op, "attention_weights");
  const auto dst = as_view<T, 3>(out, op, "out");
  const msda_levels levels = read_levels<Dims>(op, spatial_shapes, level_start, val.extent(1));
  const index_t batch = val.extent(0), heads = val.extent(2), head_dim = val.extent(3);
  const index_t queries = loc.extent(1), points = loc.extent(4);
  expect_shape(op, "sampling_locations", Dims == 2 ? "[B, Q, heads, L, P, 2]" : "[B, Q, heads, L, P, 3]", loc,
               {batch, any_extent, heads, levels.count, any_extent, Dims});
  expect_shape(op, "attention_weights", "[B, Q, heads, L, P]", attn, {batch, queries, heads, levels.count, points});
  expect_shape(op, "out", "[B, Q, heads*head_dim]", dst, {batch, queries, heads * head_dim});
  expect_accessible(op, "value", executor, val);
  expect_accessible(op, "sampling_locations", executor, loc);
  expect_accessible(op, "attention_weights", executor, attn);
  expect_accessible(op, "out", executor, dst);
  expect_disjoint(op, "out", dst, "value", val);
  expect_disjoint(op, "out", dst, "sampling_locations", loc);
  expect_disjoint(op, "out", dst, "attention_weights", attn);
  dispatch_channel_chunk(head_dim, val.stride(3) == 1, [&](auto chunk, auto unit) {
    using kernel = Kernel<T, decltype(chunk)::value, decltype(unit)::value>;
    parallel_for(executor, dst.size() / decltype(chunk)::value, kernel{val, loc, attn, dst, levels});
  });
}

}  // namespace detail
}  // namespace voxformer
