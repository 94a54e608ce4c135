//! @file Stable stream compaction on the CPU: the ranks of the flagged elements, in ascending order.
#pragma once

#include <vector>

#include "voxformer/backend/cpu/cpu_executor.hpp"

namespace voxformer {

//! Counts the i in [0, n) with `flag(i)` true, then calls `emit(i, rank)` for each of them, where `rank`
//! is the number of flagged elements before i. Two passes (count per block, then write), so the ranks —
//! and every output built from them — are identical for any thread count. Returns the count.
//! `before_emit(count)` runs between the passes: validate output capacity there, before anything is written.
template <class Flag, class Emit, class BeforeEmit>
index_t compact(const cpu_executor& executor, index_t n, const Flag& flag, const Emit& emit,
                const BeforeEmit& before_emit) {
  const index_t blocks = std::max<index_t>(1, std::min<index_t>(executor.resolved_threads(),
                                                                n / detail::cpu_min_elements_per_thread));
  const index_t block = n > 0 ? (n + blocks - 1) / blocks : 0;
  std::vector<index_t> block_counts(static_cast<std::size_t>(blocks) + 1, 0);
  const cpu_executor per_block{static_cast<int>(blocks)};
  parallel_for(
      per_block, blocks,
      [&](index_t b) {
        const Flag local_flag = flag;  // private copies, as in parallel_for: stores cannot alias their fields
        index_t count = 0;
        for (index_t i = b * block, end = std::min(n, (b + 1) * block); i < end; ++i) count += local_flag(i) ? 1 : 0;
        block_counts[static_cast<std::size_t>(b) + 1] = count;
      },
      1);
  for (index_t b = 0; b < blocks; ++b) block_counts[b + 1] += block_counts[b];
  const index_t total = block_counts[static_cast<std::size_t>(blocks)];
  before_emit(total);
  parallel_for(
      per_block, blocks,
      [&](index_t b) {
        const Flag local_flag = flag;
        const Emit local_emit = emit;
        index_t rank = block_counts[static_cast<std::size_t>(b)];
        for (index_t i = b * block, end = std::min(n, (b + 1) * block); i < end; ++i)
          if (local_flag(i)) local_emit(i, rank++);
      },
      1);
  return total;
}

}  // namespace voxformer
