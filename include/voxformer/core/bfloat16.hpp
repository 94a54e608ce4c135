//! @file bfloat16, a narrow storage type of weights on every backend (float16 is the other): Eigen's type (a float
//! rounded to the nearest bfloat16, ties to even, NaN kept a NaN; its conversions are host and device functions, and
//! its bits are CUDA's `__nv_bfloat16`'s), described to the runtime as bfloat16 so that a DLPack bfloat16 tensor is
//! viewed as one and never as fp16.
#pragma once

#include <Eigen/Core>

#include "voxformer/core/dtype.hpp"

namespace voxformer {

using bfloat16 = Eigen::bfloat16;

template <>
struct dtype_traits<Eigen::bfloat16> {
  static constexpr dtype value{scalar_kind::brain_floating, 16};
};

}  // namespace voxformer
