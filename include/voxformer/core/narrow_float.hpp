//! @file The 16-bit storage types of weights, bfloat16 and float16, summed in fp32 by every backend's product, and
//! their bits: what the CPU packs and widens, and what the GPU's staging rounds to.
#pragma once

#include <cstdint>
#include <type_traits>

#include "voxformer/core/bfloat16.hpp"
#include "voxformer/core/float16.hpp"

namespace voxformer {

template <class W>
concept narrow_float = std::is_same_v<W, bfloat16> || std::is_same_v<W, float16>;

namespace detail {

//! The 16 bits of x (a float, or a W already) stored as W: rounded to the nearest, ties to even (Eigen's conversion,
//! the same for both types).
template <narrow_float W, class X>
std::uint16_t narrow_bits(X x) {
  return Eigen::numext::bit_cast<std::uint16_t>(W(x));
}
//! The float W's bits stand for (exact: both are a float with fewer bits).
template <narrow_float W>
float widen_narrow_bits(std::uint16_t bits) {
  return static_cast<float>(Eigen::numext::bit_cast<W>(bits));
}

}  // namespace detail

}  // namespace voxformer
