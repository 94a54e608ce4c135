// Convolutions, transposed convolutions and max pooling over channels-first volumes against float64 loops
// written from PyTorch's definitions (cross-correlation with zero padding, dilation and stride; a transposed
// convolution as the scatter x·W[c_in][c_out] onto i·stride − padding + tap; the maximum of each window, padding
// counting as −∞): 2-D and 3-D windows, dilations, strides 2 with padding on odd sizes, pointwise layers, shrinking
// windows, sums of terms (of different strides too: a bottleneck's last convolution with its downsampling shortcut),
// BatchNorm folded, residual + ReLU, strided inputs and outputs, and chunk sizes that do not divide the volume.
// Tolerance 1e-5·(1 + |value|) in fp32 (sums of ≤ 600 products).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "support/error_of.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/nn/conv_transpose.hpp"
#include "voxformer/nn/convolution.hpp"
#include "voxformer/nn/max_pool.hpp"

namespace {

using test::error_of;
using voxformer::cpu_executor;
using voxformer::index_t;
using voxformer::tensor_view;

std::vector<float> random_values(index_t n, unsigned seed, float scale = 1.f) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = scale * normal(generator);
  return v;
}

//! One term of the reference: its input [C_in, I0, I1, I2], weight [C_out, C_in, k0, k1, k2], window, and the
//! per-channel affine map (empty = identity).
struct reference_term {
  tensor_view<const float, 4> input;
  tensor_view<const float, 5> weight;
  voxformer::conv_window window;
  std::vector<double> scale, shift;
};

//! out(co, o) = act(residual + Σ_t (scale_t(co)·Σ_{ci, taps} W_t(co, ci, t)·in_t(ci, o·s − p + t·d) + shift_t(co))).
std::vector<double> reference_conv(const std::vector<reference_term>& terms, const std::array<index_t, 3>& out_extent,
                                   const std::vector<float>* residual, bool relu) {
  const index_t c_out = terms[0].weight.extent(0), voxels = out_extent[0] * out_extent[1] * out_extent[2];
  std::vector<double> out(static_cast<std::size_t>(c_out * voxels), 0.0);
  for (index_t co = 0; co < c_out; ++co)
    for (index_t o0 = 0; o0 < out_extent[0]; ++o0)
      for (index_t o1 = 0; o1 < out_extent[1]; ++o1)
        for (index_t o2 = 0; o2 < out_extent[2]; ++o2) {
          const index_t v = (o0 * out_extent[1] + o1) * out_extent[2] + o2;
          double total = residual != nullptr ? (*residual)[static_cast<std::size_t>(co * voxels + v)] : 0.0;
          for (const auto& t : terms) {
            double sum = 0;
            const auto& w = t.window;
            for (index_t ci = 0; ci < t.weight.extent(1); ++ci)
              for (index_t a = 0; a < w.kernel[0]; ++a)
                for (index_t b = 0; b < w.kernel[1]; ++b)
                  for (index_t c = 0; c < w.kernel[2]; ++c) {
                    const index_t i0 = o0 * w.stride[0] - w.padding[0] + a * w.dilation[0],
                                  i1 = o1 * w.stride[1] - w.padding[1] + b * w.dilation[1],
                                  i2 = o2 * w.stride[2] - w.padding[2] + c * w.dilation[2];
                    if (i0 < 0 || i1 < 0 || i2 < 0 || i0 >= t.input.extent(1) || i1 >= t.input.extent(2) ||
                        i2 >= t.input.extent(3))
                      continue;
                    sum += double(t.weight(co, ci, a, b, c)) * t.input(ci, i0, i1, i2);
                  }
            total += (t.scale.empty() ? 1.0 : t.scale[co]) * sum + (t.shift.empty() ? 0.0 : t.shift[co]);
          }
          out[static_cast<std::size_t>(co * voxels + v)] = relu ? std::max(total, 0.0) : total;
        }
  return out;
}

template <class View>
void expect_near_reference(const View& ours, const std::vector<double>& expected, const std::string& what) {
  ASSERT_EQ(ours.size(), static_cast<index_t>(expected.size())) << what;
  for (index_t i = 0; i < ours.size(); ++i)
    ASSERT_NEAR(ours.at_flat(i), expected[static_cast<std::size_t>(i)],
                1e-5 * (1 + std::abs(expected[static_cast<std::size_t>(i)])))
        << what << " at flat " << i;
}

//! Persistent memory for packed weights.
struct packed_memory {
  std::vector<std::byte> bytes = std::vector<std::byte>(1 << 20);
  voxformer::workspace persistent = voxformer::workspace::aligned(bytes.data(), bytes.size());
};

