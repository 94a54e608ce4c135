// Points → occupancy against a brute-force loop, both z conventions, edge cases, and every tensor family.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "support/tensor_families.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/ops/voxel/voxelize.hpp"

namespace {

using voxformer::volume_geometry;
using voxformer::z_convention;

std::vector<float> random_points(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> x(-5.f, 56.f), y(-30.f, 30.f), z(-3.f, 6.f);
  std::vector<float> pts;
  for (std::size_t i = 0; i < n; ++i) pts.insert(pts.end(), {x(gen), y(gen), z(gen), 1.f});
  return pts;
}

// Spec §2.3 (strict box, plain floor) and §2.7 (floor + 1 in z, 1 ≤ iz ≤ 31, no range filter), as loops.
std::vector<std::uint8_t> brute_force(const std::vector<float>& pts, const std::vector<std::uint32_t>* labels,
                                      z_convention convention) {
  std::vector<std::uint8_t> grid(256 * 256 * 32, 0), veto(grid.size(), 0);
  for (std::size_t i = 0; i < pts.size() / 4; ++i) {
    const float x = pts[4 * i], y = pts[4 * i + 1], z = pts[4 * i + 2];
    if (!(std::isfinite(x) && std::isfinite(y) && std::isfinite(z))) continue;
    long ix = static_cast<long>(std::floor(x / 0.2f)), iy = static_cast<long>(std::floor((y + 25.6f) / 0.2f));
    long iz = static_cast<long>(std::floor((z + 2.f) / 0.2f));
    if (convention == z_convention::voxformer) {
      if (!(x > 0 && x < 51.2f && y > -25.6f && y < 25.6f && z > -2.f && z < 4.4f)) continue;
      if (ix > 255 || iy > 255 || iz > 31) continue;
    } else {
      iz += 1;
      if (ix < 0 || ix > 255 || iy < 0 || iy > 255 || iz < 1 || iz > 31) continue;
    }
    const long k = (ix * 256 + iy) * 32 + iz;
    grid[k] = 1;
    if (labels != nullptr && ((*labels)[i] & 0xFFFF) == 0) veto[k] = 1;
  }
  for (std::size_t k = 0; k < grid.size(); ++k) grid[k] = static_cast<std::uint8_t>(grid[k] && !veto[k]);
  return grid;
}

template <class Family>
class Voxelize : public ::testing::Test {};
using families = test::tensor_families;
TYPED_TEST_SUITE(Voxelize, families);

TYPED_TEST(Voxelize, MatchesBruteForceInBothConventions) {
  const auto pts = random_points(20000, 1);
  std::vector<std::uint32_t> labels(pts.size() / 4);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = (i % 97 == 0) ? 0x10000u : static_cast<std::uint32_t>(40 + i % 3);
  const long n = static_cast<long>(labels.size());
  for (auto convention : {z_convention::voxformer, z_convention::semantickitti_pre_fix})
    for (int threads : {1, 2}) {
      std::vector<std::uint8_t> grid(256 * 256 * 32, 9);
      auto p = TypeParam::template make<2>(pts.data(), {n, 4});
      auto g = TypeParam::template make<3>(grid.data(), {256, 256, 32});
      voxformer::voxelize(voxformer::cpu_executor{threads}, TypeParam::arg(p), volume_geometry::voxformer_fine(), TypeParam::arg(g),
                          convention);
      EXPECT_EQ(grid, brute_force(pts, nullptr, convention));
      auto l = TypeParam::template make<1>(labels.data(), {n});
      voxformer::voxelize_labeled(voxformer::cpu_executor{threads}, TypeParam::arg(p), TypeParam::arg(l), volume_geometry::voxformer_fine(),
                                  TypeParam::arg(g), convention);
      EXPECT_EQ(grid, brute_force(pts, &labels, convention));
    }
}

TEST(Voxelize, BoxFacesNonFiniteAndOutsidePointsAreDropped) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> pts = {0.f,   0.f,  0.f, 1.f,  // on the x = 0 face: outside the strict box
                            51.2f, 0.f,  0.f, 1.f,  // on the far face
                            nan,   0.f,  0.f, 1.f,  inf, 0.f, 0.f, 1.f, 1.f, -inf, 0.f, 1.f,
                            0.1f,  0.1f, 0.1f, 1.f};  // the one stored point: voxel (0, 128, 10)
  std::vector<std::uint8_t> grid(256 * 256 * 32);
  voxformer::voxelize(voxformer::cpu_executor{1}, voxformer::make_view<2>(pts.data(), {6, 4}),
                      volume_geometry::voxformer_fine(), voxformer::make_view<3>(grid.data(), {256, 256, 32}));
  long count = 0;
  for (auto v : grid) count += v;
  EXPECT_EQ(count, 1);
  EXPECT_EQ(grid[(0 * 256 + 128) * 32 + 10], 1);
}

TEST(Voxelize, RejectsWrongGridShapeAndNarrowPoints) {
  std::vector<float> pts(8);
  std::vector<std::uint8_t> grid(128 * 128 * 16);
  EXPECT_THROW(voxformer::voxelize(voxformer::cpu_executor{1}, voxformer::make_view<2>(pts.data(), {4, 2}),
                                   volume_geometry::voxformer_coarse(),
                                   voxformer::make_view<3>(grid.data(), {128, 128, 16})),
               voxformer::error);
  EXPECT_THROW(voxformer::voxelize(voxformer::cpu_executor{1}, voxformer::make_view<2>(pts.data(), {2, 4}),
                                   volume_geometry::voxformer_fine(),
                                   voxformer::make_view<3>(grid.data(), {128, 128, 16})),
               voxformer::error);
}

}  // namespace
