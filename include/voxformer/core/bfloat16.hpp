//! @file bfloat16, a narrow storage type of weights on every backend (float16 is the other): Eigen's type (a float
//! rounded to the nearest bfloat16, ties to even, NaN kept a NaN; its conversions are host and device functions, and
//! its bits are CUDA's `__nv_bfloat16`'s), described to the runtime as bfloat16 so that a DLPack bfloat16 tensor is
//! viewed as one and never as fp16.
#pragma once

#include <Eigen/Core>
#include <bit>
#include <cstdint>

#include "voxformer/core/dtype.hpp"

namespace voxformer {

using bfloat16 = Eigen::bfloat16;

template <>
struct dtype_traits<Eigen::bfloat16> {
  static constexpr dtype value{scalar_kind::brain_floating, 16};
};

namespace detail {

//! The 16 bits of x as a bfloat16 (a float rounded to the nearest).
inline std::uint16_t bfloat16_bits(float x) { return bfloat16(x).value; }
inline std::uint16_t bfloat16_bits(bfloat16 x) { return x.value; }
//! The float a bfloat16's bits stand for (exact: bfloat16 is a float's upper half).
inline float widen_bfloat16_bits(std::uint16_t bits) { return std::bit_cast<float>(std::uint32_t{bits} << 16); }

}  // namespace detail

}  // namespace voxformer
