// The cuBLAS call the CUDA backend's GEMM makes (`describe_gemm`), checked without a GPU: each description is run
// through a column-major reference GEMM — cuBLAS's semantics, float64 — and compared with the row-major product
// a·b computed directly, for every layout of the three operands, tight and padded leading dimensions, degenerate
// axes with arbitrary strides; and every description obeys cuBLAS's rules for leading dimensions.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "support/stored_matrix.hpp"
#include "voxformer/backend/cuda/gemm_call.hpp"

namespace {

using voxformer::blas_transpose;
using voxformer::index_t;
using voxformer::tensor_view;

//! cuBLAS's gemm on the host: C = op(A)·op(B) + beta·C, column-major, element (i, j) of X at x[i + j·ldx].
void column_major_gemm(const voxformer::gemm_call<double>& g, double beta) {
  auto op = [](blas_transpose t, const double* x, index_t ld, index_t i, index_t j) {
    return t == blas_transpose::none ? x[i + j * ld] : x[j + i * ld];
  };
  for (index_t i = 0; i < g.m; ++i)
    for (index_t j = 0; j < g.n; ++j) {
      double sum = 0;
      for (index_t p = 0; p < g.k; ++p) sum += op(g.transpose_a, g.a, g.lda, i, p) * op(g.transpose_b, g.b, g.ldb, p, j);
      g.c[i + j * g.ldc] = sum + beta * g.c[i + j * g.ldc];
    }
}

//! cuBLAS refuses a leading dimension below the stored form's row count (and below 1).
void expect_valid_leading_dimensions(const voxformer::gemm_call<double>& g) {
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

}  // namespace
