//! @file Fill every element of a view (of any rank and strides) with one value.
#pragma once

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_view.hpp"

namespace voxformer {

namespace kernels {
template <class View>
struct fill_elements {
  View view;
  typename View::value_type value;
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const { view.at_flat(i) = value; }
};

//! Contiguous elements: a plain indexed store, which the host compiler turns into memset-like vector code.
template <class T>
struct fill_contiguous {
  T* data;
  T value;
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const { data[i] = value; }
};
}  // namespace kernels

template <class Executor, class T, int Rank>
void fill(const Executor& executor, const tensor_view<T, Rank>& view, T value) {
  expect_accessible("voxformer::fill", "view", executor, view);
  if (view.is_contiguous())  // a flat index needs no unravelling
    parallel_for(executor, view.size(), kernels::fill_contiguous<T>{view.data(), value});
  else
    parallel_for(executor, view.size(), kernels::fill_elements<tensor_view<T, Rank>>{view, value});
}

}  // namespace voxformer
