//! @file What an executor may point at for a long run: a pipeline owns one `execution_context` and runs every
//! frame on `context.executor()`. The default holds nothing; a backend specialises it to keep state alive
//! between calls (the CPU: its worker threads; a GPU: stream, BLAS handle, memory resource).
#pragma once

namespace voxformer {

template <class Executor>
class execution_context {
 public:
  explicit execution_context(const Executor& executor) : executor_(executor) {}
  execution_context(const execution_context&) = delete;
  execution_context& operator=(const execution_context&) = delete;

  const Executor& executor() const { return executor_; }

 private:
  Executor executor_;
};

}  // namespace voxformer
