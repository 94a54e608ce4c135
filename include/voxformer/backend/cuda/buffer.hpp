//! @file Device memory for the CUDA executor (what a pipeline sizes once and carves its workspaces from), the copy
//! of host data into it (weights), and the executor's `synchronize` (waits for its stream).
#pragma once

#include <cstddef>
#include <memory>

#include "voxformer/backend/cuda/cuda_executor.hpp"
#include "voxformer/core/memory_space.hpp"

namespace voxformer {

class cuda_buffer {
 public:
  cuda_buffer() = default;
  //! `bytes` of the memory of CUDA device `device` (cudaMalloc: 256-byte aligned, more than a workspace asks); a
  //! failure, out of memory included, is a voxformer::error naming the call.
  cuda_buffer(std::size_t bytes, int device) : bytes_(bytes), device_(device) {
    if (bytes == 0) return;
    const current_device_scope on(device);
    void* memory = nullptr;
    VOXFORMER_CUDA_CHECK(cudaMalloc(&memory, bytes));
    data_.reset(static_cast<std::byte*>(memory));
  }

  std::byte* data() const { return data_.get(); }
  std::size_t size() const { return bytes_; }
  memory_space space() const { return memory_space::on_device(device_); }

 private:
  struct release {
    void operator()(std::byte* p) const { cudaFree(p); }  // no error to report from a destructor
  };
  std::unique_ptr<std::byte, release> data_;
  std::size_t bytes_ = 0;
  int device_ = 0;
};

//! Memory of the executor's device, whichever device is current.
inline cuda_buffer allocate_buffer(const cuda_executor& executor, std::size_t bytes) {
  return cuda_buffer(bytes, executor.device);
}

//! Host memory into device memory, on the executor's stream (from pageable memory CUDA stages the copy, so `from`
//! may be reused when this returns; from pinned memory it may not before `synchronize`).
inline void copy_from_host(const cuda_executor& executor, void* to, const void* from, std::size_t bytes) {
  if (bytes == 0) return;
  const current_device_scope on(executor.device);
  VOXFORMER_CUDA_CHECK(cudaMemcpyAsync(to, from, bytes, cudaMemcpyHostToDevice, executor.stream));
}

//! Device memory into host memory, after everything issued on the executor's stream before it (a synchronisation:
//! what the host reads once per frame, after the frame).
inline void copy_to_host(const cuda_executor& executor, void* to, const void* from, std::size_t bytes) {
  if (bytes == 0) return;
  const current_device_scope on(executor.device);
  VOXFORMER_CUDA_CHECK(cudaMemcpyAsync(to, from, bytes, cudaMemcpyDeviceToHost, executor.stream));
  VOXFORMER_CUDA_CHECK(cudaStreamSynchronize(executor.stream));
}

//! Waits for everything issued on the executor's stream (and reports the first error of that work).
inline void synchronize(const cuda_executor& executor) {
  const current_device_scope on(executor.device);  // the null stream is the current device's
  VOXFORMER_CUDA_CHECK(cudaStreamSynchronize(executor.stream));
}

}  // namespace voxformer
