//! @file The CUDA execution context: a stream (the caller's, or one of its own), the cuBLAS handle bound to it, the
//! handle's workspace and the 16-bit products' staging buffer, made once and kept for the pipeline's life, all on
//! the executor's device.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>

#include "voxformer/backend/cuda/buffer.hpp"
#include "voxformer/backend/cuda/cublas_check.hpp"
#include "voxformer/backend/cuda/cuda_executor.hpp"
#include "voxformer/core/execution_context.hpp"

namespace voxformer {

template <>
class execution_context<cuda_executor> {
 public:
  //! cuBLAS's workspace: 32 MiB, NVIDIA's advice for Hopper. Given to the handle, so that cuBLAS never allocates
  //! behind the pipeline's back (which would also stop a CUDA graph from capturing a frame).
  static constexpr std::size_t blas_workspace_bytes = std::size_t{32} << 20;
  //! Where a 16-bit product rounds fp32 activations (`gemm_narrow.hpp`): 8 MiB, 16 384 rows of 256 at a time, so
  //! that a product of any height runs in a few large calls with no allocation of its own. Made for every context
  //! (an fp32 pipeline leaves it unused) and, like the cuBLAS workspace, not counted in a pipeline's memory figures.
  static constexpr std::size_t staging_bytes = std::size_t{8} << 20;

  //! Binds a new cuBLAS handle and its workspace to the executor's stream — a stream of the context's own when the
  //! executor names none (the legacy default stream would serialise the pipeline with every other stream) — and
  //! makes the staging buffer, unless the executor already has a handle (another context's, as when a whole model
  //! hands its executor to its parts): then that executor is used as it is, given a staging buffer if it has none.
  explicit execution_context(const cuda_executor& executor) : executor_(executor) {
    const current_device_scope on(executor_.device);  // the stream, the handle and the buffers live there
    if (executor_.blas != nullptr) {
      if (executor_.staging == nullptr) make_staging();  // a handle of the caller's own, without the buffer
      return;
    }
    if (executor_.stream == nullptr) {
      cudaStream_t stream = nullptr;
      VOXFORMER_CUDA_CHECK(cudaStreamCreate(&stream));
      owned_stream_.reset(stream);
      executor_.stream = stream;
    }
    cublasHandle_t handle = nullptr;
    VOXFORMER_CUBLAS_CHECK(cublasCreate(&handle));
    owned_.reset(handle);  // destroyed even if what follows fails
    blas_workspace_.emplace(blas_workspace_bytes, executor_.device);
    VOXFORMER_CUBLAS_CHECK(cublasSetStream(handle, executor_.stream));
    VOXFORMER_CUBLAS_CHECK(cublasSetWorkspace(handle, blas_workspace_->data(), blas_workspace_->size()));
    executor_.blas = handle;
    make_staging();
  }
  //! Everything released on the device it was made on (cublasDestroy synchronises the current device).
  ~execution_context() {
    const current_device_scope on(executor_.device, std::nothrow);
    owned_.reset();
    blas_workspace_.reset();
    staging_.reset();
    owned_stream_.reset();
  }
  execution_context(const execution_context&) = delete;
  execution_context& operator=(const execution_context&) = delete;

  //! The executor with the context's cuBLAS handle.
  cuda_executor executor() const { return executor_; }

 private:
  void make_staging() {
    staging_.emplace(staging_bytes, executor_.device);
    executor_.staging = staging_->data();
    executor_.staging_bytes = staging_->size();
  }

  struct destroy {
    void operator()(cudaStream_t stream) const { cudaStreamDestroy(stream); }
    void operator()(cublasHandle_t handle) const { cublasDestroy(handle); }
  };
  // Declared in the order they are made: the handle goes first, then its workspace, then its stream.
  std::unique_ptr<CUstream_st, destroy> owned_stream_;  //!< null unless the context made the stream
  std::optional<cuda_buffer> blas_workspace_, staging_;
  std::unique_ptr<cublasContext, destroy> owned_;  //!< null when the executor came with its handle
  cuda_executor executor_;
};

}  // namespace voxformer
