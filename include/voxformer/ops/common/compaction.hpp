//! @file What the compaction-based ops share on top of the executor's `compact`: counting alone, so that
//! capacities are checked before anything is written.
#pragma once

#include <cstddef>

#include "voxformer/core/tensor_view.hpp"
#include "voxformer/core/workspace.hpp"

namespace voxformer {

namespace kernels {
//! A count-only compaction emits nothing.
struct emit_nothing {
  VOXFORMER_HOST_DEVICE void operator()(index_t, index_t) const {}
};
}  // namespace kernels

namespace detail {

//! Scratch of `count_flagged`, then of the `compact` calls that follow it on the same n.
template <class Executor>
std::size_t counted_compaction_bytes(const Executor& executor, index_t n) {
  return workspace::round_up(sizeof(index_t)) + compact_workspace_bytes(executor, n);
}

//! count(0) = the number of i in [0, n) with `flag(i)`, counted and left where the executor computes.
template <class Executor, class Flag>
void count_flagged_into(const Executor& executor, index_t n, const Flag& flag, const tensor_view<index_t, 1>& count,
                        workspace scratch) {
  compact(executor, n, flag, kernels::emit_nothing{}, 0, count, scratch);
}

//! The number of i in [0, n) with `flag(i)`, counted where the executor computes and brought to the host (on a
//! device, a synchronisation: for the host's checks and reports, not within a frame's journey).
template <class Executor, class Flag>
index_t count_flagged(const Executor& executor, index_t n, const Flag& flag, workspace scratch) {
  const tensor_view<index_t, 1> count(scratch.take<index_t>(1), {1}, scratch.space());
  count_flagged_into(executor, n, flag, count, scratch);
  index_t host = 0;
  copy_to_host(executor, &host, count.data(), sizeof(host));
  return host;
}

}  // namespace detail
}  // namespace voxformer