void run_conv(const voxformer::conv_arguments<float>& args) {
  std::vector<std::byte> scratch(voxformer::conv_workspace_bytes(args.weights, args.chunk_voxels) + 64);
  voxformer::validate(cpu_executor{2}, args);
  voxformer::run(cpu_executor{2}, args, voxformer::workspace::aligned(scratch.data(), scratch.size()));
}

TEST(Convolution, PlanarConvolutionWithReluMatchesTheDefinition) {
  const auto x = random_values(5 * 9 * 11, 1), w = random_values(7 * 5 * 9, 2, 0.3f), b = random_values(7, 3);
  const tensor_view<const float, 4> in(x.data(), {5, 1, 9, 11});
  const tensor_view<const float, 5> weight(w.data(), {7, 5, 1, 3, 3});
  const auto window = voxformer::conv_window::planar(3);
  packed_memory m;
  const auto layer = voxformer::prepare_conv(
      cpu_executor{1},
      {voxformer::conv_term_source<float>{weight, window, {}, tensor_view<const float, 1>(b.data(), {7})}},
      m.persistent);
  for (const index_t chunk : {1, 13, 99, 1000}) {
    std::vector<float> y(7 * 9 * 11, NAN);
    run_conv({layer, {in}, voxformer::make_view<4>(y.data(), {7, 1, 9, 11}), {}, true, chunk});
    std::vector<double> bias(b.begin(), b.end());
    expect_near_reference(voxformer::make_view<1>(y.data(), {index_t(y.size())}),
                          reference_conv({{in, weight, window, {}, bias}}, {1, 9, 11}, nullptr, true),
                          "chunk " + std::to_string(chunk));
  }
}

TEST(Convolution, DilatedVolumeWithBatchNormFoldedMatchesTheDefinition) {
  const auto x = random_values(3 * 5 * 6 * 7, 4), w = random_values(2 * 3 * 27, 5, 0.3f);
  const auto gamma = random_values(2, 6), beta = random_values(2, 7), mean = random_values(2, 8);
  const std::vector<float> var = {0.7f, 1.9f};
  const tensor_view<const float, 4> in(x.data(), {3, 5, 6, 7});
  const tensor_view<const float, 5> weight(w.data(), {2, 3, 3, 3, 3});
  const auto window = voxformer::conv_window::cubic(3, 2);
  packed_memory m;
  const voxformer::batch_norm_weights<float> norm{
      voxformer::make_view<1>(gamma.data(), {2}), voxformer::make_view<1>(beta.data(), {2}),
      voxformer::make_view<1>(mean.data(), {2}), voxformer::make_view<1>(var.data(), {2})};
  const auto [scale, shift] = voxformer::fold_batch_norm(cpu_executor{1}, norm, {}, m.persistent);
  const auto layer = voxformer::prepare_conv(
      cpu_executor{1}, {voxformer::conv_term_source<float>{weight, window, scale, shift}}, m.persistent);
  std::vector<float> y(2 * 5 * 6 * 7, NAN);
  run_conv({layer, {in}, voxformer::make_view<4>(y.data(), {2, 5, 6, 7}), {}, false, 37});
  std::vector<double> s(2), t(2);
  for (int c = 0; c < 2; ++c) {
    s[c] = gamma[c] / std::sqrt(double(var[c]) + 1e-5);
    t[c] = beta[c] - mean[c] * s[c];
  }
  expect_near_reference(voxformer::make_view<1>(y.data(), {index_t(y.size())}),
                        reference_conv({{in, weight, window, s, t}}, {5, 6, 7}, nullptr, false), "bn");
}

