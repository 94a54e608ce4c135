//! @file The one macro every cuBLAS call goes through.
#pragma once

#include <cublas_v2.h>

#include "voxformer/core/error.hpp"

namespace voxformer::detail {

inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    fail("cuBLAS error ", cublasGetStatusName(status), " (", cublasGetStatusString(status), ") in ", call, " at ", file,
         ":", line);
}

}  // namespace voxformer::detail

#define VOXFORMER_CUBLAS_CHECK(call) ::voxformer::detail::check_cublas((call), #call, __FILE__, __LINE__)
