//! @file The CPU execution context: a thread pool that lives as long as the pipeline owning it.
#pragma once

#include "voxformer/backend/cpu/parallel_for.hpp"
#include "voxformer/backend/cpu/thread_pool.hpp"
#include "voxformer/core/execution_context.hpp"

namespace voxformer {

template <>
class execution_context<cpu_executor> {
 public:
  explicit execution_context(const cpu_executor& executor) : pool_(executor.resolved_threads()) {}
  execution_context(const execution_context&) = delete;
  execution_context& operator=(const execution_context&) = delete;

  //! An executor on the pool's threads (the pool's size is the thread count the context was made with).
  cpu_executor executor() const { return {pool_.size(), &pool_}; }

 private:
  mutable cpu_thread_pool pool_;
};

}  // namespace voxformer
