// The CPU backend: every index exactly once for any thread count, in blocks claimed by the workers;
// compaction ranks are thread-independent.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "voxformer/backend/cpu/compact.hpp"

namespace {

using voxformer::cpu_executor;
using voxformer::index_t;

TEST(CpuExecutor, VisitsEveryIndexOnceForAnyThreadCount) {
  for (int threads : {0, 1, 2, 3, 8})
    for (index_t n : {0, 1, 5, 4096, 100001}) {
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
      voxformer::parallel_for(cpu_executor{threads}, n, [&](index_t i) { hits[i].fetch_add(1); }, 1);
      for (index_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " n " << n;
    }
}

// Workers claim many small blocks (load balance on a shared machine); together they still tile [0, n) exactly.
TEST(CpuExecutor, RangesTileTheIndexSpaceInMoreBlocksThanWorkers) {
  for (int threads : {2, 3})
    for (index_t n : {index_t{4096}, index_t{100001}}) {
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
      std::atomic<int> blocks{0};
      voxformer::parallel_for_ranges(cpu_executor{threads}, n, [&](index_t begin, index_t end) {
        ASSERT_LT(begin, end);
        blocks.fetch_add(1);
        for (index_t i = begin; i < end; ++i) hits[i].fetch_add(1);
      });
      for (index_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " n " << n;
      EXPECT_GT(blocks.load(), threads) << "n " << n;
    }
}

TEST(CpuExecutor, NegativeThreadCountIsAnError) {
  EXPECT_THROW(voxformer::parallel_for(cpu_executor{-1}, 10, [](index_t) {}), voxformer::error);
}

TEST(Compact, RanksAreAscendingAndThreadIndependent) {
  const index_t n = 50000;
  auto flag = [](index_t i) { return (i * 7919) % 13 < 4; };
  std::vector<index_t> one, two;
  for (auto [threads, out] : {std::pair{1, &one}, std::pair{2, &two}}) {
    out->assign(static_cast<std::size_t>(n), -1);
    const index_t count = voxformer::compact(
        cpu_executor{threads}, n, flag, [&](index_t i, index_t r) { (*out)[r] = i; }, [](index_t) {});
    out->resize(static_cast<std::size_t>(count));
  }
  EXPECT_EQ(one, two);
  std::vector<index_t> expected;
  for (index_t i = 0; i < n; ++i)
    if (flag(i)) expected.push_back(i);
  EXPECT_EQ(one, expected);
}

}  // namespace
