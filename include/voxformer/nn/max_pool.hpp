//! @file Max pooling over channels-first volumes [C, D0, D1, D2] in PyTorch's semantics (floor mode): each output voxel
//! is the maximum of its window, padding counting as −∞ (MaxPool2d(3, 2, padding=1) of ResNet's stem is the window
//! {1, 3, 3} with strides {1, 2, 2} and padding {0, 1, 1} on an image [C, 1, H, W]); a NaN in the window makes the
//! output NaN, as in PyTorch.
#pragma once

#include <array>

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

//! A pooling window per spatial axis: kernel, stride and padding. Output extent = ⌊(input + 2·padding − kernel) /
//! stride⌋ + 1; the padding may be at most half the kernel (PyTorch's rule), so that every window holds a voxel.
struct pool_window {
  std::array<index_t, 3> kernel{1, 1, 1};
  std::array<index_t, 3> stride{1, 1, 1};
  std::array<index_t, 3> padding{0, 0, 0};

  //! Non-overlapping blocks: the window is the stride (LMSCNet's MaxPool2d(2)).
  static constexpr pool_window blocks(const std::array<index_t, 3>& k) { return {k, k, {0, 0, 0}}; }

  constexpr index_t output_extent(int axis, index_t input) const {
    const auto a = static_cast<std::size_t>(axis);
    const index_t span = input + 2 * padding[a] - kernel[a];
    return span >= 0 ? span / stride[a] + 1 : 0;
  }
};

namespace kernels {

//! One row of outputs out(c, o0, o1, ·): the index arithmetic once per row, and the outputs whose window lies inside
//! the input along the last axis (all but one or two) tap by tap across the row — loops without branches over
//! consecutive outputs, which the compiler vectorises; the row's ends window by window. `m = v > m | v ≠ v ? v : m`
//! keeps a NaN once it is taken (a number is never > NaN), so a NaN in the window gives NaN, as in PyTorch.
template <class T>
struct max_of_window_row {
  tensor_view<const T, 4> in;
  tensor_view<T, 4> out;
  pool_window window;

  VOXFORMER_HOST_DEVICE static T larger(T m, T value) { return (value > m) | (value != value) ? value : m; }

  VOXFORMER_HOST_DEVICE void operator()(index_t row) const {
    const index_t n0 = out.extent(1), n1 = out.extent(2), n2 = out.extent(3);
    const index_t c = row / (n0 * n1), o0 = (row / n1) % n0, o1 = row % n1;
    const index_t low0 = start(0, o0) > 0 ? start(0, o0) : 0, high0 = end(0, o0);
    const index_t low1 = start(1, o1) > 0 ? start(1, o1) : 0, high1 = end(1, o1);
    const index_t s1 = in.stride(1), s2 = in.stride(2), s3 = in.stride(3), step = window.stride[2] * s3;
    const T* const channel = in.data() + c * in.stride(0);
    T* const results = &out(c, o0, o1, 0);
    const index_t r3 = out.stride(3);
    // Outputs [first, last) have their whole window inside along the last axis.
    const index_t first = (window.padding[2] + window.stride[2] - 1) / window.stride[2];
    const index_t reach = in.extent(3) + window.padding[2] - window.kernel[2];
    const index_t last = reach < 0 ? 0 : (reach / window.stride[2] + 1 < n2 ? reach / window.stride[2] + 1 : n2);
    for (index_t o2 = 0; o2 < n2; ++o2) {
      if (o2 == first && first < last) o2 = last;  // the inside outputs are done below
      if (o2 >= n2) break;
      const index_t low2 = start(2, o2) > 0 ? start(2, o2) : 0, high2 = end(2, o2);
      T m = channel[low0 * s1 + low1 * s2 + low2 * s3];
      for (index_t a = low0; a < high0; ++a)
        for (index_t b = low1; b < high1; ++b)
          for (index_t d = low2; d < high2; ++d) m = larger(m, channel[a * s1 + b * s2 + d * s3]);
      results[o2 * r3] = m;
    }
    if (first >= last) return;
    const T* const origin = channel + (first * window.stride[2] - window.padding[2]) * s3;  // output first's window
    for (index_t o2 = first; o2 < last; ++o2) results[o2 * r3] = origin[low0 * s1 + low1 * s2 + (o2 - first) * step];
    for (index_t a = low0; a < high0; ++a)
      for (index_t b = low1; b < high1; ++b)
        for (index_t d = 0; d < window.kernel[2]; ++d) {
          const T* const taps = origin + a * s1 + b * s2 + d * s3;
          for (index_t o2 = first; o2 < last; ++o2)
            results[o2 * r3] = larger(results[o2 * r3], taps[(o2 - first) * step]);
        }
  }

  //! Where output index `o`'s window starts along `axis` (negative in the padding), and where it ends in the input.
  VOXFORMER_HOST_DEVICE index_t start(int axis, index_t o) const {
    const auto a = static_cast<std::size_t>(axis);
    return o * window.stride[a] - window.padding[a];
  }
  VOXFORMER_HOST_DEVICE index_t end(int axis, index_t o) const {
    const index_t e = start(axis, o) + window.kernel[static_cast<std::size_t>(axis)];
    return e < in.extent(axis + 1) ? e : in.extent(axis + 1);
  }
};

}  // namespace kernels

//! out [C, O0, O1, O2] = the maximum over each window of in [C, D0, D1, D2] (see `pool_window`).
template <class Element = deduce, class Executor, class In, class Out>
void max_pool(const Executor& executor, In&& input, const pool_window& window, Out&& output) {
  constexpr const char* op = "voxformer::max_pool";
  using T = resolve_element_t<Element, In, float>;
  const auto in = as_view<const T, 4>(input, op, "in");
  const auto out = as_view<T, 4>(output, op, "out");
  for (std::size_t a = 0; a < 3; ++a)
    detail::require(window.kernel[a] > 0 && window.stride[a] > 0 && window.padding[a] >= 0 &&
                        2 * window.padding[a] <= window.kernel[a],
                    op, ": window axis ", a, " needs a positive kernel and stride and a padding of at most half the "
                    "kernel, got kernel ", window.kernel[a], ", stride ", window.stride[a], ", padding ",
                    window.padding[a]);
  expect_shape(op, "out", "[C, O0, O1, O2]", out,
               {in.extent(0), window.output_extent(0, in.extent(1)), window.output_extent(1, in.extent(2)),
                window.output_extent(2, in.extent(3))});
  expect_accessible(op, "in", executor, in);
  expect_accessible(op, "out", executor, out);
  expect_disjoint(op, "out", out, "in", in);
  const index_t rows = out.extent(0) * out.extent(1) * out.extent(2);
  if (rows > 0 && out.extent(3) > 0) parallel_for(executor, rows, kernels::max_of_window_row<T>{in, out, window}, 16);
}

}  // namespace voxformer
