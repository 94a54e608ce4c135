// The 16-bit paths of the CPU: the product (backend/cpu/gemm_narrow.hpp) with bfloat16 weights, both kernels —
// AVX512-BF16's pair dot products where this CPU has them, and the widened fp32 kernel everywhere — and with float16
// weights (widened), against a float64 loop over the operands rounded to the weights' type. Products of two such
// values are exact in fp32, so the only error allowed is fp32 summation's: |c − ref| ≤ (K + 2)·2⁻²⁴·(Σ|a·b| + |c₀|).
// A kernel that skipped a's rounding would be off by up to u = 2⁻⁸ (bfloat16) or 2⁻¹¹ (float16) of each product:
// far outside it for bfloat16, and for float16 about one standard deviation of the allowed error at K = 301, so
// caught over the test's thousands of elements rather than at each; one that paired the wrong elements would be off
// by whole products. Then the Linear layer with its weight rounded
// (`prepare_linear<W>`), against the same float64 sum and against the fp32 layer within the bound of the operands'
// rounding. Runtime dispatch: built once, in the portable build.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "support/stored_matrix.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/backend/cpu/gemm_narrow.hpp"
#include "voxformer/nn/linear.hpp"

namespace {

using voxformer::bf16_gemm_kernel;
using voxformer::bfloat16;
using voxformer::cpu_executor;
using voxformer::float16;
using voxformer::index_t;
using voxformer::tensor_view;

std::vector<bf16_gemm_kernel> kernels_of_this_cpu() {
  if (voxformer::best_bf16_gemm_kernel() == bf16_gemm_kernel::dot_product)
    return {bf16_gemm_kernel::dot_product, bf16_gemm_kernel::widened};
  return {bf16_gemm_kernel::widened};
}

const char* name_of(bf16_gemm_kernel kernel) {
  return kernel == bf16_gemm_kernel::dot_product ? "dot_product" : "widened";
}

//! x as the product sees it: rounded to W (exact for an x already of W).
template <class W, class X>
double rounded(X x) {
  return static_cast<double>(static_cast<float>(W(static_cast<float>(x))));
}

//! A [rows, cols] matrix stored with a leading dimension 3 wider than its inner size, either order; `logical` is
//! row-major.
template <class T>
test::stored_matrix<T> store(const std::vector<T>& logical, index_t rows, index_t cols, bool column_major) {
  return test::store_matrix<T>(logical, rows, cols, column_major, 3, T(-9.f));
}

template <class A>
std::vector<A> random_matrix(index_t rows, index_t cols, std::mt19937& gen) {
  std::normal_distribution<float> normal;
  std::vector<A> m;
  for (index_t i = 0; i < rows * cols; ++i) m.push_back(A(normal(gen)));
  return m;
}

//! c (+)= a·b (b in W) with the given kernel and layouts, checked element by element against float64.
template <class A, class W = bfloat16>
void expect_product(index_t m, index_t k, index_t n, bf16_gemm_kernel kernel, bool a_column_major,
                    bool b_column_major, bool accumulate, int threads = 2) {
  SCOPED_TRACE(testing::Message() << voxformer::to_string(voxformer::dtype_of<W>()) << " " << name_of(kernel) << " M=" << m << " K=" << k << " N=" << n << " a "
                                  << (a_column_major ? "column" : "row") << "-major, b "
                                  << (b_column_major ? "column" : "row") << "-major, accumulate " << accumulate);
  std::mt19937 gen(static_cast<unsigned>(m * 7 + k * 3 + n));
  const auto a_values = random_matrix<A>(m, k, gen);
  const auto b_values = random_matrix<W>(k, n, gen);
  const auto c_values = random_matrix<float>(m, n, gen);
  const auto a = store(a_values, m, k, a_column_major);
  const auto b = store(b_values, k, n, b_column_major);
  auto c = store(c_values, m, n, false);
  std::vector<int> epilogue_calls(static_cast<std::size_t>(m), 0);
  voxformer::detail::gemm_narrow(cpu_executor{threads}, tensor_view<const A, 2>(a.view),
                               tensor_view<const W, 2>(b.view), c.view, accumulate,
                               [&](index_t row) { ++epilogue_calls[static_cast<std::size_t>(row)]; }, kernel);
  for (index_t i = 0; i < m; ++i) {
    ASSERT_EQ(epilogue_calls[static_cast<std::size_t>(i)], 1) << "row " << i;
    for (index_t j = 0; j < n; ++j) {
      const double c0 = accumulate ? c_values[static_cast<std::size_t>(i * n + j)] : 0.0;
      double expected = c0, magnitude = std::abs(c0);
      for (index_t q = 0; q < k; ++q) {
        const double product = rounded<W>(a_values[static_cast<std::size_t>(i * k + q)]) *
                               rounded<W>(b_values[static_cast<std::size_t>(q * n + j)]);
        expected += product;
        magnitude += std::abs(product);
      }
      ASSERT_NEAR(c.view(i, j), expected, static_cast<double>(k + 2) * std::ldexp(magnitude, -24))
          << "c(" << i << ", " << j << ")";
    }
  }
}

TEST(GemmBf16, MatchesRoundedOperandsInFloat64InEveryLayout) {
  // Three blocks of rows (the last partial), three depth blocks (the last odd: a padded pair), a full panel of 32
  // columns and a partial one.
  for (const auto kernel : kernels_of_this_cpu())
    for (int layout = 0; layout < 4; ++layout)
      for (bool accumulate : {false, true}) {
        expect_product<float>(400, 301, 45, kernel, layout & 1, layout & 2, accumulate);
        expect_product<bfloat16>(400, 301, 45, kernel, layout & 1, layout & 2, accumulate);
      }
}

TEST(GemmBf16, EdgeShapes) {
  for (const auto kernel : kernels_of_this_cpu())
    for (const auto& [m, k, n] : std::vector<std::array<index_t, 3>>{
             {1, 1, 1}, {7, 2, 33}, {13, 128, 32}, {6, 129, 16}, {5, 0, 4}, {0, 5, 5}, {11, 64, 0}, {193, 31, 17}})
      for (bool accumulate : {false, true}) {
        expect_product<float>(m, k, n, kernel, false, false, accumulate);
        expect_product<bfloat16>(m, k, n, kernel, false, true, accumulate);
      }
}

TEST(GemmFloat16, MatchesRoundedOperandsInFloat64InEveryLayoutAndEdgeShape) {
  for (int layout = 0; layout < 4; ++layout)
    for (bool accumulate : {false, true}) {
      expect_product<float, float16>(400, 301, 45, bf16_gemm_kernel::widened, layout & 1, layout & 2, accumulate);
      expect_product<float16, float16>(400, 301, 45, bf16_gemm_kernel::widened, layout & 1, layout & 2, accumulate);
    }
  for (const auto& [m, k, n] : std::vector<std::array<index_t, 3>>{{1, 1, 1}, {7, 2, 33}, {6, 129, 16}, {5, 0, 4}})
    expect_product<float, float16>(m, k, n, bf16_gemm_kernel::widened, false, true, true);
}

TEST(GemmBf16, SameBitsForAnyThreadCount) {
  std::mt19937 gen(5);
  const index_t m = 700, k = 160, n = 70;
  const auto a = random_matrix<float>(m, k, gen);
  const auto b = random_matrix<bfloat16>(k, n, gen);
  for (const auto kernel : kernels_of_this_cpu()) {
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2, 3}) {
      std::vector<float> c(static_cast<std::size_t>(m * n));
      voxformer::detail::gemm_narrow(cpu_executor{threads}, voxformer::make_view<2>(a.data(), {m, k}),
                                   voxformer::make_view<2>(b.data(), {k, n}), voxformer::make_view<2>(c.data(), {m, n}),
                                   false, voxformer::no_epilogue{}, kernel);
      results.push_back(c);
    }
    EXPECT_EQ(results[0], results[1]) << name_of(kernel);
    EXPECT_EQ(results[0], results[2]) << name_of(kernel);
  }
}

