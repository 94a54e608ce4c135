//! @file The CPU backend's stream compaction and exclusive scan (the contract: `core/algorithms.hpp`); a GPU
//! backend supplies its own (CUB's DeviceSelect / DeviceScan) without ops naming either.
#pragma once

#include <algorithm>
#include <cstddef>

#include "voxformer/backend/cpu/parallel_for.hpp"
#include "voxformer/core/algorithms.hpp"
#include "voxformer/core/tensor_view.hpp"
#include "voxformer/core/workspace.hpp"

namespace voxformer {

namespace detail {
inline index_t compact_blocks(const cpu_executor& executor, index_t n) {
  return std::max<index_t>(1, std::min<index_t>(executor.resolved_threads(), n / cpu_min_elements_per_thread));
}
}  // namespace detail

//! Scratch bytes `compact` needs for `n` elements: one count per block.
inline std::size_t compact_workspace_bytes(const cpu_executor& executor, index_t n) {
  workspace sizing;
  sizing.take<index_t>(detail::compact_blocks(executor, n) + 1);
  return sizing.used();
}

//! Stable compaction of [0, n): writes the number of i with `flag(i)` to `count(0)`; if that is at most
//! `capacity`, calls `emit(i, rank)` for each of them, where `rank` is the number of flagged elements before
//! i, and otherwise emits nothing (the caller then reports the shortfall: nothing was written). Two passes
//! (count per block, then emit), so the ranks — and every output built from them — are identical for any
//! thread count.
template <class Flag, class Emit>
void compact(const cpu_executor& executor, index_t n, const Flag& flag, const Emit& emit, index_t capacity,
             const tensor_view<index_t, 1>& count, workspace scratch) {
  const index_t blocks = detail::compact_blocks(executor, n);
  const index_t block = n > 0 ? (n + blocks - 1) / blocks : 0;
  index_t* block_start = scratch.take<index_t>(blocks + 1);
  const cpu_executor per_block{static_cast<int>(blocks), executor.pool};
  block_start[0] = 0;
  parallel_for(
      per_block, blocks,
      [&](index_t b) {
        const Flag local_flag = flag;  // private copies, as in parallel_for: stores cannot alias their fields
        index_t flagged = 0;
        for (index_t i = b * block, end = std::min(n, (b + 1) * block); i < end; ++i) flagged += local_flag(i) ? 1 : 0;
        block_start[b + 1] = flagged;
      },
      1);
  for (index_t b = 0; b < blocks; ++b) block_start[b + 1] += block_start[b];
  count(0) = block_start[blocks];
  if (block_start[blocks] > capacity) return;
  parallel_for(
      per_block, blocks,
      [&](index_t b) {
        const Flag local_flag = flag;
        const Emit local_emit = emit;
        index_t rank = block_start[b];
        for (index_t i = b * block, end = std::min(n, (b + 1) * block); i < end; ++i)
          if (local_flag(i)) local_emit(i, rank++);
      },
      1);
}

//! out[0] = 0, out[i + 1] = out[i] + in[i], summed in `Out`: CSR offsets from lengths (`out` has one more
//! entry than `in`). Serial on the CPU: its inputs here are short (per-camera lengths).
template <class In, class Out>
void exclusive_scan(const cpu_executor&, const tensor_view<const In, 1>& in, const tensor_view<Out, 1>& out) {
  Out running = 0;
  out(0) = running;
  for (index_t i = 0; i < in.extent(0); ++i) out(i + 1) = running += static_cast<Out>(in(i));
}

}  // namespace voxformer