// A sum of terms over inputs of different widths and dilations (LMSCNet's ASPP and its concatenations), with a
// residual before the ReLU; inputs are a channel slice and a transposed view; the output a channel slice.
TEST(Convolution, SumOfTermsWithResidualOnStridedViewsMatchesTheDefinition) {
  const index_t d0 = 4, d1 = 5, d2 = 6, v = d0 * d1 * d2;
  const auto big = random_values(5 * v, 10);  // input 1: channels 2..4 of a 5-channel volume
  const auto xt = random_values(2 * v, 11);   // input 2: stored [C][d0][d2][d1], seen transposed
  const auto x3 = random_values(1 * v, 12);
  const auto w1 = random_values(4 * 3 * 27, 13, 0.3f), w2 = random_values(4 * 2 * 27, 14, 0.3f),
             w3 = random_values(4 * 27, 15, 0.3f);
  const auto b1 = random_values(4, 16), residual = random_values(4 * v, 17);
  const tensor_view<const float, 4> in1(big.data() + 2 * v, {3, d0, d1, d2}, {v, d1 * d2, d2, 1});
  const tensor_view<const float, 4> in2(xt.data(), {2, d0, d1, d2}, {v, d1 * d2, 1, d1});
  const tensor_view<const float, 4> in3(x3.data(), {1, d0, d1, d2});
  const tensor_view<const float, 5> k1(w1.data(), {4, 3, 3, 3, 3}), k2(w2.data(), {4, 2, 3, 3, 3}),
      k3(w3.data(), {4, 1, 3, 3, 3});
  const auto c1 = voxformer::conv_window::cubic(3, 1), c2 = voxformer::conv_window::cubic(3, 2),
             c3 = voxformer::conv_window::cubic(3, 3);
  packed_memory m;
  const auto layer =
      voxformer::prepare_conv(cpu_executor{1},
                              {voxformer::conv_term_source<float>{k1, c1, {}, voxformer::make_view<1>(b1.data(), {4})},
                               voxformer::conv_term_source<float>{k2, c2}, voxformer::conv_term_source<float>{k3, c3}},
                              m.persistent);
  std::vector<float> out(6 * v, -5.f);  // channels 1..4 of a 6-channel volume
  const tensor_view<float, 4> y(out.data() + v, {4, d0, d1, d2});
  run_conv({layer,
            {in1, in2, in3},
            y,
            voxformer::make_view<4>(static_cast<const float*>(residual.data()), {4, d0, d1, d2}),
            true,
            23});
  std::vector<double> bias(b1.begin(), b1.end());
  expect_near_reference(y,
                        reference_conv({{in1, k1, c1, {}, bias}, {in2, k2, c2, {}, {}}, {in3, k3, c3, {}, {}}},
                                       {d0, d1, d2}, &residual, true),
                        "terms");
  for (index_t i = 0; i < v; ++i) ASSERT_EQ(out[static_cast<std::size_t>(i)], -5.f);  // the other channels untouched
  for (index_t i = 5 * v; i < 6 * v; ++i) ASSERT_EQ(out[static_cast<std::size_t>(i)], -5.f);
}

// Enough voxels per chunk for the GEMM to split its columns (its ranged epilogue adding the residual per block),
// and the output stored channels last — the GEMM then writes a column-major matrix.
TEST(Convolution, ChannelsLastOutputAndSplitColumnsMatchTheDefinition) {
  const index_t d0 = 3, d1 = 20, d2 = 30, v = d0 * d1 * d2;
  const auto x = random_values(4 * v, 60), w = random_values(5 * 4 * 27, 61, 0.3f), b = random_values(5, 62);
  const auto residual = random_values(5 * v, 63);
  const tensor_view<const float, 4> in(x.data(), {4, d0, d1, d2});
  const tensor_view<const float, 5> weight(w.data(), {5, 4, 3, 3, 3});
  const auto window = voxformer::conv_window::cubic(3);
  packed_memory m;
  const auto layer = voxformer::prepare_conv(
      cpu_executor{1}, {voxformer::conv_term_source<float>{weight, window, {}, voxformer::make_view<1>(b.data(), {5})}},
      m.persistent);
  std::vector<double> bias(b.begin(), b.end());
  const auto expected = reference_conv({{in, weight, window, {}, bias}}, {d0, d1, d2}, &residual, true);
  for (const bool channels_last : {false, true}) {
    std::vector<float> out(static_cast<std::size_t>(5 * v), NAN);
    const tensor_view<float, 4> y =
        channels_last ? tensor_view<float, 4>(out.data(), {5, d0, d1, d2}, {1, d1 * d2 * 5, d2 * 5, 5})
                      : tensor_view<float, 4>(out.data(), {5, d0, d1, d2});
    run_conv({layer,
              {in},
              y,
              voxformer::make_view<4>(static_cast<const float*>(residual.data()), {5, d0, d1, d2}),
              true,
              1000});
    expect_near_reference(y, expected, channels_last ? "channels last" : "channels first");
  }
}

TEST(Convolution, AWindowWithoutPaddingShrinksTheOutput) {
  const auto x = random_values(2 * 8 * 9, 20), w = random_values(3 * 2 * 9, 21, 0.3f);
  const tensor_view<const float, 4> in(x.data(), {2, 1, 8, 9});
  const tensor_view<const float, 5> weight(w.data(), {3, 2, 1, 3, 3});
  const voxformer::conv_window valid{{1, 3, 3}, {1, 1, 1}, {0, 0, 0}};
  packed_memory m;
  const auto layer =
      voxformer::prepare_conv(cpu_executor{1}, {voxformer::conv_term_source<float>{weight, valid}}, m.persistent);
  std::vector<float> y(3 * 6 * 7, NAN);
  run_conv({layer, {in}, voxformer::make_view<4>(y.data(), {3, 1, 6, 7}), {}, false, 5});
  expect_near_reference(voxformer::make_view<1>(y.data(), {index_t(y.size())}),
                        reference_conv({{in, weight, valid, {}, {}}}, {1, 6, 7}, nullptr, false), "valid");
}

