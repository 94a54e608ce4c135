// The cuBLAS call the CUDA backend's GEMM makes (`describe_gemm`), checked without a GPU: each description is run
// through a column-major reference GEMM — cuBLAS's semantics, float64 — and compared with the row-major product
// a·b computed directly, for every layout of the three operands, tight and padded leading dimensions, degenerate
// axes with arbitrary strides; and every description obeys cuBLAS's rules for leading dimensions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "support/error_of.hpp"
#include "support/stored_matrix.hpp"
#include "voxformer/backend/cuda/gemm_narrow_plan.hpp"
#include "voxformer/backend/cuda/gemm_call.hpp"

namespace {

using voxformer::blas_transpose;
using voxformer::index_t;
using voxformer::tensor_view;

//! cuBLAS's gemm on the host: C = op(A)·op(B) + beta·C, column-major, element (i, j) of X at x[i + j·ldx], summed in
//! float64 whatever the storage types.
template <class In, class Out>
void column_major_gemm(const voxformer::gemm_call<In, Out>& g, double beta) {
  auto op = [](blas_transpose t, const In* x, index_t ld, index_t i, index_t j) {
    const In value = t == blas_transpose::none ? x[i + j * ld] : x[j + i * ld];
    if constexpr (voxformer::narrow_float<In>) return static_cast<double>(static_cast<float>(value));
    else return static_cast<double>(value);
  };
  for (index_t i = 0; i < g.m; ++i)
    for (index_t j = 0; j < g.n; ++j) {
      double sum = 0;
      for (index_t p = 0; p < g.k; ++p) sum += op(g.transpose_a, g.a, g.lda, i, p) * op(g.transpose_b, g.b, g.ldb, p, j);
      g.c[i + j * g.ldc] = static_cast<Out>(sum + beta * static_cast<double>(g.c[i + j * g.ldc]));
    }
}

//! cuBLAS refuses a leading dimension below the stored form's row count (and below 1).
template <class In, class Out>
void expect_valid_leading_dimensions(const voxformer::gemm_call<In, Out>& g) {
  const index_t a_rows = g.transpose_a == blas_transpose::none ? g.m : g.k;
  const index_t b_rows = g.transpose_b == blas_transpose::none ? g.k : g.n;
  EXPECT_GE(g.lda, std::max<index_t>(1, a_rows));
  EXPECT_GE(g.ldb, std::max<index_t>(1, b_rows));
  EXPECT_GE(g.ldc, std::max<index_t>(1, g.m));
}

//! A logical [rows, cols] matrix stored row- or column-major with `pad` extra elements per leading dimension.
test::stored_matrix<double> store(const std::vector<double>& logical, index_t rows, index_t cols, bool column_major,
                                  index_t pad) {
  return test::store_matrix<double>(logical, rows, cols, column_major, pad, -7.0);
}

std::vector<double> random_values(index_t count, std::mt19937& rng) {
  std::uniform_real_distribution<double> uniform(-1, 1);
  std::vector<double> v(static_cast<std::size_t>(count));
  for (auto& x : v) x = uniform(rng);
  return v;
}

//! Runs the description of a·b (+ c) for every layout and compares with the logical product.
void check_every_layout(index_t m, index_t k, index_t n, index_t pad) {
  std::mt19937 rng(static_cast<unsigned>(m * 131 + k * 17 + n + pad));
  const auto a = random_values(m * k, rng), b = random_values(k * n, rng), c0 = random_values(m * n, rng);
  for (int layout = 0; layout < 8; ++layout)
    for (const bool accumulate : {false, true}) {
      auto sa = store(a, m, k, layout & 1, pad), sb = store(b, k, n, layout & 2, pad), sc = store(c0, m, n, layout & 4, pad);
      const auto call = voxformer::describe_gemm<double>(sa.view, sb.view, sc.view);
      const std::string where = "M=" + std::to_string(m) + " K=" + std::to_string(k) + " N=" + std::to_string(n) +
                                " pad=" + std::to_string(pad) + " layout=" + std::to_string(layout);
      SCOPED_TRACE(where);
      EXPECT_EQ(call.k, k);
      expect_valid_leading_dimensions(call);
      column_major_gemm(call, accumulate ? 1.0 : 0.0);
      for (index_t i = 0; i < m; ++i)
        for (index_t j = 0; j < n; ++j) {
          double expected = accumulate ? c0[static_cast<std::size_t>(i * n + j)] : 0.0;
          for (index_t p = 0; p < k; ++p) expected += a[static_cast<std::size_t>(i * k + p)] * b[static_cast<std::size_t>(p * n + j)];
          ASSERT_NEAR(sc.view(i, j), expected, 1e-12) << "(" << i << ", " << j << ")";
        }
    }
}

TEST(GemmCall, EveryLayoutComputesTheRowMajorProduct) {
  for (const index_t pad : {0, 3}) {
    check_every_layout(7, 5, 3, pad);
    check_every_layout(4, 9, 11, pad);
  }
}

// Vectors and scalars: an axis of extent 1 may carry any stride, and a leading dimension must still be valid.
TEST(GemmCall, DegenerateShapesComputeTheProduct) {
  for (const index_t pad : {0, 2})
    for (const auto& [m, k, n] : std::vector<std::array<index_t, 3>>{{1, 5, 4}, {6, 1, 4}, {6, 5, 1}, {1, 1, 1}, {1, 7, 1}, {3, 0, 2}})
      check_every_layout(m, k, n, pad);
}

TEST(GemmCall, AnyStrideOnAnAxisOfExtentOne) {
  std::vector<double> a{1, 2, 3}, b{4, 5, 6, 7, 8, 9}, c(2, 0.0);
  // a [1, 3] whose row stride is 0 (a broadcast row), c [1, 2] whose row stride is 1000: neither is a valid ld.
  const tensor_view<double, 2> av(a.data(), {1, 3}, {0, 1}), bv(b.data(), {3, 2}, {2, 1}), cv(c.data(), {1, 2}, {1000, 1});
  const auto call = voxformer::describe_gemm<double>(av, bv, cv);
  expect_valid_leading_dimensions(call);
  column_major_gemm(call, 0.0);
  EXPECT_EQ(c, (std::vector<double>{1 * 4 + 2 * 6 + 3 * 8, 1 * 5 + 2 * 7 + 3 * 9}));
}

TEST(GemmCall, AnOperandWithoutAUnitStrideIsAnError) {
  std::vector<double> memory(64, 0.0);
  const tensor_view<double, 2> strided(memory.data(), {3, 3}, {6, 2}), fine(memory.data(), {3, 3}, {3, 1});
  EXPECT_EQ(test::error_of([&] { (void)voxformer::describe_gemm<double>(strided, fine, fine); }),
            "voxformer::gemm: argument 'a' needs a unit stride along one axis, got strides (6, 2)");
  EXPECT_EQ(test::error_of([&] { (void)voxformer::describe_gemm<double>(fine, fine, strided); }),
            "voxformer::gemm: argument 'c' needs a unit stride along one axis, got strides (6, 2)");
}

// The 16-bit products as the CUDA backend runs them (`for_each_staged_block`): a's rows rounded into a staging
// buffer of 3 rows, block after block, each block's call run through the column-major reference. Against the product
// of a rounded on the host by the CPU backend's rounding (`narrow_bits`) times b, in float64: within fp32's rounding
// of the sums (1e-5; an unrounded a would be off by up to 2⁻⁸ (bfloat16) or 2⁻¹¹ (float16) of each term, |term| up
// to 4), for every layout of a, b and c, with and without accumulation, over 1, 2 and 3 blocks.
template <class W>
void expect_staged_products() {
  SCOPED_TRACE(voxformer::to_string(voxformer::dtype_of<W>()));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uniform(-2, 2);
  const index_t k = 6, n = 5;
  for (const index_t m : {2, 6, 7})
    for (int layout = 0; layout < 8; ++layout)
      for (const bool accumulate : {false, true}) {
        SCOPED_TRACE("M=" + std::to_string(m) + " layout=" + std::to_string(layout) + (accumulate ? " +=" : ""));
        std::vector<float> a(static_cast<std::size_t>(m * k)), c0(static_cast<std::size_t>(m * n));
        std::vector<W> b(static_cast<std::size_t>(k * n));
        for (auto& x : a) x = uniform(rng);
        for (auto& x : b) x = W(uniform(rng));
        for (auto& x : c0) x = uniform(rng);
        auto sa = test::store_matrix<float>(a, m, k, layout & 1, 1, -7.f);
        auto sb = test::store_matrix<W>(b, k, n, layout & 2, 1, W(-7.f));
        auto sc = test::store_matrix<float>(c0, m, n, layout & 4, 1, -7.f);
        std::vector<W> staging(3 * k + 2, W(99.f));
        int blocks = 0;
        voxformer::detail::for_each_staged_block(
            tensor_view<const float, 2>(sa.view), tensor_view<const W, 2>(sb.view), sc.view,
            voxformer::make_view<1>(staging.data(), {static_cast<index_t>(staging.size())}),
            [](index_t count, const auto& kernel) {
              for (index_t i = 0; i < count; ++i) kernel(i);
            },
            [&](const voxformer::gemm_call<W, float>& call) {
              expect_valid_leading_dimensions(call);
              column_major_gemm(call, accumulate ? 1.0 : 0.0);
              ++blocks;
            });
        EXPECT_EQ(blocks, (m + 2) / 3);
        for (index_t i = 0; i < m; ++i)
          for (index_t j = 0; j < n; ++j) {
            double expected = accumulate ? c0[static_cast<std::size_t>(i * n + j)] : 0.0;
            for (index_t p = 0; p < k; ++p) {
              const float rounded = voxformer::detail::widen_narrow_bits<W>(
                  voxformer::detail::narrow_bits<W>(a[static_cast<std::size_t>(i * k + p)]));
              expected += double{rounded} * static_cast<float>(b[static_cast<std::size_t>(p * n + j)]);
            }
            ASSERT_NEAR(sc.view(i, j), expected, 1e-5) << "(" << i << ", " << j << ")";  // |c| < 30: fp32's rounding
          }
      }
}

TEST(GemmCall, NarrowProductsRunInStagedBlocksOfRoundedRows) {
  expect_staged_products<voxformer::bfloat16>();
  expect_staged_products<voxformer::float16>();
}

// Rounding is to the nearest, ties to even, as the CPU rounds: with W's spacing s in [1, 2), 1 + s/2 lies halfway
// between 1 and 1 + s and goes to 1; 1 + 3s/2, halfway between 1 + s and 1 + 2s, goes to 1 + 2s.
template <class W>
void expect_staged_rounding(float spacing) {
  const std::vector<float> a{1 + spacing / 2, 1 + 3 * spacing / 2, -1 - spacing / 2};
  std::vector<W> staged(3);
  const voxformer::kernels::round_to_narrow<W> kernel{voxformer::make_view<2>(a.data(), {1, 3}),
                                                      voxformer::make_view<2>(staged.data(), {1, 3})};
  for (index_t i = 0; i < 3; ++i) kernel(i);
  EXPECT_EQ(static_cast<float>(staged[0]), 1.f);
  EXPECT_EQ(static_cast<float>(staged[1]), 1 + 2 * spacing);
  EXPECT_EQ(static_cast<float>(staged[2]), -1.f);
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(voxformer::detail::narrow_bits<W>(staged[i]), voxformer::detail::narrow_bits<W>(a[i]));
}

TEST(GemmCall, StagedRowsRoundToNearestEven) {
  expect_staged_rounding<voxformer::bfloat16>(std::ldexp(1.f, -7));
  expect_staged_rounding<voxformer::float16>(std::ldexp(1.f, -10));
}

// float16's edges, where staging an fp32 activation can lose it: 65 519 rounds to the largest finite 65 504, 65 520
// (halfway to the next binade) to infinity, as CUDA's __float2half does; the smallest subnormal 2⁻²⁴ is kept, 2⁻²⁶
// goes to zero.
TEST(GemmCall, StagedFloat16KeepsIeeeEdges) {
  const std::vector<float> a{65519.f, 65520.f, -65520.f, std::ldexp(1.f, -24), std::ldexp(1.f, -26)};
  std::vector<voxformer::float16> staged(a.size());
  const voxformer::kernels::round_to_narrow<voxformer::float16> kernel{
      voxformer::make_view<2>(a.data(), {1, static_cast<index_t>(a.size())}),
      voxformer::make_view<2>(staged.data(), {1, static_cast<index_t>(a.size())})};
  for (index_t i = 0; i < static_cast<index_t>(a.size()); ++i) kernel(i);
  EXPECT_EQ(static_cast<float>(staged[0]), 65504.f);
  EXPECT_EQ(static_cast<float>(staged[1]), INFINITY);
  EXPECT_EQ(static_cast<float>(staged[2]), -INFINITY);
  EXPECT_EQ(static_cast<float>(staged[3]), std::ldexp(1.f, -24));
  EXPECT_EQ(static_cast<float>(staged[4]), 0.f);
}

// A staging buffer smaller than one row of a is an error before anything runs.
TEST(GemmCall, AStagingBufferBelowOneRowIsAnError) {
  std::vector<float> a(8), c(4);
  std::vector<voxformer::bfloat16> b(8), staging(3);
  EXPECT_EQ(test::error_of([&] {
              voxformer::detail::for_each_staged_block(
                  voxformer::make_view<2>(static_cast<const float*>(a.data()), {2, 4}),
                  voxformer::make_view<2>(static_cast<const voxformer::bfloat16*>(b.data()), {4, 2}),
                  voxformer::make_view<2>(c.data(), {2, 2}), voxformer::make_view<1>(staging.data(), {3}),
                  [](index_t, const auto&) { FAIL(); }, [](const auto&) { FAIL(); });
            }),
            "voxformer::gemm: a bfloat16 product rounds a's rows into the context's staging buffer, which holds 3 "
            "elements: fewer than one row of K = 4");
}

}  // namespace
