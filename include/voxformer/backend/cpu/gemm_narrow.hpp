//! @file The CPU backend's products with 16-bit storage and fp32 sums: c [M, N] fp32 (+)= a [M, K] · b [K, N], b in
//! bfloat16 or float16 (a layer's weights at half fp32's memory), a in b's type or in fp32 rounded to it (to the
//! nearest) as it is packed. A product of two such values is exact in fp32 and the sums are fp32's, so the result
//! differs from the fp64 product of the rounded operands by fp32's summation error alone, and from the product of
//! unrounded operands by their rounding (at most (2u + u²)·Σ|a·b|, u = 2⁻⁸ for bfloat16 and 2⁻¹¹ for float16;
//! measured in docs/benchmarks.md). bfloat16: where the CPU has AVX512-BF16 — checked at run time, whatever the
//! build's flags — `vdpbf16ps` does 32 multiply-adds an instruction, twice fp32's FMA; elsewhere the fp32 kernel runs
//! on the operands widened panel by panel. float16 always takes the widened path: it is the GPU's storage type, here
//! so that the CPU computes what the GPU does (no AVX512-FP16 kernel is written: the project's CPUs lack it).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "voxformer/backend/cpu/gemm.hpp"
#include "voxformer/backend/cpu/gemm_kernel.hpp"
#include "voxformer/backend/cpu/parallel_for.hpp"
#include "voxformer/core/algorithms.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/core/narrow_float.hpp"
#include "voxformer/core/tensor_view.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define VOXFORMER_HAS_DOT_PRODUCT_BF16 1
// The kernel's functions alone are compiled for AVX512-BF16, so that any build carries them and runs them only
// where the CPU says it can.
#define VOXFORMER_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#else
#define VOXFORMER_HAS_DOT_PRODUCT_BF16 0
#endif

