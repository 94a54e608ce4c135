//! @file The CPU backend's stream compaction and exclusive scan (the contract: `core/algorithms.hpp`); a GPU
//! backend supplies its own (CUB's DeviceSelect / DeviceScan) without ops naming either.
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>

#include "voxformer/backend/cpu/parallel_for.hpp"
#include "voxformer/core/algorithms.hpp"
#include "voxformer/core/tensor_view.hpp"
#include "voxformer/core/workspace.hpp"

namespace voxformer {

namespace detail {

inline index_t compact_blocks(const cpu_executor& executor, index_t n) {
  return std::max<index_t>(1, std::min<index_t>(executor.resolved_threads(), n / cpu_min_elements_per_thread));
}

//! The two passes of the block algorithms below, over `compact_blocks` blocks of [0, n): `block_start[b + 1] =
//! sum(first, end)` for each block, a serial prefix over the blocks (`block_start[blocks]` is then the total), and —
//! when `go_on(total)` — `write(first, end, block_start[b])` for each block. Only the blocks' boundaries depend on the
//! thread count, and no result does.
template <class Out, class Sum, class GoOn, class Write>
void two_pass_blocks(const cpu_executor& executor, index_t n, Out* block_start, const Sum& sum, const GoOn& go_on,
                     const Write& write) {
  const index_t blocks = compact_blocks(executor, n);
  const index_t block = n > 0 ? (n + blocks - 1) / blocks : 0;
  const cpu_executor per_block{static_cast<int>(blocks), executor.pool};
  auto range = [&](index_t b) { return std::pair{b * block, std::min(n, (b + 1) * block)}; };
  block_start[0] = 0;
  parallel_for(
      per_block, blocks,
      [&](index_t b) {
        const auto [first, end] = range(b);
        block_start[b + 1] = sum(first, end);
      },
      1);
  for (index_t b = 0; b < blocks; ++b) block_start[b + 1] += block_start[b];
  if (!go_on(block_start[blocks])) return;
  parallel_for(
      per_block, blocks,
      [&](index_t b) {
        const auto [first, end] = range(b);
        write(first, end, block_start[b]);
      },
      1);
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
  index_t* block_start = scratch.take<index_t>(detail::compact_blocks(executor, n) + 1);
  detail::two_pass_blocks(
      executor, n, block_start,
      [&](index_t first, index_t end) {
        const Flag local_flag = flag;  // private copies, as in parallel_for: stores cannot alias their fields
        index_t flagged = 0;
        for (index_t i = first; i < end; ++i) flagged += local_flag(i) ? 1 : 0;
        return flagged;
      },
      [&](index_t total) {
        count(0) = total;
        return total <= capacity;
      },
      [&](index_t first, index_t end, index_t rank) {
        const Flag local_flag = flag;
        const Emit local_emit = emit;
        for (index_t i = first; i < end; ++i)
          if (local_flag(i)) local_emit(i, rank++);
      });
}

//! Scratch bytes `exclusive_scan` needs for `n` values summed in `Out`: one partial sum per block.
template <class Out>
std::size_t exclusive_scan_workspace_bytes(const cpu_executor& executor, index_t n) {
  workspace sizing;
  sizing.take<Out>(detail::compact_blocks(executor, n) + 1);
  return sizing.used();
}

//! out[0] = 0, out[i + 1] = out[i] + value(i) for i in [0, n), summed in `Out` (`out` has n + 1 entries: CSR
//! offsets from lengths, ranks from flags). Two passes over blocks (sum, then write), as `compact`.
template <class Value, class Out>
void exclusive_scan(const cpu_executor& executor, index_t n, const Value& value, const tensor_view<Out, 1>& out,
                    workspace scratch) {
  detail::two_pass_blocks(
      executor, n, scratch.take<Out>(detail::compact_blocks(executor, n) + 1),
      [&](index_t first, index_t end) {
        const Value local_value = value;
        Out sum = 0;
        for (index_t i = first; i < end; ++i) sum += static_cast<Out>(local_value(i));
        return sum;
      },
      [&](Out total) {
        out(n) = total;
        return true;
      },
      [&](index_t first, index_t end, Out running) {
        const Value local_value = value;
        for (index_t i = first; i < end; ++i) {
          out(i) = running;
          running += static_cast<Out>(local_value(i));
        }
      });
}

}  // namespace voxformer