// ResNet's strided windows on odd sizes: the 7×7/2 stem with padding 3, a 3×3/2 with padding 1, a 1×1/2 shortcut
// (PyTorch's out = ⌊(in + 2p − k)/2⌋ + 1); chunk sizes that split output rows.
TEST(Convolution, StridedWindowsWithPaddingOnOddSizesMatchTheDefinition) {
  struct strided_case {
    index_t k, s, p, c_in, c_out, h, w;
  };
  for (const auto& c : {strided_case{7, 2, 3, 3, 4, 19, 31}, strided_case{3, 2, 1, 5, 6, 13, 9},
                        strided_case{1, 2, 0, 6, 5, 11, 14}, strided_case{3, 3, 1, 2, 3, 10, 8}}) {
    const auto x = random_values(c.c_in * c.h * c.w, 40), w = random_values(c.c_out * c.c_in * c.k * c.k, 41, 0.3f);
    const auto b = random_values(c.c_out, 42);
    const tensor_view<const float, 4> in(x.data(), {c.c_in, 1, c.h, c.w});
    const tensor_view<const float, 5> weight(w.data(), {c.c_out, c.c_in, 1, c.k, c.k});
    const auto window = voxformer::conv_window::planar(c.k, c.s, c.p);
    const index_t oh = (c.h + 2 * c.p - c.k) / c.s + 1, ow = (c.w + 2 * c.p - c.k) / c.s + 1;
    ASSERT_EQ(window.output_extent(1, c.h), oh);
    ASSERT_EQ(window.output_extent(2, c.w), ow);
    packed_memory m;
    const auto layer = voxformer::prepare_conv(
        cpu_executor{1}, {voxformer::conv_term_source<float>{weight, window, {}, voxformer::make_view<1>(b.data(), {c.c_out})}},
        m.persistent);
    const std::vector<double> shift(b.begin(), b.end());
    for (const index_t chunk : {index_t{7}, oh * ow}) {
      std::vector<float> y(static_cast<std::size_t>(c.c_out * oh * ow), NAN);
      run_conv({layer, {in}, voxformer::make_view<4>(y.data(), {c.c_out, 1, oh, ow}), {}, true, chunk});
      expect_near_reference(voxformer::make_view<1>(y.data(), {index_t(y.size())}),
                            reference_conv({{in, weight, window, {}, shift}}, {1, oh, ow}, nullptr, true),
                            "k " + std::to_string(c.k) + " stride " + std::to_string(c.s) + " chunk " + std::to_string(chunk));
    }
  }
}

// A pointwise layer (1×1, stride 1) multiplies its input in place, with or without a residual; and a bottleneck's
// last 1×1 convolution summed with its strided 1×1 shortcut over the block's input (two terms, two strides) equals
// the two convolutions added, ReLU after.
TEST(Convolution, PointwiseLayersAndAStridedShortcutTermMatchTheDefinition) {
  const index_t c_in = 6, c_mid = 4, c_out = 8, h = 9, w = 7, oh = 5, ow = 4;
  const auto x = random_values(c_in * h * w, 60), t = random_values(c_mid * oh * ow, 61);
  const auto w3 = random_values(c_out * c_mid, 62, 0.5f), wd = random_values(c_out * c_in, 63, 0.5f);
  const auto r = random_values(c_out * h * w, 64);
  const tensor_view<const float, 4> block_in(x.data(), {c_in, 1, h, w}), mid(t.data(), {c_mid, 1, oh, ow});
  const tensor_view<const float, 5> conv3(w3.data(), {c_out, c_mid, 1, 1, 1}), down(wd.data(), {c_out, c_in, 1, 1, 1});
  const auto pointwise = voxformer::conv_window::planar(1), strided = voxformer::conv_window::planar(1, 2, 0);
  packed_memory m;
  const auto single = voxformer::prepare_conv(cpu_executor{1}, {voxformer::conv_term_source<float>{down, pointwise}},
                                              m.persistent);
  EXPECT_EQ(voxformer::conv_workspace_bytes(single, 1024), 0u);  // no im2col
  std::vector<float> y(static_cast<std::size_t>(c_out * h * w), NAN);
  run_conv({single, {block_in}, voxformer::make_view<4>(y.data(), {c_out, 1, h, w}),
            voxformer::make_view<4>(static_cast<const float*>(r.data()), {c_out, 1, h, w}), true});
  expect_near_reference(voxformer::make_view<1>(y.data(), {index_t(y.size())}),
                        reference_conv({{block_in, down, pointwise, {}, {}}}, {1, h, w}, &r, true), "pointwise");
  const auto fused = voxformer::prepare_conv(
      cpu_executor{1},
      {voxformer::conv_term_source<float>{conv3, pointwise}, voxformer::conv_term_source<float>{down, strided}},
      m.persistent);
  std::vector<float> z(static_cast<std::size_t>(c_out * oh * ow), NAN);
  run_conv({fused, {mid, block_in}, voxformer::make_view<4>(z.data(), {c_out, 1, oh, ow}), {}, true, 6});
  expect_near_reference(voxformer::make_view<1>(z.data(), {index_t(z.size())}),
                        reference_conv({{mid, conv3, pointwise, {}, {}}, {block_in, down, strided, {}, {}}}, {1, oh, ow},
                                       nullptr, true),
                        "conv3 + strided shortcut");
}

