//! @file What an executor tells ops about the kernel elements it runs best.
#pragma once

namespace voxformer {

//! True when `Executor::coarse_elements` is true: a few threads with wide SIMD (the CPU) run best when one
//! kernel element does more work, e.g. all heads of a query; a GPU wants many small elements.
template <class Executor>
inline constexpr bool prefers_coarse_elements = requires { requires Executor::coarse_elements; };

}  // namespace voxformer
