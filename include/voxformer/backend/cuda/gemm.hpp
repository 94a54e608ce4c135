//! @file The CUDA backend's matrix product: one cuBLAS call (GemmEx, 64-bit sizes) described by `describe_gemm`
//! (`gemm_call.hpp`, tested on the host), then the epilogue as one kernel over the rows. fp32 and fp64 compute in
//! their own type; fp16 and bf16 store in theirs and accumulate in fp32. 16-bit weights times fp32 activations:
//! `gemm_narrow.hpp`.
#pragma once

#if !defined(__CUDACC__)
#error "voxformer/backend/cuda/gemm.hpp must be compiled by nvcc"
#endif

#include <type_traits>

#include "voxformer/backend/cuda/cublas_check.hpp"
#include "voxformer/backend/cuda/cuda_executor.hpp"
#include "voxformer/backend/cuda/gemm_call.hpp"
#include "voxformer/backend/cuda/half_types.hpp"
#include "voxformer/core/algorithms.hpp"
#include "voxformer/core/narrow_float.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/core/tensor_view.hpp"

namespace voxformer {

namespace detail {

//! cuBLAS's names for a storage type, the type it computes in, and the type of alpha and beta.
template <class T>
struct cublas_types;
template <>
struct cublas_types<float> {
  static constexpr cudaDataType_t storage = CUDA_R_32F;
  static constexpr cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  using scale = float;
};
template <>
struct cublas_types<double> {
  static constexpr cudaDataType_t storage = CUDA_R_64F;
  static constexpr cublasComputeType_t compute = CUBLAS_COMPUTE_64F;
  using scale = double;
};
template <>
struct cublas_types<__half> {
  static constexpr cudaDataType_t storage = CUDA_R_16F;
  static constexpr cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  using scale = float;
};
template <>
struct cublas_types<__nv_bfloat16> {
  static constexpr cudaDataType_t storage = CUDA_R_16BF;
  static constexpr cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  using scale = float;
};
template <>
struct cublas_types<bfloat16> : cublas_types<__nv_bfloat16> {};  // Eigen's bfloat16: the same 16 bits
template <>
struct cublas_types<float16> : cublas_types<__half> {};  // Eigen's half: the same 16 bits

inline cublasOperation_t cublas_operation(blas_transpose t) {
  return t == blas_transpose::transpose ? CUBLAS_OP_T : CUBLAS_OP_N;
}

}  // namespace detail

namespace kernels {

//! c = 0 for a product over K = 0.
template <class T>
struct zero_matrix {
  tensor_view<T, 2> c;
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const { c(i / c.extent(1), i % c.extent(1)) = T(0); }
};

//! The epilogue per row, over all its columns when it takes a column range (the CPU splits columns into blocks; a
//! GPU thread per row has no cache block to keep).
template <class Epilogue>
struct epilogue_rows {
  Epilogue epilogue;
  index_t columns;
  VOXFORMER_HOST_DEVICE void operator()(index_t row) const {
    if constexpr (std::is_invocable_v<const Epilogue&, index_t, index_t, index_t>) epilogue(row, 0, columns);
    else epilogue(row);
  }
};

}  // namespace kernels

namespace detail {

//! The one cuBLAS call a description stands for: A and B stored as In, C as Out, computed in Out's compute type.
template <class In, class Out>
void run_gemm_call(const cuda_executor& executor, const gemm_call<In, Out>& call, bool accumulate) {
  using in = cublas_types<std::remove_const_t<In>>;
  using out = cublas_types<std::remove_const_t<Out>>;
  const typename out::scale alpha = 1, beta = accumulate ? 1 : 0;
  const current_device_scope on(executor.device);  // the handle's device
  VOXFORMER_CUBLAS_CHECK(cublasGemmEx_64(
      executor.blas, cublas_operation(call.transpose_a), cublas_operation(call.transpose_b), call.m, call.n, call.k,
      &alpha, call.a, in::storage, call.lda, call.b, in::storage, call.ldb, &beta, call.c, out::storage, call.ldc,
      out::compute, CUBLAS_GEMM_DEFAULT));
}

//! What every product does around its cuBLAS calls: nothing for no rows, c = 0 (unless accumulating) for K = 0 —
//! cuBLAS is not asked, a zero inner size is outside what it documents — else `product()`; then the epilogue per row.
template <class Out, class Epilogue, class Product>
void gemm_frame(const cuda_executor& executor, index_t k, const tensor_view<Out, 2>& c, bool accumulate,
                const Epilogue& epilogue, const Product& product) {
  const index_t rows = c.extent(0), columns = c.extent(1);
  if (rows == 0) return;
  require(executor.blas != nullptr,
          "voxformer::gemm: the cuda_executor has no cuBLAS handle (take the executor from an "
          "execution_context<cuda_executor>, which makes one)");
  if (columns > 0) {
    if (k > 0) product();
    else if (!accumulate) parallel_for(executor, rows * columns, kernels::zero_matrix<Out>{c});
  }
  if constexpr (!std::is_same_v<Epilogue, no_epilogue>)
    parallel_for(executor, rows, kernels::epilogue_rows<Epilogue>{epilogue, columns});
}

}  // namespace detail

//! c = a·b, or c += a·b when `accumulate`, then the epilogue for every row — the CPU backend's contract, on the
//! executor's stream (asynchronously). All three device-accessible; the executor needs its context's cuBLAS handle.
template <class T, class Epilogue = no_epilogue>
void gemm(const cuda_executor& executor, const tensor_view<const T, 2>& a, const tensor_view<const T, 2>& b,
          const tensor_view<T, 2>& c, bool accumulate, const Epilogue& epilogue = {}) {
  detail::gemm_frame(executor, a.extent(1), c, accumulate, epilogue,
                     [&] { detail::run_gemm_call(executor, describe_gemm(a, b, c), accumulate); });
}

}  // namespace voxformer
