//! @file CUDA's 16-bit floating types as voxformer element types: fp16 (`__half`) and bf16 (`__nv_bfloat16`), each
//! with its own runtime dtype (DLPack's float16 and bfloat16), so that neither is taken for the other.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "voxformer/core/dtype.hpp"

namespace voxformer {

template <>
struct dtype_traits<__half> {
  static constexpr dtype value{scalar_kind::floating, 16};
};

template <>
struct dtype_traits<__nv_bfloat16> {
  static constexpr dtype value{scalar_kind::brain_floating, 16};
};

}  // namespace voxformer
