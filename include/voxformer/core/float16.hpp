//! @file float16 (IEEE binary16), the weights' other narrow storage type: Eigen's type (a float rounded to the
//! nearest, ties to even; from ±65 520 on, halfway past the largest finite 65 504, an infinity, as CUDA's `__half`
//! rounds), described to the runtime as fp16 so that it is never taken for bfloat16. Its 11-bit significand keeps 8
//! times bfloat16's precision, its 5-bit exponent far less range: fp32 values from 65 520 on do not survive.
#pragma once

#include <Eigen/Core>

#include "voxformer/core/dtype.hpp"

namespace voxformer {

using float16 = Eigen::half;

template <>
struct dtype_traits<Eigen::half> {
  static constexpr dtype value{scalar_kind::floating, 16};
};

}  // namespace voxformer