TEST(Convolution, BadArgumentsNameTheArgumentAndWriteNothing) {
  const auto x = random_values(2 * 4 * 4, 30), w = random_values(3 * 2 * 9, 31);
  const tensor_view<const float, 4> in(x.data(), {2, 1, 4, 4});
  packed_memory m;
  const auto layer = voxformer::prepare_conv(
      cpu_executor{1},
      {voxformer::conv_term_source<float>{tensor_view<const float, 5>(w.data(), {3, 2, 1, 3, 3}),
                                          voxformer::conv_window::planar(3)}},
      m.persistent);
  std::vector<float> y(3 * 4 * 4, 7.f);
  const auto out = voxformer::make_view<4>(y.data(), {3, 1, 4, 4});
  EXPECT_EQ(error_of([&] {
              run_conv({layer, {tensor_view<const float, 4>(x.data(), {2, 1, 4, 3})}, out});
            }),
            "voxformer::convolution: argument 'out' [C_out, D0, D1, D2] expected shape [3, 1, 4, 3] (term 0's window "
            "over its input [2, 1, 4, 3]), got [3, 1, 4, 4]");
  EXPECT_EQ(error_of([&] {
              run_conv({layer, {in}, voxformer::make_view<4>(y.data(), {2, 1, 4, 4})});
            }),
            "voxformer::convolution: argument 'out' [C_out, D0, D1, D2] expected shape [3, *, *, *], got [2, 1, 4, 4]");
  std::vector<float> spread(3 * 32, 7.f);  // neither the voxels nor the channels at unit stride
  EXPECT_EQ(
      error_of([&] {
        run_conv({layer, {in}, tensor_view<float, 4>(spread.data(), {3, 1, 4, 4}, {32, 32, 8, 2})});
      }),
      "voxformer::convolution: argument 'out' [C_out, D0, D1, D2] needs its voxels or its channels at unit stride, "
      "got strides (32, 32, 8, 2)");
  EXPECT_TRUE(std::all_of(spread.begin(), spread.end(), [](float v) { return v == 7.f; }));
  EXPECT_EQ(error_of([&] {
              run_conv({layer, {tensor_view<const float, 4>(y.data(), {2, 1, 4, 4})}, out});
            }),
            "voxformer::convolution: output 'out' overlaps input 'inputs'");
  EXPECT_EQ(error_of([&] {
              run_conv({layer, {in}, out, out});
            }),
            "voxformer::convolution: output 'out' overlaps input 'residual'");
  EXPECT_EQ(error_of([&] {
              run_conv({layer, {in}, out, {}, false, 0});
            }),
            "voxformer::convolution: chunk_voxels must be positive, got 0");
  EXPECT_TRUE(std::all_of(y.begin(), y.end(), [](float v) { return v == 7.f; }));
  EXPECT_CONTAINS(error_of([&] {
                    voxformer::workspace sizing;
                    (void)voxformer::prepare_conv(
                        cpu_executor{1},
                        {voxformer::conv_term_source<float>{tensor_view<const float, 5>(w.data(), {3, 2, 1, 3, 3}),
                                                            voxformer::conv_window::cubic(3)}},
                        sizing);
                  }),
                  "voxformer::prepare_conv: argument 'weight' [C_out, C_in, k0, k1, k2] expected shape [3, *, 3, 3, "
                  "3], got [3, 2, 1, 3, 3]");
}

