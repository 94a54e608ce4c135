// The CPU backend: every index exactly once for any thread count (threads started per loop or a persistent
// pool), in blocks claimed by the workers; compaction ranks are thread-independent and nothing is emitted
// past the capacity; the scan; buffers and workspaces. (GEMM: tests/backend/cpu/test_gemm.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include "support/error_of.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/ops/common/compaction.hpp"

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

// A million threads asked for started 1,024 per loop over 2 M elements (230× slower than 2); now any count
// beyond max(64, 4 × hardware threads) is an error, at the loop and when a pool is made from the executor.
TEST(CpuExecutor, ThreadCountsBeyondTheLimitAreAnError) {
  const int most = cpu_executor::max_threads();
  EXPECT_GE(most, 64);
  EXPECT_GE(most, 4 * static_cast<int>(std::thread::hardware_concurrency()));
  const auto message = [&](long long threads) {
    return "voxformer::cpu_executor: argument 'threads' must be in [0, " + std::to_string(most) +
           "] (0 = one per hardware thread), got " + std::to_string(threads);
  };
  for (int threads : {1000000, most + 1, -1})
    EXPECT_EQ(test::error_of([&] { voxformer::parallel_for(cpu_executor{threads}, 2000000, [](index_t) {}); }),
              message(threads));
  EXPECT_EQ(test::error_of([&] { voxformer::execution_context<cpu_executor> context(cpu_executor{most + 1}); }),
            message(most + 1));
  EXPECT_EQ(cpu_executor{most}.resolved_threads(), most);
  EXPECT_GE(cpu_executor{0}.resolved_threads(), 1);
}

// The pool's workers take part: with 3 threads, blocks run on 3 distinct threads over many jobs in a row.
TEST(CpuThreadPool, EveryJobVisitsEveryIndexOnceOnThePoolThreads) {
  const voxformer::execution_context<cpu_executor> context(cpu_executor{3});
  const cpu_executor executor = context.executor();
  EXPECT_EQ(executor.resolved_threads(), 3);
  std::mutex mutex;
  std::set<std::thread::id> seen;
  for (int job = 0; job < 200; ++job) {
    const index_t n = 1 + job * 997;
    std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
    voxformer::parallel_for_ranges(
        executor, n,
        [&](index_t begin, index_t end) {
          for (index_t i = begin; i < end; ++i) hits[i].fetch_add(1);
          // Make the other participants find work too, so all three are seen.
          std::this_thread::sleep_for(std::chrono::microseconds(20));
          std::lock_guard lock(mutex);
          seen.insert(std::this_thread::get_id());
        },
        1);
    for (index_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "job " << job;
  }
  EXPECT_EQ(seen.size(), 3u);
}

// Short jobs back to back — what the workers poll for between jobs — with as many threads as the hardware and with
// more (which do not poll), and pools destroyed right after their last job, while their workers may be polling.
TEST(CpuThreadPool, ShortJobsInARowAndTeardownRightAfterThem) {
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (const int threads : {2, hardware, 4 * hardware})
    for (int round = 0; round < 20; ++round) {
      const voxformer::execution_context<cpu_executor> context(cpu_executor{threads});
      std::vector<std::atomic<int>> hits(64);
      for (int job = 0; job < 50; ++job)
        voxformer::parallel_for(
            context.executor(), 64, [&](index_t i) { hits[static_cast<std::size_t>(i)].fetch_add(1); }, 1);
      for (const auto& h : hits) ASSERT_EQ(h.load(), 50) << threads << " threads";
    }
}

TEST(CpuThreadPool, ZeroThreadsIsAnError) { EXPECT_THROW(voxformer::cpu_thread_pool(0), voxformer::error); }

TEST(CpuThreadPool, ThreadCountIsCheckedAgainstTheLimit) {
  const int most = cpu_executor::max_threads();
  for (int threads : {0, -3, most + 1, 1000000})
    EXPECT_EQ(test::error_of([&] { voxformer::cpu_thread_pool pool(threads); }),
              "voxformer::cpu_thread_pool: argument 'threads' must be in [1, " + std::to_string(most) + "], got " +
                  std::to_string(threads));
  const voxformer::cpu_thread_pool pool(most);
  EXPECT_EQ(pool.size(), most);
}

// Limits the process's address space to what it uses plus 16 MiB, so that a thread stack or two fit, then
// starts more threads than that, in a pool and in a loop, and prints their errors; exits 0 (2 if it cannot).
[[noreturn, maybe_unused]] void start_threads_in_little_address_space() {  // unused under ASan
  std::ifstream statm("/proc/self/statm");
  unsigned long long pages = 0;
  statm >> pages;
  const rlim_t limit = pages * static_cast<unsigned long long>(sysconf(_SC_PAGESIZE)) + (16ull << 20);
  const rlimit address_space{limit, limit};
  if (pages == 0 || setrlimit(RLIMIT_AS, &address_space) != 0) std::exit(2);
  const int most = cpu_executor::max_threads();
  const std::string pool = test::error_of([&] { voxformer::cpu_thread_pool workers(most); });
  std::atomic<index_t> visited{0};
  const std::string loop = test::error_of([&] {
    voxformer::parallel_for(cpu_executor{most}, index_t{most} * 4096, [&](index_t) { ++visited; }, 1);
  });
  std::fprintf(stderr, "%s\n%s\nvisited %lld\n", pool.c_str(), loop.c_str(), static_cast<long long>(visited.load()));
  std::exit(0);
}

// Threads the system cannot start (std::system_error from std::thread; here in a child process with little
// address space) are a voxformer::error, for a pool (whose workers already started are stopped and joined) and
// for the threads a loop starts (which finish the loop and are joined).
TEST(CpuThreadPool, ThreadsTheSystemCannotStartAreAnError) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer needs more address space than this test leaves";
#else
  EXPECT_EXIT(start_threads_in_little_address_space(), ::testing::ExitedWithCode(0),
              "voxformer::cpu_thread_pool: could not start worker thread [0-9]+ of [0-9]+ \\(.+\\); use fewer "
              "threads\n"
              "voxformer::cpu_executor: could not start thread [0-9]+ of [0-9]+ \\(.+\\); use fewer threads or "
              "an execution_context, whose threads start once\n"
              "visited [0-9]+");
#endif
}

