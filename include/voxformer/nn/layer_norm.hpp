//! @file Layer normalisation over the last axis (PyTorch's `nn.LayerNorm`, eps 1e-5, biased variance):
//! y = (x − mean)/sqrt(var + eps)·γ + β, one row per kernel element. The per-row math is shared with the
//! fused head, which normalises rows that only exist in registers.
#pragma once

#include <cmath>

#include "voxformer/core/executor_hints.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

//! A LayerNorm's parameters: weight γ [C] and bias β [C] (PyTorch's `nn.LayerNorm.weight` / `.bias`).
template <class T>
struct layer_norm_weights {
  tensor_view<const T, 1> weight;
  tensor_view<const T, 1> bias;

  index_t features() const { return weight.extent(0); }
};

inline constexpr double layer_norm_eps = 1e-5;

namespace detail {

//! Σ f(i) over i in [0, n) in 8 interleaved partial sums (independent chains the compiler can vectorise),
//! then added pairwise.
template <class A, class F>
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE A lane_sum(index_t n, const F& f) {
  constexpr int lanes = 8;
  A partial[lanes] = {};
  index_t i = 0;
  for (; i + lanes <= n; i += lanes)
    for (int l = 0; l < lanes; ++l) partial[l] += f(i + l);
  for (int l = 0; i < n; ++i, ++l) partial[l] += f(i);
  for (int width = lanes / 2; width >= 1; width /= 2)
    for (int l = 0; l < width; ++l) partial[l] += partial[l + width];
  return partial[0];
}

//! Normalises row x(0 .. n) and hands y(c, value) each result: value = (x(c) − mean)/sqrt(var + eps)·γ[c] + β[c],
//! with the biased variance. The mean is kept as x(0) + δ and x(c) − mean evaluated as (x(c) − x(0)) − δ, so
//! a large common offset (activations around 1000) costs no precision — not even the rounding of the mean
//! itself — and the variance is a second pass over those differences, so it does not cancel. (PyTorch's
//! x·rstd − mean·rstd needs a fused multiply-add to come close; a portable build has none.)
template <class A, class Row, class Out, class P>
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE void normalize_row(const Row& x, index_t n, const P& gamma, const P& beta,
                                                               A eps, const Out& y) {
  const A pivot = static_cast<A>(x(0));
  const A delta = lane_sum<A>(n, [&](index_t c) { return static_cast<A>(x(c)) - pivot; }) / static_cast<A>(n);
  auto centred = [&](index_t c) { return (static_cast<A>(x(c)) - pivot) - delta; };
  const A variance = lane_sum<A>(n, [&](index_t c) {
                       const A d = centred(c);
                       return d * d;
                     }) /
                     static_cast<A>(n);
  using std::sqrt;
  const A rstd = A(1) / sqrt(variance + eps);
  for (index_t c = 0; c < n; ++c) y(c, centred(c) * rstd * static_cast<A>(gamma(c)) + static_cast<A>(beta(c)));
}

template <class T>
using norm_accumulate_t = std::conditional_t<(sizeof(T) < sizeof(float)), float, T>;

}  // namespace detail

namespace kernels {

//! One element = one row of x [M, C] → y [M, C]; y may be x itself (every value of a row is read before
//! the row is written).
template <class X, class Y, class T>
struct layer_norm_rows {
  X x;
  Y y;
  tensor_view<const T, 1> gamma, beta;
  VOXFORMER_HOST_DEVICE void operator()(index_t r) const {
    using A = detail::norm_accumulate_t<T>;
    const index_t n = x.extent(1);
    if (x.stride(1) == 1 && y.stride(1) == 1) {  // the usual layout: plain pointers, vectorisable
      const auto* row = x.data() + r * x.stride(0);
      auto* out = y.data() + r * y.stride(0);
      detail::normalize_row<A>([row](index_t c) { return row[c]; }, n, gamma, beta, A(layer_norm_eps),
                               [out](index_t c, A v) { out[c] = static_cast<T>(v); });
    } else {
      detail::normalize_row<A>([&](index_t c) { return x(r, c); }, n, gamma, beta, A(layer_norm_eps),
                               [&](index_t c, A v) { y(r, c) = static_cast<T>(v); });
    }
  }
};

}  // namespace kernels

//! y [M, C] = LayerNorm(x [M, C]) with γ, β [C]; `y` may be `x` (in place) but must not partly overlap it.
template <class Executor, class T, class X, class Y>
void layer_norm(const Executor& executor, X&& x_tensor, const layer_norm_weights<T>& weights, Y&& y_tensor) {
  constexpr const char* op = "voxformer::layer_norm";
  const auto x = as_view<const T, 2>(x_tensor, op, "x");
  const auto y = as_view<T, 2>(y_tensor, op, "y");
  const index_t channels = weights.features();
  expect_shape(op, "bias", "[C]", weights.bias, {channels});
  expect_shape(op, "x", "[M, C]", x, {any_extent, channels});
  expect_shape(op, "y", "[M, C]", y, {x.extent(0), channels});
  detail::require(channels > 0, op, ": the normalised axis is empty");
  expect_accessible(op, "x", executor, x);
  expect_accessible(op, "weight", executor, weights.weight);
  expect_accessible(op, "bias", executor, weights.bias);
  expect_accessible(op, "y", executor, y);
  const bool in_place = x.data() == y.data() && x.stride(0) == y.stride(0) && x.stride(1) == y.stride(1);
  if (!in_place) expect_disjoint(op, "y", y, "x", x);
  expect_disjoint(op, "y", y, "weight", weights.weight);
  expect_disjoint(op, "y", y, "bias", weights.bias);
  parallel_for(executor, x.extent(0),
               kernels::layer_norm_rows<decltype(x), decltype(y), T>{x, y, weights.weight, weights.bias},
               row_elements_per_thread);
}

}  // namespace voxformer