TEST(Convolution, AWindowWithoutAPositiveKernelOrDilationOrWithNegativePaddingIsAnError) {
  const auto x = random_values(2 * 4 * 4, 32), w = random_values(3 * 2 * 9, 33);
  const tensor_view<const float, 4> in(x.data(), {2, 1, 4, 4});
  const tensor_view<const float, 5> weight(w.data(), {3, 2, 1, 3, 3});
  const voxformer::conv_window no_dilation{{1, 3, 3}, {1, 0, 1}, {0, 1, 1}};
  EXPECT_EQ(error_of([&] {
              voxformer::workspace sizing;
              (void)voxformer::prepare_conv(cpu_executor{1}, {voxformer::conv_term_source<float>{weight, no_dilation}},
                                            sizing);
            }),
            "voxformer::prepare_conv: a window along axis 1 needs a positive kernel, dilation and stride and a "
            "non-negative padding");
  // A layer edited after preparing: the convolution checks the windows it is handed, not only prepare_conv.
  packed_memory m;
  auto layer = voxformer::prepare_conv(
      cpu_executor{1}, {voxformer::conv_term_source<float>{weight, voxformer::conv_window::planar(3)}}, m.persistent);
  layer.windows[0].padding[2] = -1;
  std::vector<float> y(3 * 4 * 4, 7.f);
  EXPECT_EQ(error_of([&] {
              run_conv({layer, {in}, voxformer::make_view<4>(y.data(), {3, 1, 4, 4})});
            }),
            "voxformer::convolution: term 0's window along axis 2 needs a positive kernel, dilation and stride and a "
            "non-negative padding");
  EXPECT_TRUE(std::all_of(y.begin(), y.end(), [](float v) { return v == 7.f; }));
}

// ---- transposed convolution ----

//! PyTorch's definition: every input voxel i scatters in(ci, i)·W(ci, co, t) onto out(co, i·s − p + t).
std::vector<double> reference_transposed(const tensor_view<const float, 4>& in, const tensor_view<const float, 5>& w,
                                         const std::vector<float>& bias, const voxformer::transposed_window& win,
                                         const std::array<index_t, 3>& out_extent) {
  const index_t c_out = w.extent(1), voxels = out_extent[0] * out_extent[1] * out_extent[2];
  std::vector<double> out(static_cast<std::size_t>(c_out * voxels));
  for (index_t co = 0; co < c_out; ++co)
    for (index_t v = 0; v < voxels; ++v)
      out[static_cast<std::size_t>(co * voxels + v)] = bias[static_cast<std::size_t>(co)];
  for (index_t ci = 0; ci < in.extent(0); ++ci)
    for (index_t i0 = 0; i0 < in.extent(1); ++i0)
      for (index_t i1 = 0; i1 < in.extent(2); ++i1)
        for (index_t i2 = 0; i2 < in.extent(3); ++i2)
          for (index_t a = 0; a < win.kernel[0]; ++a)
            for (index_t b = 0; b < win.kernel[1]; ++b)
              for (index_t c = 0; c < win.kernel[2]; ++c) {
                const index_t o0 = i0 * win.stride[0] - win.padding[0] + a,
                              o1 = i1 * win.stride[1] - win.padding[1] + b,
                              o2 = i2 * win.stride[2] - win.padding[2] + c;
                if (o0 < 0 || o1 < 0 || o2 < 0 || o0 >= out_extent[0] || o1 >= out_extent[1] || o2 >= out_extent[2])
                  continue;
                for (index_t co = 0; co < c_out; ++co)
                  out[static_cast<std::size_t>(co * voxels + (o0 * out_extent[1] + o1) * out_extent[2] + o2)] +=
                      double(in(ci, i0, i1, i2)) * w(ci, co, a, b, c);
              }
  return out;
}

TEST(ConvTranspose, LmscnetsUpsamplingsAndA3dOneMatchTheScatterDefinition) {
  struct shape {
    index_t in_channels, out_channels;
    std::array<index_t, 3> in;
    voxformer::transposed_window window;
  };
  const shape cases[] = {{4, 4, {1, 8, 8}, voxformer::transposed_window::planar(6, 2, 2)},  // deconv1_8
                         {3, 5, {1, 6, 7}, voxformer::transposed_window::planar(4, 4, 0)},  // deconv_1_8__1_2
                         {2, 3, {3, 4, 5}, {{3, 2, 4}, {2, 1, 3}, {1, 0, 1}}}};             // uneven 3-D
  unsigned seed = 40;
  for (const auto& s : cases) {
    const auto& win = s.window;
    const std::array<index_t, 3> out_extent = {win.output_extent(0, s.in[0]), win.output_extent(1, s.in[1]),
                                               win.output_extent(2, s.in[2])};
    const auto x = random_values(s.in_channels * s.in[0] * s.in[1] * s.in[2], seed++);
    const auto w =
        random_values(s.in_channels * s.out_channels * win.kernel[0] * win.kernel[1] * win.kernel[2], seed++);
    const auto b = random_values(s.out_channels, seed++);
    const tensor_view<const float, 4> in(x.data(), {s.in_channels, s.in[0], s.in[1], s.in[2]});
    const tensor_view<const float, 5> weight(
        w.data(), {s.in_channels, s.out_channels, win.kernel[0], win.kernel[1], win.kernel[2]});
    std::vector<float> y(static_cast<std::size_t>(s.out_channels * out_extent[0] * out_extent[1] * out_extent[2]), NAN);
    voxformer::conv_transpose(
        cpu_executor{2}, in,
        voxformer::conv_transpose_weights<float>{weight, voxformer::make_view<1>(b.data(), {s.out_channels})}, win,
        voxformer::make_view<4>(y.data(), {s.out_channels, out_extent[0], out_extent[1], out_extent[2]}));
    expect_near_reference(voxformer::make_view<1>(y.data(), {index_t(y.size())}),
                          reference_transposed(in, weight, b, win, out_extent), "transposed");
  }
}

