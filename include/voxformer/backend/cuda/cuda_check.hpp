//! @file The one macro every CUDA runtime call goes through.
#pragma once

#include <cuda_runtime_api.h>

#include "voxformer/core/error.hpp"

namespace voxformer::detail {

inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess)
    fail("CUDA error ", cudaGetErrorName(status), " (", cudaGetErrorString(status), ") in ", call, " at ", file, ":",
         line);
}

}  // namespace voxformer::detail

#define VOXFORMER_CUDA_CHECK(call) ::voxformer::detail::check_cuda((call), #call, __FILE__, __LINE__)