//! a·I = a rounded to W, for `cases` of (a, a rounded) repeated over a row of 40: halfway cases go to the even
//! neighbour — for bfloat16's dot-product kernel in the vector conversion (the first 32 of each row) and the scalar
//! tail alike.
template <class W>
void expect_rounding_to_nearest_even(float one_ulp, bf16_gemm_kernel kernel) {  // one_ulp: W's spacing in [1, 2)
  const index_t k = 40;
  const std::vector<std::pair<float, float>> cases = {
      {1.f + one_ulp / 2, 1.f},                          // halfway, down to the even 1
      {1.f + 3 * one_ulp / 2, 1.f + 2 * one_ulp},        // halfway, up to the even neighbour
      {1.f + one_ulp / 2 + one_ulp / 8, 1.f + one_ulp},  // above halfway
      {-(1.f + 3 * one_ulp / 2), -(1.f + 2 * one_ulp)}};
  std::vector<float> a(static_cast<std::size_t>(k)), expected(static_cast<std::size_t>(k));
  for (index_t q = 0; q < k; ++q) std::tie(a[q], expected[q]) = cases[static_cast<std::size_t>(q) % cases.size()];
  std::vector<W> identity(static_cast<std::size_t>(k * k), W(0.f));
  for (index_t q = 0; q < k; ++q) identity[static_cast<std::size_t>(q * k + q)] = W(1.f);
  std::vector<float> c(static_cast<std::size_t>(k));
  voxformer::detail::gemm_narrow(cpu_executor{1}, voxformer::make_view<2>(static_cast<const float*>(a.data()), {1, k}),
                                 voxformer::make_view<2>(static_cast<const W*>(identity.data()), {k, k}),
                                 voxformer::make_view<2>(c.data(), {1, k}), false, voxformer::no_epilogue{}, kernel);
  EXPECT_EQ(c, expected) << name_of(kernel);
}

