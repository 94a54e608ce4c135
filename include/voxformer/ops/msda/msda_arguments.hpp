//! @file What the 2-D and 3-D multi-scale deformable attention ops share: their arguments, the checks
//! (`validate`), the scratch they need (none) and the launch (`run`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "voxformer/core/executor_hints.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/ops/msda/msda_kernel.hpp"
#include "voxformer/ops/msda/msda_levels.hpp"
#include "voxformer/ops/msda/msda_policy.hpp"
#include "voxformer/ops/msda/msda_sampler.hpp"

namespace voxformer {

//! One call of multi-scale deformable attention, `Dims` = 2 (bilinear) or 3 (trilinear):
//! value [B, S, heads, head_dim], sampling locations [B, Q, heads, L, P, Dims], attention weights
//! [B, Q, heads, L, P], out [B, Q, heads·head_dim] and the level metadata (host values).
template <class T, int Dims>
struct msda_arguments {
  tensor_view<const T, 4> value;
  msda_levels levels;
  tensor_view<const T, 6> sampling_locations;
  tensor_view<const T, 5> attention_weights;
  tensor_view<T, 3> out;
};

namespace detail {
template <int Dims>
constexpr const char* msda_op_name() {
  return Dims == 2 ? "voxformer::ms_deform_attn" : "voxformer::ms_deform_attn_3d";
}
}  // namespace detail

//! Shapes, levels, memory spaces and aliasing of a call; throws `voxformer::error` naming the argument.
template <class Executor, class T, int Dims>
void validate(const Executor& executor, const msda_arguments<T, Dims>& args) {
  constexpr const char* op = detail::msda_op_name<Dims>();
  const auto& [val, levels, loc, attn, dst] = args;
  detail::check_levels<Dims>(op, levels, val.extent(1));
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
}

template <class Executor, class T, int Dims>
constexpr std::size_t workspace_bytes(const Executor&, const msda_arguments<T, Dims>&) {
  return 0;
}

//! Runs a validated call: `msda_kernel` over every (b, q, head group, channel chunk), shaped by
//! `msda_policy<Executor>`. Executors that prefer coarse elements (the CPU) get all heads of a query per
//! element when heads divide by the policy's group, so the corner rows of a query's heads, which share
//! pixels, are read together; others (the GPU) get a few channels of one head per element, loaded as one
//! vector when every value row chunk is aligned for it (`AlignedRows`).
template <class Executor, class T, int Dims>
void run(const Executor& executor, const msda_arguments<T, Dims>& args) {
  using policy = msda_policy<Executor>;
  using sampler = kernels::multilinear_corners<Dims>;
  const auto& [val, levels, loc, attn, dst] = args;
  const index_t heads = val.extent(2), points = loc.extent(4);
  // Packed: unit channel strides in value and out, and [P, Dims] points, [P] weights innermost.
  const bool packed = val.stride(3) == 1 && dst.stride(2) == 1 && loc.stride(5) == 1 && loc.stride(4) == Dims &&
                      attn.stride(4) == 1;
  detail::dispatch_channel_chunk<policy::max_channels>(val.extent(3), packed, [&](auto chunk, auto pack) {
    constexpr int chunk_size = decltype(chunk)::value;
    auto launch = [&](auto group, auto one_batch, auto aligned_rows) {
      constexpr int group_size = decltype(group)::value;
      using kernel = kernels::msda_kernel<T, sampler, chunk_size, group_size, policy::locate_lead,
                                          decltype(pack)::value, decltype(one_batch)::value,
                                          decltype(aligned_rows)::value>;
      parallel_for(executor, dst.size() / (chunk_size * group_size), kernel{val, loc, attn, dst, levels},
                   row_elements_per_thread);
    };
    constexpr int group = policy::head_group;
    if constexpr (group > 1) {
      // Host lanes: the batch size of the CPU kernel (device kernels take one point at a time).
      if (heads % group == 0 && levels.count == 1 && points == detail::point_lanes<detail::accumulate_t<T>>)
        return launch(std::integral_constant<int, group>{}, std::true_type{}, std::false_type{});
      if (heads % group == 0) return launch(std::integral_constant<int, group>{}, std::false_type{}, std::false_type{});
    } else if constexpr (policy::vector_bytes == 16 && decltype(pack)::value && chunk_size % 4 == 0 &&
                         std::is_same_v<T, float>) {
      // 16-byte loads: every row chunk the kernel reads starts at data + a multiple of these strides and of 4.
      if (reinterpret_cast<std::uintptr_t>(val.data()) % 16 == 0 && val.stride(0) % 4 == 0 && val.stride(1) % 4 == 0 &&
          val.stride(2) % 4 == 0)
        return launch(std::integral_constant<int, 1>{}, std::false_type{}, std::true_type{});
    }
    launch(std::integral_constant<int, 1>{}, std::false_type{}, std::false_type{});
  });
}

namespace detail {

//! The one-call form: converts the user's tensors, reads the levels, validates, runs.
template <int Dims, class T, class Executor, class Value, class Shapes, class Starts, class Locations, class Weights,
          class Out>
void run_msda(const Executor& executor, Value&& value, Shapes&& spatial_shapes, Starts&& level_start,
              Locations&& sampling_locations, Weights&& attention_weights, Out&& out) {
  constexpr const char* op = msda_op_name<Dims>();
  const auto val = as_view<const T, 4>(value, op, "value");
  msda_arguments<T, Dims> args{val, read_levels<Dims>(op, spatial_shapes, level_start, val.extent(1)),
                               as_view<const T, 6>(sampling_locations, op, "sampling_locations"),
                               as_view<const T, 5>(attention_weights, op, "attention_weights"),
                               as_view<T, 3>(out, op, "out")};
  validate(executor, args);
  run(executor, args);
}

}  // namespace detail
}  // namespace voxformer
