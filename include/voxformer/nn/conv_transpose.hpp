//! @file A transposed convolution over channels-first volumes [C, D0, D1, D2] (an image is [C, 1, H, W]) in
//! PyTorch's semantics (`conv_transpose2d/3d`: input voxel i scatters x·W[c_in][c_out] onto output
//! i·stride − padding + tap, no kernel flip; output extent (in − 1)·stride − 2·padding + kernel), computed as a
//! gather per output voxel so that every output is written once, by one element, whatever the executor.
#pragma once

#include "voxformer/core/executor_hints.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

//! Kernel size, stride and padding along D0, D1, D2.
struct transposed_window {
  index_t kernel[3] = {1, 1, 1};
  index_t stride[3] = {1, 1, 1};
  index_t padding[3] = {0, 0, 0};

  //! k×k over (H, W) of an image [C, 1, H, W] with stride s and padding p: PyTorch's ConvTranspose2d.
  static constexpr transposed_window planar(index_t k, index_t s, index_t p) {
    return {{1, k, k}, {1, s, s}, {0, p, p}};
  }

  constexpr index_t output_extent(int axis, index_t input) const {
    return (input - 1) * stride[axis] - 2 * padding[axis] + kernel[axis];
  }
};

//! weight [C_in, C_out, k0, k1, k2] (PyTorch's layout for a transposed convolution; a 2-D one [C_in, C_out, kh, kw]
//! seen as [C_in, C_out, 1, kh, kw]) and bias [C_out].
template <class T>
struct conv_transpose_weights {
  tensor_view<const T, 5> weight;
  tensor_view<const T, 1> bias;
};

namespace kernels {

//! out(·, v) = bias + Σ over taps t and input voxels i with i·stride − padding + t = v of W(·, ·, t)ᵀ·in(·, i).
template <class T>
struct transposed_conv_voxel {
  tensor_view<const T, 4> in;  // [C_in, I0, I1, I2]
  conv_transpose_weights<T> w;
  transposed_window window;
  tensor_view<T, 4> out;  // [C_out, D0, D1, D2]

  //! The input index that reaches output o through tap t along `axis`, or −1.
  VOXFORMER_HOST_DEVICE index_t source(int axis, index_t o, index_t t) const {
    const index_t reach = o + window.padding[axis] - t;
    if (reach < 0 || reach % window.stride[axis] != 0) return -1;
    const index_t i = reach / window.stride[axis];
    return i < in.extent(axis + 1) ? i : -1;
  }

  VOXFORMER_HOST_DEVICE void operator()(index_t v) const {
    const index_t n1 = out.extent(2), n2 = out.extent(3);
    const index_t o0 = v / (n1 * n2), o1 = (v / n2) % n1, o2 = v % n2;
    for (index_t co = 0; co < out.extent(0); ++co) {
      T sum = w.bias(co);
      for (index_t t0 = 0; t0 < window.kernel[0]; ++t0) {
        const index_t i0 = source(0, o0, t0);
        if (i0 < 0) continue;
        for (index_t t1 = 0; t1 < window.kernel[1]; ++t1) {
          const index_t i1 = source(1, o1, t1);
          if (i1 < 0) continue;
          for (index_t t2 = 0; t2 < window.kernel[2]; ++t2) {
            const index_t i2 = source(2, o2, t2);
            if (i2 < 0) continue;
            for (index_t ci = 0; ci < in.extent(0); ++ci) sum += in(ci, i0, i1, i2) * w.weight(ci, co, t0, t1, t2);
          }
        }
      }
      out(co, o0, o1, o2) = sum;
    }
  }
};

}  // namespace kernels

//! out [C_out, D0, D1, D2] = conv_transpose(in [C_in, I0, I1, I2]) with `win`; out's extents must be the window's
//! output extents of in's.
template <class Executor, class T, class In, class Out>
void conv_transpose(const Executor& executor, In&& input, const conv_transpose_weights<T>& weights,
                    const transposed_window& win, Out&& output) {
  constexpr const char* op = "voxformer::conv_transpose";
  const auto in = as_view<const T, 4>(input, op, "in");
  const auto out = as_view<T, 4>(output, op, "out");
  for (int a = 0; a < 3; ++a)
    detail::require(win.stride[a] > 0 && win.kernel[a] > 0 && win.padding[a] >= 0, op, ": window axis ", a,
                    " needs a positive kernel and stride and a non-negative padding");
  expect_shape(op, "weight", "[C_in, C_out, k0, k1, k2]", weights.weight,
               {in.extent(0), any_extent, win.kernel[0], win.kernel[1], win.kernel[2]});
  expect_shape(op, "bias", "[C_out]", weights.bias, {weights.weight.extent(1)});
  expect_shape(op, "out", "[C_out, D0, D1, D2]", out,
               {weights.weight.extent(1), win.output_extent(0, in.extent(1)), win.output_extent(1, in.extent(2)),
                win.output_extent(2, in.extent(3))});
  expect_accessible(op, "in", executor, in);
  expect_accessible(op, "weight", executor, weights.weight);
  expect_accessible(op, "bias", executor, weights.bias);
  expect_accessible(op, "out", executor, out);
  expect_no_aliasing(op, {detail::memory_of("out", out)},
                     {detail::memory_of("in", in), detail::memory_of("weight", weights.weight),
                      detail::memory_of("bias", weights.bias)});
  parallel_for(executor, out.extent(1) * out.extent(2) * out.extent(3),
               kernels::transposed_conv_voxel<T>{in, weights, win, out}, row_elements_per_thread);
}

}  // namespace voxformer
