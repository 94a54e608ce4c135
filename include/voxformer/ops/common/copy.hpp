//! @file Element-wise copy between two views of the same shape (any strides), e.g. parameters rearranged into
//! the layout a fused kernel reads, or rounded into a narrower storage type (fp32 weights into bfloat16).
#pragma once

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_view.hpp"

namespace voxformer {

namespace kernels {
template <class Source, class Target>
struct copy_elements {
  Source source;
  Target target;
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    target.at_flat(i) = static_cast<typename Target::value_type>(source.at_flat(i));
  }
};
}  // namespace kernels

//! target = source, element by element in C order, each converted to the target's type (bfloat16: rounded to the
//! nearest); the shapes must match and the views must not overlap.
template <class Executor, class S, class T, int Rank>
void copy(const Executor& executor, const tensor_view<const S, Rank>& source, const tensor_view<T, Rank>& target) {
  constexpr const char* op = "voxformer::copy";
  expect_shape(op, "target", "[same as source]", target, source.extents());
  expect_accessible(op, "source", executor, source);
  expect_accessible(op, "target", executor, target);
  expect_disjoint(op, "target", target, "source", source);
  parallel_for(executor, source.size(),
               kernels::copy_elements<tensor_view<const S, Rank>, tensor_view<T, Rank>>{source, target});
}

}  // namespace voxformer
