//! @file What an executor tells ops about the kernel elements it runs best.
#pragma once

namespace voxformer {

//! True when `Executor::coarse_elements` is true: a few threads with wide SIMD (the CPU) run best when one
//! kernel element does more work, e.g. all heads of a query; a GPU wants many small elements.
template <class Executor>
inline constexpr bool prefers_coarse_elements = requires { requires Executor::coarse_elements; };

//! The most channels of a head one kernel element takes: the CPU a whole 16-channel fp32 head (one AVX-512
//! vector); a GPU thread 4, one 16-byte load, so that the 4 threads of a head read its row together and a
//! warp's corner loads coalesce (4.3-4.9x faster than 16 per thread on an H200, docs/benchmarks.md).
template <class Executor>
inline constexpr int max_channels_per_element = prefers_coarse_elements<Executor> ? 16 : 4;

}  // namespace voxformer
