//! @file Row gather: out[r] = source[indices[r]], or zeros where the index is negative (padding).
//! The inverse of the mask-token scatter, and the query gather of camera rebatching.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "voxformer/core/executor_hints.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

namespace kernels {

template <class Source, class Indices, class Out>
struct gather_row {
  Source source;    // [N, C]
  Indices indices;  // [R]
  Out out;          // [R, C]
  VOXFORMER_HOST_DEVICE void operator()(index_t r) const {  // one element = one row
    const auto k = static_cast<index_t>(indices(r));
    for (index_t c = 0; c < out.extent(1); ++c) out(r, c) = k >= 0 ? source(k, c) : typename Out::value_type(0);
  }
};

}  // namespace kernels

namespace detail {

//! Host-side index validation: every index below `limit` (and ≥ 0 unless padding is allowed), optionally
//! strictly ascending. Device-resident indices cannot be read here; their contract is documented instead.
template <class I>
void check_indices(const char* op, const char* arg, const tensor_view<const I, 1>& indices, index_t limit,
                   bool allow_padding, bool strictly_ascending) {
  if (!host_accessible(indices.space())) return;
  index_t previous = -1;
  for (index_t r = 0; r < indices.extent(0); ++r) {
    const auto k = static_cast<index_t>(indices(r));
    if (k < 0 && allow_padding) continue;
    require(k >= 0 && k < limit, op, ": argument '", arg, "' holds index ", k, " at position ", r,
            ", outside [0, ", limit, ")");
    require(!strictly_ascending || k > previous, op, ": argument '", arg,
            "' must be strictly ascending, but position ", r, " holds ", k, " after ", previous);
    previous = k;
  }
}

}  // namespace detail

//! One call of `gather_rows`: out [R, C] = rows `indices` [R] of `source` [N, C], zero rows for negative
//! indices.
template <class T, class I>
struct gather_rows_arguments {
  tensor_view<const T, 2> source;
  tensor_view<const I, 1> indices;
  tensor_view<T, 2> out;
};

template <class Executor, class T, class I>
void validate(const Executor& executor, const gather_rows_arguments<T, I>& args) {
  constexpr const char* op = "voxformer::gather_rows";
  static_assert(std::signed_integral<I>, "voxformer::gather_rows: indices must be signed integers");
  const auto& [src, idx, dst] = args;
  expect_shape(op, "out", "[R, C]", dst, {idx.extent(0), src.extent(1)});
  expect_accessible(op, "source", executor, src);
  expect_accessible(op, "indices", executor, idx);
  expect_accessible(op, "out", executor, dst);
  expect_no_aliasing(op, {detail::memory_of("out", dst)}, {detail::memory_of("source", src), detail::memory_of("indices", idx)});
  detail::check_indices(op, "indices", idx, src.extent(0), true, false);
}

template <class Executor, class T, class I>
constexpr std::size_t workspace_bytes(const Executor&, const gather_rows_arguments<T, I>&) {
  return 0;
}

template <class Executor, class T, class I>
void run(const Executor& executor, const gather_rows_arguments<T, I>& args) {
  const auto& [src, idx, dst] = args;
  parallel_for(executor, dst.extent(0), kernels::gather_row<decltype(src), decltype(idx), decltype(dst)>{src, idx, dst},
               row_elements_per_thread);
}

//! out [R, C] = rows `indices` [R] of `source` [N, C]; a negative index yields a zero row. Indices must be
//! below N (checked for host memory).
template <class Element = deduce, class Index = deduce, class Executor, class Source, class Indices, class Out>
void gather_rows(const Executor& executor, Source&& source, Indices&& indices, Out&& out) {
  constexpr const char* op = "voxformer::gather_rows";
  using T = resolve_element_t<Element, Source, float>;
  using I = resolve_element_t<Index, Indices, std::int32_t>;
  const gather_rows_arguments<T, I> args{as_view<const T, 2>(source, op, "source"),
                                         as_view<const I, 1>(indices, op, "indices"), as_view<T, 2>(out, op, "out")};
  validate(executor, args);
  run(executor, args);
}

}  // namespace voxformer
