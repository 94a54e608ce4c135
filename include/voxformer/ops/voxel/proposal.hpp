//! @file Proposal mask → the query lists: `unmasked` (proposed voxels, the only cross-attention queries) and
//! `masked` (the rest, which receive the mask token). Both hold ascending flat indices (spec §2.6).
#pragma once

#include <concepts>
#include <cstdint>
#include <limits>

#include "voxformer/backend/cpu/compact.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

struct proposal_counts {
  index_t unmasked = 0;  //!< proposed voxels (mask > 0)
  index_t masked = 0;    //!< all others
};

//! Splits the flat indices of `mask` (any rank, contiguous; VoxFormer: [128, 128, 16], uint8 or float) into
//! `unmasked` (mask > 0) and `masked` (the rest; NaN counts as masked). Each output needs room for its
//! count — at most the voxel count; checked before anything is written. Empty and full proposals are
//! valid: one list is then empty. The lists are identical for any thread count.
template <int MaskRank = 3, class MaskElement = deduce, class Index = deduce, class Mask, class Unmasked,
          class Masked>
proposal_counts proposal_indices(const cpu_executor& executor, Mask&& mask, Unmasked&& unmasked, Masked&& masked) {
  constexpr const char* op = "voxformer::proposal_indices";
  using M = resolve_element_t<MaskElement, Mask, std::uint8_t>;
  using I = resolve_element_t<Index, Unmasked, std::int32_t>;
  static_assert(std::signed_integral<I>, "voxformer::proposal_indices: index lists must be signed integers");
  const auto m = flat_contiguous(op, "mask", as_view<const M, MaskRank>(mask, op, "mask"));
  const auto on = as_view<I, 1>(unmasked, op, "unmasked");
  const auto off = as_view<I, 1>(masked, op, "masked");
  expect_accessible(op, "mask", executor, m);
  expect_accessible(op, "unmasked", executor, on);
  expect_accessible(op, "masked", executor, off);
  const index_t n = m.size();
  detail::require(n - 1 <= static_cast<index_t>(std::numeric_limits<I>::max()), op,
                  ": the index type cannot hold voxel index ", n - 1);

  auto capacity_check = [&](const char* arg, index_t capacity) {
    return [=](index_t count) {
      detail::require(count <= capacity, op, ": argument '", arg, "' [n] has room for ", capacity,
                      " indices, but the mask needs ", count);
    };
  };
  proposal_counts counts;
  counts.unmasked = compact(
      executor, n, [&](index_t k) { return m(k) > M(0); }, [&](index_t k, index_t r) { on(r) = static_cast<I>(k); },
      capacity_check("unmasked", on.extent(0)));
  counts.masked = compact(
      executor, n, [&](index_t k) { return !(m(k) > M(0)); },
      [&](index_t k, index_t r) { off(r) = static_cast<I>(k); }, capacity_check("masked", off.extent(0)));
  return counts;
}

}  // namespace voxformer
