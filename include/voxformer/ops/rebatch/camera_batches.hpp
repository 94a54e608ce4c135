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

#include "voxformer/core/algorithms.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/core/workspace.hpp"

namespace voxformer {

struct camera_batch_sizes {
  index_t total = 0;    //!< Σ per-camera lengths: rows of the CSR layout
  index_t max_len = 0;  //!< longest camera list: the padded layout has K × max_len rows
};

namespace kernels {

//! Whether pair i = k·Q + q of the flattened [K, Q] visibility is seen: camera k sees query q through any of its
//! D anchors (1 or 0, a scan's input). Contiguous visibility — the pipeline's — is read flat: no division per pair.
template <class Visible>
struct seen_pair {
  Visible visible;  // [K, Q, D]
  bool contiguous;
  VOXFORMER_HOST_DEVICE index_t operator()(index_t i) const {
    const index_t anchors = visible.extent(2);
    bool seen = false;
    if (contiguous) {
      for (index_t d = 0; d < anchors; ++d) seen |= visible.data()[i * anchors + d] != 0;
    } else {
      const index_t queries = visible.extent(1), camera = i / queries, q = i - camera * queries;
      for (index_t d = 0; d < anchors; ++d) seen |= visible(camera, q, d) != 0;
    }
    return seen ? 1 : 0;
  }
};

//! The pairs' ranks (the exclusive scan of `seen_pair`, K·Q + 1 entries) read per camera: camera k's visible
//! queries have ranks [first(k), first(k + 1)).
struct camera_ranks {
  const index_t* ranks;
  index_t cameras, queries;
  VOXFORMER_HOST_DEVICE index_t first(index_t camera) const { return ranks[camera * queries]; }
  VOXFORMER_HOST_DEVICE index_t length(index_t camera) const { return first(camera + 1) - first(camera); }
  VOXFORMER_HOST_DEVICE index_t total() const { return first(cameras); }
  VOXFORMER_HOST_DEVICE bool seen(index_t pair) const { return ranks[pair + 1] != ranks[pair]; }
  //! Whether every camera's list fits `width` columns.
  VOXFORMER_HOST_DEVICE bool each_fits(index_t width) const {
    bool fits = true;
    for (index_t k = 0; k < cameras; ++k) fits &= length(k) <= width;
    return fits;
  }
};

//! Padded: whether every list fits, decided once (one element) for the kernels after it to read.
struct check_padded_width {
  camera_ranks ranks;
  index_t width;
  std::uint8_t* fits;
  VOXFORMER_HOST_DEVICE void operator()(index_t) const { *fits = ranks.each_fits(width) ? 1 : 0; }
};

//! CSR, per query q, for each camera k: a seen query goes to `indices[rank]`, which is also its row; `row_of` is
//! that row or −1. Nothing is written unless all of them fit `indices` (the count is read here, not on the host).
template <class I>
struct place_csr_query {
  camera_ranks ranks;
  tensor_view<I, 1> indices;
  tensor_view<I, 2> row_of;  // [K, Q]
  VOXFORMER_HOST_DEVICE void operator()(index_t q) const {
    if (ranks.total() > indices.extent(0)) return;
    for (index_t camera = 0; camera < ranks.cameras; ++camera) {
      const index_t pair = camera * ranks.queries + q;
      const bool seen = ranks.seen(pair);
      if (seen) indices(ranks.ranks[pair]) = static_cast<I>(q);
      row_of(camera, q) = seen ? static_cast<I>(ranks.ranks[pair]) : I(-1);
    }
  }
};

//! CSR offsets, per camera and one more: offsets[k] = the rank of camera k's first pair.
template <class I>
struct csr_offsets {
  camera_ranks ranks;
  tensor_view<I, 1> offsets;  // [K + 1]
  index_t capacity;
  VOXFORMER_HOST_DEVICE void operator()(index_t k) const {
    if (ranks.total() <= capacity) offsets(k) = static_cast<I>(ranks.first(k));
  }
};

//! Padded [K, L], per query q, for each camera k: a seen query goes to column `rank − first(k)` of row k, at
//! rebatched row k·L + column; `row_of` is that row or −1. Nothing is written unless every list fits the L columns.
template <class I>
struct place_padded_query {
  camera_ranks ranks;
  const std::uint8_t* fits;
  tensor_view<I, 2> indices;  // [K, L]
  tensor_view<I, 2> row_of;   // [K, Q]
  VOXFORMER_HOST_DEVICE void operator()(index_t q) const {
    const index_t width = indices.extent(1);
    if (*fits == 0) return;
    for (index_t camera = 0; camera < ranks.cameras; ++camera) {
      const index_t pair = camera * ranks.queries + q, column = ranks.ranks[pair] - ranks.first(camera);
      const bool seen = ranks.seen(pair);
      if (seen) indices(camera, column) = static_cast<I>(q);
      row_of(camera, q) = seen ? static_cast<I>(camera * width + column) : I(-1);
    }
  }
};

//! Padded, per column j of [K, L], for each camera: −1 past the camera's list.
template <class I>
struct pad_camera_lists {
  camera_ranks ranks;
  const std::uint8_t* fits;
  tensor_view<I, 2> indices;  // [K, L]
  VOXFORMER_HOST_DEVICE void operator()(index_t column) const {
    if (*fits == 0) return;
    for (index_t camera = 0; camera < ranks.cameras; ++camera)
      if (column >= ranks.length(camera)) indices(camera, column) = I(-1);
  }
};

//! Padded, per camera: the length of its list.
template <class I>
struct camera_list_length {
  camera_ranks ranks;
  const std::uint8_t* fits;
  tensor_view<I, 1> lengths;  // [K]
  VOXFORMER_HOST_DEVICE void operator()(index_t camera) const {
    if (*fits != 0) lengths(camera) = static_cast<I>(ranks.length(camera));
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

//! Scratch of either layout: the K·Q + 1 ranks of `rank_camera_pairs`, then the scan's own — where, once the scan is
//! done, the padded layout keeps its one flag.
template <class Executor>
std::size_t camera_batch_scratch_bytes(const Executor& executor, const tensor_view<const std::uint8_t, 3>& visible) {
  const index_t pairs = visible.extent(0) * visible.extent(1);
  return workspace::round_up(static_cast<std::size_t>(pairs + 1) * sizeof(index_t)) +
         std::max(exclusive_scan_workspace_bytes<index_t>(executor, pairs), workspace::alignment);
}

//! One pass over the (camera, query) pairs and one scan: every pair's rank among the seen ones, in the executor's
//! memory. The lists, their offsets and lengths are all read off these ranks by the kernels above.
template <class Executor>
kernels::camera_ranks rank_camera_pairs(const Executor& executor, const tensor_view<const std::uint8_t, 3>& visible,
                                        workspace& scratch) {
  const index_t cameras = visible.extent(0), queries = visible.extent(1), pairs = cameras * queries;
  const tensor_view<index_t, 1> ranks(scratch.take<index_t>(pairs + 1), {pairs + 1}, scratch.space());
  exclusive_scan(executor, pairs, kernels::seen_pair<tensor_view<const std::uint8_t, 3>>{visible, visible.is_contiguous()},
                 ranks, scratch);
  return {ranks.data(), cameras, queries};
}

}  // namespace detail

template <class Executor, class I>
void validate(const Executor& executor, const camera_batch_arguments<I>& args) {
  constexpr const char* op = "voxformer::build_camera_batches";
  const index_t cameras = args.visible.extent(0), queries = args.visible.extent(1);
  expect_shape(op, "offsets", "[K+1]", args.offsets, {cameras + 1});
  expect_shape(op, "row_of", "[K, Q]", args.row_of, {cameras, queries});
  detail::check_index_range<I>(op, cameras * queries);
  expect_accessible(op, "visible", executor, args.visible);
  expect_accessible(op, "offsets", executor, args.offsets);
  expect_accessible(op, "indices", executor, args.indices);
  expect_accessible(op, "row_of", executor, args.row_of);
  expect_no_aliasing(op,
                     {detail::memory_of("offsets", args.offsets), detail::memory_of("indices", args.indices), detail::memory_of("row_of", args.row_of)},
                     {detail::memory_of("visible", args.visible)});
}

template <class Executor, class I>
std::size_t workspace_bytes(const Executor& executor, const camera_batch_arguments<I>& args) {
  return detail::camera_batch_scratch_bytes(executor, args.visible);
}

//! Ranks every (camera, query) pair, then — only if `indices` has room for them all — writes the lists. On the host
//! a shortfall is also an error here; on a device the kernels, reading the count themselves, write nothing.
template <class Executor, class I>
void run(const Executor& executor, const camera_batch_arguments<I>& args, workspace scratch) {
  constexpr const char* op = "voxformer::build_camera_batches";
  const auto ranks = detail::rank_camera_pairs(executor, args.visible, scratch);
  if (computes_on_host(executor))
    detail::require(ranks.total() <= args.indices.extent(0), op, ": argument 'indices' [total] has room for ",
                    args.indices.extent(0), " entries, but the cameras see ", ranks.total());
  // The offsets fit I: their largest, the total, is at most K·Q, which validate() checked against I's range.
  parallel_for(executor, ranks.queries, kernels::place_csr_query<I>{ranks, args.indices, args.row_of});
  parallel_for(executor, ranks.cameras + 1, kernels::csr_offsets<I>{ranks, args.offsets, args.indices.extent(0)}, 1);
}

template <class Executor, class I>
void validate(const Executor& executor, const padded_camera_batch_arguments<I>& args) {
  constexpr const char* op = "voxformer::build_padded_camera_batches";
  const index_t cameras = args.visible.extent(0), queries = args.visible.extent(1), width = args.indices.extent(1);
  expect_shape(op, "indices", "[K, max_len]", args.indices, {cameras, any_extent});
  expect_shape(op, "lengths", "[K]", args.lengths, {cameras});
  expect_shape(op, "row_of", "[K, Q]", args.row_of, {cameras, queries});
  detail::check_index_range<I>(op, std::max(cameras * width, queries));
  expect_accessible(op, "visible", executor, args.visible);
  expect_accessible(op, "indices", executor, args.indices);
  expect_accessible(op, "lengths", executor, args.lengths);
  expect_accessible(op, "row_of", executor, args.row_of);
  expect_no_aliasing(op,
                     {detail::memory_of("indices", args.indices), detail::memory_of("lengths", args.lengths), detail::memory_of("row_of", args.row_of)},
                     {detail::memory_of("visible", args.visible)});
}

template <class Executor, class I>
std::size_t workspace_bytes(const Executor& executor, const padded_camera_batch_arguments<I>& args) {
  return detail::camera_batch_scratch_bytes(executor, args.visible);
}

//! Ranks every (camera, query) pair, then — only if every list fits the L columns — writes them (on the host a
//! shortfall is also an error, as for the CSR layout).
template <class Executor, class I>
void run(const Executor& executor, const padded_camera_batch_arguments<I>& args, workspace scratch) {
  constexpr const char* op = "voxformer::build_padded_camera_batches";
  const index_t width = args.indices.extent(1);
  const auto ranks = detail::rank_camera_pairs(executor, args.visible, scratch);
  if (computes_on_host(executor))
    for (index_t k = 0; k < ranks.cameras; ++k)
      detail::require(ranks.length(k) <= width, op, ": argument 'indices' [K, max_len] has ", width,
                      " columns, but camera ", k, " sees ", ranks.length(k), " queries");
  std::uint8_t* fits = scratch.take<std::uint8_t>(1);  // after the ranks, where the finished scan kept its sums
  parallel_for(executor, 1, kernels::check_padded_width{ranks, width, fits}, 1);
  parallel_for(executor, ranks.queries, kernels::place_padded_query<I>{ranks, fits, args.indices, args.row_of});
  parallel_for(executor, width, kernels::pad_camera_lists<I>{ranks, fits, args.indices});
  parallel_for(executor, ranks.cameras, kernels::camera_list_length<I>{ranks, fits, args.lengths}, 1);
}

namespace detail {

template <class Args, class Executor>
void run_with_scratch(const Executor& executor, const Args& args) {
  validate(executor, args);
  std::vector<std::byte> scratch(workspace_bytes(executor, args) + workspace::alignment);
  run(executor, args, workspace::aligned(scratch.data(), scratch.size()));
}

}  // namespace detail

//! Sizes of both layouts for `visible` [K, Q, D] (host memory), without writing anything.
template <class Executor, class Visible>
camera_batch_sizes camera_batch_sizes_of(const Executor& executor, Visible&& visible) {
  constexpr const char* op = "voxformer::camera_batch_sizes_of";
  const auto vis = as_view<const std::uint8_t, 3>(visible, op, "visible");
  expect_accessible(op, "visible", executor, vis);
  std::vector<std::byte> memory(detail::camera_batch_scratch_bytes(executor, vis) + workspace::alignment);
  workspace scratch = workspace::aligned(memory.data(), memory.size());
  const auto ranks = detail::rank_camera_pairs(executor, vis, scratch);
  camera_batch_sizes sizes{ranks.total(), 0};
  for (index_t k = 0; k < ranks.cameras; ++k) sizes.max_len = std::max(sizes.max_len, ranks.length(k));
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
