//! @file A register-blocked fp32 product for row-major operands, the shape of every layer of the model
//! (activations [M, K] times transposed weights [K, N]): 6 rows × 2 SIMD vectors of columns per tile, each
//! output element one multiply-add chain over k in order. At the model's sizes it runs at 75–90 % of the FMA
//! peak measured in the same process, 1.6–2.0× Eigen's GEMM with AVX2 and 1.4–1.5× with AVX-512; with SSE only
//! it is within 10 % of Eigen (benchmarks/nn/bench_gemm.cpp, docs/benchmarks.md). Every element is summed in
//! the same order whatever the tiling, so its results do not depend on how rows are split into blocks or
//! threads.
#pragma once

#include <algorithm>
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
//! independent accumulators of Lanes floats (Lanes = 1: scalar columns, still one chain per output element). With
//! `resume`, the chains start from c, which holds the sum over the previous depth blocks, instead of 0.
template <int Rows, int Vectors, int Lanes>
VOXFORMER_FORCEINLINE void gemm_tile(const float* a, index_t lda, const float* b, index_t ldb, index_t k, float* c,
                                     index_t ldc, bool accumulate, bool resume) {
  using F = lanes_t<float, Lanes>;
  F acc[Rows][Vectors] = {};
  if (resume)
    for (int r = 0; r < Rows; ++r)
      for (int v = 0; v < Vectors; ++v) acc[r][v] = load_vector<F>(c + r * ldc + v * Lanes);
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
      const F total = accumulate && !resume ? load_vector<F>(out) + acc[r][v] : acc[r][v];
      std::memcpy(out, &total, sizeof(F));
    }
}

//! Two vectors of columns at a time, then one; the columns left then in narrower vectors (a convolution with 8 or
//! 4 output channels on 16-lane vectors), and the last ones singly, for `Rows` rows.
template <int Rows>
void gemm_rows_of_tile(const float* a, index_t lda, const float* b, index_t ldb, index_t k, float* c, index_t ldc,
                       index_t n, bool accumulate, bool resume) {
  constexpr index_t lanes = gemm_lanes;
  index_t j = 0;
  for (; j + 2 * lanes <= n; j += 2 * lanes)
    gemm_tile<Rows, 2, lanes>(a, lda, b + j, ldb, k, c + j, ldc, accumulate, resume);
  for (; j + lanes <= n; j += lanes) gemm_tile<Rows, 1, lanes>(a, lda, b + j, ldb, k, c + j, ldc, accumulate, resume);
  if constexpr (lanes > 8)
    for (; j + 8 <= n; j += 8) gemm_tile<Rows, 1, 8>(a, lda, b + j, ldb, k, c + j, ldc, accumulate, resume);
  if constexpr (lanes > 4)
    for (; j + 4 <= n; j += 4) gemm_tile<Rows, 1, 4>(a, lda, b + j, ldb, k, c + j, ldc, accumulate, resume);
  for (; j < n; ++j) gemm_tile<Rows, 1, 1>(a, lda, b + j, ldb, k, c + j, ldc, accumulate, resume);
}

inline constexpr int gemm_tile_rows = 6;

//! The depth of one block of a deep product (a 3×3 convolution over 256 channels has k = 2304): b is read
//! `gemm_depth_block` rows at a time, two vectors of columns wide, into a packed panel on the stack (32 KiB with
//! AVX-512) that every row tile then reads from L1 — instead of walking k rows of b, one page apart, for each of
//! them. Each tile resumes from the partial sum it stored, so every element is still summed over k in order: the
//! results of c = a·b are those of the product without blocks, bit for bit (with `accumulate`, c's old value is
//! added first rather than last).
inline constexpr index_t gemm_depth_block = 256;

//! Rows [first, first + rows) of c (+)= a·b, for one panel of b (`ldb` its row stride) of depth k: tiles of 6 rows,
//! then the last rows in tiles of 4, 2 and 1 — a product with few rows (a convolution's output channels) then reads
//! each vector of b once per few rows, not once per row.
inline void gemm_rows(const float* a_rows, index_t lda, const float* b, index_t ldb, index_t k, float* c_rows,
                      index_t ldc, index_t n, index_t rows, bool accumulate, bool resume) {
  index_t r = 0;
  for (; r + gemm_tile_rows <= rows; r += gemm_tile_rows)
    gemm_rows_of_tile<gemm_tile_rows>(a_rows + r * lda, lda, b, ldb, k, c_rows + r * ldc, ldc, n, accumulate, resume);
  auto remainder = [&](auto tile_rows) {
    constexpr int height = decltype(tile_rows)::value;
    if (r + height <= rows) {
      gemm_rows_of_tile<height>(a_rows + r * lda, lda, b, ldb, k, c_rows + r * ldc, ldc, n, accumulate, resume);
      r += height;
    }
  };
  remainder(std::integral_constant<int, 4>{});
  remainder(std::integral_constant<int, 2>{});
  remainder(std::integral_constant<int, 1>{});
}

//! Rows [first, first + rows) of c = a·b (or c += a·b), all row-major.
inline void gemm_row_major_block(const tensor_view<const float, 2>& a, const tensor_view<const float, 2>& b,
                                 const tensor_view<float, 2>& c, bool accumulate, index_t first, index_t rows) {
  const index_t k = a.extent(1), n = c.extent(1), lda = a.stride(0), ldb = b.stride(0), ldc = c.stride(0);
  const float* a_rows = a.data() + first * lda;
  float* c_rows = c.data() + first * ldc;
  if (k <= gemm_depth_block) {
    gemm_rows(a_rows, lda, b.data(), ldb, k, c_rows, ldc, n, rows, accumulate, false);
    return;
  }
  constexpr index_t width = 2 * gemm_lanes;
  alignas(64) float panel[gemm_depth_block * width];
  for (index_t j = 0; j < n; j += width) {
    const index_t columns = std::min(width, n - j);
    for (index_t p = 0; p < k; p += gemm_depth_block) {
      const index_t depth = std::min(gemm_depth_block, k - p);
      const float* rows_of_b = b.data() + p * ldb + j;
      if (columns == width)  // fixed-size copies, which are two vector moves (a variable memcpy is `rep movs`)
        for (index_t q = 0; q < depth; ++q) std::memcpy(panel + q * width, rows_of_b + q * ldb, sizeof(float) * width);
      else
        for (index_t q = 0; q < depth; ++q)
          std::memcpy(panel + q * width, rows_of_b + q * ldb, static_cast<std::size_t>(columns) * sizeof(float));
      gemm_rows(a_rows + p, lda, panel, width, depth, c_rows + j, ldc, columns, rows, accumulate, p > 0);
    }
  }
}

}  // namespace voxformer::detail
