//! @file Eigen types as voxformer tensors, without copies:
//! - dense objects with direct access (`Matrix`, `Array`, `Map`, `Ref`, direct-access `Block`s): rank 2
//!   (rows, cols), or rank 1 for compile-time vectors (`VectorXf`, `RowVectorXi`, …);
//! - `Tensor` and `TensorMap` of either storage order: their rank, with strides matching the layout.
#pragma once

#include <Eigen/Core>
#include <array>
#include <type_traits>
#include <unsupported/Eigen/CXX11/Tensor>

#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

namespace detail {

template <class X>
concept eigen_direct_dense = std::is_base_of_v<Eigen::DenseBase<X>, X> && requires(X& x) {
  x.data();
  x.innerStride();
  x.outerStride();
};

template <class X>
concept eigen_tensor = std::is_base_of_v<Eigen::TensorBase<X, Eigen::ReadOnlyAccessors>, X> && requires(X& x) {
  x.data();
  x.dimensions();
};

template <class Object>
auto eigen_dense_view(Object& x) {
  using X = std::remove_const_t<Object>;
  using E = std::remove_pointer_t<decltype(x.data())>;
  if constexpr (X::IsVectorAtCompileTime) {
    return tensor_view<E, 1>(x.data(), {static_cast<index_t>(x.size())}, {static_cast<index_t>(x.innerStride())});
  } else {
    // The inner stride runs along rows of column-major objects and along columns of row-major ones.
    const index_t row_stride = X::IsRowMajor ? x.outerStride() : x.innerStride();
    const index_t col_stride = X::IsRowMajor ? x.innerStride() : x.outerStride();
    return tensor_view<E, 2>(x.data(), {x.rows(), x.cols()}, {row_stride, col_stride});
  }
}

template <class Object>
auto eigen_tensor_view(Object& x) {
  using X = std::remove_const_t<Object>;
  using E = std::remove_pointer_t<decltype(x.data())>;
  constexpr int rank = X::NumDimensions;
  std::array<index_t, rank> extents{}, strides{};
  const auto& dims = x.dimensions();
  index_t running = 1;
  for (int i = 0; i < rank; ++i) {
    const int d = (static_cast<int>(X::Layout) == static_cast<int>(Eigen::RowMajor)) ? rank - 1 - i : i;  // fastest first
    extents[d] = static_cast<index_t>(dims[d]);
    strides[d] = running;
    running *= extents[d];
  }
  return tensor_view<E, rank>(x.data(), extents, strides);
}

}  // namespace detail

template <detail::eigen_direct_dense X>
struct tensor_traits<X> {
  static auto view(X& x) { return detail::eigen_dense_view(x); }
  static auto view(const X& x) { return detail::eigen_dense_view(x); }
};

template <detail::eigen_tensor X>
struct tensor_traits<X> {
  static auto view(X& x) { return detail::eigen_tensor_view(x); }
  static auto view(const X& x) { return detail::eigen_tensor_view(x); }
};

}  // namespace voxformer
