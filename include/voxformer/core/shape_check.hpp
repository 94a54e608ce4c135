//! @file Argument checks at the API boundary: shape, memory space and aliasing, with messages that name the
//! op, the argument, its layout and the expected vs actual shape.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>

#include "voxformer/core/error.hpp"
#include "voxformer/core/tensor_view.hpp"
#include "voxformer/core/workspace.hpp"

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

//! "cpu_executor", or "cuda_executor on device 1" for an executor bound to one GPU.
template <class Executor>
std::string describe_executor(const Executor& executor) {
  std::string name(Executor::name);
  if constexpr (requires { executor.device; }) name += " on device " + std::to_string(executor.device);
  return name;
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
                  " memory, which the ", detail::describe_executor(executor), " cannot access");
}

//! Memory a caller hands a pipeline for its frames (`use_frame_memory`): real, at least `bytes`, and memory the
//! executor can touch.
template <class Executor>
void expect_frame_memory(std::string_view op, const Executor& executor, const workspace& memory, std::size_t bytes) {
  detail::require(!memory.sizing() && memory.capacity() >= bytes, op, ": a frame needs ", bytes,
                  " bytes, the memory given ",
                  memory.sizing() ? "is a sizing workspace" : "holds " + std::to_string(memory.capacity()) + " bytes");
  detail::require(executor.can_access(memory.space()), op, ": the memory given lives in ", to_string(memory.space()),
                  " memory, which the ", detail::describe_executor(executor), " cannot access");
}

namespace detail {

//! The bytes [begin, end) between a view's lowest and highest element (begin == end when it is empty).
struct argument_memory {
  std::string_view name;
  std::uintptr_t begin = 0, end = 0;
};

template <class T, int Rank>
argument_memory memory_of(std::string_view name, const tensor_view<T, Rank>& v) {
  if (v.empty()) return {name};
  index_t lo = 0, hi = 0;  // element offsets; as_view checked that they fit
  for (int d = 0; d < Rank; ++d) {
    const index_t reach = (v.extent(d) - 1) * v.stride(d);
    (reach < 0 ? lo : hi) += reach;
  }
  const auto base = reinterpret_cast<std::uintptr_t>(v.data());
  const auto element = static_cast<std::uintptr_t>(sizeof(T));
  return {name, base - static_cast<std::uintptr_t>(-lo) * element, base + static_cast<std::uintptr_t>(hi + 1) * element};
}

inline bool overlap(const argument_memory& a, const argument_memory& b) {
  return a.begin != a.end && b.begin != b.end && a.begin < b.end && b.begin < a.end;
}

}  // namespace detail

//! Checks that no output overlaps another output or an input: ops read inputs while writing outputs, in
//! parallel, so an alias is a race or a silent wrong answer. Byte ranges are compared, so two views that
//! interleave within one buffer count as overlapping. Build the lists with `detail::memory_of(name, view)`.
inline void expect_no_aliasing(std::string_view op, std::initializer_list<detail::argument_memory> outputs,
                               std::initializer_list<detail::argument_memory> inputs) {
  for (auto out = outputs.begin(); out != outputs.end(); ++out) {
    for (auto other = outputs.begin(); other != out; ++other)
      detail::require(!detail::overlap(*out, *other), op, ": outputs '", other->name, "' and '", out->name,
                      "' overlap");
    for (const auto& in : inputs)
      detail::require(!detail::overlap(*out, in), op, ": output '", out->name, "' overlaps input '", in.name, "'");
  }
}

//! Checks that an output does not overlap an input (the two-argument form of `expect_no_aliasing`).
template <class T, int R1, class U, int R2>
void expect_disjoint(std::string_view op, std::string_view out_arg, const tensor_view<T, R1>& out,
                     std::string_view in_arg, const tensor_view<U, R2>& in) {
  expect_no_aliasing(op, {detail::memory_of(out_arg, out)}, {detail::memory_of(in_arg, in)});
}

//! Checks that `points` [N, >=3] holds the x, y, z columns (the point ops ignore any further ones).
template <class T>
void expect_xyz_points(std::string_view op, const tensor_view<T, 2>& points) {
  detail::require(points.extent(1) >= 3, op, ": argument 'points' [N, >=3] needs at least 3 columns (x, y, z), got ",
                  points.extent(1));
}

//! A contiguous view of any rank seen as rank 1 (grids are addressed by their C-order flat index).
template <class T, int Rank>
tensor_view<T, 1> flat_contiguous(std::string_view op, std::string_view arg, const tensor_view<T, Rank>& view) {
  detail::require(view.is_contiguous(), op, ": argument '", arg,
                  "' must be contiguous (it is addressed by its C-order flat index)");
  return tensor_view<T, 1>(view.data(), {view.size()}, view.space());
}

}  // namespace voxformer
