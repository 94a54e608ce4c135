//! @file A multi-scale deformable attention case (from a fixture or random) run through any tensor family.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "support/fixtures.hpp"
#include "support/reference_ops.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/cpu_instances.hpp"  // compiled once per build flavour (tests/CMakeLists.txt)
#include "voxformer/ops/msda/ms_deform_attn.hpp"
#include "voxformer/ops/msda/ms_deform_attn_3d.hpp"

namespace test {

template <class T>
struct msda_case {
  int dims = 2;  // 2 = bilinear, 3 = trilinear
  std::vector<T> value, locations, weights;
  std::vector<std::int64_t> shapes, starts;  // [L, dims], [L]
  long B = 0, S = 0, Q = 0, H = 0, D = 0, L = 0, P = 0;

  std::vector<reference::level> levels() const {
    std::vector<reference::level> out;
    for (long l = 0; l < L; ++l)
      out.push_back({shapes[l * dims], shapes[l * dims + 1], dims == 3 ? shapes[l * dims + 2] : 1, starts[l]});
    return out;
  }

  static msda_case from_fixture(const std::string& group, int dims) {
    msda_case c;
    c.dims = dims;
    const auto value = load_fixture(group, "value"), loc = load_fixture(group, "sampling_locations");
    c.value = fixture_values<float>(value);
    c.locations = fixture_values<float>(loc);
    c.weights = fixture_values<float>(load_fixture(group, "attention_weights"));
    c.shapes = fixture_values<std::int64_t>(load_fixture(group, "spatial_shapes"));
    c.starts = fixture_values<std::int64_t>(load_fixture(group, "level_start"));
    c.B = value.shape[0], c.S = value.shape[1], c.H = value.shape[2], c.D = value.shape[3];
    c.Q = loc.shape[1], c.L = loc.shape[3], c.P = loc.shape[4];
    return c;
  }

  //! Random case; locations uniform in [lo, hi] (the default puts ~20 % of the taps outside).
  static msda_case random(int dims, long B, long Q, long H, long D, long P, std::vector<std::int64_t> shapes,
                          unsigned seed, double lo = -0.1, double hi = 1.1) {
    msda_case c;
    c.dims = dims;
    c.shapes = std::move(shapes);
    c.L = static_cast<long>(c.shapes.size()) / dims;
    for (long l = 0; l < c.L; ++l) {
      c.starts.push_back(c.S);
      long size = 1;
      for (int a = 0; a < dims; ++a) size *= c.shapes[l * dims + a];
      c.S += size;
    }
    c.B = B, c.Q = Q, c.H = H, c.D = D, c.P = P;
    std::mt19937 gen(seed);
    std::normal_distribution<double> normal;
    std::uniform_real_distribution<double> where(lo, hi), positive(0.05, 1.0);
    for (long i = 0; i < B * c.S * H * D; ++i) c.value.push_back(static_cast<T>(normal(gen)));
    for (long i = 0; i < B * Q * H * c.L * P * dims; ++i) c.locations.push_back(static_cast<T>(where(gen)));
    for (long i = 0; i < B * Q * H * c.L * P; ++i) c.weights.push_back(static_cast<T>(positive(gen)));
    return c;
  }

  //! Puts NaN, +Inf and −Inf into every `every`-th value cell, and snaps every `snap`-th location coordinate
  //! to a cell centre, where the upper neighbour's weight is exactly 0 (still a sample: NaN · 0 is NaN there,
  //! as in the original) — only along power-of-two axes, where the centre is exact in float, so that the
  //! float op and the double oracle agree on the neighbours.
  void poison_values(long every, long snap) {
    const T bad[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                     -std::numeric_limits<T>::infinity()};
    for (std::size_t i = 0; i < value.size(); i += static_cast<std::size_t>(every)) value[i] = bad[(i / every) % 3];
    const auto lv = levels();
    for (std::size_t i = 0; i < locations.size(); i += static_cast<std::size_t>(snap)) {
      const long axis = static_cast<long>(i) % dims, l = (static_cast<long>(i) / (dims * P)) % L;
      const long extent = axis == 0 ? lv[l].w : axis == 1 ? lv[l].h : lv[l].z;
      if ((extent & (extent - 1)) != 0) continue;
      const auto size = static_cast<double>(extent);
      locations[i] = static_cast<T>((std::floor(static_cast<double>(locations[i]) * size) + 0.5) / size);
    }
  }

  std::vector<T> reference_output() const {
    std::vector<T> out(static_cast<std::size_t>(B * Q * H * D));
    if (dims == 2)
      reference::msda_bilinear<T, double>(value.data(), levels(), locations.data(), weights.data(), out.data(), B, S, Q,
                                          H, D, P);
    else
      reference::msda_trilinear<T, double>(value.data(), levels(), locations.data(), weights.data(), out.data(), B, S,
                                           Q, H, D, P);
    return out;
  }

  //! Runs voxformer's op with every tensor argument made by `Family`.
  template <class Family>
  std::vector<T> run(voxformer::cpu_executor executor) const {
    std::vector<T> out(static_cast<std::size_t>(B * Q * H * D), T(-777));
    auto v = Family::template make<4>(value.data(), {B, S, H, D});
    auto loc = Family::template make<6>(locations.data(), {B, Q, H, L, P, dims});
    auto w = Family::template make<5>(weights.data(), {B, Q, H, L, P});
    auto o = Family::template make<3>(out.data(), {B, Q, H * D});
    auto shape_view = voxformer::make_view<2>(shapes.data(), {L, dims});
    auto start_view = voxformer::make_view<1>(starts.data(), {L});
    if (dims == 2)
      voxformer::ms_deform_attn(executor, Family::arg(v), shape_view, start_view, Family::arg(loc), Family::arg(w),
                                Family::arg(o));
    else
      voxformer::ms_deform_attn_3d(executor, Family::arg(v), shape_view, start_view, Family::arg(loc),
                                   Family::arg(w), Family::arg(o));
    return out;
  }
};

//! |a − b| ≤ abs + rel·|b| element-wise, reporting the first failure; a NaN or infinite expected value must be
//! matched exactly (NaN by NaN).
template <class A, class B>
void expect_close(const std::vector<A>& actual, const std::vector<B>& expected, double abs, double rel) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = static_cast<double>(actual[i]), e = static_cast<double>(expected[i]);
    if (std::isnan(e)) {
      ASSERT_TRUE(std::isnan(a)) << "element " << i << ": " << a << ", expected NaN";
      continue;
    }
    if (std::isinf(e)) {
      ASSERT_EQ(a, e) << "element " << i;
      continue;
    }
    ASSERT_LE(std::abs(a - e), abs + rel * std::abs(e)) << "element " << i << ": " << a << " vs " << e;
  }
}

}  // namespace test
