//! @file How the pipelines take a frame's tensors: the user's tensor types turned into checked views — a batch of
//! one seen with or without its batch axis, a proposal as a flat mask, the image features one tensor per level —
//! and the check of their values that views alone cannot make (non-finite numbers).
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <ranges>
#include <string>
#include <type_traits>
#include <vector>

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/core/tensor_view.hpp"
#include "voxformer/core/workspace.hpp"
#include "voxformer/ops/common/first_non_finite.hpp"

namespace voxformer::detail {

//! `one(x)` when the tensor `x` has rank `Rank`, else `other(x)` — decided at compile time for tensors whose rank
//! is static, so that only the chosen call is compiled for them.
template <int Rank, class X, class One, class Other>
decltype(auto) by_rank(X& x, const One& one, const Other& other) {
  if constexpr (static_tensor<X>) {
    if constexpr (view_type_of<X>::rank == Rank) return one(x);
    else return other(x);
  } else {
    static_assert(dynamic_tensor_source<X>, "voxformer: this argument is not a tensor voxformer knows");
    if (traits_of<X>::describe(x).rank == Rank) return one(x);
    return other(x);
  }
}

//! A tensor of rank `Rank`, or of rank `Rank − 1` seen with a leading extent of 1 (a batch of one).
template <class T, int Rank, class X>
tensor_view<T, Rank> as_batched_view(X&& x, const char* op, const std::string& arg) {
  return by_rank<Rank - 1>(
      x, [&](auto& t) { return as_batch_of_one(as_view<T, Rank - 1>(t, op, arg)); },
      [&](auto& t) { return as_view<T, Rank>(t, op, arg); });
}

//! A proposal as a flat contiguous view: [X·Y·Z], or [X, Y, Z] of exactly the volume's extents (a transposed
//! grid of the same size would otherwise be read in the wrong voxel order).
template <class M, class X>
tensor_view<const M, 1> as_flat_mask(X&& x, const char* op, const std::array<index_t, 3>& volume) {
  if constexpr (static_tensor<X>)
    static_assert(view_type_of<X>::rank == 1 || view_type_of<X>::rank == 3,
                  "voxformer::pipeline::run: the proposal is [X*Y*Z] or [X, Y, Z]");
  return by_rank<3>(
      x,
      [&](auto& t) {
        const auto grid = as_view<const M, 3>(t, op, "proposal");
        expect_shape(op, "proposal", "[X, Y, Z]", grid, {volume[0], volume[1], volume[2]});
        return flat_contiguous(op, "proposal", grid);
      },
      [&](auto& t) {
        const auto flat = flat_contiguous(op, "proposal", as_view<const M, 1>(t, op, "proposal"));
        expect_shape(op, "proposal", "[X*Y*Z]", flat, {volume[0] * volume[1] * volume[2]});
        return flat;
      });
}

//! A batch of proposals as [B, X·Y·Z], each frame's voxels contiguous (the frames at any distance): given as
//! [B, X·Y·Z] or as [B, X, Y, Z] of exactly the volume's extents.
template <class M, class X>
tensor_view<const M, 2> as_flat_masks(X&& x, const char* op, const std::array<index_t, 3>& volume, index_t frames) {
  auto per_frame_flat = [&](const auto& batch) {
    require(leading_entry(batch, 0).is_contiguous(), op, ": argument 'proposal' must be contiguous within each frame ",
            "(a frame is addressed by its C-order flat index)");
    return tensor_view<const M, 2>(batch.data(), {frames, volume[0] * volume[1] * volume[2]}, {batch.stride(0), 1},
                                   batch.space());
  };
  if constexpr (static_tensor<X>)
    static_assert(view_type_of<X>::rank == 2 || view_type_of<X>::rank == 4,
                  "voxformer::pipeline::run_batch: the proposal is [B, X*Y*Z] or [B, X, Y, Z]");
  return by_rank<4>(
      x,
      [&](auto& t) {
        const auto grids = as_view<const M, 4>(t, op, "proposal");
        expect_shape(op, "proposal", "[B, X, Y, Z]", grids, {frames, volume[0], volume[1], volume[2]});
        return per_frame_flat(grids);
      },
      [&](auto& t) {
        const auto rows = as_view<const M, 2>(t, op, "proposal");
        expect_shape(op, "proposal", "[B, X*Y*Z]", rows, {frames, volume[0] * volume[1] * volume[2]});
        return per_frame_flat(rows);
      });
}

//! Calls `read(level, l)` for each feature level: `features` is one tensor (a one-level configuration) or a
//! range of them, one per level.
template <class Features, class Read>
void for_each_feature_level(Features& features, std::size_t levels, const char* op, const Read& read) {
  if constexpr (tensor_like<Features>) {
    require(levels == 1, op, ": the configuration has ", levels,
            " feature levels; pass one tensor per level (a range of tensors)");
    read(features, std::size_t{0});
  } else {
    static_assert(std::ranges::range<Features>,
                  "voxformer::pipeline: 'features' must be a tensor or a range of tensors");
    const auto given = static_cast<std::size_t>(std::ranges::distance(features));
    require(given == levels, op, ": ", given, " feature levels given, the configuration has ", levels);
    std::size_t l = 0;
    for (auto& level : features) read(level, l++);
  }
}

//! Calls `f(offset, indices)` for every element of `view`, the last axis innermost (no division per element).
template <class T, int Rank, class F>
void for_each_element(const tensor_view<T, Rank>& view, const F& f) {
  if (view.empty()) return;
  std::array<index_t, Rank> index{};
  index_t offset = 0;
  while (true) {
    for (index_t i = 0, step = view.stride(Rank - 1); i < view.extent(Rank - 1); ++i) {
      index[Rank - 1] = i;
      f(offset + i * step, index);
    }
    int d = Rank - 2;  // odometer over the outer axes
    for (; d >= 0; --d) {
      offset += view.stride(d);
      if (++index[d] < view.extent(d)) break;
      offset -= index[d] * view.stride(d);
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

}  // namespace voxformer::detail

namespace voxformer {

namespace detail {

template <class Target, class Value, std::size_t Rank>
[[noreturn]] void fail_non_finite(std::string_view op, std::string_view arg, Value value,
                                  const std::array<index_t, Rank>& index) {
  fail(op, ": argument '", arg, "' holds ", value, " at ", format_shape(index),
       std::isfinite(value) ? "; it overflows " + to_string(dtype_of<Target>()) + ", which the pipeline computes in"
                            : std::string("; every value must be finite"));
}

//! The indices of element `flat` (C order) of a tensor with these extents.
template <std::size_t Rank>
std::array<index_t, Rank> unravel(index_t flat, const std::array<index_t, Rank>& extents) {
  std::array<index_t, Rank> index{};
  for (std::size_t d = Rank; d-- > 0;) {
    index[d] = flat % extents[d];
    flat /= extents[d];
  }
  return index;
}

}  // namespace detail

//! Checks that every value of a floating tensor is finite once converted to `Target` (the type the pipeline computes
//! in): a NaN or Inf — or a float64 1e300 that becomes Inf in float32 — would spread through every stage and the
//! frame would still look normal. The host scans host memory; device memory is scanned by the executor
//! (`first_non_finite`, one index of `scratch`, one read back), and only a failure reads the value it names.
template <class Target, class Executor, class T, int Rank>
void expect_finite_values(const Executor& executor, const workspace& scratch, std::string_view op,
                          std::string_view arg, const tensor_view<T, Rank>& view) {
  using value_type = std::remove_cv_t<T>;
  if constexpr (std::is_floating_point_v<value_type>) {
    if (host_accessible(view.space())) {
      detail::for_each_element(view, [&](index_t offset, const std::array<index_t, Rank>& index) {
        const value_type value = view.data()[offset];
        if (!std::isfinite(static_cast<Target>(value))) [[unlikely]]
          detail::fail_non_finite<Target>(op, arg, value, index);
      });
      return;
    }
    const index_t first = first_non_finite<Target>(executor, view, scratch);
    if (first == view.size()) return;
    const auto index = detail::unravel(first, view.extents());
    index_t offset = 0;
    for (int d = 0; d < Rank; ++d) offset += index[static_cast<std::size_t>(d)] * view.stride(d);
    value_type value{};
    copy_to_host(executor, &value, view.data() + offset, sizeof(value));
    detail::fail_non_finite<Target>(op, arg, value, index);
  }
}

}  // namespace voxformer
