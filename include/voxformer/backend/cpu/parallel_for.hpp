//! @file The CPU executor and its loop: runs a per-element kernel serially or on N threads.
//!
//! Kernels are functors with `operator()(index_t i)`; every index is processed exactly once by the same
//! code, in contiguous blocks, so results never depend on the thread count.
#pragma once

#include <algorithm>
#include <atomic>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "voxformer/backend/cpu/thread_pool.hpp"
#include "voxformer/core/config.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/core/memory_space.hpp"

namespace voxformer {

struct cpu_executor {
  static constexpr std::string_view name = "cpu_executor";
  //! Few threads with wide SIMD: ops give each kernel element more work (see `prefers_coarse_elements`).
  static constexpr bool coarse_elements = true;

  //! Worker threads; 1 runs on the calling thread, 0 means one per hardware thread. At most `max_threads()`
  //! (64, or 4 per hardware thread on larger machines): a negative or larger count is a voxformer::error at the
  //! first loop (or when an `execution_context` is made from it), and so is a thread the system cannot start
  //! (std::system_error).
  int threads = 1;
  //! Persistent workers to run on instead of threads started per loop (`execution_context` makes one);
  //! then its size is the thread count.
  cpu_thread_pool* pool = nullptr;

  constexpr bool can_access(memory_space space) const { return host_accessible(space); }

  //! The largest thread count accepted: max(64, 4 × hardware threads).
  static int max_threads() { return detail::cpu_max_threads(); }

  int resolved_threads() const {
    if (pool != nullptr) return pool->size();
    const int most = detail::cpu_max_threads();
    if (threads < 0 || threads > most)
      detail::fail("voxformer::cpu_executor: argument 'threads' must be in [0, ", most,
                   "] (0 = one per hardware thread), got ", threads);
    if (threads == 0) return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return threads;
  }
};

namespace detail {
//! Below this many elements per thread, starting a thread costs more than it saves.
inline constexpr index_t cpu_min_elements_per_thread = 2048;
}  // namespace detail

//! Calls `body(begin, end)` on contiguous blocks that cover [0, n) exactly once, on any worker, in any order.
template <class RangeBody>
void parallel_for_ranges(const cpu_executor& executor, index_t n, RangeBody&& body,
                         index_t min_elements_per_thread = detail::cpu_min_elements_per_thread) {
  if (n <= 0) return;
  const index_t useful = std::max<index_t>(1, n / std::max<index_t>(1, min_elements_per_thread));
  const index_t workers = std::min<index_t>(executor.resolved_threads(), useful);
  if (workers <= 1) {
    body(index_t{0}, n);
    return;
  }
  // Workers claim blocks of about 1/16 of their share one at a time rather than one fixed share each: on a
  // shared machine, a worker whose core is taken away for a while then simply claims fewer blocks. The floor
  // (1/8 of the per-thread minimum) keeps cheap kernels from paying one atomic per few elements.
  const index_t block = std::max({index_t{1}, min_elements_per_thread / 8, n / (workers * 16)});
  std::atomic<index_t> next{0};
  auto work = [&] {
    for (index_t begin; (begin = next.fetch_add(block, std::memory_order_relaxed)) < n;)
      body(begin, std::min(n, begin + block));
  };
  if (executor.pool != nullptr) {
    // Every pool thread joins; the ones beyond `workers` find the blocks already claimed.
    executor.pool->run([&](int) { work(); });
    return;
  }
  std::vector<std::jthread> helpers;
  helpers.reserve(static_cast<std::size_t>(workers - 1));
  index_t w = 1;
  try {
    for (; w < workers; ++w) helpers.emplace_back(work);
  } catch (const std::system_error& e) {
    // The helpers already started claim every block and are joined on the way out: nothing is left running.
    detail::fail("voxformer::cpu_executor: could not start thread ", w, " of ", workers - 1, " (", e.what(),
                 "); use fewer threads or an execution_context, whose threads start once");
  }
  work();
}

//! Calls `kernel(i)` for every i in [0, n).
template <class Kernel>
void parallel_for(const cpu_executor& executor, index_t n, const Kernel& kernel,
                  index_t min_elements_per_thread = detail::cpu_min_elements_per_thread) {
  parallel_for_ranges(
      executor, n,
      [&kernel](index_t begin, index_t end) {
        // A private copy: the compiler then knows that the kernel's own stores (bytes, which may alias
        // anything) do not change its fields, and keeps them in registers instead of reloading them per element.
        const Kernel local = kernel;
        for (index_t i = begin; i < end; ++i) local(i);
      },
      min_elements_per_thread);
}

}  // namespace voxformer
