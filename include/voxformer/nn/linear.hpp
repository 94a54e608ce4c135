//! @file A fully connected layer in PyTorch's layout: y = x·Wᵀ + b for W [out, in], computed by the
//! executor's GEMM with the bias (and a ReLU or a residual) applied per row right after the product.
#pragma once

#include <cstddef>
#include <type_traits>

#include "voxformer/core/algorithms.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/core/workspace.hpp"
#include "voxformer/ops/common/copy.hpp"

namespace voxformer {

//! A Linear layer's parameters: weight [out, in] (PyTorch's `nn.Linear.weight`) and bias [out], and
//! optionally the weight transposed, [in, out] row-major — the operand the executor's GEMM reads fastest
//! (`prepare_linear` makes it once; then `weight` may be left empty). The weight may be stored in another type W
//! than the activations and bias (bfloat16 with fp32 activations: the executor's product then rounds x to W and
//! sums in T; `prepare_linear<W>` rounds a T weight into it).
template <class T, class W = T>
struct linear_weights {
  tensor_view<const W, 2> weight;
  tensor_view<const T, 1> bias;
  tensor_view<const W, 2> transposed{};

  index_t in_features() const { return transposed.data() != nullptr ? transposed.extent(0) : weight.extent(1); }
  index_t out_features() const { return transposed.data() != nullptr ? transposed.extent(1) : weight.extent(0); }

  //! Wᵀ [in, out] for the product x·Wᵀ: the transposed copy, or a transposed view of the weight (no copy).
  tensor_view<const W, 2> product_operand() const {
    if (transposed.data() != nullptr) return transposed;
    return tensor_view<const W, 2>(weight.data(), {weight.extent(1), weight.extent(0)},
                                   {weight.stride(1), weight.stride(0)}, weight.space());
  }

  //! From any two tensors (the user's own types), without copying.
  template <class Weight, class Bias>
  static linear_weights of(Weight&& weight, Bias&& bias) {
    return {as_view<const W, 2>(weight, "voxformer::linear_weights", "weight"),
            as_view<const T, 1>(bias, "voxformer::linear_weights", "bias")};
  }
};

//! What follows the product: nothing but the bias, a ReLU, or a residual added (y = residual + (x·Wᵀ + b),
//! PyTorch's order of the two additions).
enum class linear_activation { none, relu };

namespace kernels {

//! y[r] = act(y[r] + b), or residual[r] + (y[r] + b) when a residual is given. `out` may be `residual` itself
//! (each element is read before it is written), never `y` unless there is no residual.
template <class T, bool Residual>
struct linear_epilogue {
  tensor_view<T, 2> y;  // the product, [M, out]
  tensor_view<const T, 1> bias;
  tensor_view<const T, 2> residual;  // [M, out] when Residual
  tensor_view<T, 2> out;             // [M, out]
  bool relu;
  VOXFORMER_HOST_DEVICE void operator()(index_t r) const {
    for (index_t c = 0; c < y.extent(1); ++c) {
      T v = y(r, c) + bias(c);
      if (relu) v = v > T(0) ? v : T(0);
      if constexpr (Residual) v = residual(r, c) + v;
      out(r, c) = v;
    }
  }
};

}  // namespace kernels

namespace detail {

//! The product's shapes, spaces and aliasing; `y_arg` names the tensor the product is written to.
template <class Executor, class T, class W>
void check_linear(const char* op, const Executor& executor, const tensor_view<const T, 2>& x,
                  const linear_weights<T, W>& w, const tensor_view<T, 2>& y, const char* y_arg) {
  expect_shape(op, "bias", "[out]", w.bias, {w.out_features()});
  expect_shape(op, "x", "[M, in]", x, {any_extent, w.in_features()});
  expect_shape(op, y_arg, "[M, out]", y, {x.extent(0), w.out_features()});
  const auto operand = w.product_operand();
  expect_accessible(op, "x", executor, x);
  expect_accessible(op, "weight", executor, operand);
  expect_accessible(op, "bias", executor, w.bias);
  expect_accessible(op, y_arg, executor, y);
  expect_disjoint(op, y_arg, y, "x", x);
  expect_disjoint(op, y_arg, y, "weight", operand);
  expect_disjoint(op, y_arg, y, "bias", w.bias);
}

}  // namespace detail

//! y [M, out] = act(x [M, in] · Wᵀ + b); x and y any tensors (a unit stride along one axis each).
template <class Executor, class T, class W, class X, class Y>
void linear(const Executor& executor, X&& x_tensor, const linear_weights<T, W>& weights, Y&& y_tensor,
            linear_activation activation = linear_activation::none) {
  constexpr const char* op = "voxformer::linear";
  const auto x = as_view<const T, 2>(x_tensor, op, "x");
  const auto y = as_view<T, 2>(y_tensor, op, "y");
  detail::check_linear(op, executor, x, weights, y, "y");
  gemm(executor, x, weights.product_operand(), y, false,
       kernels::linear_epilogue<T, false>{y, weights.bias, {}, y, activation == linear_activation::relu});
}

//! out [M, out] = residual + (x · Wᵀ + b), the product computed into `product` [M, out] (scratch), so that
//! `out` may be `residual` itself: the in-place residual update of a transformer layer.
template <class Executor, class T, class W, class X, class Residual, class Product, class Out>
void linear_residual(const Executor& executor, X&& x_tensor, const linear_weights<T, W>& weights,
                     Residual&& residual_tensor, Product&& product_tensor, Out&& out_tensor) {
  constexpr const char* op = "voxformer::linear_residual";
  const auto x = as_view<const T, 2>(x_tensor, op, "x");
  const auto residual = as_view<const T, 2>(residual_tensor, op, "residual");
  const auto product = as_view<T, 2>(product_tensor, op, "product");
  const auto out = as_view<T, 2>(out_tensor, op, "out");
  detail::check_linear(op, executor, x, weights, product, "product");
  expect_shape(op, "residual", "[M, out]", residual, {x.extent(0), weights.out_features()});
  expect_shape(op, "out", "[M, out]", out, {x.extent(0), weights.out_features()});
  expect_accessible(op, "residual", executor, residual);
  expect_accessible(op, "out", executor, out);
  expect_disjoint(op, "product", product, "residual", residual);
  expect_disjoint(op, "product", product, "out", out);
  expect_disjoint(op, "out", out, "x", x);
  gemm(executor, x, weights.product_operand(), product, false,
       kernels::linear_epilogue<T, true>{product, weights.bias, residual, out, false});
}

//! `weights` with its transposed copy carved from `persistent` (filled unless `persistent` only sizes), stored as
//! W — the weight's own type unless asked otherwise (`prepare_linear<bfloat16>`: rounded to the nearest, and the
//! layer then computes with bfloat16 weights; `weight` is left empty, as it is of the other type).
template <class W = void, class Executor, class T, class V>
auto prepare_linear(const Executor& executor, const linear_weights<T, V>& weights, workspace& persistent) {
  using stored = std::conditional_t<std::is_void_v<W>, V, W>;
  const auto copy_view = persistent.take_view<stored, 2>({weights.in_features(), weights.out_features()});
  if (!persistent.sizing()) copy(executor, weights.product_operand(), copy_view);
  if constexpr (std::is_same_v<stored, V>) return linear_weights<T, V>{weights.weight, weights.bias, copy_view};
  else return linear_weights<T, stored>{{}, weights.bias, copy_view};
}

}  // namespace voxformer
