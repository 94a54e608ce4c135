//! @file Max pooling over channels-first volumes [C, D0, D1, D2] with the window equal to the stride (PyTorch's
//! MaxPool2d(k) on an image [C, 1, H, W] is the window {1, k, k}; floor mode): each output voxel is the maximum of
//! its children; a NaN child makes it NaN, as in PyTorch.
#pragma once

#include <array>

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

namespace kernels {

template <class T>
struct max_of_children {
  tensor_view<const T, 4> in;
  tensor_view<T, 4> out;
  index_t window[3];
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    const index_t n1 = out.extent(2), n2 = out.extent(3), voxels = out.extent(1) * n1 * n2;
    const index_t c = i / voxels, v = i % voxels;
    const index_t o0 = v / (n1 * n2), o1 = (v / n2) % n1, o2 = v % n2;
    T m = in(c, o0 * window[0], o1 * window[1], o2 * window[2]);
    for (index_t a = 0; a < window[0]; ++a)
      for (index_t b = 0; b < window[1]; ++b)
        for (index_t d = 0; d < window[2]; ++d) {
          const T value = in(c, o0 * window[0] + a, o1 * window[1] + b, o2 * window[2] + d);
          m = (value > m || value != value) && m == m ? value : m;  // NaN wins and stays
        }
    out(c, o0, o1, o2) = m;
  }
};

}  // namespace kernels

//! out [C, ⌊D0/k0⌋, ⌊D1/k1⌋, ⌊D2/k2⌋] = max over each k0×k1×k2 block of in [C, D0, D1, D2].
template <class Element = deduce, class Executor, class In, class Out>
void max_pool(const Executor& executor, In&& input, const std::array<index_t, 3>& window, Out&& output) {
  constexpr const char* op = "voxformer::max_pool";
  using T = resolve_element_t<Element, In, float>;
  const auto in = as_view<const T, 4>(input, op, "in");
  const auto out = as_view<T, 4>(output, op, "out");
  for (std::size_t a = 0; a < 3; ++a)
    detail::require(window[a] > 0, op, ": window extent ", a, " must be positive, got ", window[a]);
  expect_shape(op, "out", "[C, D0/k0, D1/k1, D2/k2]", out,
               {in.extent(0), in.extent(1) / window[0], in.extent(2) / window[1], in.extent(3) / window[2]});
  expect_accessible(op, "in", executor, in);
  expect_accessible(op, "out", executor, out);
  expect_disjoint(op, "out", out, "in", in);
  parallel_for(executor, out.size(), kernels::max_of_children<T>{in, out, {window[0], window[1], window[2]}});
}

}  // namespace voxformer