TEST(GemmBf16, RoundsActivationsToNearestEven) {
  for (const auto kernel : kernels_of_this_cpu()) expect_rounding_to_nearest_even<bfloat16>(std::ldexp(1.f, -7), kernel);
}
TEST(GemmFloat16, RoundsActivationsToNearestEven) {
  expect_rounding_to_nearest_even<float16>(std::ldexp(1.f, -10), bf16_gemm_kernel::widened);
}

TEST(GemmBf16, RejectsAColumnMajorProduct) {
  std::vector<float> a(12, 1.f), c(12);
  std::vector<bfloat16> b(9, bfloat16(1.f));
  const tensor_view<float, 2> column_major_c(c.data(), {4, 3}, {1, 4});
  try {
    voxformer::gemm(cpu_executor{1}, voxformer::make_view<2>(static_cast<const float*>(a.data()), {4, 3}),
                    voxformer::make_view<2>(static_cast<const bfloat16*>(b.data()), {3, 3}), column_major_c, false);
    FAIL() << "a column-major c was accepted";
  } catch (const voxformer::error& e) {
    EXPECT_NE(std::string(e.what()).find("argument 'c'"), std::string::npos) << e.what();
  }
}

//! y = relu(x·Wᵀ + b), then out = residual + (x·Wᵀ + b) in place, with W rounded to Narrow by prepare_linear; each
//! product against fp32's is off by at most 2u + u² of itself (both operands rounded, u = 2⁻⁸ or 2⁻¹¹).
template <class Narrow>
void expect_linear_layer(int unit_roundoff_exponent) {
  const index_t m = 230, in = 130, out = 40;
  std::mt19937 gen(11);
  const auto x = random_matrix<float>(m, in, gen), weight = random_matrix<float>(out, in, gen);
  const auto bias = random_matrix<float>(1, out, gen), residual = random_matrix<float>(m, out, gen);
  const cpu_executor executor{2};
  const auto fp32 = voxformer::linear_weights<float>::of(voxformer::make_view<2>(weight.data(), {out, in}),
                                                          voxformer::make_view<1>(bias.data(), {out}));
  std::vector<std::byte> memory(static_cast<std::size_t>(in * out) * sizeof(Narrow) + 64);
  auto persistent = voxformer::workspace::aligned(memory.data(), memory.size());
  const auto narrow = voxformer::prepare_linear<Narrow>(executor, fp32, persistent);
  static_assert(std::is_same_v<decltype(narrow), const voxformer::linear_weights<float, Narrow>>);
  ASSERT_EQ(narrow.out_features(), out);
  ASSERT_EQ(narrow.in_features(), in);

  std::vector<float> y(static_cast<std::size_t>(m * out)), y_fp32(y.size()), in_place = residual, product(y.size());
  const auto x_view = voxformer::make_view<2>(x.data(), {m, in});
  voxformer::linear(executor, x_view, narrow, voxformer::make_view<2>(y.data(), {m, out}), voxformer::linear_activation::relu);
  voxformer::linear(executor, x_view, fp32, voxformer::make_view<2>(y_fp32.data(), {m, out}), voxformer::linear_activation::relu);
  const auto in_place_view = voxformer::make_view<2>(in_place.data(), {m, out});
  voxformer::linear_residual(executor, x_view, narrow, in_place_view, voxformer::make_view<2>(product.data(), {m, out}),
                             in_place_view);
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < out; ++j) {
      double sum = bias[j], magnitude = std::abs(bias[j]), unrounded_magnitude = 0;
      for (index_t q = 0; q < in; ++q) {
        const double product_of_rounded = rounded<Narrow>(x[i * in + q]) * rounded<Narrow>(weight[j * in + q]);
        sum += product_of_rounded;
        magnitude += std::abs(product_of_rounded);
        unrounded_magnitude += std::abs(static_cast<double>(x[i * in + q]) * weight[j * in + q]);
      }
      const double summation = static_cast<double>(in + 4) * std::ldexp(magnitude + std::abs(residual[i * out + j]), -24);
      ASSERT_NEAR(y[i * out + j], std::max(sum, 0.0), summation) << "y(" << i << ", " << j << ")";
      ASSERT_NEAR(in_place[i * out + j], residual[i * out + j] + sum, summation) << "out(" << i << ", " << j << ")";
      const double u = std::ldexp(1.0, unit_roundoff_exponent);
      ASSERT_NEAR(y[i * out + j], y_fp32[i * out + j], (2 * u + u * u) * unrounded_magnitude + 2 * summation)
          << "y against fp32 (" << i << ", " << j << ")";
    }
}

TEST(GemmBf16, LinearLayerWithBfloat16Weights) { expect_linear_layer<bfloat16>(-8); }
TEST(GemmFloat16, LinearLayerWithFloat16Weights) { expect_linear_layer<float16>(-11); }

TEST(GemmNarrow, Bfloat16AndFloat16AreDescribedApart) {
  EXPECT_EQ(voxformer::dtype_of<bfloat16>(), (voxformer::dtype{voxformer::scalar_kind::brain_floating, 16}));
  EXPECT_EQ(voxformer::dtype_of<float16>(), (voxformer::dtype{voxformer::scalar_kind::floating, 16}));
}

}  // namespace
