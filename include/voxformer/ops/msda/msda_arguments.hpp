//! @file What the 2-D and 3-D multi-scale deformable attention ops share: argument checks and the launch.
#pragma once

#include <cstdint>
#include <type_traits>

#include "voxformer/core/executor_hints.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/ops/msda/msda_kernel.hpp"
#include "voxformer/ops/msda/msda_levels.hpp"

namespace voxformer {

namespace detail {

//! Validates value [B, S, heads, head_dim], sampling_locations [B, Q, heads, L, P, Dims],
//! attention_weights [B, Q, heads, L, P], out [B, Q, heads·head_dim] and the level metadata, then runs
//! `msda_kernel<T, Sampler, …>` over every (b, q, head group, channel chunk). Executors that prefer coarse
//! elements (the CPU) get all 8 heads of a query per element when heads divide by 8, so the corner rows of
//! a query's heads, which share pixels, are read together; others (the GPU) get 4 channels of one head per
//! element, loaded as one 16-byte vector when every value row chunk is 16-byte aligned (`AlignedRows`).
template <class Sampler, class T, class Executor, class Value, class Shapes, class Starts, class Locations,
          class Weights, class Out>
void run_msda(const char* op, const Executor& executor, Value&& value, Shapes&& spatial_shapes, Starts&& level_start,
              Locations&& sampling_locations, Weights&& attention_weights, Out&& out) {
  const auto val = as_view<const T, 4>(value, op, "value");
  const auto loc = as_view<const T, 6>(sampling_locations, op, "sampling_locations");
  const auto attn = as_view<const T, 5>(attention_weights, op, "attention_weights");
  const auto dst = as_view<T, 3>(out, op, "out");
  constexpr int Dims = Sampler::dims;
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
  // Packed: unit channel strides in value and out, and [P, Dims] points, [P] weights innermost.
  const bool packed = val.stride(3) == 1 && dst.stride(2) == 1 && loc.stride(5) == 1 && loc.stride(4) == Dims &&
                      attn.stride(4) == 1;
  dispatch_channel_chunk<max_channels_per_element<Executor>>(head_dim, packed, [&](auto chunk, auto pack) {
    constexpr int chunk_size = decltype(chunk)::value;
    auto launch = [&](auto group, auto one_batch, auto aligned_rows) {
      constexpr int group_size = decltype(group)::value;
      using kernel = kernels::msda_kernel<T, Sampler, chunk_size, group_size, decltype(pack)::value,
                                          decltype(one_batch)::value, decltype(aligned_rows)::value>;
      parallel_for(executor, dst.size() / (chunk_size * group_size), kernel{val, loc, attn, dst, levels});
    };
    if constexpr (prefers_coarse_elements<Executor>) {
      // Host lanes: the batch size of the CPU kernel (device kernels take one point at a time).
      if (heads % 8 == 0 && levels.count == 1 && points == point_lanes<accumulate_t<T>>)
        return launch(std::integral_constant<int, 8>{}, std::true_type{}, std::false_type{});
      if (heads % 8 == 0) return launch(std::integral_constant<int, 8>{}, std::false_type{}, std::false_type{});
    } else if constexpr (decltype(pack)::value && chunk_size % 4 == 0 && std::is_same_v<T, float>) {
      // 16-byte loads: every row chunk the kernel reads starts at data + a multiple of these strides and of 4.
      if (reinterpret_cast<std::uintptr_t>(val.data()) % 16 == 0 && val.stride(0) % 4 == 0 && val.stride(1) % 4 == 0 &&
          val.stride(2) % 4 == 0)
        return launch(std::integral_constant<int, 1>{}, std::false_type{}, std::true_type{});
    }
    launch(std::integral_constant<int, 1>{}, std::false_type{}, std::false_type{});
  });
}

}  // namespace detail
}  // namespace voxformer
