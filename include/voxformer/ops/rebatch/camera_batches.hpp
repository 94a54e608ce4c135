//! @file Camera-visibility query rebatching (spec §3.8): each camera gets the ascending list of the queries
//! it sees (any anchor visible), as ragged CSR (offsets + indices, no padding) or as the original's padded
//! [K, max_len] layout. Both also produce `row_of` [K, Q]: the row of (camera, query) in the rebatched
//! tensors, or −1 — the one map that the point gather and the scatter-mean back read.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/core/workspace.hpp"
#include "voxformer/ops/common/compaction.hpp"
#include "voxformer/ops/common/fill.hpp"

namespace voxformer {

struct camera_batch_sizes {
  index_t total = 0;    //!< Σ per-camera lengths: rows of the CSR layout
  index_t max_len = 0;  //!< longest camera list: the padded layout has K × max_len rows
};

namespace kernels {

//! Whether camera k sees query q through any of its D anchors.
template <class Visible>
struct seen_by_camera {
  Visible visible;  // [K, Q, D]
  index_t camera;
  VOXFORMER_HOST_DEVICE bool operator()(index_t q) const {
    bool seen = false;
    for (index_t d = 0; d < visible.extent(2); ++d) seen |= visible(camera, q, d) != 0;
    return seen;
  }
};

//! Query q is entry `rank` of camera k's list, at rebatched row `first_row + rank`, which is also where the
//! flat list stores it (CSR: the indices; padded: the [K, L] table, whose row k starts at k·L).
template <class List, class RowOf>
struct place_in_camera_batch {
  List list;     // [rows]
  RowOf row_of;  // [K, Q]
  index_t camera, first_row;
  VOXFORMER_HOST_DEVICE void operator()(index_t q, index_t rank) const {
    using I = typename RowOf::value_type;
    list(first_row + rank) = static_cast<I>(q);
    row_of(camera, q) = static_cast<I>(first_row + rank);
  }
};

}  // namespace kernels

//! Ragged CSR rebatching: camera k's queries are `indices[offsets[k] .. offsets[k+1])`, ascending;
//! `row_of` [K, Q] = offsets[k] + position, or −1.
template <class I>
struct camera_batch_arguments {
  tensor_view<const std::uint8_t, 3> visible;  //!< [K, Q, D]
  tensor_view<I, 1> offsets;                   //!< [K + 1]
  tensor_view<I, 1> indices;                   //!< [≥ total]
  tensor_view<I, 2> row_of;                    //!< [K, Q]
};

//! Padded rebatching (the original's layout): `indices` [K, L] holds camera k's ascending queries in
//! columns [0, lengths[k]) and −1 after; `row_of` [K, Q] = k·L + position, or −1.
template <class I>
struct padded_camera_batch_arguments {
  tensor_view<const std::uint8_t, 3> visible;  //!< [K, Q, D]
  tensor_view<I, 2> indices;                   //!< [K, L ≥ max_len]
  tensor_view<I, 1> lengths;                   //!< [K]
  tensor_view<I, 2> row_of;                    //!< [K, Q]
};

namespace detail {

template <class I>
void check_index_range(const char* op, index_t largest) {
  static_assert(std::signed_integral<I>, "voxformer: rebatch indices must be signed integers");
  require(largest <= static_cast<index_t>(std::numeric_limits<I>::max()), op, ": the index type cannot hold ",
          largest);
}

//! lengths[k] = the number of queries camera k sees (a count-only compaction per camera).
template <class Executor>
void count_camera_batches(const Executor& executor, const tensor_view<const std::uint8_t, 3>& visible,
                          index_t* lengths, workspace scratch) {
  for (index_t k = 0; k < visible.extent(0); ++k)
    lengths[k] = count_flagged(executor, visible.extent(1), kernels::seen_by_camera<decltype(visible)>{visible, k},
                               scratch);
}

//! Fills `row_of` with −1, then emits every camera's list, camera k's from row `first_row(k)`.
template <class Executor, class I, class List, class FirstRow>
void emit_camera_batches(const Executor& executor, const tensor_view<const std::uint8_t, 3>& visible,
                         const index_t* lengths, const List& list, const tensor_view<I, 2>& row_of,
                         const FirstRow& first_row, workspace scratch) {
  fill(executor, row_of, I(-1));
  for (index_t k = 0; k < visible.extent(0); ++k)
    emit_flagged(executor, visible.extent(1), kernels::seen_by_camera<decltype(visible)>{visible, k},
                 kernels::place_in_camera_batch<List, tensor_view<I, 2>>{list, row_of, k, first_row(k)}, lengths[k],
                 scratch);
}

//! Scratch of the two helpers above: the lengths, then the counted compactions.
template <class Executor>
std::size_t camera_batch_scratch_bytes(const Executor& executor, const tensor_view<const std::uint8_t, 3>& visible) {
  return workspace::round_up(static_cast<std::size_t>(visible.extent(0)) * sizeof(index_t)) +
         counted_compaction_bytes(executor, visible.extent(1));
}

}  // namespace detail

template <class Executor, class I>
void validate(const Executor& executor, const camera_batch_arguments<I>& args) {
  constexpr const char* op = "voxformer::build_camera_batches";
  const index_t cameras = args.visible.extent(0), queries = args.visible.extent(1);
  expect_shape(op, "offsets", "[K+1]", args.offsets, {cameras + 1});
  expect_shape(op, "row_of", "[K, Q]", args.row_of, {cameras, queries});
  detail::check_index_range<I>(op, cameras * queries);
  for (const auto space : {args.offsets.space(), args.indices.space(), args.row_of.space(), args.visible.space()})
    detail::require(executor.can_access(space), op, ": every argument must be host-accessible");
  expect_no_aliasing(op,
                     {detail::memory_of("offsets", args.offsets), detail::memory_of("indices", args.indices), detail::memory_of("row_of", args.row_of)},
                     {detail::memory_of("visible", args.visible)});
}

template <class Executor, class I>
std::size_t workspace_bytes(const Executor& executor, const camera_batch_arguments<I>& args) {
  return detail::camera_batch_scratch_bytes(executor, args.visible);
}

//! Counts every camera's list, then — only if `indices` has room for them all — writes them.
template <class Executor, class I>
void run(const Executor& executor, const camera_batch_arguments<I>& args, workspace scratch) {
  constexpr const char* op = "voxformer::build_camera_batches";
  const index_t cameras = args.visible.extent(0);
  index_t* lengths = scratch.take<index_t>(cameras);
  detail::count_camera_batches(executor, args.visible, lengths, scratch);
  index_t total = 0;
  for (index_t k = 0; k < cameras; ++k) total += lengths[k];
  detail::require(total <= args.indices.extent(0), op, ": argument 'indices' [total] has room for ",
                  args.indices.extent(0), " entries, but the cameras see ", total);
  // The offsets fit I: their largest, the total, is at most K·Q, which validate() checked against I's range.
  exclusive_scan(executor, tensor_view<const index_t, 1>(lengths, {cameras}, scratch.space()), args.offsets);
  detail::emit_camera_batches(executor, args.visible, lengths, args.indices, args.row_of,
                              [&](index_t k) { return static_cast<index_t>(args.offsets(k)); }, scratch);
}

template <class Executor, class I>
void validate(const Executor& executor, const padded_camera_batch_arguments<I>& args) {
  constexpr const char* op = "voxformer::build_padded_camera_batches";
  const index_t cameras = args.visible.extent(0), queries = args.visible.extent(1), width = args.indices.extent(1);
  expect_shape(op, "indices", "[K, max_len]", args.indices, {cameras, any_extent});
  expect_shape(op, "lengths", "[K]", args.lengths, {cameras});
  expect_shape(op, "row_of", "[K, Q]", args.row_of, {cameras, queries});
  detail::check_index_range<I>(op, std::max(cameras * width, queries));
  for (const auto space : {args.lengths.space(), args.indices.space(), args.row_of.space(), args.visible.space()})
    detail::require(executor.can_access(space), op, ": every argument must be host-accessible");
  expect_no_aliasing(op,
                     {detail::memory_of("indices", args.indices), detail::memory_of("lengths", args.lengths), detail::memory_of("row_of", args.row_of)},
                     {detail::memory_of("visible", args.visible)});
}

template <class Executor, class I>
std::size_t workspace_bytes(const Executor& executor, const padded_camera_batch_arguments<I>& args) {
  return detail::camera_batch_scratch_bytes(executor, args.visible);
}

//! Counts every camera's list, then — only if every list fits the L columns — writes them.
template <class Executor, class I>
void run(const Executor& executor, const padded_camera_batch_arguments<I>& args, workspace scratch) {
  constexpr const char* op = "voxformer::build_padded_camera_batches";
  const index_t cameras = args.visible.extent(0), width = args.indices.extent(1);
  const tensor_view<I, 1> flat_indices = flat_contiguous(op, "indices", args.indices);
  index_t* lengths = scratch.take<index_t>(cameras);
  detail::count_camera_batches(executor, args.visible, lengths, scratch);
  for (index_t k = 0; k < cameras; ++k)
    detail::require(lengths[k] <= width, op, ": argument 'indices' [K, max_len] has ", width, " columns, but camera ",
                    k, " sees ", lengths[k], " queries");
  for (index_t k = 0; k < cameras; ++k) args.lengths(k) = static_cast<I>(lengths[k]);
  fill(executor, args.indices, I(-1));
  detail::emit_camera_batches(executor, args.visible, lengths, flat_indices, args.row_of,
                              [&](index_t k) { return k * width; }, scratch);
}

namespace detail {

template <class Args, class Executor>
void run_with_scratch(const Executor& executor, const Args& args) {
  validate(executor, args);
  std::vector<std::byte> scratch(workspace_bytes(executor, args) + workspace::alignment);
  run(executor, args, workspace::aligned(scratch.data(), scratch.size()));
}

}  // namespace detail

//! Sizes of both layouts for `visible` [K, Q, D], without writing anything.
template <class Executor, class Visible>
camera_batch_sizes camera_batch_sizes_of(const Executor& executor, Visible&& visible) {
  constexpr const char* op = "voxformer::camera_batch_sizes_of";
  const auto vis = as_view<const std::uint8_t, 3>(visible, op, "visible");
  expect_accessible(op, "visible", executor, vis);
  std::vector<index_t> lengths(static_cast<std::size_t>(vis.extent(0)));
  std::vector<std::byte> scratch(detail::camera_batch_scratch_bytes(executor, vis) + workspace::alignment);
  detail::count_camera_batches(executor, vis, lengths.data(), workspace::aligned(scratch.data(), scratch.size()));
  camera_batch_sizes sizes;
  for (const index_t length : lengths) sizes.total += length, sizes.max_len = std::max(sizes.max_len, length);
  return sizes;
}

//! Ragged CSR rebatching of `visible` [K, Q, D] (see `camera_batch_arguments`). `indices` needs room for
//! `total` entries, checked before anything is written. A camera that sees nothing gets an empty range.
template <class Index = deduce, class Executor, class Visible, class Offsets, class Indices, class RowOf>
camera_batch_sizes build_camera_batches(const Executor& executor, Visible&& visible, Offsets&& offsets,
                                        Indices&& indices, RowOf&& row_of) {
  constexpr const char* op = "voxformer::build_camera_batches";
  using I = resolve_element_t<Index, Indices, std::int32_t>;
  const camera_batch_arguments<I> args{as_view<const std::uint8_t, 3>(visible, op, "visible"),
                                       as_view<I, 1>(offsets, op, "offsets"), as_view<I, 1>(indices, op, "indices"),
                                       as_view<I, 2>(row_of, op, "row_of")};
  detail::run_with_scratch(executor, args);
  camera_batch_sizes sizes{static_cast<index_t>(args.offsets(args.visible.extent(0))), 0};
  for (index_t k = 0; k < args.visible.extent(0); ++k)
    sizes.max_len = std::max(sizes.max_len, static_cast<index_t>(args.offsets(k + 1) - args.offsets(k)));
  return sizes;
}

//! Padded rebatching of `visible` [K, Q, D] (see `padded_camera_batch_arguments`); L must be ≥ max_len
//! (checked before anything is written).
template <class Index = deduce, class Executor, class Visible, class Indices, class Lengths, class RowOf>
camera_batch_sizes build_padded_camera_batches(const Executor& executor, Visible&& visible, Indices&& indices,
                                               Lengths&& lengths, RowOf&& row_of) {
  constexpr const char* op = "voxformer::build_padded_camera_batches";
  using I = resolve_element_t<Index, Indices, std::int32_t>;
  const padded_camera_batch_arguments<I> args{as_view<const std::uint8_t, 3>(visible, op, "visible"),
                                              as_view<I, 2>(indices, op, "indices"),
                                              as_view<I, 1>(lengths, op, "lengths"), as_view<I, 2>(row_of, op, "row_of")};
  detail::run_with_scratch(executor, args);
  camera_batch_sizes sizes;
  for (index_t k = 0; k < args.visible.extent(0); ++k) {
    sizes.total += static_cast<index_t>(args.lengths(k));
    sizes.max_len = std::max(sizes.max_len, static_cast<index_t>(args.lengths(k)));
  }
  return sizes;
}

}  // namespace voxformer