TEST(ConvTranspose, AWrongOutputShapeIsAnError) {
  const std::vector<float> x(4 * 8 * 8), w(4 * 4 * 36), b(4);
  std::vector<float> y(4 * 15 * 16, 7.f);
  EXPECT_EQ(error_of([&] {
              voxformer::conv_transpose(
                  cpu_executor{1}, voxformer::make_view<4>(x.data(), {4, 1, 8, 8}),
                  voxformer::conv_transpose_weights<float>{voxformer::make_view<5>(w.data(), {4, 4, 1, 6, 6}),
                                                           voxformer::make_view<1>(b.data(), {4})},
                  voxformer::transposed_window::planar(6, 2, 2), voxformer::make_view<4>(y.data(), {4, 1, 15, 16}));
            }),
            "voxformer::conv_transpose: argument 'out' [C_out, D0, D1, D2] expected shape [4, 1, 16, 16], got [4, 1, "
            "15, 16]");
  EXPECT_TRUE(std::all_of(y.begin(), y.end(), [](float v) { return v == 7.f; }));
}

TEST(ConvTranspose, AWindowWithoutAPositiveStrideIsAnError) {
  const std::vector<float> x(4 * 8 * 8), w(4 * 4 * 36), b(4);
  std::vector<float> y(4 * 16 * 16, 7.f);
  EXPECT_EQ(error_of([&] {
              voxformer::conv_transpose(
                  cpu_executor{1}, voxformer::make_view<4>(x.data(), {4, 1, 8, 8}),
                  voxformer::conv_transpose_weights<float>{voxformer::make_view<5>(w.data(), {4, 4, 1, 6, 6}),
                                                           voxformer::make_view<1>(b.data(), {4})},
                  voxformer::transposed_window::planar(6, 0, 2), voxformer::make_view<4>(y.data(), {4, 1, 16, 16}));
            }),
            "voxformer::conv_transpose: window axis 1 needs a positive kernel and stride and a non-negative padding");
  EXPECT_TRUE(std::all_of(y.begin(), y.end(), [](float v) { return v == 7.f; }));
}

// ---- max pooling ----

TEST(MaxPool, TheMaximumOfEachBlockAndNanPropagates) {
  auto x = random_values(3 * 2 * 6 * 8, 50);
  x[5] = NAN;  // channel 0, voxel (0, 0, 5): block (0, 0, 2)
  std::vector<float> y(3 * 2 * 3 * 4, 0.f);
  voxformer::max_pool<float>(cpu_executor{2},
                             voxformer::make_view<4>(static_cast<const float*>(x.data()), {3, 2, 6, 8}),
                             voxformer::pool_window::blocks({1, 2, 2}),
                             voxformer::make_view<4>(y.data(), {3, 2, 3, 4}));
  for (index_t c = 0; c < 3; ++c)
    for (index_t a = 0; a < 2; ++a)
      for (index_t b = 0; b < 3; ++b)
        for (index_t d = 0; d < 4; ++d) {
          float m = -INFINITY;
          bool nan = false;
          for (index_t i = 0; i < 2; ++i)
            for (index_t j = 0; j < 2; ++j) {
              const float value = x[static_cast<std::size_t>(((c * 2 + a) * 6 + 2 * b + i) * 8 + 2 * d + j)];
              nan = nan || std::isnan(value);
              m = std::max(m, value);
            }
          const float ours = y[static_cast<std::size_t>(((c * 2 + a) * 3 + b) * 4 + d)];
          if (nan) EXPECT_TRUE(std::isnan(ours));
          else EXPECT_EQ(ours, m);
        }
  EXPECT_TRUE(std::isnan(y[2]));
}

