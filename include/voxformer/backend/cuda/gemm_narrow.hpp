//! @file The CUDA backend's products with 16-bit storage and fp32 sums, the CPU's contract
//! (`backend/cpu/gemm_narrow.hpp`): c [M, N] fp32 (+)= a [M, K] · b [K, N], b in bfloat16 or float16, a in b's type
//! or fp32. An a in b's type is one W × W → fp32 cuBLAS call; an fp32 a is rounded into the context's staging buffer
//! a block of rows at a time, each block one such call (`gemm_narrow_plan.hpp`, tested on the host). The sums are
//! fp32's, in cuBLAS's order.
#pragma once

#if !defined(__CUDACC__)
#error "voxformer/backend/cuda/gemm_narrow.hpp must be compiled by nvcc"
#endif

#include <type_traits>

#include "voxformer/backend/cuda/gemm.hpp"
#include "voxformer/backend/cuda/gemm_narrow_plan.hpp"

namespace voxformer {

template <class A, narrow_float W, class Epilogue = no_epilogue>
  requires(std::is_same_v<A, float> || std::is_same_v<A, W>)
void gemm(const cuda_executor& executor, const tensor_view<const A, 2>& a, const tensor_view<const W, 2>& b,
          const tensor_view<float, 2>& c, bool accumulate, const Epilogue& epilogue = {}) {
  detail::gemm_frame(executor, a.extent(1), c, accumulate, epilogue, [&] {
    if constexpr (std::is_same_v<A, W>) {
      detail::run_gemm_call(executor, describe_gemm<W, float>(a, b, c), accumulate);
    } else {
      detail::require(executor.staging != nullptr, "voxformer::gemm: the cuda_executor has no staging buffer for a ",
                      to_string(dtype_of<W>()),
                      " product (take the executor from an execution_context<cuda_executor>, which makes one)");
      const tensor_view<W, 1> staging(static_cast<W*>(executor.staging),
                                      {static_cast<index_t>(executor.staging_bytes / sizeof(W))},
                                      memory_space::on_device(executor.device));
      detail::for_each_staged_block(
          a, b, c, staging, [&](index_t count, const auto& kernel) { parallel_for(executor, count, kernel); },
          [&](const gemm_call<W, float>& call) { detail::run_gemm_call(executor, call, accumulate); });
    }
  });
}

}  // namespace voxformer