std::vector<index_t> compacted(const cpu_executor& executor, index_t n, index_t capacity, index_t& count) {
  auto flag = [](index_t i) { return (i * 7919) % 13 < 4; };
  std::vector<index_t> out(static_cast<std::size_t>(n), -1);
  std::vector<std::byte> scratch(voxformer::compact_workspace_bytes(executor, n) + voxformer::workspace::alignment);
  voxformer::compact(
      executor, n, flag, [&](index_t i, index_t r) { out[static_cast<std::size_t>(r)] = i; }, capacity,
      voxformer::make_view<1>(&count, {1}), voxformer::workspace::aligned(scratch.data(), scratch.size()));
  return out;
}

TEST(Compact, RanksAreAscendingAndThreadIndependent) {
  const index_t n = 50000;
  std::vector<index_t> expected;
  for (index_t i = 0; i < n; ++i)
    if ((i * 7919) % 13 < 4) expected.push_back(i);
  const voxformer::execution_context<cpu_executor> pool(cpu_executor{2});
  for (const cpu_executor executor : {cpu_executor{1}, cpu_executor{2}, cpu_executor{3}, pool.executor()}) {
    index_t count = -1;
    auto out = compacted(executor, n, n, count);
    ASSERT_EQ(count, static_cast<index_t>(expected.size()));
    out.resize(static_cast<std::size_t>(count));
    EXPECT_EQ(out, expected) << executor.resolved_threads() << " threads";
  }
}

// One short of the count: the count is reported and nothing is emitted (the ops then fail cleanly).
TEST(Compact, EmitsNothingWhenTheCountExceedsTheCapacity) {
  index_t count = -1;
  const auto all = compacted(cpu_executor{2}, 50000, 50000, count);
  const index_t needed = count;
  const auto none = compacted(cpu_executor{2}, 50000, needed - 1, count);
  EXPECT_EQ(count, needed);
  EXPECT_EQ(std::count(none.begin(), none.end(), index_t{-1}), 50000);
  EXPECT_EQ(std::count(all.begin(), all.end(), index_t{-1}), 50000 - needed);
}

