//! @file Runtime element-type descriptors, for tensors whose type is only known at run time (DLPack).
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

namespace voxformer {

//! `floating` is IEEE binary (fp16, fp32, fp64); `brain_floating` is bfloat16 (fp32's exponent, 7 stored mantissa
//! bits), which shares fp16's 16 bits and must not be mistaken for it.
enum class scalar_kind : std::uint8_t { signed_int, unsigned_int, floating, brain_floating, boolean, other };

struct dtype {
  scalar_kind kind = scalar_kind::other;
  std::uint8_t bits = 0;

  friend constexpr bool operator==(dtype, dtype) = default;
};

//! The runtime descriptor of element type T. Specialise it for a type the standard library cannot classify (the
//! CUDA backend does for `__half` and `__nv_bfloat16`, backend/cuda/half_types.hpp).
template <class T>
struct dtype_traits {
  static constexpr dtype value = [] {
    constexpr auto bits = static_cast<std::uint8_t>(8 * sizeof(T));
    if constexpr (std::is_same_v<T, bool>) return dtype{scalar_kind::boolean, bits};
    else if constexpr (std::is_floating_point_v<T>) return dtype{scalar_kind::floating, bits};
    else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) return dtype{scalar_kind::signed_int, bits};
    else if constexpr (std::is_integral_v<T>) return dtype{scalar_kind::unsigned_int, bits};
    else return dtype{scalar_kind::other, bits};
  }();
};

template <class T>
constexpr dtype dtype_of() {
  return dtype_traits<std::remove_cv_t<T>>::value;
}

inline std::string to_string(dtype t) {
  const char* prefix = "?";
  switch (t.kind) {
    case scalar_kind::signed_int: prefix = "int"; break;
    case scalar_kind::unsigned_int: prefix = "uint"; break;
    case scalar_kind::floating: prefix = "float"; break;
    case scalar_kind::brain_floating: prefix = "bfloat"; break;
    case scalar_kind::boolean: return "bool";
    case scalar_kind::other: prefix = "opaque"; break;
  }
  return prefix + std::to_string(t.bits);
}

}  // namespace voxformer
