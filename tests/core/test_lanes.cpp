// The lane-generic helpers behind the sampling kernels: the vector forms must agree with the scalar (device)
// forms lane by lane, exactly — except the vector exp, which must stay within 2 ulp of std::exp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>

#include "voxformer/core/lanes.hpp"

namespace {

using voxformer::detail::floor_to_int;
using voxformer::detail::lanes_t;
using voxformer::detail::make_lanes;
using voxformer::detail::point_lanes;
using voxformer::detail::select;
using voxformer::detail::store_lanes;

constexpr int lanes = point_lanes<float>;
using F = lanes_t<float, lanes>;
using I = lanes_t<std::int32_t, lanes>;

TEST(Lanes, HostFloatMathFillsOneSimdRegister) {
#if defined(__AVX__)
  EXPECT_EQ(lanes, 8);
#else
  EXPECT_EQ(lanes, 4);
#endif
}

TEST(Lanes, FloorToIntMatchesStdFloorOnEveryLane) {
  // Exact integers, half-integers, values just either side of an integer, and the negative range that the
  // samplers see (−1 < u).
  const float samples[] = {-0.999f, -0.5f, -0.0f, 0.f, 0.25f, 0.9999999f, 1.f, 1.0000001f, 2.5f, 76.99999f,
                           -1e-7f, 23.f, 1e6f + 0.5f, 16777215.f, -0.75f, 3.f};
  for (std::size_t start = 0; start + lanes <= std::size(samples); start += lanes) {
    const F v = make_lanes<F>([&](int k) { return samples[start + k]; });
    std::int32_t got[lanes];
    store_lanes(got, floor_to_int<I>(v));
    for (int k = 0; k < lanes; ++k) {
      EXPECT_EQ(got[k], static_cast<std::int32_t>(std::floor(samples[start + k]))) << samples[start + k];
      EXPECT_EQ(got[k], floor_to_int<std::int32_t>(samples[start + k])) << "scalar form differs";
    }
  }
}

TEST(Lanes, SelectTakesMaskedLanesOnly) {
  const F a = make_lanes<F>([](int k) { return static_cast<float>(k); }), b = make_lanes<F>([](int) { return -1.f; });
  float got[lanes];
  store_lanes(got, select(a > 1.5f, a, b));
  for (int k = 0; k < lanes; ++k) EXPECT_EQ(got[k], k > 1 ? static_cast<float>(k) : -1.f);
  EXPECT_EQ(select(true, 2.f, 3.f), 2.f);
  EXPECT_EQ(select(false, 2, 3), 3);
}

// Softmax's exp: within 2 ulp of std::exp over [−87.3, 88.37] (1 ulp measured), 0 below, +inf above, NaN kept.
TEST(Lanes, VectorExpIsWithinTwoUlpOfStdExp) {
  double worst = 0;
  for (float x = -87.3f; x < 88.37f; x += 0.0173f) {
    const F v = make_lanes<F>([&](int k) { return x + 1e-3f * static_cast<float>(k); });
    float got[lanes];
    store_lanes(got, voxformer::detail::exp_lanes(v));
    for (int k = 0; k < lanes; ++k) {
      const float input = x + 1e-3f * static_cast<float>(k), expected = std::exp(input);
      if (!(input < 88.37f) || expected < 1.2e-38f) continue;  // above the range; subnormal results
      worst = std::max(worst, std::abs(double(got[k]) - expected) / (std::nextafter(expected, INFINITY) - expected));
    }
  }
  EXPECT_LE(worst, 2.0);
  const float special[] = {NAN, -INFINITY, INFINITY, 0.f, -100.f, 100.f, -0.f, 1.f};
  for (std::size_t start = 0; start + lanes <= std::size(special); start += lanes) {
    float got[lanes];
    store_lanes(got, voxformer::detail::exp_lanes(make_lanes<F>([&](int k) { return special[start + k]; })));
    for (int k = 0; k < lanes; ++k) {
      const float expected = std::exp(special[start + k]);
      if (std::isnan(expected)) EXPECT_TRUE(std::isnan(got[k]));
      else if (special[start + k] == -100.f) EXPECT_EQ(got[k], 0.f);  // std::exp gives a subnormal here
      else EXPECT_EQ(got[k], expected) << special[start + k];
    }
  }
}

}  // namespace
