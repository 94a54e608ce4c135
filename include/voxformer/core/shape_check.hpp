//! @file Argument checks at the API boundary: shape, memory space and aliasing, with messages that name the
//! op, the argument, its layout and the expected vs actual shape.
#pragma once

#include <array>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>

#include "voxformer/core/error.hpp"
#include "voxformer/core/tensor_view.hpp"

namespace voxformer {

//! Wildcard extent in an expected shape.
inline constexpr index_t any_extent = -1;

namespace detail {

//! "[2, *, 3]" for extents {2, any_extent, 3} (any container of extents).
template <class Extents>
std::string format_shape(const Extents& extents) {
  std::ostringstream out;
  out << '[';
  bool first = true;
  for (const auto e : extents) {
    if (!first) out << ", ";
    first = false;
    if (e == any_extent) out << '*';
    else out << e;
  }
  out << ']';
  return out.str();
}

}  // namespace detail

//! Checks every extent of `view` against `expected` (`any_extent` matches anything).
template <class T, int Rank>
void expect_shape(std::string_view op, std::string_view arg, std::string_view layout, const tensor_view<T, Rank>& view,
                  const std::type_identity_t<std::array<index_t, Rank>>& expected) {
  for (int d = 0; d < Rank; ++d) {
    if (expected[d] != any_extent && expected[d] != view.extent(d))
      detail::fail(op, ": argument '", arg, "' ", layout, " expected shape ", detail::format_shape(expected), ", got ",
                   detail::format_shape(view.extents()));
  }
}

//! Checks that an executor can touch the memory behind `view`.
template <class Executor, class T, int Rank>
void expect_accessible(std::string_view op, std::string_view arg, const Executor& executor,
                       const tensor_view<T, Rank>& view) {
  detail::require(executor.can_access(view.space()), op, ": argument '", arg, "' lives in ", to_string(view.space()),
                  " memory, which the ", Executor::name, " cannot access");
}

//! Checks that an output does not overlap an input (ops read inputs while writing outputs).
template <class T, int R1, class U, int R2>
void expect_disjoint(std::string_view op, std::string_view out_arg, const tensor_view<T, R1>& out,
                     std::string_view in_arg, const tensor_view<U, R2>& in) {
  if (out.empty() || in.empty()) return;
  auto span_of = [](const auto& v) {
    index_t lo = 0, hi = 0;
    for (int d = 0; d < std::remove_cvref_t<decltype(v)>::rank; ++d) {
      const index_t reach = (v.extent(d) - 1) * v.stride(d);
      (reach < 0 ? lo : hi) += reach;
    }
    using E = typename std::remove_cvref_t<decltype(v)>::value_type;
    const auto base = static_cast<index_t>(reinterpret_cast<std::uintptr_t>(v.data()));
    return std::array<index_t, 2>{base + lo * index_t(sizeof(E)), base + (hi + 1) * index_t(sizeof(E))};
  };
  const auto a = span_of(out);
  const auto b = span_of(in);
  detail::require(a[1] <= b[0] || b[1] <= a[0], op, ": output '", out_arg, "' overlaps input '", in_arg, "'");
}

//! A contiguous view of any rank seen as rank 1 (grids are addressed by their C-order flat index).
template <class T, int Rank>
tensor_view<T, 1> flat_contiguous(std::string_view op, std::string_view arg, const tensor_view<T, Rank>& view) {
  detail::require(view.is_contiguous(), op, ": argument '", arg,
                  "' must be contiguous (it is addressed by its C-order flat index)");
  return tensor_view<T, 1>(view.data(), {view.size()}, view.space());
}

}  // namespace voxformer
