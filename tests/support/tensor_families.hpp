//! @file The tensor types every op is tested with, over the same storage: voxformer's own view, Eigen
//! `TensorMap`, DLPack `DLTensor`, and `plain_tensor` — a type this test suite defines and adapts itself.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <unsupported/Eigen/CXX11/Tensor>
#include <vector>

#include "voxformer/adapters/dlpack.hpp"
#include "voxformer/adapters/eigen.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace test {

using voxformer::index_t;

//! A user's own tensor type: pointer + shape, row-major. Adapted below in five lines.
template <class T, int Rank>
struct plain_tensor {
  T* values;
  std::array<int, Rank> shape;
};

}  // namespace test

template <class T, int Rank>
struct voxformer::tensor_traits<test::plain_tensor<T, Rank>> {
  static tensor_view<T, Rank> view(const test::plain_tensor<T, Rank>& t) {
    std::array<index_t, Rank> extents{};
    for (int d = 0; d < Rank; ++d) extents[d] = t.shape[d];
    return tensor_view<T, Rank>(t.values, extents);
  }
};

namespace test {

template <class T>
struct dlpack_code;
template <>
struct dlpack_code<float> : std::integral_constant<int, kDLFloat> {};
template <>
struct dlpack_code<double> : std::integral_constant<int, kDLFloat> {};
template <>
struct dlpack_code<std::int32_t> : std::integral_constant<int, kDLInt> {};
template <>
struct dlpack_code<std::int64_t> : std::integral_constant<int, kDLInt> {};
template <>
struct dlpack_code<std::uint8_t> : std::integral_constant<int, kDLUInt> {};
template <>
struct dlpack_code<std::uint32_t> : std::integral_constant<int, kDLUInt> {};

//! Owns the shape a DLTensor points to; neither copyable nor movable, so the pointer stays valid.
template <int Rank>
struct dlpack_tensor {
  std::array<std::int64_t, Rank> shape;
  DLTensor tensor;

  template <class T>
  dlpack_tensor(T* data, const std::array<index_t, Rank>& extents) : shape{}, tensor{} {
    for (int d = 0; d < Rank; ++d) shape[d] = extents[d];
    tensor.data = const_cast<std::remove_const_t<T>*>(data);
    tensor.device = {kDLCPU, 0};
    tensor.ndim = Rank;
    tensor.dtype = {static_cast<std::uint8_t>(dlpack_code<std::remove_const_t<T>>::value),
                    static_cast<std::uint8_t>(8 * sizeof(T)), 1};
    tensor.shape = shape.data();
    tensor.strides = nullptr;
  }
  dlpack_tensor(const dlpack_tensor&) = delete;
  dlpack_tensor& operator=(const dlpack_tensor&) = delete;
};

// A family turns (storage, shape) into its own tensor type; `arg` is what is handed to the op.
struct view_family {
  static constexpr const char* name = "tensor_view";
  template <int Rank, class T>
  static auto make(T* data, const std::array<index_t, Rank>& extents) {
    return voxformer::make_view<Rank>(data, extents);
  }
  template <class X>
  static X& arg(X& x) { return x; }
};

struct eigen_family {
  static constexpr const char* name = "Eigen::TensorMap";
  template <int Rank, class T>
  static auto make(T* data, const std::array<index_t, Rank>& extents) {
    using plain = Eigen::Tensor<std::remove_const_t<T>, Rank, Eigen::RowMajor, Eigen::Index>;
    using tensor = std::conditional_t<std::is_const_v<T>, const plain, plain>;
    std::array<Eigen::Index, Rank> dims{};
    for (int d = 0; d < Rank; ++d) dims[d] = extents[d];
    return Eigen::TensorMap<tensor>(data, dims);
  }
  template <class X>
  static X& arg(X& x) { return x; }
};

struct dlpack_family {
  static constexpr const char* name = "DLTensor";
  template <int Rank, class T>
  static dlpack_tensor<Rank> make(T* data, const std::array<index_t, Rank>& extents) {
    return dlpack_tensor<Rank>(data, extents);
  }
  template <int Rank>
  static DLTensor& arg(dlpack_tensor<Rank>& x) { return x.tensor; }
};

struct plain_family {
  static constexpr const char* name = "plain_tensor (test-defined)";
  template <int Rank, class T>
  static plain_tensor<T, Rank> make(T* data, const std::array<index_t, Rank>& extents) {
    plain_tensor<T, Rank> t{data, {}};
    for (int d = 0; d < Rank; ++d) t.shape[d] = static_cast<int>(extents[d]);
    return t;
  }
  template <class X>
  static X& arg(X& x) { return x; }
};

//! The families a typed test runs over. A lane build (tests/CMakeLists.txt) checks the kernels at another SIMD
//! width, not the adapters: it runs the typed tests over voxformer's own view alone.
#if defined(VOXFORMER_LANE_BUILD)
using tensor_families = ::testing::Types<view_family>;
#else
using tensor_families = ::testing::Types<view_family, eigen_family, dlpack_family, plain_family>;
#endif

}  // namespace test
