//! @file A 4×4 row-major matrix small enough to pass by value into kernels (calibration, projection).
#pragma once

#include "voxformer/core/config.hpp"

namespace voxformer {

template <class T>
struct mat4 {
  T m[16];  //!< row-major: m[4·row + col]

  //! Row `row` of M·[x, y, z, 1]ᵀ, summed left to right.
  VOXFORMER_HOST_DEVICE constexpr T apply_row(int row, T x, T y, T z) const {
    const T* r = m + 4 * row;
    return r[0] * x + r[1] * y + r[2] * z + r[3];
  }
};

}  // namespace voxformer
