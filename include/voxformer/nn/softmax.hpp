//! @file Softmax over consecutive groups of a row — deformable attention's weights, normalised per head over
//! its (levels × points) samples — in place, with an optional scale (the fused two-slot self-attention
//! takes 0.5 · softmax on each half).
#pragma once

#include <cmath>
#include <cstring>
#include <type_traits>

#include "voxformer/core/lanes.hpp"
#include "voxformer/core/executor_hints.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

namespace kernels {

//! One element = one row: x ← scale · exp(x − max) / Σ exp(x − max) over each group of `group` values. A
//! group that is exactly one SIMD register of contiguous values (VoxFormer's 8 points with AVX) is computed
//! as one vector, with the vector exp; otherwise value by value.
template <class X>
struct softmax_rows {
  X x;  // [M, G·group]
  index_t group;
  typename X::value_type scale;
  VOXFORMER_HOST_DEVICE void operator()(index_t r) const {
    using T = typename X::value_type;
    using A = std::conditional_t<(sizeof(T) < sizeof(float)), float, T>;
    constexpr int lanes = detail::point_lanes<A>;
    const index_t columns = x.extent(1);
    if constexpr (lanes > 1 && std::is_same_v<T, A>) {
      if (group == lanes && x.stride(1) == 1) {
        using F = detail::lanes_t<A, lanes>;
        for (index_t first = 0; first < columns; first += lanes) {
          T* values = &x(r, first);
          F v;
          std::memcpy(&v, values, sizeof(F));
          A top = v[0], sum = 0;
          for (int i = 1; i < lanes; ++i) top = v[i] > top ? v[i] : top;
          v = detail::exp_lanes(v - top);
          for (int i = 0; i < lanes; ++i) sum += v[i];
          v = v * (static_cast<A>(scale) / sum);
          std::memcpy(values, &v, sizeof(F));
        }
        return;
      }
    }
    using std::exp;
    for (index_t first = 0; first < columns; first += group) {
      A top = static_cast<A>(x(r, first));
      for (index_t i = 1; i < group; ++i) top = x(r, first + i) > top ? static_cast<A>(x(r, first + i)) : top;
      A sum = 0;
      for (index_t i = 0; i < group; ++i) {
        const A v = exp(static_cast<A>(x(r, first + i)) - top);
        x(r, first + i) = static_cast<T>(v);
        sum += v;
      }
      const A factor = static_cast<A>(scale) / sum;
      for (index_t i = 0; i < group; ++i) x(r, first + i) = static_cast<T>(static_cast<A>(x(r, first + i)) * factor);
    }
  }
};

}  // namespace kernels

//! x [M, G·group] ← scale · softmax over each group of `group` consecutive values, in place.
template <class Element = deduce, class Executor, class X>
void softmax_groups(const Executor& executor, X&& x_tensor, index_t group, double scale = 1.0) {
  constexpr const char* op = "voxformer::softmax_groups";
  using T = resolve_element_t<Element, X, float>;
  const auto x = as_view<T, 2>(x_tensor, op, "x");
  detail::require(group > 0 && x.extent(1) % group == 0, op, ": argument 'x' [M, G*group] has ", x.extent(1),
                  " columns, not a whole number of groups of ", group);
  expect_accessible(op, "x", executor, x);
  parallel_for(executor, x.extent(0), kernels::softmax_rows<decltype(x)>{x, group, static_cast<T>(scale)},
               row_elements_per_thread);
}

}  // namespace voxformer
