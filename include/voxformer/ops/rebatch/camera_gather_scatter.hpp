//! @file Moving per-camera data in and out of the rebatched rows through `row_of` [K, Q]: the reference
//! points gather, and the scatter-mean back onto the queries (sum over the cameras that see a query,
//! divided by max(count, 1); spec §3.8 steps 6–7).
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <vector>

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/ops/common/fill.hpp"

namespace voxformer {

namespace kernels {

template <class Source, class RowOf, class Out>
struct gather_camera_point {
  Source source;  // [K, Q, D, 2]
  RowOf row_of;   // [K, Q]
  Out out;        // [R, D, 2]
  VOXFORMER_HOST_DEVICE void operator()(index_t e) const {
    const index_t per_query = out.extent(1) * 2, queries = row_of.extent(1);
    const index_t kq = e / per_query, d = (e % per_query) / 2, axis = e % 2;
    const index_t k = kq / queries, q = kq % queries;
    const auto row = static_cast<index_t>(row_of(k, q));
    if (row >= 0) out(row, d, axis) = source(k, q, d, axis);
  }
};

//! One element = one query row (no index division per value). Cameras are summed in ascending order, as
//! the original's per-camera `slots +=` loop does.
template <class Rows, class RowOf, class Out>
struct camera_mean {
  Rows rows;     // [R, C]
  RowOf row_of;  // [K, Q]
  Out out;       // [Q, C]
  VOXFORMER_HOST_DEVICE void operator()(index_t q) const {
    using T = typename Out::value_type;
    index_t count = 0;
    for (index_t k = 0; k < row_of.extent(0); ++k) count += row_of(k, q) >= 0 ? 1 : 0;
    const T divisor = static_cast<T>(count > 0 ? count : 1);
    for (index_t c = 0; c < out.extent(1); ++c) {
      T sum = 0;
      for (index_t k = 0; k < row_of.extent(0); ++k) {
        const auto row = static_cast<index_t>(row_of(k, q));
        if (row >= 0) sum += rows(row, c);
      }
      out(q, c) = sum / divisor;
    }
  }
};

}  // namespace kernels

namespace detail {
//! `row_of` as `build_camera_batches` makes it: each entry −1 or a row < `rows`, and no row named twice (two
//! (camera, query) pairs would share one rebatched row: the gather's writes race, the mean counts a row twice).
//! Checked where the host can read it; device maps are trusted.
template <class I>
void check_row_of(const char* op, const tensor_view<const I, 2>& row_of, index_t rows) {
  static_assert(std::signed_integral<I>, "voxformer: row_of must hold signed integers");
  if (!host_accessible(row_of.space())) return;
  std::vector<index_t> named;  // sorted below: sized by the map, not by `rows` (which a broadcast input can make huge)
  named.reserve(static_cast<std::size_t>(row_of.size()));
  for (index_t e = 0; e < row_of.size(); ++e) {
    const auto row = static_cast<index_t>(row_of.at_flat(e));
    if (row == -1) continue;
    require(row >= 0 && row < rows, op, ": argument 'row_of' names row ", row, ", but there are only ", rows,
            " rows (−1 marks a query the camera does not see)");
    named.push_back(row);
  }
  std::sort(named.begin(), named.end());
  const auto twice = std::adjacent_find(named.begin(), named.end());
  require(twice == named.end(), op, ": argument 'row_of' names row ", twice == named.end() ? 0 : *twice,
          " twice (each rebatched row belongs to one camera and query)");
}
}  // namespace detail

//! out [R, D, 2] = each rebatched row's reference point taken from `reference_cam` [K, Q, D, 2]; rows
//! that no (camera, query) maps to — the padding of the padded layout — are 0, as in the original.
template <class Executor, class ReferenceCam, class RowOf, class Out>
void gather_camera_points(const Executor& executor, ReferenceCam&& reference_cam, RowOf&& row_of, Out&& out) {
  constexpr const char* op = "voxformer::gather_camera_points";
  using I = resolve_element_t<deduce, RowOf, std::int32_t>;
  const auto src = as_view<const float, 4>(reference_cam, op, "reference_cam");
  const auto rows = as_view<const I, 2>(row_of, op, "row_of");
  const auto dst = as_view<float, 3>(out, op, "out");
  expect_shape(op, "row_of", "[K, Q]", rows, {src.extent(0), src.extent(1)});
  expect_shape(op, "out", "[R, D, 2]", dst, {any_extent, src.extent(2), 2});
  expect_accessible(op, "reference_cam", executor, src);
  expect_accessible(op, "row_of", executor, rows);
  expect_accessible(op, "out", executor, dst);
  expect_no_aliasing(op, {detail::memory_of("out", dst)}, {detail::memory_of("reference_cam", src), detail::memory_of("row_of", rows)});
  detail::check_row_of(op, rows, dst.extent(0));
  fill(executor, dst, 0.f);
  parallel_for(executor, rows.size() * src.extent(2) * 2,
               kernels::gather_camera_point<decltype(src), decltype(rows), decltype(dst)>{src, rows, dst});
}

//! out [Q, C] = mean over the cameras that see query q of rows [R, C] (row `row_of[k, q]`); a query no
//! camera sees gets 0 (count clamped to 1). Works for CSR and padded rows alike.
template <class Element = deduce, class Executor, class Rows, class RowOf, class Out>
void camera_scatter_mean(const Executor& executor, Rows&& rows, RowOf&& row_of, Out&& out) {
  constexpr const char* op = "voxformer::camera_scatter_mean";
  using T = resolve_element_t<Element, Rows, float>;
  using I = resolve_element_t<deduce, RowOf, std::int32_t>;
  const auto src = as_view<const T, 2>(rows, op, "rows");
  const auto map = as_view<const I, 2>(row_of, op, "row_of");
  const auto dst = as_view<T, 2>(out, op, "out");
  expect_shape(op, "out", "[Q, C]", dst, {map.extent(1), src.extent(1)});
  expect_accessible(op, "rows", executor, src);
  expect_accessible(op, "row_of", executor, map);
  expect_accessible(op, "out", executor, dst);
  expect_no_aliasing(op, {detail::memory_of("out", dst)}, {detail::memory_of("rows", src), detail::memory_of("row_of", map)});
  detail::check_row_of(op, map, src.extent(0));
  parallel_for(executor, dst.extent(0), kernels::camera_mean<decltype(src), decltype(map), decltype(dst)>{src, map, dst});
}

}  // namespace voxformer
