// The fused header (spec §3.13) against a float64 brute force of the original's three materialised steps:
// ×2 trilinear upsampling with align_corners = True (source o·(n − 1)/(2n − 1)), LayerNorm (eps 1e-5), Linear,
// argmax with the first maximum winning. Tolerance: logits within 1e-5 + 1e-5·|ref| (fp32 sums of ≤ 128
// products of unit size); labels equal wherever the two best reference logits are 1e-4 apart or more.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "support/msda_case.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/model/head.hpp"

namespace {

using voxformer::index_t;

struct head_case {
  index_t x, y, z, channels, classes;
  std::vector<float> volume, gamma, beta, weight, bias;
};

head_case random_case(index_t x, index_t y, index_t z, index_t channels, index_t classes, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  head_case h{x, y, z, channels, classes, {}, {}, {}, {}, {}};
  for (index_t i = 0; i < x * y * z * channels; ++i) h.volume.push_back(normal(gen) + 0.3f);
  for (index_t i = 0; i < channels; ++i) h.gamma.push_back(1.f + 0.1f * normal(gen)), h.beta.push_back(0.1f * normal(gen));
  for (index_t i = 0; i < classes * channels; ++i) h.weight.push_back(normal(gen) / std::sqrt(float(channels)));
  for (index_t i = 0; i < classes; ++i) h.bias.push_back(0.1f * normal(gen));
  return h;
}

//! One output voxel's logits, from the spec's formulas in float64.
std::vector<double> reference_logits(const head_case& h, index_t ox, index_t oy, index_t oz) {
  auto taps = [](index_t o, index_t n) {
    const double s = 2 * n > 1 ? static_cast<double>(o) * static_cast<double>(n - 1) / static_cast<double>(2 * n - 1) : 0;
    const index_t lower = std::min(static_cast<index_t>(std::floor(s)), n - 1);
    return std::tuple{lower, std::min(lower + 1, n - 1), s - static_cast<double>(lower)};
  };
  const auto [x0, x1, fx] = taps(ox, h.x);
  const auto [y0, y1, fy] = taps(oy, h.y);
  const auto [z0, z1, fz] = taps(oz, h.z);
  std::vector<double> u(static_cast<std::size_t>(h.channels), 0.0);
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int d = 0; d < 2; ++d) {
        const double w = (a ? fx : 1 - fx) * (b ? fy : 1 - fy) * (d ? fz : 1 - fz);
        const index_t k = ((a ? x1 : x0) * h.y + (b ? y1 : y0)) * h.z + (d ? z1 : z0);
        for (index_t c = 0; c < h.channels; ++c) u[c] += w * h.volume[k * h.channels + c];
      }
  double mean = 0, var = 0;
  for (double v : u) mean += v / static_cast<double>(h.channels);
  for (double v : u) var += (v - mean) * (v - mean) / static_cast<double>(h.channels);
  std::vector<double> logits(static_cast<std::size_t>(h.classes));
  for (index_t k = 0; k < h.classes; ++k) {
    double l = h.bias[k];
    for (index_t c = 0; c < h.channels; ++c)
      l += h.weight[k * h.channels + c] * ((u[c] - mean) / std::sqrt(var + 1e-5) * h.gamma[c] + h.beta[c]);
    logits[k] = l;
  }
  return logits;
}

struct head_run {
  std::vector<std::uint8_t> labels;
  std::vector<float> logits;
};

