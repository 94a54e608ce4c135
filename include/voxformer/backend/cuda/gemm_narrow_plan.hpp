//! @file How the CUDA backend multiplies fp32 activations by 16-bit (bfloat16 or float16) weights. cuBLAS multiplies
//! such weights only by their own type (GemmEx has no fp32 × bf16 nor fp32 × fp16), so a is rounded to the nearest
//! W — as the CPU rounds it while packing (`backend/cpu/gemm_narrow.hpp`) — into a staging buffer, a block of rows at
//! a time, and each block is one W × W → fp32 call. Plain host C++ (no CUDA header), so that the blocks, the
//! rounding and each block's call are tested on any machine (tests/backend/cuda/test_gemm_call.cpp), as
//! `describe_gemm` is.
#pragma once

#include <algorithm>
#include <cstddef>

#include "voxformer/backend/cuda/gemm_call.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/core/narrow_float.hpp"
#include "voxformer/core/tensor_view.hpp"

namespace voxformer {

namespace kernels {

//! staged[r, q] = a[r, q] rounded to the nearest W (ties to even), one element per index.
template <class W>
struct round_to_narrow {
  tensor_view<const float, 2> a;  //!< the block's rows of a, any strides
  tensor_view<W, 2> staged;       //!< [rows, K]
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    const index_t k = a.extent(1), r = i / k, q = i % k;
    staged(r, q) = W(a(r, q));
  }
};

}  // namespace kernels

namespace detail {

//! c (+)= a · b for a [M, K] fp32, b [K, N] in W, c [M, N] fp32, with K > 0: for each block of a's rows that
//! `staging` (W elements in the executor's memory) holds, `launch(count, round_to_narrow)` rounds them into it as a
//! row-major [rows, K] matrix, then `multiply(call)` runs the W × W → fp32 call for c's same rows.
template <class W, class Launch, class Multiply>
void for_each_staged_block(const tensor_view<const float, 2>& a, const tensor_view<const W, 2>& b,
                           const tensor_view<float, 2>& c, const tensor_view<W, 1>& staging, const Launch& launch,
                           const Multiply& multiply) {
  const index_t rows = c.extent(0), k = a.extent(1);
  const index_t block = staging.extent(0) / k;
  require(block > 0, "voxformer::gemm: a ", to_string(dtype_of<W>()),
          " product rounds a's rows into the context's staging buffer, which holds ", staging.extent(0),
          " elements: fewer than one row of K = ", k);
  for (index_t first = 0; first < rows; first += block) {
    const index_t count = std::min(block, rows - first);
    const tensor_view<W, 2> staged(staging.data(), {count, k}, staging.space());
    launch(count * k, kernels::round_to_narrow<W>{leading_slice(a, first, count), staged});
    multiply(describe_gemm<W, float>(tensor_view<const W, 2>(staged), b, leading_slice(c, first, count)));
  }
}

}  // namespace detail
}  // namespace voxformer
