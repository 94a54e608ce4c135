//! @file mmcv's FFN as VoxFormer builds it (spec §3.7): out = x + Linear2(ReLU(Linear1(x))), the residual
//! being the FFN's own input.
#pragma once

#include <cstddef>

#include "voxformer/core/workspace.hpp"
#include "voxformer/nn/linear.hpp"

namespace voxformer {

//! `layers.0.0` (in → hidden) and `layers.1` (hidden → in) of mmcv's FFN; W the weights' storage type (bfloat16
//! with fp32 activations: `linear_weights`).
template <class T, class W = T>
struct ffn_weights {
  linear_weights<T, W> fc1;
  linear_weights<T, W> fc2;
};

//! Scratch of `ffn` for `rows` rows: the hidden activations and the second product.
template <class T, class W>
std::size_t ffn_workspace_bytes(const ffn_weights<T, W>& weights, index_t rows) {
  workspace sizing;
  sizing.take<T>(rows * weights.fc1.out_features());
  sizing.take<T>(rows * weights.fc2.out_features());
  return sizing.used();
}

//! out [M, C] = x + fc2(ReLU(fc1(x))) for x [M, C]; `out` may be `x` (in place).
template <class Executor, class T, class W, class X, class Out>
void ffn(const Executor& executor, X&& x_tensor, const ffn_weights<T, W>& weights, Out&& out_tensor,
         workspace scratch) {
  constexpr const char* op = "voxformer::ffn";
  const auto x = as_view<const T, 2>(x_tensor, op, "x");
  const auto out = as_view<T, 2>(out_tensor, op, "out");
  detail::require(weights.fc2.in_features() == weights.fc1.out_features() &&
                      weights.fc2.out_features() == weights.fc1.in_features(),
                  op, ": fc1 [", weights.fc1.out_features(), ", ", weights.fc1.in_features(), "] and fc2 [",
                  weights.fc2.out_features(), ", ", weights.fc2.in_features(), "] do not chain back to the input width");
  const index_t rows = x.extent(0);
  const auto hidden = scratch.take_view<T, 2>({rows, weights.fc1.out_features()});
  const auto product = scratch.take_view<T, 2>({rows, weights.fc2.out_features()});
  linear(executor, x, weights.fc1, hidden, linear_activation::relu);
  linear_residual(executor, tensor_view<const T, 2>(hidden), weights.fc2, x, product, out);
}

}  // namespace voxformer
