//! @file The CUDA executor and its loop: launches the same per-element kernels as the CPU backend, on a stream.
//! Compiled by nvcc only (kernels are `__host__ __device__` functors). The rest of the backend — memory, context,
//! scan and compaction (CUB), GEMM (cuBLAS) — is `cuda_backend.hpp`.
#pragma once

#if !defined(__CUDACC__)
#error "voxformer/backend/cuda/cuda_executor.hpp must be compiled by nvcc"
#endif

#include <cstddef>
#include <new>
#include <string_view>

#include "voxformer/backend/cuda/cuda_check.hpp"
#include "voxformer/core/config.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/core/memory_space.hpp"

struct cublasContext;  // cuBLAS's handle type (cublasHandle_t), named without its header

namespace voxformer {

struct cuda_executor {
  static constexpr std::string_view name = "cuda_executor";
  //! The block size limit of every architecture CUDA 13 supports (sm_75 and newer).
  static constexpr int max_threads_per_block = 1024;

  cudaStream_t stream = nullptr;
  int threads_per_block = 256;
  //! The cuBLAS handle `gemm` runs on, bound to `stream`; an `execution_context` makes one (and its workspace).
  cublasContext* blas = nullptr;
  //! Device memory a 16-bit product rounds fp32 rows of a into (`gemm_narrow.hpp`); an `execution_context` makes it.
  //! Its products use it in stream order, so the executor's work must be issued from one host thread at a time.
  void* staging = nullptr;
  std::size_t staging_bytes = 0;

  //! The CUDA device the stream belongs to: only its memory (and managed memory) is given to the executor's
  //! kernels, `allocate_buffer` allocates there, and every call of the backend makes it current while it issues the
  //! executor's work (as PyTorch's device guard does), whichever device the calling thread has current.
  int device = 0;

  //! The default stream of the device current now, 256 threads per block.
  cuda_executor() : device(current_device()) {}
  //! Launches on `stream` (on the device it was made on) with `threads_per_block` in [1, 1024]; anything else is a
  //! voxformer::error here, on the host, before any launch (and again at each launch, should the field be changed
  //! afterwards).
  cuda_executor(cudaStream_t stream_, int threads_per_block_ = 256)
      : stream(stream_), threads_per_block(threads_per_block_) {
    check_threads_per_block(threads_per_block);
    if (stream == nullptr)
      device = current_device();
    else
      VOXFORMER_CUDA_CHECK(cudaStreamGetDevice(stream, &device));
  }

  constexpr bool can_access(memory_space space) const { return device_accessible(space, device); }

  //! The current device, or 0 where CUDA cannot tell (no GPU, no driver: the first launch says why), so that a
  //! machine without a GPU still checks arguments.
  static int current_device() {
    int current = 0;
    if (cudaGetDevice(&current) == cudaSuccess) return current;
    (void)cudaGetLastError();  // not left for the next check to report
    return 0;
  }

  static constexpr void check_threads_per_block(int threads) {
    if (threads < 1 || threads > max_threads_per_block)
      detail::fail("voxformer::cuda_executor: argument 'threads_per_block' must be in [1, ", max_threads_per_block,
                   "], got ", threads);
  }
};

//! Makes `device` the current CUDA device while it lives, if it is not already, and then restores the one before.
//! A failure is a voxformer::error, or with `std::nothrow` (for destructors) leaves the current device as it was.
class current_device_scope {
 public:
  explicit current_device_scope(int device) {
    VOXFORMER_CUDA_CHECK(cudaGetDevice(&previous_));
    if (device == previous_) return;
    VOXFORMER_CUDA_CHECK(cudaSetDevice(device));
    changed_ = true;
  }
  current_device_scope(int device, std::nothrow_t) {
    changed_ = cudaGetDevice(&previous_) == cudaSuccess && device != previous_ && cudaSetDevice(device) == cudaSuccess;
  }
  ~current_device_scope() {
    if (changed_) cudaSetDevice(previous_);  // no error to report from a destructor
  }
  current_device_scope(const current_device_scope&) = delete;
  current_device_scope& operator=(const current_device_scope&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

namespace detail {

template <class Kernel>
__global__ void for_each_index_kernel(index_t n, Kernel kernel) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) kernel(i);
}

}  // namespace detail

//! Calls `kernel(i)` for every i in [0, n) on the executor's stream (asynchronously). The last argument, the
//! CPU's hint of how many elements are worth a thread, means nothing to a GPU grid.
template <class Kernel>
void parallel_for(const cuda_executor& executor, index_t n, const Kernel& kernel, index_t = 0) {
  if (n <= 0) return;
  cuda_executor::check_threads_per_block(executor.threads_per_block);  // before the division below
  const index_t blocks_needed = (n + executor.threads_per_block - 1) / executor.threads_per_block;
  const unsigned blocks = static_cast<unsigned>(blocks_needed < (1 << 20) ? blocks_needed : (1 << 20));
  const current_device_scope on(executor.device);
  detail::for_each_index_kernel<<<blocks, executor.threads_per_block, 0, executor.stream>>>(n, kernel);
  VOXFORMER_CUDA_CHECK(cudaGetLastError());
}

}  // namespace voxformer
