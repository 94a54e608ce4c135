//! @file A register-blocked fp32 product for row-major operands, the shape of every layer of the model
//! (activations [M, K] times transposed weights [K, N]): 6 rows × 2 SIMD vectors of columns per tile, each
//! output element one multiply-add chain over k in order. At the model's sizes it runs at 75–90 % of the FMA
//! peak measured in the same process, 1.6–2.0× Eigen's GEMM with AVX2 and 1.4–1.5× with AVX-512; with SSE only
//! it is within 10 % of Eigen (benchmarks/nn/bench_gemm.cpp, docs/benchmarks.md). Every element is summed in
//! the same order whatever the tiling, so its results do not depend on how rows are split into blocks or
//! threads.
#pragma once

#include <cstring>
#include <type_traits>

#include "voxformer/core/lanes.hpp"
#include "voxformer/core/tensor_view.hpp"

namespace voxformer::detail {

//! Floats per vector of the kernel: the widest register the build targets (an AVX-512 register holds 16; the
//! sampling kernels stay at 8 lanes there, as their masks are 8-wide).
inline constexpr int gemm_lanes =
#if defined(__AVX512F__)
    point_lanes<float> > 1 ? 16 : 1;
#else
    point_lanes<float>;
#endif

//! Whether `gemm_row_major_block` serves these operands: fp32, unit column strides, host SIMD lanes.
template <class T>
bool row_major_kernel_applies(const tensor_view<const T, 2>& a, const tensor_view<const T, 2>& b,
                              const tensor_view<T, 2>& c) {
  if constexpr (std::is_same_v<T, float> && gemm_lanes > 1)
    return a.stride(1) == 1 && b.stride(1) == 1 && c.stride(1) == 1;
  else
    return false;
}

template <class F>
VOXFORMER_FORCEINLINE F load_vector(const float* p) {
  F v;
  std::memcpy(&v, p, sizeof(F));
  return v;
}

//! c[0 .. Rows)[0 .. Vectors·Lanes) (+)= a[0 .. Rows)[0 .. k) · b[0 .. k)[0 .. Vectors·Lanes): Rows·Vectors
//! independent accumulators of Lanes floats (Lanes = 1: scalar columns, still one chain per output element).
template <int Rows, int Vectors, int Lanes>
VOXFORMER_FORCEINLINE void gemm_tile(const float* a, index_t lda, const float* b, index_t ldb, index_t k, float* c,
                                     index_t ldc, bool accumulate) {
  using F = lanes_t<float, Lanes>;
  F acc[Rows][Vectors] = {};
  for (index_t p = 0; p < k; ++p) {
    const F b0 = load_vector<F>(b + p * ldb);
    const F b1 = Vectors > 1 ? load_vector<F>(b + p * ldb + Lanes) : b0;
    for (int r = 0; r < Rows; ++r) {
      const float x = a[r * lda + p];
      acc[r][0] += x * b0;
      if constexpr (Vectors > 1) acc[r][1] += x * b1;
    }
  }
  for (int r = 0; r < Rows; ++r)
    for (int v = 0; v < Vectors; ++v) {
      float* out = c + r * ldc + v * Lanes;
      const F total = accumulate ? load_vector<F>(out) + acc[r][v] : acc[r][v];
      std::memcpy(out, &total, sizeof(F));
    }
}

//! Two vectors of columns at a time, then one; the columns left then in narrower vectors (a convolution with 8 or
//! 4 output channels on 16-lane vectors), and the last ones singly, for `Rows` rows.
template <int Rows>
void gemm_rows_of_tile(const float* a, index_t lda, const float* b, index_t ldb, index_t k, float* c, index_t ldc,
                       index_t n, bool accumulate) {
  constexpr index_t lanes = gemm_lanes;
  index_t j = 0;
  for (; j + 2 * lanes <= n; j += 2 * lanes) gemm_tile<Rows, 2, lanes>(a, lda, b + j, ldb, k, c + j, ldc, accumulate);
  for (; j + lanes <= n; j += lanes) gemm_tile<Rows, 1, lanes>(a, lda, b + j, ldb, k, c + j, ldc, accumulate);
  if constexpr (lanes > 8)
    for (; j + 8 <= n; j += 8) gemm_tile<Rows, 1, 8>(a, lda, b + j, ldb, k, c + j, ldc, accumulate);
  if constexpr (lanes > 4)
    for (; j + 4 <= n; j += 4) gemm_tile<Rows, 1, 4>(a, lda, b + j, ldb, k, c + j, ldc, accumulate);
  for (; j < n; ++j) gemm_tile<Rows, 1, 1>(a, lda, b + j, ldb, k, c + j, ldc, accumulate);
}

inline constexpr int gemm_tile_rows = 6;

//! Rows [first, first + rows) of c = a·b (or c += a·b), all row-major.
inline void gemm_row_major_block(const tensor_view<const float, 2>& a, const tensor_view<const float, 2>& b,
                                 const tensor_view<float, 2>& c, bool accumulate, index_t first, index_t rows) {
  const index_t k = a.extent(1), n = c.extent(1), lda = a.stride(0), ldb = b.stride(0), ldc = c.stride(0);
  const float* a_rows = a.data() + first * lda;
  float* c_rows = c.data() + first * ldc;
  index_t r = 0;
  for (; r + gemm_tile_rows <= rows; r += gemm_tile_rows)
    gemm_rows_of_tile<gemm_tile_rows>(a_rows + r * lda, lda, b.data(), ldb, k, c_rows + r * ldc, ldc, n, accumulate);
  // The last rows in tiles of 4, 2 and 1: a product with few rows (a convolution's output channels) then reads
  // each vector of b once per few rows, not once per row.
  auto remainder = [&](auto tile_rows) {
    constexpr int height = decltype(tile_rows)::value;
    if (r + height <= rows) {
      gemm_rows_of_tile<height>(a_rows + r * lda, lda, b.data(), ldb, k, c_rows + r * ldc, ldc, n, accumulate);
      r += height;
    }
  };
  remainder(std::integral_constant<int, 4>{});
  remainder(std::integral_constant<int, 2>{});
  remainder(std::integral_constant<int, 1>{});
}

}  // namespace voxformer::detail
