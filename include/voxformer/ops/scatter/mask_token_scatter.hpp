//! @file Mask-token scatter (spec §3.10): the dense volume [N, C] gets the refined seed feature in every
//! proposed row and the one shared learned mask token in every other row.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "voxformer/core/executor_hints.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/ops/scatter/gather_rows.hpp"

namespace voxformer {

namespace kernels {

// One element = one row: the channel loop is contiguous for row-major tensors and needs no index division.
template <class Token, class Volume>
struct broadcast_token {
  Token token;    // [C]
  Volume volume;  // [N, C]
  VOXFORMER_HOST_DEVICE void operator()(index_t row) const {
    for (index_t c = 0; c < volume.extent(1); ++c) volume(row, c) = token(c);
  }
};

template <class Seed, class Indices, class Volume>
struct scatter_seed_rows {
  Seed seed;        // [n, C]
  Indices indices;  // [n]
  Volume volume;    // [N, C]
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    const auto row = static_cast<index_t>(indices(i));
    for (index_t c = 0; c < seed.extent(1); ++c) volume(row, c) = seed(i, c);
  }
};

}  // namespace kernels

//! One call of `scatter_with_mask_token`: volume [N, C] ← mask_token [C] everywhere, then seed [n, C] into
//! rows `unmasked` [n].
template <class T, class I>
struct mask_token_scatter_arguments {
  tensor_view<const T, 2> seed;
  tensor_view<const I, 1> unmasked;
  tensor_view<const T, 1> mask_token;
  tensor_view<T, 2> volume;
};

template <class Executor, class T, class I>
void validate(const Executor& executor, const mask_token_scatter_arguments<T, I>& args) {
  constexpr const char* op = "voxformer::scatter_with_mask_token";
  static_assert(std::signed_integral<I>, "voxformer::scatter_with_mask_token: indices must be signed integers");
  const auto& [s, idx, tok, vol] = args;
  const index_t channels = vol.extent(1);
  expect_shape(op, "seed", "[n_unmasked, C]", s, {idx.extent(0), channels});
  expect_shape(op, "mask_token", "[C]", tok, {channels});
  detail::require(idx.extent(0) <= vol.extent(0), op, ": ", idx.extent(0), " unmasked rows do not fit a volume of ",
                  vol.extent(0), " rows");
  expect_accessible(op, "seed", executor, s);
  expect_accessible(op, "unmasked", executor, idx);
  expect_accessible(op, "mask_token", executor, tok);
  expect_accessible(op, "volume", executor, vol);
  expect_no_aliasing(op, {detail::memory_of("volume", vol)},
                     {detail::memory_of("seed", s), detail::memory_of("mask_token", tok), detail::memory_of("unmasked", idx)});
  detail::check_indices(op, "unmasked", idx, vol.extent(0), false, true);
}

template <class Executor, class T, class I>
constexpr std::size_t workspace_bytes(const Executor&, const mask_token_scatter_arguments<T, I>&) {
  return 0;
}

template <class Executor, class T, class I>
void run(const Executor& executor, const mask_token_scatter_arguments<T, I>& args) {
  const auto& [s, idx, tok, vol] = args;
  parallel_for(executor, vol.extent(0), kernels::broadcast_token<decltype(tok), decltype(vol)>{tok, vol});
  parallel_for(executor, s.extent(0), kernels::scatter_seed_rows<decltype(s), decltype(idx), decltype(vol)>{s, idx, vol},
               row_elements_per_thread);
}

//! volume [N, C] ← mask_token [C] everywhere, then seed [n, C] into rows `unmasked` [n]. `unmasked` must be
//! strictly ascending and below N (checked for host memory; the contract for device memory), so every row
//! is written by exactly one element of each pass. n = 0 (an empty proposal) gives a volume of mask tokens.
template <class Element = deduce, class Index = deduce, class Executor, class Seed, class Unmasked, class Token,
          class Volume>
void scatter_with_mask_token(const Executor& executor, Seed&& seed, Unmasked&& unmasked, Token&& mask_token,
                             Volume&& volume) {
  constexpr const char* op = "voxformer::scatter_with_mask_token";
  using T = resolve_element_t<Element, Seed, float>;
  using I = resolve_element_t<Index, Unmasked, std::int32_t>;
  const mask_token_scatter_arguments<T, I> args{
      as_view<const T, 2>(seed, op, "seed"), as_view<const I, 1>(unmasked, op, "unmasked"),
      as_view<const T, 1>(mask_token, op, "mask_token"), as_view<T, 2>(volume, op, "volume")};
  validate(executor, args);
  run(executor, args);
}

}  // namespace voxformer
