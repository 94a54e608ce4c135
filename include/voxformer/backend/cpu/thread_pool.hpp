//! @file Persistent worker threads for the CPU executor: a pipeline that runs hundreds of parallel loops per
//! frame starts its threads once instead of once per loop (and allocates nothing per loop).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "voxformer/core/error.hpp"

namespace voxformer {

namespace detail {
//! The most threads a CPU executor or thread pool may use: 4 per hardware thread, and never fewer than 64 (so
//! that a count that works on one machine works on a smaller one too). More threads than that only cost (a
//! million asked for started 1,024 threads per loop over 2 M elements, 230× slower than 2) and are taken for a
//! mistake.
inline int cpu_max_threads() {
  // Once: hardware_concurrency() reads /sys (≈ 8 µs), and every parallel_for asks.
  static const int most = [] {
    const unsigned hardware = std::thread::hardware_concurrency();  // 0 where unknown
    return static_cast<int>(std::max(64u, 4u * std::min(hardware, 1u << 20)));
  }();
  return most;
}
}  // namespace detail

class cpu_thread_pool {
 public:
  //! `threads` participants in every job: the calling thread and threads − 1 workers. `threads` must be in
  //! [1, detail::cpu_max_threads()] (at least 64; 4 per hardware thread on larger machines), else a
  //! voxformer::error; so is a worker that the system cannot start (std::system_error, e.g. under a memory or
  //! process limit), after the workers already started are stopped.
  explicit cpu_thread_pool(int threads) {
    const int most = detail::cpu_max_threads();
    if (threads < 1 || threads > most)
      detail::fail("voxformer::cpu_thread_pool: argument 'threads' must be in [1, ", most, "], got ", threads);
    polls_ = static_cast<unsigned>(threads) <= std::thread::hardware_concurrency();
    workers_.reserve(static_cast<std::size_t>(threads - 1));
    int w = 1;
    try {
      for (; w < threads; ++w) workers_.emplace_back([this, w] { serve(w); });
    } catch (const std::system_error& e) {
      stop();
      detail::fail("voxformer::cpu_thread_pool: could not start worker thread ", w, " of ", threads - 1, " (",
                   e.what(), "); use fewer threads");
    }
  }
  cpu_thread_pool(const cpu_thread_pool&) = delete;
  cpu_thread_pool& operator=(const cpu_thread_pool&) = delete;
  ~cpu_thread_pool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  //! Calls `work(participant)` for participant = 0 (on the calling thread) … size() − 1, and returns when
  //! all have returned. Jobs from several calling threads run one after the other.
  template <class Work>
  void run(const Work& work) {
    std::lock_guard serial(job_mutex_);
    {
      std::lock_guard lock(mutex_);
      job_ = &call<Work>;
      job_context_ = &work;
      pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work(0);
    if (spin_until([this] { return pending_.load(std::memory_order_acquire) == 0; })) return;
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
  }

 private:
  //! Polls `ready` for up to ≈ 50 µs before the caller blocks: a pipeline issues loops of a few microseconds
  //! each (a convolution chunk's im2col, its GEMM) back to back, and a worker asleep on the condition variable
  //! takes longer than that to wake — it would arrive after the caller had done its share. A pool with more
  //! threads than the hardware has does not poll: a polling thread would keep a core from the one that holds the
  //! last block.
  template <class Ready>
  bool spin_until(const Ready& ready) const {
    if (!polls_) return ready();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
    for (;;) {
      for (int i = 0; i < 64; ++i) {
        if (ready()) return true;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
      if (std::chrono::steady_clock::now() > deadline) return ready();
    }
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
  }

  template <class Work>
  static void call(const void* context, int participant) {
    (*static_cast<const Work*>(context))(participant);
  }

  void serve(int participant) {
    std::uint64_t seen = 0;
    for (;;) {
      // The next job's generation, by a short poll and then on the condition variable.
      auto next = [&] { return generation_.load(std::memory_order_acquire) != seen; };
      if (!spin_until(next)) {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || next(); });
        if (stopping_) return;
      }
      // The job's fields were written before its generation was published (release/acquire), and the next job
      // cannot start before this one is done, so they are stable here.
      seen = generation_.load(std::memory_order_acquire);
      job_(job_context_, participant);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lock(mutex_);  // the caller may be between its check and its wait
        done_.notify_one();
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex job_mutex_;  // one job at a time
  std::mutex mutex_;      // guards stopping_ and the waits
  std::condition_variable wake_, done_;
  void (*job_)(const void*, int) = nullptr;
  const void* job_context_ = nullptr;
  std::atomic<int> pending_{0};
  std::atomic<std::uint64_t> generation_{0};
  bool stopping_ = false;
  bool polls_ = false;  // set once: the pool has no more threads than hardware threads
};

}  // namespace voxformer
