//! @file Runtime element-type descriptors, for tensors whose type is only known at run time (DLPack).
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

namespace voxformer {

enum class scalar_kind : std::uint8_t { signed_int, unsigned_int, floating, boolean, other };

struct dtype {
  scalar_kind kind = scalar_kind::other;
  std::uint8_t bits = 0;

  friend constexpr bool operator==(dtype, dtype) = default;
};

template <class T>
constexpr dtype dtype_of() {
  using U = std::remove_cv_t<T>;
  constexpr auto bits = static_cast<std::uint8_t>(8 * sizeof(U));
  if constexpr (std::is_same_v<U, bool>) return {scalar_kind::boolean, bits};
  else if constexpr (std::is_floating_point_v<U>) return {scalar_kind::floating, bits};
  else if constexpr (std::is_integral_v<U> && std::is_signed_v<U>) return {scalar_kind::signed_int, bits};
  else if constexpr (std::is_integral_v<U>) return {scalar_kind::unsigned_int, bits};
  else return {scalar_kind::other, bits};
}

inline std::string to_string(dtype t) {
  const char* prefix = "?";
  switch (t.kind) {
    case scalar_kind::signed_int: prefix = "int"; break;
    case scalar_kind::unsigned_int: prefix = "uint"; break;
    case scalar_kind::floating: prefix = "float"; break;
    case scalar_kind::boolean: return "bool";
    case scalar_kind::other: prefix = "opaque"; break;
  }
  return prefix + std::to_string(t.bits);
}

}  // namespace voxformer