namespace voxformer {

//! How a bfloat16 product computes: `dot_product` with AVX512-BF16's pair dot products, `widened` with the fp32
//! kernel on operands widened to fp32 (exactly: a bfloat16 is a float's upper half).
enum class bf16_gemm_kernel { dot_product, widened };

//! The fastest kernel this CPU runs.
inline bf16_gemm_kernel best_bf16_gemm_kernel() {
#if VOXFORMER_HAS_DOT_PRODUCT_BF16
  static const bool has_dot_product = __builtin_cpu_supports("avx512bf16");
  if (has_dot_product) return bf16_gemm_kernel::dot_product;
#endif
  return bf16_gemm_kernel::widened;
}

namespace detail {

//! k per packed block (the pairs of one block of a's rows stay in L2, one panel of b in L1) and the columns of a
//! panel of b (two vectors of 16 fp32 sums).
inline constexpr index_t narrow_depth_block = 128;
inline constexpr index_t narrow_panel_columns = 32;

//! One task's packed operands (56 KiB on the stack): a's rows [rows, depth] as 16-bit values, row stride
//! `narrow_depth_block`, an odd depth padded with a zero; one panel of b as pairs — dword (p, j) holds b(2p, j) in
//! its low half and b(2p + 1, j) in its high half, the layout in which `vdpbf16ps` adds
//! a(2p)·b(2p, j) + a(2p + 1)·b(2p + 1, j) to sum j. Columns past the panel's and a missing last row are zeros.
struct narrow_packs {
  alignas(64) std::uint16_t a[gemm_row_block * narrow_depth_block];
  alignas(64) std::uint32_t b[narrow_depth_block / 2 * narrow_panel_columns];
};

inline const std::uint16_t* raw_bits(const bfloat16* p) { return reinterpret_cast<const std::uint16_t*>(p); }
inline const std::uint16_t* raw_bits(const float16* p) { return reinterpret_cast<const std::uint16_t*>(p); }

template <class W, class A>
void pack_narrow_rows(const tensor_view<const A, 2>& a, index_t first, index_t rows, index_t k0, index_t depth,
                      std::uint16_t* out) {
  for (index_t r = 0; r < rows; ++r) {
    std::uint16_t* row = out + r * narrow_depth_block;
    if constexpr (std::is_same_v<A, W>)
      if (a.stride(1) == 1) {
        std::memcpy(row, raw_bits(&a(first + r, k0)), static_cast<std::size_t>(depth) * sizeof(std::uint16_t));
        if (depth % 2 != 0) row[depth] = 0;  // an odd depth is < 128: the row has room for its pad
        continue;
      }
    for (index_t q = 0; q < depth; ++q) row[q] = narrow_bits<W>(a(first + r, k0 + q));
    if (depth % 2 != 0) row[depth] = 0;
  }
}

template <class W>
void pack_narrow_pairs(const tensor_view<const W, 2>& b, index_t k0, index_t depth, index_t j0, index_t columns,
                       std::uint32_t* out) {
  for (index_t p = 0; 2 * p < depth; ++p)
    for (index_t j = 0; j < narrow_panel_columns; ++j) {
      const bool column = j < columns;
      const std::uint32_t low = column ? narrow_bits<W>(b(k0 + 2 * p, j0 + j)) : 0;
      const std::uint32_t high = column && 2 * p + 1 < depth ? narrow_bits<W>(b(k0 + 2 * p + 1, j0 + j)) : 0;
      out[p * narrow_panel_columns + j] = low | high << 16;
    }
}

//! The fp32 kernel (`gemm_rows`) on the packs widened: the panel once, a's rows a tile at a time.
template <class W>
void narrow_widened_rows(const std::uint16_t* a, const std::uint32_t* b, index_t depth, float* c, index_t ldc,
                         index_t columns, index_t rows, bool accumulate, bool resume) {
  constexpr index_t width = narrow_panel_columns;
  float panel[narrow_depth_block * width];
  for (index_t q = 0; q < depth; ++q)
    for (index_t j = 0; j < columns; ++j) {
      const std::uint32_t pair = b[q / 2 * width + j];
      panel[q * width + j] = widen_narrow_bits<W>(static_cast<std::uint16_t>(q % 2 == 0 ? pair : pair >> 16));
    }
  float tile[gemm_tile_rows * narrow_depth_block];
  for (index_t r = 0; r < rows; r += gemm_tile_rows) {
    const index_t height = std::min<index_t>(gemm_tile_rows, rows - r);
    for (index_t i = 0; i < height; ++i)
      for (index_t q = 0; q < depth; ++q)
        tile[i * narrow_depth_block + q] = widen_narrow_bits<W>(a[(r + i) * narrow_depth_block + q]);
    gemm_rows(tile, narrow_depth_block, panel, width, depth, c + r * ldc, ldc, columns, height, accumulate, resume);
  }
}

#if VOXFORMER_HAS_DOT_PRODUCT_BF16

//! Rows of fp32 a with unit stride rounded to bfloat16, 32 at a time (`vcvtne2ps2bf16`: to nearest, ties to even,
//! as the scalar rounding used for the tail; it flushes subnormal floats to zero, which `vdpbf16ps` would do anyway).
VOXFORMER_BF16_TARGET inline void pack_bf16_rows_dot_product(const float* a, index_t lda, index_t rows, index_t depth,
                                                            std::uint16_t* out) {
  for (index_t r = 0; r < rows; ++r) {
    const float* source = a + r * lda;
    std::uint16_t* row = out + r * narrow_depth_block;
    index_t q = 0;
    for (; q + 32 <= depth; q += 32)
      _mm512_store_si512(row + q, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(source + q + 16),
                                                                _mm512_loadu_ps(source + q)));
    for (; q < depth; ++q) row[q] = narrow_bits<bfloat16>(source[q]);
    if (depth % 2 != 0) row[depth] = 0;
  }
}

//! A full panel of row-major b: rows 2p and 2p + 1 interleaved by 16-bit element (`vpermt2w`).
VOXFORMER_BF16_TARGET inline void pack_bf16_pairs_dot_product(const std::uint16_t* b, index_t ldb, index_t depth,
                                                             std::uint32_t* out) {
  alignas(64) std::uint16_t first_half[32], second_half[32];
  for (int i = 0; i < 16; ++i) {
    first_half[2 * i] = static_cast<std::uint16_t>(i), first_half[2 * i + 1] = static_cast<std::uint16_t>(32 + i);
    second_half[2 * i] = static_cast<std::uint16_t>(16 + i), second_half[2 * i + 1] = static_cast<std::uint16_t>(48 + i);
  }
  const __m512i low = _mm512_load_si512(first_half), high = _mm512_load_si512(second_half);
  for (index_t p = 0; 2 * p < depth; ++p) {
    const __m512i even = _mm512_loadu_si512(b + 2 * p * ldb);
    const __m512i odd = 2 * p + 1 < depth ? _mm512_loadu_si512(b + (2 * p + 1) * ldb) : _mm512_setzero_si512();
    _mm512_store_si512(out + p * narrow_panel_columns, _mm512_permutex2var_epi16(even, low, odd));
    _mm512_store_si512(out + p * narrow_panel_columns + 16, _mm512_permutex2var_epi16(even, high, odd));
  }
}

//! c[0 .. Rows)[panel] (+)= a · b over `pairs` pairs: Rows × 2 vectors of sums; masked loads and stores keep to the
//! panel's columns. Each sum starts from c when `load_c` (accumulating, or resuming after an earlier depth block).
template <int Rows>
VOXFORMER_BF16_TARGET inline __attribute__((always_inline)) void bf16_dot_product_tile(
    const std::uint16_t* a, const std::uint32_t* b, index_t pairs, float* c, index_t ldc, __mmask16 first_mask,
    __mmask16 second_mask, bool load_c) {
  __m512 sums[Rows][2];
  for (int r = 0; r < Rows; ++r) {
    sums[r][0] = load_c ? _mm512_maskz_loadu_ps(first_mask, c + r * ldc) : _mm512_setzero_ps();
    sums[r][1] = load_c ? _mm512_maskz_loadu_ps(second_mask, c + r * ldc + 16) : _mm512_setzero_ps();
  }
  for (index_t p = 0; p < pairs; ++p) {
    const auto b0 = (__m512bh)_mm512_load_si512(b + p * narrow_panel_columns);
    const auto b1 = (__m512bh)_mm512_load_si512(b + p * narrow_panel_columns + 16);
    for (int r = 0; r < Rows; ++r) {
      std::uint32_t pair;
      std::memcpy(&pair, a + r * narrow_depth_block + 2 * p, sizeof(pair));
      const auto x = (__m512bh)_mm512_set1_epi32(static_cast<int>(pair));
      sums[r][0] = _mm512_dpbf16_ps(sums[r][0], x, b0);
      sums[r][1] = _mm512_dpbf16_ps(sums[r][1], x, b1);
    }
  }
  for (int r = 0; r < Rows; ++r) {
    _mm512_mask_storeu_ps(c + r * ldc, first_mask, sums[r][0]);
    _mm512_mask_storeu_ps(c + r * ldc + 16, second_mask, sums[r][1]);
  }
}

//! Tiles of 6 rows (12 sums, 3 registers for the operands: 15 of 32), then 4, 2 and 1.
VOXFORMER_BF16_TARGET inline void bf16_dot_product_rows(const std::uint16_t* a, const std::uint32_t* b, index_t pairs,
                                                       float* c, index_t ldc, index_t columns, index_t rows,
                                                       bool load_c) {
  const auto mask_of = [](index_t n) {
    return static_cast<__mmask16>(n >= 16 ? 0xFFFFu : n <= 0 ? 0u : (1u << n) - 1u);
  };
  const __mmask16 first_mask = mask_of(columns), second_mask = mask_of(columns - 16);
  index_t r = 0;
  for (; r + 6 <= rows; r += 6)
    bf16_dot_product_tile<6>(a + r * narrow_depth_block, b, pairs, c + r * ldc, ldc, first_mask, second_mask, load_c);
  if (r + 4 <= rows) {
    bf16_dot_product_tile<4>(a + r * narrow_depth_block, b, pairs, c + r * ldc, ldc, first_mask, second_mask, load_c);
    r += 4;
  }
  if (r + 2 <= rows) {
    bf16_dot_product_tile<2>(a + r * narrow_depth_block, b, pairs, c + r * ldc, ldc, first_mask, second_mask, load_c);
    r += 2;
  }
  if (r < rows)
    bf16_dot_product_tile<1>(a + r * narrow_depth_block, b, pairs, c + r * ldc, ldc, first_mask, second_mask, load_c);
}

#endif  // VOXFORMER_HAS_DOT_PRODUCT_BF16

//! Rows [first, first + rows) of c (+)= a·b: for each depth block, a's rows packed once, then each panel of b
//! packed and multiplied by every row; later blocks resume from the sums the earlier ones stored. The dot-product
//! kernel is bfloat16's alone.
template <class A, class W>
void gemm_narrow_rows(const tensor_view<const A, 2>& a, const tensor_view<const W, 2>& b,
                      const tensor_view<float, 2>& c, bool accumulate, index_t first, index_t rows,
                      bf16_gemm_kernel kernel) {
  const index_t k = a.extent(1), n = c.extent(1), ldc = c.stride(0);
  float* c_rows = c.data() + first * ldc;
  if (k == 0) {
    if (!accumulate)
      for (index_t r = 0; r < rows; ++r) std::fill_n(c_rows + r * ldc, n, 0.f);
    return;
  }
  [[maybe_unused]] const bool dot_product = std::is_same_v<W, bfloat16> && kernel == bf16_gemm_kernel::dot_product;
  narrow_packs packs;
  const auto pack_rows = [&](index_t k0, index_t depth) {
#if VOXFORMER_HAS_DOT_PRODUCT_BF16
    if constexpr (std::is_same_v<A, float>)
      if (dot_product && a.stride(1) == 1)
        return pack_bf16_rows_dot_product(&a(first, k0), a.stride(0), rows, depth, packs.a);
#endif
    pack_narrow_rows<W>(a, first, rows, k0, depth, packs.a);
  };
  for (index_t k0 = 0; k0 < k; k0 += narrow_depth_block) {
    const index_t depth = std::min(narrow_depth_block, k - k0);
    pack_rows(k0, depth);
    for (index_t j0 = 0; j0 < n; j0 += narrow_panel_columns) {
      const index_t columns = std::min(narrow_panel_columns, n - j0);
#if VOXFORMER_HAS_DOT_PRODUCT_BF16
      if constexpr (std::is_same_v<W, bfloat16>)
        if (dot_product) {
          if (columns == narrow_panel_columns && b.stride(1) == 1)
            pack_bf16_pairs_dot_product(raw_bits(&b(k0, j0)), b.stride(0), depth, packs.b);
          else
            pack_narrow_pairs(b, k0, depth, j0, columns, packs.b);
          bf16_dot_product_rows(packs.a, packs.b, (depth + 1) / 2, c_rows + j0, ldc, columns, rows,
                                accumulate || k0 > 0);
          continue;
        }
#endif
      pack_narrow_pairs(b, k0, depth, j0, columns, packs.b);
      narrow_widened_rows<W>(packs.a, packs.b, depth, c_rows + j0, ldc, columns, rows, accumulate, k0 > 0);
    }
  }
}

//! The product with a chosen kernel (the tests run both), the epilogue per row after each block of rows.
template <class A, class W, class Epilogue>
void gemm_narrow(const cpu_executor& executor, const tensor_view<const A, 2>& a, const tensor_view<const W, 2>& b,
                 const tensor_view<float, 2>& c, bool accumulate, const Epilogue& epilogue, bf16_gemm_kernel kernel) {
  const index_t rows = c.extent(0);
  if (rows == 0) return;
  if (c.stride(1) != 1 && c.extent(1) > 1)
    fail("voxformer::gemm: argument 'c' of a ", to_string(dtype_of<W>()),
         " product must be row-major (unit column stride), got strides (", c.stride(0), ", ", c.stride(1), ")");
  const index_t blocks = (rows + gemm_row_block - 1) / gemm_row_block;
  parallel_for(
      executor, blocks,
      [&](index_t block) {
        const index_t first = block * gemm_row_block, count = std::min(gemm_row_block, rows - first);
        gemm_narrow_rows(a, b, c, accumulate, first, count, kernel);
        const Epilogue local = epilogue;
        for (index_t r = first; r < first + count; ++r) local(r);
      },
      1);
}

}  // namespace detail

//! c [M, N] (+)= a [M, K] · b [K, N] with b in bfloat16 or float16 and a in b's type or fp32 (rounded to it), summed
//! in fp32 into fp32 c; then `epilogue(row)` for every row. a and b any strides; c row-major (any leading
//! dimension). Shapes are the caller's to check, as for the fp32 product; `c` must not overlap `a` or `b`.
template <class A, narrow_float W, class Epilogue = no_epilogue>
  requires(std::is_same_v<A, float> || std::is_same_v<A, W>)
void gemm(const cpu_executor& executor, const tensor_view<const A, 2>& a, const tensor_view<const W, 2>& b,
          const tensor_view<float, 2>& c, bool accumulate, const Epilogue& epilogue = {}) {
  detail::gemm_narrow(executor, a, b, c, accumulate, epilogue,
                      std::is_same_v<W, bfloat16> ? best_bf16_gemm_kernel() : bf16_gemm_kernel::widened);
}

}  // namespace voxformer
