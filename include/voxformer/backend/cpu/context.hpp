//! @file The CPU execution context: a thread pool that lives as long as the pipeline owning it.
#pragma once

#include <memory>

#include "voxformer/backend/cpu/parallel_for.hpp"
#include "voxformer/backend/cpu/thread_pool.hpp"
#include "voxformer/core/execution_context.hpp"

namespace voxformer {

template <>
class execution_context<cpu_executor> {
 public:
  //! Starts a pool of the executor's thread count — unless the executor already runs on one (another context's, as
  //! when a whole model hands its executor to its parts): then that pool is shared, and no thread is started.
  explicit execution_context(const cpu_executor& executor)
      : pool_(executor.pool != nullptr ? nullptr : std::make_unique<cpu_thread_pool>(executor.resolved_threads())),
        executor_(pool_ != nullptr ? cpu_executor{pool_->size(), pool_.get()} : executor) {}
  execution_context(const execution_context&) = delete;
  execution_context& operator=(const execution_context&) = delete;

  //! An executor on the pool's threads (the pool's size is the thread count the context was made with).
  cpu_executor executor() const { return executor_; }

 private:
  std::unique_ptr<cpu_thread_pool> pool_;  //!< null when the executor came with its pool
  cpu_executor executor_;
};

}  // namespace voxformer
