//! @file The CUDA backend's product with bfloat16 storage and fp32 sums, the CPU's contract
//! (`backend/cpu/gemm_bf16.hpp`): c [M, N] fp32 (+)= a [M, K] · b [K, N], b in bfloat16, a in bfloat16 or fp32. A bfloat16 a is one bf16 × bf16 →
//! fp32 cuBLAS call; an fp32 a is rounded into the context's staging buffer a block of rows at a time, each block one
//! such call (`gemm_bf16_plan.hpp`, tested on the host). The sums are fp32's, in cuBLAS's order.
#pragma once

#if !defined(__CUDACC__)
#error "voxformer/backend/cuda/gemm_bf16.hpp must be compiled by nvcc"
#endif

#include <type_traits>

#include "voxformer/backend/cuda/gemm.hpp"
#include "voxformer/backend/cuda/gemm_bf16_plan.hpp"

namespace voxformer {

template <class A, class Epilogue = no_epilogue>
  requires(std::is_same_v<A, float> || std::is_same_v<A, bfloat16>)
void gemm(const cuda_executor& executor, const tensor_view<const A, 2>& a, const tensor_view<const bfloat16, 2>& b,
          const tensor_view<float, 2>& c, bool accumulate, const Epilogue& epilogue = {}) {
  detail::gemm_frame(executor, a.extent(1), c, accumulate, epilogue, [&] {
    if constexpr (std::is_same_v<A, bfloat16>) {
      detail::run_gemm_call(executor, describe_gemm<bfloat16, float>(a, b, c), accumulate);
    } else {
      detail::require(executor.staging != nullptr,
                      "voxformer::gemm: the cuda_executor has no staging buffer for a bfloat16 product (take the "
                      "executor from an execution_context<cuda_executor>, which makes one)");
      const tensor_view<bfloat16, 1> staging(static_cast<bfloat16*>(executor.staging),
                                             {static_cast<index_t>(executor.staging_bytes / sizeof(bfloat16))},
                                             memory_space::on_device(executor.device));
      detail::for_each_staged_block(
          a, b, c, staging, [&](index_t count, const auto& kernel) { parallel_for(executor, count, kernel); },
          [&](const gemm_call<bfloat16, float>& call) { detail::run_gemm_call(executor, call, accumulate); });
    }
  });
}

}  // namespace voxformer
