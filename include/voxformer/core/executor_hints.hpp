//! @file What an executor tells ops about the kernel elements it runs best.
#pragma once

#include "voxformer/core/config.hpp"

namespace voxformer {

//! True when `Executor::coarse_elements` is true: a few threads with wide SIMD (the CPU) run best when one
//! kernel element does more work, e.g. all heads of a query; a GPU wants many small elements.
template <class Executor>
inline constexpr bool prefers_coarse_elements = requires { requires Executor::coarse_elements; };

//! The fewest kernel elements worth a thread of their own (`parallel_for`'s last argument) when each element is
//! a whole row of channels or a whole query — hundreds of operations; the executor's default suits elements of
//! a few. With the default, a 2048-row chunk of the self-attention ran on one thread.
inline constexpr index_t row_elements_per_thread = 64;

}  // namespace voxformer
