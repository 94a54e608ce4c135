//! @file The customization point through which any user tensor type is accepted by every op.
//!
//! Teach voxformer a type the way {fmt} is taught a formatter: specialise `voxformer::tensor_traits`.
//!
//! *Statically typed* tensors (element type and rank known at compile time) provide
//!
//!     static tensor_view<E, R> view(Tensor& t);          // and/or view(const Tensor&)
//!
//! *Dynamically typed* tensors (DLPack and friends) provide
//!
//!     static dynamic_tensor describe(const Tensor& t);
//!
//! Either way no element is copied: ops receive a view of the caller's memory. `as_view` turns any such
//! argument into the `tensor_view<T, R>` an op wants and checks element type, rank and constness — at
//! compile time where the type says it, at run time otherwise.
#pragma once

#include <array>
#include <concepts>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>

#include "voxformer/core/dtype.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/core/layout_check.hpp"
#include "voxformer/core/memory_space.hpp"
#include "voxformer/core/tensor_view.hpp"

namespace voxformer {

//! Primary template: deliberately undefined. Specialise it (fully, or partially with a constraint).
template <class Tensor>
struct tensor_traits;

template <class T, int Rank>
struct tensor_traits<tensor_view<T, Rank>> {
  static tensor_view<T, Rank> view(const tensor_view<T, Rank>& v) { return v; }
};

//! What a dynamically typed tensor reports about itself. `strides == nullptr` means C-contiguous.
struct dynamic_tensor {
  void* data = nullptr;
  dtype type{};
  int rank = 0;
  const std::int64_t* shape = nullptr;
  const std::int64_t* strides = nullptr;  // in elements
  memory_space space = memory_space::host;
  bool writable = true;  //!< false for read-only sources: they cannot bind to an op's output
};

namespace detail {
template <class>
inline constexpr bool is_tensor_view = false;
template <class T, int R>
inline constexpr bool is_tensor_view<tensor_view<T, R>> = true;
}  // namespace detail

template <class X>
using traits_of = tensor_traits<std::remove_cvref_t<X>>;

//! A tensor whose element type and rank are part of its C++ type.
template <class X>
concept static_tensor = requires(X& x) {
  { traits_of<X>::view(x) };
  requires detail::is_tensor_view<decltype(traits_of<X>::view(x))>;
};

//! A tensor that describes its element type and rank at run time.
template <class X>
concept dynamic_tensor_source = requires(const X& x) {
  { traits_of<X>::describe(x) } -> std::same_as<dynamic_tensor>;
};

//! Anything an op accepts as a tensor argument.
template <class X>
concept tensor_like = static_tensor<X> || dynamic_tensor_source<X>;

//! The view a statically typed tensor yields (constness included).
template <static_tensor X>
using view_type_of = decltype(traits_of<X>::view(std::declval<X&>()));

//! Element-type resolution for op templates: an op's element type is either given explicitly or, when
//! left as `deduce`, taken from a statically typed argument, falling back to `Default` for dynamic ones.
struct deduce {};

template <class Requested, class X, class Default>
struct resolve_element {
  using type = Requested;
};
template <class X, class Default>
struct resolve_element<deduce, X, Default> {
  using type = Default;
};
template <static_tensor X, class Default>
struct resolve_element<deduce, X, Default> {
  using type = typename view_type_of<X>::value_type;
};
template <class Requested, class X, class Default>
using resolve_element_t = typename resolve_element<Requested, X, Default>::type;

namespace detail {
//! The layout checks of `as_view` (core/layout_check.hpp); outputs (non-const T) must not alias themselves.
template <class T, int Rank>
tensor_view<T, Rank> checked_layout(const tensor_view<T, Rank>& view, std::string_view op, std::string_view arg) {
  std::array<index_t, Rank> strides{};
  for (int d = 0; d < Rank; ++d) strides[d] = view.stride(d);
  require_valid_layout(op, arg, view.extents(), strides, sizeof(T));
  require(view.data() != nullptr || view.empty(), op, ": argument '", arg, "' has ", view.size(),
          " elements but no data (a null pointer)");
  if constexpr (!std::is_const_v<T>) require_distinct_elements(op, arg, view.extents(), strides);
  return view;
}
}  // namespace detail

//! Turns a tensor argument into a checked `tensor_view<T, Rank>`: element type, rank, constness, and a layout
//! whose offsets cannot overflow (and, for an output, that addresses each element once). `op` and `arg` name
//! the call site in error messages. `T` may be const-qualified: a mutable tensor is then read through a const
//! view.
template <class T, int Rank, class X>
tensor_view<T, Rank> as_view(X&& x, std::string_view op, std::string_view arg) {
  static_assert(tensor_like<X>,
                "voxformer: this argument is not a tensor voxformer knows; specialise voxformer::tensor_traits "
                "for its type (see voxformer/core/tensor_traits.hpp) or include the adapter for it");
  if constexpr (static_tensor<X>) {
    using view_t = view_type_of<X>;
    using source_element = typename view_t::element_type;
    static_assert(view_t::rank == Rank, "voxformer: tensor argument has the wrong rank for this op");
    static_assert(std::is_same_v<std::remove_const_t<source_element>, std::remove_const_t<T>>,
                  "voxformer: tensor argument has the wrong element type for this op");
    static_assert(std::is_const_v<T> || !std::is_const_v<source_element>,
                  "voxformer: an output argument must be a mutable tensor, not a const one");
    return detail::checked_layout(tensor_view<T, Rank>(traits_of<X>::view(x)), op, arg);
  } else {
    const dynamic_tensor d = traits_of<X>::describe(x);
    detail::require(d.type == dtype_of<T>(), op, ": argument '", arg, "' has element type ", to_string(d.type),
                    ", expected ", to_string(dtype_of<T>()));
    detail::require(std::is_const_v<T> || (d.writable && !std::is_const_v<std::remove_reference_t<X>>), op, ": argument '", arg,
                    "' is read-only and cannot be written as an output");
    detail::require(d.rank == Rank, op, ": argument '", arg, "' has rank ", d.rank, ", expected rank ", Rank);
    std::array<index_t, Rank> extents{};
    for (int i = 0; i < Rank; ++i) extents[i] = d.shape[i];
    detail::require_valid_extents(op, arg, extents);  // before the row-major strides multiply them
    std::array<index_t, Rank> strides = tensor_view<T, Rank>::row_major_strides(extents);
    if (d.strides != nullptr)
      for (int i = 0; i < Rank; ++i) strides[i] = d.strides[i];
    return detail::checked_layout(tensor_view<T, Rank>(static_cast<T*>(d.data), extents, strides, d.space), op, arg);
  }
}

}  // namespace voxformer
