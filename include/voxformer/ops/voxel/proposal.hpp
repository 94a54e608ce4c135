//! @file Proposal mask → the query lists: `unmasked` (proposed voxels, the only cross-attention queries) and
//! `masked` (the rest, which receive the mask token). Both hold ascending flat indices (spec §2.6).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "voxformer/core/algorithms.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/core/workspace.hpp"
#include "voxformer/ops/common/compaction.hpp"

namespace voxformer {

struct proposal_counts {
  index_t unmasked = 0;  //!< proposed voxels (mask > 0)
  index_t masked = 0;    //!< all others
};

namespace kernels {

//! mask[k] > 0, or (`Proposed` false) not: NaN counts as masked.
template <class Mask, bool Proposed>
struct proposal_flag {
  Mask mask;
  VOXFORMER_HOST_DEVICE bool operator()(index_t k) const {
    return (mask(k) > typename Mask::value_type(0)) == Proposed;
  }
};

//! list[rank] = k: the compaction's emit.
template <class List>
struct store_flat_index {
  List list;
  VOXFORMER_HOST_DEVICE void operator()(index_t k, index_t rank) const {
    list(rank) = static_cast<typename List::value_type>(k);
  }
};

}  // namespace kernels

//! One call of `proposal_indices`: the flat mask, the two lists (each sized for its count at most) and where
//! the two counts go (host memory on the CPU).
template <class M, class I>
struct proposal_arguments {
  tensor_view<const M, 1> mask;
  tensor_view<I, 1> unmasked;
  tensor_view<I, 1> masked;
  tensor_view<index_t, 1> counts;  //!< [2]: unmasked, masked
};

template <class Executor, class M, class I>
void validate(const Executor& executor, const proposal_arguments<M, I>& args) {
  constexpr const char* op = "voxformer::proposal_indices";
  static_assert(std::signed_integral<I>, "voxformer::proposal_indices: index lists must be signed integers");
  expect_accessible(op, "mask", executor, args.mask);
  expect_accessible(op, "unmasked", executor, args.unmasked);
  expect_accessible(op, "masked", executor, args.masked);
  expect_shape(op, "counts", "[2]", args.counts, {2});
  expect_accessible(op, "counts", executor, args.counts);
  expect_no_aliasing(op, {detail::memory_of("unmasked", args.unmasked), detail::memory_of("masked", args.masked), detail::memory_of("counts", args.counts)},
                     {detail::memory_of("mask", args.mask)});
  const index_t n = args.mask.size();
  detail::require(n - 1 <= static_cast<index_t>(std::numeric_limits<I>::max()), op,
                  ": the index type cannot hold voxel index ", n - 1);
}

template <class Executor, class M, class I>
std::size_t workspace_bytes(const Executor& executor, const proposal_arguments<M, I>& args) {
  return detail::counted_compaction_bytes(executor, args.mask.size());  // the host's count, then each compaction
}

//! Writes both lists and their counts. On the host the capacities are checked first, so that a shortfall is an error
//! and nothing is written; on a device each compaction reads its count itself and writes its list only if it fits,
//! with nothing read back on the host.
template <class Executor, class M, class I>
void run(const Executor& executor, const proposal_arguments<M, I>& args, workspace scratch) {
  constexpr const char* op = "voxformer::proposal_indices";
  const index_t n = args.mask.size();
  using proposed = kernels::proposal_flag<tensor_view<const M, 1>, true>;
  using not_proposed = kernels::proposal_flag<tensor_view<const M, 1>, false>;
  using store = kernels::store_flat_index<tensor_view<I, 1>>;
  if (computes_on_host(executor)) {
    const index_t unmasked = detail::count_flagged(executor, n, proposed{args.mask}, scratch), masked = n - unmasked;
    detail::require(unmasked <= args.unmasked.extent(0), op, ": argument 'unmasked' [n] has room for ",
                    args.unmasked.extent(0), " indices, but the mask needs ", unmasked);
    detail::require(masked <= args.masked.extent(0), op, ": argument 'masked' [n] has room for ", args.masked.extent(0),
                    " indices, but the mask needs ", masked);
  }
  compact(executor, n, proposed{args.mask}, store{args.unmasked}, args.unmasked.extent(0), leading_slice(args.counts, 0, 1),
          scratch);
  compact(executor, n, not_proposed{args.mask}, store{args.masked}, args.masked.extent(0), leading_slice(args.counts, 1, 1),
          scratch);
}

//! Splits the flat indices of `mask` (any rank, contiguous; VoxFormer: [128, 128, 16], uint8 or float) into
//! `unmasked` (mask > 0) and `masked` (the rest; NaN counts as masked). Each output needs room for its
//! count — at most the voxel count; both are checked before anything is written. Empty and full proposals
//! are valid: one list is then empty. The lists are identical for any thread count.
template <int MaskRank = 3, class MaskElement = deduce, class Index = deduce, class Executor, class Mask,
          class Unmasked, class Masked>
proposal_counts proposal_indices(const Executor& executor, Mask&& mask, Unmasked&& unmasked, Masked&& masked) {
  constexpr const char* op = "voxformer::proposal_indices";
  using M = resolve_element_t<MaskElement, Mask, std::uint8_t>;
  using I = resolve_element_t<Index, Unmasked, std::int32_t>;
  index_t counts[2] = {};
  const proposal_arguments<M, I> args{flat_contiguous(op, "mask", as_view<const M, MaskRank>(mask, op, "mask")),
                                      as_view<I, 1>(unmasked, op, "unmasked"), as_view<I, 1>(masked, op, "masked"),
                                      make_view<1>(counts, {2})};
  validate(executor, args);
  std::vector<std::byte> scratch(workspace_bytes(executor, args) + workspace::alignment);
  run(executor, args, workspace::aligned(scratch.data(), scratch.size()));
  return {counts[0], counts[1]};
}

}  // namespace voxformer
