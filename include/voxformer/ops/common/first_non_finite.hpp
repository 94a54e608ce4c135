//! @file Where a tensor's first non-finite value is, found where the executor computes: the check of inputs in device
//! memory, which the host cannot scan (host memory is scanned by the host, `pipeline/frame_inputs.hpp`). One kernel
//! and one read of one index; the position found does not depend on the thread count.
#pragma once

#include <cmath>

#include "voxformer/core/atomic_store.hpp"
#include "voxformer/core/tensor_view.hpp"
#include "voxformer/core/workspace.hpp"
#include "voxformer/ops/common/fill.hpp"

namespace voxformer {

namespace detail {
template <class T>
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE bool is_finite(T x) {
#if defined(__CUDA_ARCH__)
  return isfinite(x);
#else
  return std::isfinite(x);
#endif
}
}  // namespace detail

namespace kernels {
//! Lowers `*first` to i when element i (C order) is not finite once converted to `Target`.
template <class Target, class View>
struct lower_to_non_finite {
  View view;
  index_t* first;
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    if (!detail::is_finite(static_cast<Target>(view.at_flat(i)))) detail::min_relaxed(first, i);
  }
};
}  // namespace kernels

//! The C-order position of the first element of `view` that is not finite once converted to `Target`, or
//! `view.size()` when every one is: written by the executor into one index of `scratch`, then read back (on a device,
//! a synchronisation: for the checks made before a call writes anything, not within a frame's journey).
template <class Target, class Executor, class T, int Rank>
index_t first_non_finite(const Executor& executor, const tensor_view<T, Rank>& view, workspace scratch) {
  const tensor_view<index_t, 1> first(scratch.take<index_t>(1), {1}, scratch.space());
  fill(executor, first, view.size());
  parallel_for(executor, view.size(),
               kernels::lower_to_non_finite<Target, tensor_view<const T, Rank>>{view, first.data()});
  index_t host = 0;
  copy_to_host(executor, &host, first.data(), sizeof(host));
  return host;
}

}  // namespace voxformer