//! `exclusive_scan` of `value` over [0, n) on `executor`, with exactly the scratch it asks for.
template <class Out, class Value>
std::vector<Out> scanned(const cpu_executor& executor, index_t n, const Value& value) {
  std::vector<Out> out(static_cast<std::size_t>(n + 1), Out(-1));
  std::vector<std::byte> memory(voxformer::exclusive_scan_workspace_bytes<Out>(executor, n) + 64);
  voxformer::exclusive_scan(executor, n, value, voxformer::make_view<1>(out.data(), {n + 1}),
                            voxformer::workspace::aligned(memory.data(), memory.size()));
  return out;
}

TEST(ExclusiveScan, GivesCsrOffsets) {
  const index_t lengths[] = {3, 0, 5, 1};
  EXPECT_EQ(scanned<std::int32_t>(cpu_executor{1}, 4, [&](index_t i) { return lengths[i]; }),
            (std::vector<std::int32_t>{0, 3, 3, 8, 9}));
  EXPECT_EQ(scanned<std::int32_t>(cpu_executor{2}, 0, [](index_t) { return 1; }), std::vector<std::int32_t>{0});
}

// Blocks are summed in parallel, then written: any thread count gives the serial scan, the total last.
TEST(ExclusiveScan, MatchesTheSerialScanForAnyThreadCount) {
  std::mt19937 rng(3);
  std::vector<index_t> values(100003);
  for (auto& v : values) v = static_cast<index_t>(rng() % 7);
  std::vector<index_t> expected(values.size() + 1, 0);
  std::partial_sum(values.begin(), values.end(), expected.begin() + 1);
  for (const int threads : {1, 2, 3, 8}) {
    const auto out = scanned<index_t>(cpu_executor{threads}, static_cast<index_t>(values.size()),
                                      [&](index_t i) { return values[static_cast<std::size_t>(i)]; });
    EXPECT_EQ(out, expected) << threads << " threads";
  }
}

TEST(AllocateBuffer, MemoryTheSystemCannotGiveIsAnError) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer aborts on an allocation it cannot satisfy instead of failing it";
#else
  EXPECT_EQ(test::error_of([] { (void)voxformer::allocate_buffer(cpu_executor{1}, std::size_t{1} << 60); }),
            "voxformer::allocate_buffer: cannot allocate 1152921504606846976 bytes (out of memory)");
  const auto buffer = voxformer::allocate_buffer(cpu_executor{1}, 100);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(buffer.data()) % voxformer::workspace::alignment, 0u);
  EXPECT_EQ(buffer.size(), 100u);
  EXPECT_EQ(voxformer::allocate_buffer(cpu_executor{1}, 0).data(), nullptr);
#endif
}

TEST(Workspace, SizingReplaysTheCarvesAndRealMemoryHoldsThem) {
  auto carve = [](voxformer::workspace w) {
    w.take<float>(3);
    w.take<std::int32_t>(100);
    const auto view = w.take_view<double, 2>({4, 5});
    return std::pair{view, w.used()};
  };
  const auto [null_view, bytes] = carve(voxformer::workspace{});
  EXPECT_EQ(null_view.data(), nullptr);
  EXPECT_EQ(bytes, 512u + 160u);  // each carve starts on a 64-byte line: 0, 64, 512
  alignas(64) std::byte memory[1024];
  const auto [view, used] = carve(voxformer::workspace(memory, bytes));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(view.data()), reinterpret_cast<std::uintptr_t>(memory) + 512);
  EXPECT_EQ(used, bytes);
  EXPECT_THROW(carve(voxformer::workspace(memory, bytes - 1)), voxformer::error);
  EXPECT_THROW(voxformer::workspace(memory + 1, 10), voxformer::error);
  EXPECT_EQ(voxformer::workspace::aligned(memory + 1, 100).capacity(), 37u);
}

}  // namespace