head_run run_head(const head_case& h, voxformer::cpu_executor executor, bool with_logits) {
  voxformer::model_config config;
  config.volume = {h.x, h.y, h.z};
  config.embed_dims = h.channels;
  config.classes = h.classes;
  voxformer::model_parameters<float> p;
  p.head_norm = {voxformer::make_view<1>(static_cast<const float*>(h.gamma.data()), {h.channels}),
                 voxformer::make_view<1>(static_cast<const float*>(h.beta.data()), {h.channels})};
  p.head_classifier = {voxformer::make_view<2>(static_cast<const float*>(h.weight.data()), {h.classes, h.channels}),
                       voxformer::make_view<1>(static_cast<const float*>(h.bias.data()), {h.classes})};
  std::vector<std::byte> derived(voxformer::fused_head<float>::derived_bytes(config) + 64);
  auto persistent = voxformer::workspace::aligned(derived.data(), derived.size());
  const voxformer::fused_head<float> head(executor, config, p, persistent);
  const index_t out = 8 * h.x * h.y * h.z;
  head_run r{std::vector<std::uint8_t>(static_cast<std::size_t>(out), 255),
             with_logits ? std::vector<float>(static_cast<std::size_t>(out * h.classes), NAN) : std::vector<float>{}};
  const auto labels = voxformer::make_view<3>(r.labels.data(), {2 * h.x, 2 * h.y, 2 * h.z});
  const auto logits = with_logits ? voxformer::make_view<4>(r.logits.data(), {h.classes, 2 * h.x, 2 * h.y, 2 * h.z})
                                  : voxformer::tensor_view<float, 4>{};
  head.run(executor, voxformer::make_view<2>(static_cast<const float*>(h.volume.data()), {h.x * h.y * h.z, h.channels}),
           labels, logits);
  return r;
}

void expect_matches_reference(const head_case& h) {
  const auto r = run_head(h, voxformer::cpu_executor{2}, true);
  const index_t ox_n = 2 * h.x, oy_n = 2 * h.y, oz_n = 2 * h.z, voxels = ox_n * oy_n * oz_n;
  for (index_t ox = 0; ox < ox_n; ++ox)
    for (index_t oy = 0; oy < oy_n; ++oy)
      for (index_t oz = 0; oz < oz_n; ++oz) {
        const auto expected = reference_logits(h, ox, oy, oz);
        const index_t v = (ox * oy_n + oy) * oz_n + oz;
        index_t best = 0;
        double second = -INFINITY;
        for (index_t k = 0; k < h.classes; ++k) {
          ASSERT_NEAR(r.logits[static_cast<std::size_t>(k * voxels + v)], expected[k], 1e-5 + 1e-5 * std::abs(expected[k]))
              << "class " << k << " at " << ox << ", " << oy << ", " << oz;
          if (expected[k] > expected[best]) best = k;
        }
        for (index_t k = 0; k < h.classes; ++k)
          if (k != best) second = std::max(second, expected[k]);
        if (expected[best] - second >= 1e-4) {
          ASSERT_EQ(r.labels[v], best) << ox << ", " << oy << ", " << oz;
        }
      }
}

TEST(FusedHead, MatchesTheMaterialisedHeaderOnNonCubicVolumes) {
  expect_matches_reference(random_case(3, 5, 2, 32, 20, 1));  // channels in 16-wide chunks
  expect_matches_reference(random_case(4, 2, 3, 12, 7, 2));   // the scalar channel path, few classes
  expect_matches_reference(random_case(2, 3, 1, 16, 30, 3));  // z of extent 1: every output samples z = 0
}

TEST(FusedHead, LabelsAloneEqualTheLabelsWithLogitsForAnyThreadCount) {
  const auto h = random_case(5, 4, 3, 32, 20, 4);
  const auto with = run_head(h, voxformer::cpu_executor{1}, true);
  for (int threads : {1, 2, 3}) EXPECT_EQ(run_head(h, voxformer::cpu_executor{threads}, false).labels, with.labels);
}

TEST(FusedHead, ATieGoesToTheLowerClass) {
  auto h = random_case(2, 2, 2, 16, 5, 5);
  for (index_t c = 0; c < h.channels; ++c) {
    h.weight[1 * h.channels + c] = h.weight[3 * h.channels + c] = 1.f;
    for (index_t k : {0, 2, 4}) h.weight[k * h.channels + c] = 0.f;
  }
  h.bias = {-50.f, 100.f, -50.f, 100.f, -50.f};  // classes 1 and 3 identical and on top everywhere
  for (auto label : run_head(h, voxformer::cpu_executor{2}, false).labels) ASSERT_EQ(label, 1);
}

}  // namespace
