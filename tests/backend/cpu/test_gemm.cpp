// The CPU backend's GEMM against a float64 triple loop: every operand row- or column-major with a leading dimension
// wider than the matrix, every tile remainder of the register-blocked kernel, column-range epilogues, and
// bit-identical results for any thread count. Lane code: built again for each SIMD width (tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

#include "support/stored_matrix.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"

namespace {

using voxformer::cpu_executor;
using voxformer::index_t;

// GEMM: c (+)= a·b against a float64 triple loop, with every operand row- or column-major and a leading
// dimension wider than the matrix, M spanning several row blocks with a partial last one.
struct gemm_case {
  index_t m, k, n;
  std::vector<double> a, b, c;  // logical row-major values
};

gemm_case random_gemm(index_t m, index_t k, index_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal;
  gemm_case g{m, k, n, {}, {}, {}};
  for (index_t i = 0; i < m * k; ++i) g.a.push_back(static_cast<float>(normal(gen)));
  for (index_t i = 0; i < k * n; ++i) g.b.push_back(static_cast<float>(normal(gen)));
  for (index_t i = 0; i < m * n; ++i) g.c.push_back(static_cast<float>(normal(gen)));
  return g;
}

//! A logical row-major [rows, cols] matrix stored with a leading dimension 3 wider than its inner size, either order.
test::stored_matrix<float> store(const std::vector<double>& logical, index_t rows, index_t cols, bool column_major) {
  return test::store_matrix<float>(logical, rows, cols, column_major, 3, -9.f);
}

TEST(Gemm, MatchesBruteForceInEveryLayout) {
  const auto g = random_gemm(600, 70, 45, 7);  // three row blocks, the last one partial
  for (int layout = 0; layout < 8; ++layout)
    for (bool accumulate : {false, true}) {
      auto a = store(g.a, g.m, g.k, layout & 1), b = store(g.b, g.k, g.n, layout & 2), c = store(g.c, g.m, g.n, layout & 4);
      voxformer::gemm<float>(cpu_executor{2}, a.view, b.view, c.view, accumulate);
      for (index_t i = 0; i < g.m; ++i)
        for (index_t j = 0; j < g.n; ++j) {
          double expected = accumulate ? static_cast<double>(static_cast<float>(g.c[i * g.n + j])) : 0;
          for (index_t p = 0; p < g.k; ++p) expected += g.a[i * g.k + p] * g.b[p * g.n + j];
          ASSERT_NEAR(c.view(i, j), expected, 1e-4 * (1 + std::abs(expected)))
              << "layout " << layout << " accumulate " << accumulate << " at " << i << ", " << j;
        }
    }
}

TEST(Gemm, ResultDoesNotDependOnTheThreadCount) {
  const auto g = random_gemm(1000, 128, 96, 8);
  std::vector<std::vector<float>> results;
  const voxformer::execution_context<cpu_executor> pool(cpu_executor{3});
  for (const cpu_executor executor : {cpu_executor{1}, cpu_executor{2}, pool.executor()}) {
    auto a = store(g.a, g.m, g.k, false), b = store(g.b, g.k, g.n, true), c = store(g.c, g.m, g.n, false);
    voxformer::gemm<float>(executor, a.view, b.view, c.view, false);
    results.push_back(c.values);
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

TEST(Gemm, EmptyAndDegenerateShapes) {
  std::vector<float> a(4, 1.f), b(4, 2.f), c(4, 5.f);
  // K = 0: c = 0 (or unchanged when accumulating).
  voxformer::gemm<float>(cpu_executor{1}, voxformer::make_view<2>(static_cast<const float*>(a.data()), {2, 0}),
                         voxformer::make_view<2>(static_cast<const float*>(b.data()), {0, 2}),
                         voxformer::make_view<2>(c.data(), {2, 2}), true);
  EXPECT_EQ(c, std::vector<float>(4, 5.f));
  voxformer::gemm<float>(cpu_executor{1}, voxformer::make_view<2>(static_cast<const float*>(a.data()), {2, 0}),
                         voxformer::make_view<2>(static_cast<const float*>(b.data()), {0, 2}),
                         voxformer::make_view<2>(c.data(), {2, 2}), false);
  EXPECT_EQ(c, std::vector<float>(4, 0.f));
  // A fully strided operand has no unit stride: a clear error.
  const voxformer::tensor_view<const float, 2> strided(a.data(), {2, 2}, {2, 2});
  EXPECT_THROW(voxformer::gemm<float>(cpu_executor{1}, strided, voxformer::make_view<2>(static_cast<const float*>(b.data()), {2, 2}),
                                      voxformer::make_view<2>(c.data(), {2, 2}), false),
               voxformer::error);
}

// The row-major kernel's tiles: every remainder of rows (tiles of 6, 4, 2, 1) and of columns (2 and 1 vectors,
// then 8-, 4- and 1-wide) against the float64 triple loop.
TEST(Gemm, EveryTileRemainderMatchesBruteForce) {
  for (index_t m = 1; m <= 13; ++m)
    for (index_t n = 1; n <= 41; n += 1) {
      const auto g = random_gemm(m, 37, n, static_cast<unsigned>(m * 100 + n));
      auto a = store(g.a, g.m, g.k, false), b = store(g.b, g.k, g.n, false), c = store(g.c, g.m, g.n, false);
      voxformer::gemm<float>(cpu_executor{1}, a.view, b.view, c.view, false);
      for (index_t i = 0; i < m; ++i)
        for (index_t j = 0; j < n; ++j) {
          double expected = 0;
          for (index_t p = 0; p < g.k; ++p) expected += g.a[i * g.k + p] * g.b[p * g.n + j];
          ASSERT_NEAR(c.view(i, j), expected, 1e-4 * (1 + std::abs(expected))) << m << "x" << n << " at " << i << ", " << j;
        }
    }
}

//! Records which columns of which row the GEMM handed to it (as a convolution's per-channel bias would see them).
struct column_range_epilogue {
  std::vector<int>* visits;  // [rows · columns], how often each element was handed over
  index_t columns;
  void operator()(index_t row, index_t first, index_t end) const {
    for (index_t j = first; j < end; ++j) ++(*visits)[static_cast<std::size_t>(row * columns + j)];
  }
};

// An epilogue that takes column ranges lets a product with few rows split over columns: every element is handed
// to it exactly once, and the product is the same bits as without the split, for any thread count.
TEST(Gemm, AColumnRangeEpilogueSplitsColumnsAndSeesEachElementOnce) {
  const auto g = random_gemm(5, 50, 2100, 9);
  auto a = store(g.a, g.m, g.k, false), b = store(g.b, g.k, g.n, false);
  auto whole = store(g.c, g.m, g.n, false);
  voxformer::gemm<float>(cpu_executor{1}, a.view, b.view, whole.view, false);
  for (int threads : {1, 2, 3}) {
    auto split = store(g.c, g.m, g.n, false);
    std::vector<int> visits(static_cast<std::size_t>(g.m * g.n), 0);
    voxformer::gemm<float>(cpu_executor{threads}, a.view, b.view, split.view, false, column_range_epilogue{&visits, g.n});
    EXPECT_EQ(split.values, whole.values) << threads << " threads";
    EXPECT_TRUE(std::all_of(visits.begin(), visits.end(), [](int v) { return v == 1; }));
  }
}

// Was: a bare std::bad_alloc (a valid configuration can still be too big for the machine).

// A product deeper than one depth block (a convolution's: k = 9 · 256) reads b in packed blocks and resumes each
// tile from the sum stored in c: every element is summed over k in order, so the result is the unblocked kernel's
// bit for bit — and the float64 product's within rounding, for any thread count and tile remainder.
TEST(Gemm, DeepProductsAreBlockedWithoutChangingTheSum) {
  for (const index_t n : {index_t{64}, index_t{45}, index_t{3}})
    for (const index_t k : {voxformer::detail::gemm_depth_block + 1, index_t{700}}) {
      const auto g = random_gemm(13, k, n, 11);
      const auto a = store(g.a, g.m, k, false), b = store(g.b, k, n, false);
      auto c = store(g.c, g.m, n, false), unblocked = store(g.c, g.m, n, false);
      voxformer::gemm<float>(cpu_executor{2}, a.view, b.view, c.view, false);
      voxformer::detail::gemm_rows(a.view.data(), a.view.stride(0), b.view.data(), b.view.stride(0), k,
                                   unblocked.view.data(), unblocked.view.stride(0), n, g.m, false, false);
      EXPECT_EQ(c.values, unblocked.values) << "k " << k << ", n " << n;
      for (index_t i = 0; i < g.m; ++i)
        for (index_t j = 0; j < n; ++j) {
          double expected = 0;
          for (index_t p = 0; p < k; ++p)
            expected += g.a[static_cast<std::size_t>(i * k + p)] * g.b[static_cast<std::size_t>(p * n + j)];
          ASSERT_NEAR(c.view(i, j), expected, 1e-4 * (1 + std::abs(expected))) << i << ", " << j;
        }
    }
}

}  // namespace
