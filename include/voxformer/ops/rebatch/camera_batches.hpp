//! @file Camera-visibility query rebatching (spec §3.8): each camera gets the ascending list of the queries
//! it sees (any anchor visible), as ragged CSR (offsets + indices, no padding) or as the original's padded
//! [K, max_len] layout. Both also produce `row_of` [K, Q]: the row of (camera, query) in the rebatched
//! tensors, or −1 — the one map that the point gather and the scatter-mean back read.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <limits>

#include "voxformer/backend/cpu/compact.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

struct camera_batch_sizes {
  index_t total = 0;    //!< Σ per-camera lengths: rows of the CSR layout
  index_t max_len = 0;  //!< longest camera list: the padded layout has K × max_len rows
};

namespace detail {

template <class Visible>
bool any_anchor_visible(const Visible& visible, index_t k, index_t q) {
  for (index_t d = 0; d < visible.extent(2); ++d)
    if (visible(k, q, d) != 0) return true;
  return false;
}

//! Per camera: compacts the visible queries; `row_base(k, length)` gives the first row of camera k (and may
//! check capacity); `emit(k, q, row)` stores one entry. Fills `row_of` completely.
template <class Visible, class RowOf, class RowBase, class Emit>
camera_batch_sizes for_each_camera_batch(const cpu_executor& executor, const Visible& visible, const RowOf& row_of,
                                         const RowBase& row_base, const Emit& emit) {
  using I = typename RowOf::value_type;
  parallel_for(executor, row_of.size(), [&](index_t e) { row_of(e / row_of.extent(1), e % row_of.extent(1)) = I(-1); });
  camera_batch_sizes sizes;
  for (index_t k = 0; k < visible.extent(0); ++k) {
    index_t base = 0;
    const index_t length = compact(
        executor, visible.extent(1), [&](index_t q) { return any_anchor_visible(visible, k, q); },
        [&](index_t q, index_t rank) {
          row_of(k, q) = static_cast<I>(base + rank);
          emit(k, q, base + rank);
        },
        [&](index_t count) { base = row_base(k, count); });
    sizes.total += length;
    sizes.max_len = std::max(sizes.max_len, length);
  }
  return sizes;
}

template <class I>
void check_index_range(const char* op, index_t largest) {
  static_assert(std::signed_integral<I>, "voxformer: rebatch indices must be signed integers");
  require(largest <= static_cast<index_t>(std::numeric_limits<I>::max()), op, ": the index type cannot hold ",
          largest);
}

}  // namespace detail

//! Sizes of both layouts for `visible` [K, Q, D], without writing anything.
template <class Visible>
camera_batch_sizes camera_batch_sizes_of(const cpu_executor& executor, Visible&& visible) {
  constexpr const char* op = "voxformer::camera_batch_sizes_of";
  const auto vis = as_view<const std::uint8_t, 3>(visible, op, "visible");
  expect_accessible(op, "visible", executor, vis);
  camera_batch_sizes sizes;
  for (index_t k = 0; k < vis.extent(0); ++k) {
    const index_t length = compact(
        executor, vis.extent(1), [&](index_t q) { return detail::any_anchor_visible(vis, k, q); },
        [](index_t, index_t) {}, [](index_t) {});
    sizes.total += length;
    sizes.max_len = std::max(sizes.max_len, length);
  }
  return sizes;
}

//! Ragged CSR rebatching of `visible` [K, Q, D]: camera k's queries are `indices[offsets[k] .. offsets[k+1])`,
//! ascending; `row_of` [K, Q] = offsets[k] + position, or −1. `indices` needs room for `total` entries
//! (checked before writing). A camera that sees nothing gets an empty range.
template <class Index = deduce, class Visible, class Offsets, class Indices, class RowOf>
camera_batch_sizes build_camera_batches(const cpu_executor& executor, Visible&& visible, Offsets&& offsets,
                                        Indices&& indices, RowOf&& row_of) {
  constexpr const char* op = "voxformer::build_camera_batches";
  using I = resolve_element_t<Index, Indices, std::int32_t>;
  const auto vis = as_view<const std::uint8_t, 3>(visible, op, "visible");
  const auto off = as_view<I, 1>(offsets, op, "offsets");
  const auto idx = as_view<I, 1>(indices, op, "indices");
  const auto rows = as_view<I, 2>(row_of, op, "row_of");
  const index_t cameras = vis.extent(0), queries = vis.extent(1);
  expect_shape(op, "offsets", "[K+1]", off, {cameras + 1});
  expect_shape(op, "row_of", "[K, Q]", rows, {cameras, queries});
  detail::check_index_range<I>(op, cameras * queries);
  for (const auto space : {off.space(), idx.space(), rows.space(), vis.space()})
    detail::require(executor.can_access(space), op, ": every argument must be host-accessible");
  off(0) = 0;
  const auto sizes = detail::for_each_camera_batch(
      executor, vis, rows,
      [&](index_t k, index_t length) {
        const index_t base = off(k);
        detail::require(base + length <= idx.extent(0), op, ": argument 'indices' [total] has room for ",
                        idx.extent(0), " entries, but camera ", k, " already needs ", base + length);
        off(k + 1) = static_cast<I>(base + length);
        return base;
      },
      [&](index_t, index_t q, index_t row) { idx(row) = static_cast<I>(q); });
  return sizes;
}

//! Padded rebatching (the original's layout): `indices` [K, L] holds camera k's ascending queries in
//! columns [0, lengths[k]) and −1 after; L must be ≥ max_len (checked). `row_of` [K, Q] = k·L + position.
template <class Index = deduce, class Visible, class Indices, class Lengths, class RowOf>
camera_batch_sizes build_padded_camera_batches(const cpu_executor& executor, Visible&& visible, Indices&& indices,
                                               Lengths&& lengths, RowOf&& row_of) {
  constexpr const char* op = "voxformer::build_padded_camera_batches";
  using I = resolve_element_t<Index, Indices, std::int32_t>;
  const auto vis = as_view<const std::uint8_t, 3>(visible, op, "visible");
  const auto idx = as_view<I, 2>(indices, op, "indices");
  const auto len = as_view<I, 1>(lengths, op, "lengths");
  const auto rows = as_view<I, 2>(row_of, op, "row_of");
  const index_t cameras = vis.extent(0), queries = vis.extent(1), width = idx.extent(1);
  expect_shape(op, "indices", "[K, max_len]", idx, {cameras, any_extent});
  expect_shape(op, "lengths", "[K]", len, {cameras});
  expect_shape(op, "row_of", "[K, Q]", rows, {cameras, queries});
  detail::check_index_range<I>(op, std::max(cameras * width, queries));
  for (const auto space : {len.space(), idx.space(), rows.space(), vis.space()})
    detail::require(executor.can_access(space), op, ": every argument must be host-accessible");
  parallel_for(executor, idx.size(), [&](index_t e) { idx(e / width, e % width) = I(-1); });
  return detail::for_each_camera_batch(
      executor, vis, rows,
      [&](index_t k, index_t length) {
        detail::require(length <= width, op, ": argument 'indices' [K, max_len] has ", width,
                        " columns, but camera ", k, " sees ", length, " queries");
        len(k) = static_cast<I>(length);
        return k * width;
      },
      [&](index_t k, index_t q, index_t row) { idx(k, row - k * width) = static_cast<I>(q); });
}

}  // namespace voxformer
