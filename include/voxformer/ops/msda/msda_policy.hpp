//! @file How multi-scale deformable attention maps onto an executor, as one tuning type (CUB's
//! `dispatch/tuning` habit): a backend that wants other choices specialises `msda_policy` for its executor.
#pragma once

#include "voxformer/core/executor_hints.hpp"

namespace voxformer {

template <class Executor>
struct msda_policy {
  static constexpr bool coarse = prefers_coarse_elements<Executor>;
  //! Most channels of a head per kernel element: the CPU a whole 16-channel fp32 head (one AVX-512 vector);
  //! a GPU thread 4, one 16-byte load, so that the 4 threads of a head read its row together and a warp's
  //! corner loads coalesce (4.3-4.9x faster than 16 per thread on an H200, docs/benchmarks.md).
  static constexpr int max_channels = coarse ? 16 : 4;
  //! Heads per element when the head count divides by it: the CPU reads the corner rows of all heads of a
  //! query, which share pixels, together; a GPU wants many small elements.
  static constexpr int head_group = coarse ? 8 : 1;
  //! Heads located ahead of the one being accumulated: two ahead measured 6-9 % faster than one ahead or all
  //! heads first on x86 (docs/benchmarks.md).
  static constexpr int locate_lead = 2;
  //! Vector loads of value rows when every row chunk is aligned for them: 16-byte loads on a GPU, none on the
  //! CPU (its GNU-vector loads need no alignment).
  static constexpr int vector_bytes = coarse ? 0 : 16;
};

}  // namespace voxformer
