// The layers of nn/ against PyTorch's own modules (tests/reference/generate_nn_fixtures.py) and float64
// brute-force loops, through every tensor family, with 1 and 2 threads.
// Tolerances: fp32 layer vs fp32 PyTorch (LayerNorm: vs PyTorch in float64), |Δ| ≤ 2e-6 + 2e-6·|ref|
// (different summation orders of ≤ 48 terms of unit size); double instantiation vs float64 loops, 1e-12.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "support/fixtures.hpp"
#include "support/msda_case.hpp"
#include "support/tensor_families.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/nn/ffn.hpp"
#include "voxformer/nn/layer_norm.hpp"
#include "voxformer/nn/linear.hpp"
#include "voxformer/nn/softmax.hpp"

using test::error_of;

namespace {

using voxformer::cpu_executor;
using voxformer::index_t;
constexpr double tol = 2e-6;

struct array2 {
  std::vector<float> values;
  index_t rows, cols;
};

array2 fixture(const std::string& name) {
  const auto a = test::load_fixture("nn", name);
  const index_t rows = a.shape.size() == 2 ? a.shape[0] : 1;
  return {test::fixture_values<float>(a), rows, a.shape.back()};
}

template <class Family>
class Layers : public ::testing::Test {};
using families = test::tensor_families;
TYPED_TEST_SUITE(Layers, families);

TYPED_TEST(Layers, LinearMatchesPyTorch) {
  const auto x = fixture("linear_x"), w = fixture("linear_weight"), b = fixture("linear_bias"),
             r = fixture("linear_residual");
  const auto weights = voxformer::linear_weights<float>::of(voxformer::make_view<2>(w.values.data(), {w.rows, w.cols}),
                                                            voxformer::make_view<1>(b.values.data(), {b.cols}));
  for (int threads : {1, 2}) {
    const cpu_executor executor{threads};
    std::vector<float> y(static_cast<std::size_t>(x.rows * w.rows), -1.f), product(y.size());
    auto xt = TypeParam::template make<2>(static_cast<const float*>(x.values.data()), {x.rows, x.cols});
    auto yt = TypeParam::template make<2>(y.data(), {x.rows, w.rows});
    voxformer::linear(executor, TypeParam::arg(xt), weights, TypeParam::arg(yt));
    test::expect_close(y, fixture("linear_y").values, tol, tol);
    voxformer::linear(executor, TypeParam::arg(xt), weights, TypeParam::arg(yt), voxformer::linear_activation::relu);
    test::expect_close(y, fixture("linear_relu_y").values, tol, tol);
    // In place: the residual is the output.
    y = r.values;
    auto pt = TypeParam::template make<2>(product.data(), {x.rows, w.rows});
    auto rt = TypeParam::template make<2>(static_cast<const float*>(y.data()), {x.rows, w.rows});
    voxformer::linear_residual(executor, TypeParam::arg(xt), weights, TypeParam::arg(rt), TypeParam::arg(pt),
                               TypeParam::arg(yt));
    test::expect_close(y, fixture("linear_residual_y").values, tol, tol);
  }
}

TYPED_TEST(Layers, LayerNormMatchesPyTorchInPlaceAndOutOfPlace) {
  const auto x = fixture("layer_norm_x"), g = fixture("layer_norm_weight"), b = fixture("layer_norm_bias");
  const voxformer::layer_norm_weights<float> weights{voxformer::make_view<1>(static_cast<const float*>(g.values.data()), {g.cols}),
                                                     voxformer::make_view<1>(static_cast<const float*>(b.values.data()), {b.cols})};
  const auto expected = test::fixture_values<double>(test::load_fixture("nn", "layer_norm_y"));
  for (int threads : {1, 2}) {
    std::vector<float> y(x.values.size(), -1.f);
    auto xt = TypeParam::template make<2>(static_cast<const float*>(x.values.data()), {x.rows, x.cols});
    auto yt = TypeParam::template make<2>(y.data(), {x.rows, x.cols});
    voxformer::layer_norm(cpu_executor{threads}, TypeParam::arg(xt), weights, TypeParam::arg(yt));
    test::expect_close(y, expected, tol, tol);
    // The row with a 1000 offset keeps its full precision (mean as an offset from x(0), two-pass variance).
    std::vector<float> in_place = x.values;
    auto it = TypeParam::template make<2>(in_place.data(), {x.rows, x.cols});
    voxformer::layer_norm(cpu_executor{threads}, TypeParam::arg(it), weights, TypeParam::arg(it));
    test::expect_close(in_place, expected, tol, tol);
  }
}

TYPED_TEST(Layers, SoftmaxGroupsMatchPyTorch) {
  for (auto [scale, name] : {std::pair{1.0, "softmax_y"}, std::pair{0.5, "softmax_half_y"}}) {
    auto x = fixture("softmax_x");
    auto xt = TypeParam::template make<2>(x.values.data(), {x.rows, x.cols});
    voxformer::softmax_groups(cpu_executor{2}, TypeParam::arg(xt), 8, scale);
    test::expect_close(x.values, fixture(name).values, 1e-7, tol);
  }
}

TYPED_TEST(Layers, FfnMatchesPyTorch) {
  const auto x = fixture("ffn_x"), w1 = fixture("ffn_fc1_weight"), b1 = fixture("ffn_fc1_bias"),
             w2 = fixture("ffn_fc2_weight"), b2 = fixture("ffn_fc2_bias");
  const voxformer::ffn_weights<float> weights{
      voxformer::linear_weights<float>::of(voxformer::make_view<2>(w1.values.data(), {w1.rows, w1.cols}),
                                           voxformer::make_view<1>(b1.values.data(), {b1.cols})),
      voxformer::linear_weights<float>::of(voxformer::make_view<2>(w2.values.data(), {w2.rows, w2.cols}),
                                           voxformer::make_view<1>(b2.values.data(), {b2.cols}))};
  std::vector<std::byte> scratch(voxformer::ffn_workspace_bytes(weights, x.rows) + 64);
  for (int threads : {1, 2}) {
    std::vector<float> y = x.values;  // in place
    auto yt = TypeParam::template make<2>(y.data(), {x.rows, x.cols});
    voxformer::ffn(cpu_executor{threads}, TypeParam::arg(yt), weights, TypeParam::arg(yt),
                   voxformer::workspace::aligned(scratch.data(), scratch.size()));
    test::expect_close(y, fixture("ffn_y").values, tol, tol);
  }
}

// The double instantiation against float64 loops, with strided (transposed) inputs and outputs.
TEST(Layers, DoubleLinearAndLayerNormMatchBruteForceOnStridedViews) {
  std::mt19937 gen(3);
  std::normal_distribution<double> normal;
  const index_t rows = 300, in = 19, out = 23;  // two GEMM row blocks
  std::vector<double> xt(static_cast<std::size_t>(in * rows)), w(static_cast<std::size_t>(out * in)), b(out), g(out), be(out);
  for (auto* v : {&xt, &w, &b, &g, &be})
    for (auto& e : *v) e = normal(gen);
  const voxformer::tensor_view<const double, 2> x(xt.data(), {rows, in}, {1, rows});  // stored transposed
  std::vector<double> y(static_cast<std::size_t>(out * rows));
  const voxformer::tensor_view<double, 2> y_view(y.data(), {rows, out}, {1, rows});  // written transposed
  const voxformer::linear_weights<double> weights{voxformer::make_view<2>(static_cast<const double*>(w.data()), {out, in}),
                                                  voxformer::make_view<1>(static_cast<const double*>(b.data()), {out})};
  voxformer::linear(cpu_executor{2}, x, weights, y_view);
  for (index_t r = 0; r < rows; ++r)
    for (index_t o = 0; o < out; ++o) {
      double e = b[o];
      for (index_t i = 0; i < in; ++i) e += x(r, i) * w[o * in + i];
      ASSERT_NEAR(y_view(r, o), e, 1e-12 * (1 + std::abs(e)));
    }
  std::vector<double> normed(y.size());
  const voxformer::tensor_view<double, 2> normed_view(normed.data(), {rows, out}, {1, rows});
  voxformer::layer_norm(cpu_executor{2}, y_view,
                        voxformer::layer_norm_weights<double>{voxformer::make_view<1>(static_cast<const double*>(g.data()), {out}),
                                                              voxformer::make_view<1>(static_cast<const double*>(be.data()), {out})},
                        normed_view);
  for (index_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (index_t c = 0; c < out; ++c) mean += y_view(r, c) / out;
    for (index_t c = 0; c < out; ++c) var += (y_view(r, c) - mean) * (y_view(r, c) - mean) / out;
    for (index_t c = 0; c < out; ++c)
      ASSERT_NEAR(normed_view(r, c), (y_view(r, c) - mean) / std::sqrt(var + 1e-5) * g[c] + be[c], 1e-12);
  }
}

TEST(Layers, ResultsDoNotDependOnTheThreadCount) {
  std::mt19937 gen(5);
  std::normal_distribution<float> normal;
  const index_t rows = 3000, channels = 128;
  std::vector<float> x(static_cast<std::size_t>(rows * channels)), w(channels * channels), b(channels, 0.1f);
  for (auto* v : {&x, &w})
    for (auto& e : *v) e = normal(gen);
  const auto weights = voxformer::linear_weights<float>::of(voxformer::make_view<2>(w.data(), {channels, channels}),
                                                            voxformer::make_view<1>(b.data(), {channels}));
  std::vector<std::vector<float>> results;
  const voxformer::execution_context<cpu_executor> pool(cpu_executor{2});
  for (const cpu_executor executor : {cpu_executor{1}, cpu_executor{2}, pool.executor()}) {
    std::vector<float> y(x.size());
    voxformer::linear(executor, voxformer::make_view<2>(static_cast<const float*>(x.data()), {rows, channels}), weights,
                      voxformer::make_view<2>(y.data(), {rows, channels}));
    voxformer::layer_norm(executor, voxformer::make_view<2>(static_cast<const float*>(y.data()), {rows, channels}),
                          voxformer::layer_norm_weights<float>{voxformer::make_view<1>(static_cast<const float*>(b.data()), {channels}),
                                                               voxformer::make_view<1>(static_cast<const float*>(b.data()), {channels})},
                          voxformer::make_view<2>(y.data(), {rows, channels}));
    voxformer::softmax_groups(executor, voxformer::make_view<2>(y.data(), {rows, channels}), 8, 0.5);
    results.push_back(y);
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

TEST(Layers, EmptyBatchesWriteNothingAndSucceed) {
  std::vector<float> w(12, 1.f), b(3, 0.f);
  const auto weights = voxformer::linear_weights<float>::of(voxformer::make_view<2>(w.data(), {3, 4}),
                                                            voxformer::make_view<1>(b.data(), {3}));
  float none = 0;
  voxformer::linear(cpu_executor{2}, voxformer::make_view<2>(static_cast<const float*>(&none), {0, 4}), weights,
                    voxformer::make_view<2>(&none, {0, 3}));
  voxformer::softmax_groups(cpu_executor{2}, voxformer::make_view<2>(&none, {0, 8}), 8);
  SUCCEED();
}

TEST(Layers, BadArgumentsNameTheOpAndTheArgument) {
  std::vector<float> w(12, 1.f), b(3, 0.f), x(8, 1.f), y(8, 0.f);
  const auto weights = voxformer::linear_weights<float>::of(voxformer::make_view<2>(w.data(), {3, 4}),
                                                            voxformer::make_view<1>(b.data(), {3}));
  EXPECT_EQ(error_of([&] {
              voxformer::linear(cpu_executor{1}, voxformer::make_view<2>(static_cast<const float*>(x.data()), {2, 4}), weights,
                                voxformer::make_view<2>(y.data(), {2, 4}));
            }),
            "voxformer::linear: argument 'y' [M, out] expected shape [2, 3], got [2, 4]");
  EXPECT_EQ(error_of([&] {
              voxformer::linear(cpu_executor{1}, voxformer::make_view<2>(static_cast<const float*>(x.data()), {4, 2}), weights,
                                voxformer::make_view<2>(y.data(), {4, 2}));
            }),
            "voxformer::linear: argument 'x' [M, in] expected shape [*, 4], got [4, 2]");
  EXPECT_EQ(error_of([&] {  // the output overlapping its input
              voxformer::linear(cpu_executor{1}, voxformer::make_view<2>(static_cast<const float*>(w.data()), {1, 4}), weights,
                                voxformer::make_view<2>(w.data() + 2, {1, 3}));
            }),
            "voxformer::linear: output 'y' overlaps input 'x'");
  EXPECT_EQ(error_of([&] {
              voxformer::layer_norm(cpu_executor{1}, voxformer::make_view<2>(static_cast<const float*>(x.data()), {2, 4}),
                                    voxformer::layer_norm_weights<float>{voxformer::make_view<1>(static_cast<const float*>(b.data()), {3}),
                                                                         voxformer::make_view<1>(static_cast<const float*>(b.data()), {3})},
                                    voxformer::make_view<2>(x.data() + 1, {2, 3}));
            }),
            "voxformer::layer_norm: argument 'x' [M, C] expected shape [*, 3], got [2, 4]");
  EXPECT_EQ(error_of([&] { voxformer::softmax_groups(cpu_executor{1}, voxformer::make_view<2>(x.data(), {2, 4}), 3); }),
            "voxformer::softmax_groups: argument 'x' [M, G*group] has 4 columns, not a whole number of groups of 3");
}

}  // namespace