// ResNet's stem pooling, MaxPool2d(3, 2, padding=1), on odd sizes: padding counts as −∞, so a border window's
// maximum is that of its voxels inside; and windows that overlap; a NaN spreads to every window holding it.
TEST(MaxPool, OverlappingWindowsWithPaddingMatchTheDefinition) {
  // The definition in double over every window, on odd and even sizes, windows wider than their stride, padded or
  // not, and inputs narrower than a window: the row's inside outputs and its ends take different paths. NaNs at a
  // row's first and last column and inside must reach exactly the windows that hold them.
  struct shape {
    index_t c, d0, h, w;
    voxformer::pool_window window;
  };
  const std::vector<shape> shapes = {
      {3, 1, 11, 14, {{1, 3, 3}, {1, 2, 2}, {0, 1, 1}}},  // ResNet's stem pool
      {2, 1, 9, 13, {{1, 3, 3}, {1, 2, 2}, {0, 1, 1}}},   // odd sizes
      {2, 1, 5, 2, {{1, 3, 3}, {1, 2, 2}, {0, 1, 1}}},    // narrower than the window: no inside output
      {2, 1, 8, 17, {{1, 3, 3}, {1, 1, 1}, {0, 1, 1}}},   // stride 1
      {2, 1, 7, 19, {{1, 4, 4}, {1, 3, 3}, {0, 2, 2}}},   // kernel 4, stride 3, padding 2
      {2, 3, 6, 10, {{2, 2, 2}, {2, 2, 2}, {0, 0, 0}}},   // blocks over a volume
      {1, 1, 4, 21, {{1, 1, 5}, {1, 1, 3}, {0, 0, 1}}},   // along one axis only
  };
  for (const auto& [c, d0, h, w, window] : shapes) {
    auto x = random_values(c * d0 * h * w, 51);
    for (const index_t at : {index_t{0}, w - 1, (h / 2) * w + w / 2, c * d0 * h * w - 1})
      x[static_cast<std::size_t>(at)] = NAN;
    const std::array<index_t, 3> in{d0, h, w};
    std::array<index_t, 3> o{};
    for (int a = 0; a < 3; ++a) o[static_cast<std::size_t>(a)] = window.output_extent(a, in[static_cast<std::size_t>(a)]);
    std::vector<float> y(static_cast<std::size_t>(c * o[0] * o[1] * o[2]), 0.f);
    voxformer::max_pool<float>(cpu_executor{2},
                               voxformer::make_view<4>(static_cast<const float*>(x.data()), {c, d0, h, w}), window,
                               voxformer::make_view<4>(y.data(), {c, o[0], o[1], o[2]}));
    index_t nans = 0, checked = 0;
    for (index_t ch = 0; ch < c; ++ch)
      for (index_t i0 = 0; i0 < o[0]; ++i0)
        for (index_t i1 = 0; i1 < o[1]; ++i1)
          for (index_t i2 = 0; i2 < o[2]; ++i2) {
            double m = -INFINITY;
            bool nan = false;
            const index_t at[3] = {i0, i1, i2};
            std::array<index_t, 3> lo{}, hi{};
            for (std::size_t a = 0; a < 3; ++a) {
              lo[a] = std::max<index_t>(0, at[a] * window.stride[a] - window.padding[a]);
              hi[a] = std::min(in[a], at[a] * window.stride[a] - window.padding[a] + window.kernel[a]);
            }
            for (index_t a = lo[0]; a < hi[0]; ++a)
              for (index_t b = lo[1]; b < hi[1]; ++b)
                for (index_t d = lo[2]; d < hi[2]; ++d) {
                  const float value = x[static_cast<std::size_t>(((ch * d0 + a) * h + b) * w + d)];
                  nan = nan || std::isnan(value);
                  m = std::max(m, double(value));
                }
            const float ours = y[static_cast<std::size_t>(((ch * o[0] + i0) * o[1] + i1) * o[2] + i2)];
            ++checked;
            if (nan) {
              ++nans;
              EXPECT_TRUE(std::isnan(ours)) << "output " << ch << ", " << i0 << ", " << i1 << ", " << i2;
            } else {
              EXPECT_EQ(ours, m) << "output " << ch << ", " << i0 << ", " << i1 << ", " << i2;
            }
          }
    EXPECT_GT(nans, 0);
    EXPECT_GT(checked, nans);
  }
  const index_t c = 3, h = 11, w = 14, oh = 6, ow = 7;
  const auto x = random_values(c * h * w, 51);
  std::vector<float> y(static_cast<std::size_t>(c * oh * ow), 0.f);
  EXPECT_CONTAINS(test::error_of([&] {
                    voxformer::max_pool<float>(cpu_executor{1},
                                               voxformer::make_view<4>(static_cast<const float*>(x.data()), {c, 1, h, w}),
                                               voxformer::pool_window{{1, 3, 3}, {1, 2, 2}, {0, 2, 1}},
                                               voxformer::make_view<4>(y.data(), {c, 1, oh, ow}));
                  }),
                  "voxformer::max_pool: window axis 1 needs a positive kernel and stride and a padding of at most half "
                  "the kernel");
}

}  // namespace
