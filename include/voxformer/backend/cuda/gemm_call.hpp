//! @file The one column-major GEMM call (cuBLAS's) that computes a row- or column-major product of views: which
//! operand goes first, the transposes, m/n/k and the leading dimensions. Plain host C++ (no CUDA header), so that
//! the mapping — where the classic transposition bugs live — is tested on any machine by running the description
//! through a column-major reference GEMM (tests/backend/cuda/test_gemm_call.cpp).
#pragma once

#include <algorithm>
#include <cstdint>

#include "voxformer/core/error.hpp"
#include "voxformer/core/tensor_view.hpp"

namespace voxformer {

enum class blas_transpose : std::uint8_t { none, transpose };

//! C = op(A)·op(B) (+ C when accumulating), column-major: A is m×k after op, B k×n, C m×n; A and B stored as In,
//! C as Out (bfloat16 operands summed into fp32, say).
template <class In, class Out = In>
struct gemm_call {
  blas_transpose transpose_a = blas_transpose::none, transpose_b = blas_transpose::none;
  index_t m = 0, n = 0, k = 0;
  const In* a = nullptr;
  index_t lda = 1;
  const In* b = nullptr;
  index_t ldb = 1;
  Out* c = nullptr;
  index_t ldc = 1;
};

namespace detail {

//! A matrix's memory as a column-major matrix: itself (unit row stride) or its transpose (unit column stride).
struct column_major_form {
  bool transposed;  //!< the memory holds the matrix's transpose
  index_t ld;       //!< leading dimension, at least the column-major form's row count (cuBLAS rejects less)
};

template <class T>
column_major_form column_major_form_of(const char* arg, const tensor_view<T, 2>& m) {
  const index_t rows = m.extent(0), columns = m.extent(1);
  // A degenerate axis may carry any stride, so it decides nothing (as in the CPU backend's `unit_stride_order`).
  if (m.stride(1) == 1 || columns == 1) return {true, std::max({m.stride(0), columns, index_t{1}})};
  if (m.stride(0) == 1 || rows == 1) return {false, std::max({m.stride(1), rows, index_t{1}})};
  fail("voxformer::gemm: argument '", arg, "' needs a unit stride along one axis, got strides (", m.stride(0), ", ",
       m.stride(1), ")");
}

inline blas_transpose transpose_if(bool yes) { return yes ? blas_transpose::transpose : blas_transpose::none; }

}  // namespace detail

//! The column-major call computing c = a·b for a [M, K], b [K, N], c [M, N], each row- or column-major with any
//! leading dimension. A column-major c is computed as itself (op(a)·op(b)); a row-major c is, read column-major,
//! cᵀ = bᵀ·aᵀ, so the operands swap: b first, then a, each transposed exactly when its memory is not already the
//! form that call wants.
template <class In, class Out = In>
gemm_call<In, Out> describe_gemm(const tensor_view<const In, 2>& a, const tensor_view<const In, 2>& b,
                                 const tensor_view<Out, 2>& c) {
  const auto fa = detail::column_major_form_of("a", a), fb = detail::column_major_form_of("b", b);
  const auto fc = detail::column_major_form_of("c", c);
  const index_t m = c.extent(0), n = c.extent(1), k = a.extent(1);
  if (!fc.transposed)  // c column-major: a (m×k) and b (k×n) as they are, transposed where their memory holds aᵀ, bᵀ
    return {detail::transpose_if(fa.transposed), detail::transpose_if(fb.transposed), m, n, k, a.data(), fa.ld,
            b.data(), fb.ld, c.data(), fc.ld};
  // c row-major: its memory is cᵀ (n×m) = bᵀ (n×k) · aᵀ (k×m); a row-major operand's memory already is its transpose.
  return {detail::transpose_if(!fb.transposed), detail::transpose_if(!fa.transposed), n, m, k, b.data(), fb.ld,
          a.data(), fa.ld, c.data(), fc.ld};
}

}  // namespace voxformer
