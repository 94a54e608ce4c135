// Trilinear multi-scale deformable attention against PyTorch 5-D grid_sample fixtures and a brute-force loop.
// Tolerances: float32 op vs float64 oracle, |Δ| ≤ 1e-5 + 1e-5·|ref| (fp32 coordinate rounding, see the 2-D test).
#include <gtest/gtest.h>

#include "support/msda_case.hpp"
#include "support/tensor_families.hpp"

namespace {

using test::msda_case;

template <class Family>
class MsDeformAttn3d : public ::testing::Test {};
using families = test::tensor_families;
TYPED_TEST_SUITE(MsDeformAttn3d, families);

TYPED_TEST(MsDeformAttn3d, MatchesGridSample5dOnMultiLevelFixture) {
  const auto c = msda_case<float>::from_fixture("msda3d_multilevel", 3);
  const auto expected = test::fixture_values<double>(test::load_fixture("msda3d_multilevel", "out"));
  for (int threads : {1, 2}) test::expect_close(c.template run<TypeParam>({threads}), expected, 1e-5, 1e-5);
}

TEST(MsDeformAttn3d, VoxFormerVolumeMatchesBruteForceForEveryChunk) {
  for (long dh : {16L, 8L, 5L}) {
    const auto c = msda_case<float>::random(3, 2, 200, 2, dh, 4, {16, 16, 4}, static_cast<unsigned>(dh));
    test::expect_close(c.run<test::view_family>({2}), c.reference_output(), 1e-5, 1e-5);
  }
}

TEST(MsDeformAttn3d, HeadGroupsAndPartialPointBatchesMatchBruteForce) {
  // 8 heads run as one group per query; 5 and 11 points leave part of a batch of lanes empty.
  for (long points : {5L, 8L, 11L}) {
    const auto c = msda_case<float>::random(3, 2, 60, 8, 16, points, {6, 5, 4, 3, 2, 2}, static_cast<unsigned>(points));
    test::expect_close(c.run<test::view_family>({2}), c.reference_output(), 1e-5, 1e-5);
  }
}

TEST(MsDeformAttn3d, SingleLevelFullLaneBatchMatchesBruteForceOnNarrowLevels) {
  // One level, one full batch of lanes (the specialised kernel); axes one or two cells long; ~half the points
  // on a border or outside.
  const std::vector<std::vector<std::int64_t>> levels = {{16, 16, 4}, {1, 4, 3}, {4, 1, 2},
                                                         {3, 4, 1},   {2, 2, 2}, {1, 1, 1}};
  for (long points : {4L, 8L})
    for (const auto& shape : levels) {
      SCOPED_TRACE("points " + std::to_string(points) + ", level " + std::to_string(shape[0]) + "x" +
                   std::to_string(shape[1]) + "x" + std::to_string(shape[2]));
      const auto seed = static_cast<unsigned>(points * 1000 + shape[0] * 100 + shape[1] * 10 + shape[2]);
      const auto c = msda_case<float>::random(3, 2, 23, 8, 16, points, shape, seed, -0.6, 1.6);
      test::expect_close(c.run<test::view_family>({2}), c.reference_output(), 1e-5, 1e-5);
    }
}

TEST(MsDeformAttn3d, NonFiniteValuesReachOnlyTheQueriesThatSampleThem) {
  // As the 2-D test: NaN/Inf cells reach exactly the outputs that have them as a neighbour of a sample.
  for (const auto& shape : std::vector<std::vector<std::int64_t>>{{16, 16, 4}, {1, 4, 3}, {8, 1, 2}, {6, 5, 4, 3, 2, 2}})
    for (long points : {8L, 5L}) {
      auto c = msda_case<float>::random(3, 2, 150, 8, 16, points, shape, static_cast<unsigned>(points), -0.3, 1.3);
      c.poison_values(31, 7);
      const auto expected = c.reference_output();
      long poisoned = 0;
      for (float v : expected) poisoned += std::isfinite(v) ? 0 : 1;
      ASSERT_GT(poisoned, 0);
      ASSERT_LT(poisoned, static_cast<long>(expected.size()) * 9 / 10);
      test::expect_close(c.run<test::view_family>({2}), expected, 1e-5, 1e-5);
    }
}

TEST(MsDeformAttn3d, VoxelCentreSamplesItsOwnValue) {
  // Spec §3.12: voxel (x, y, z) of an (h, w, z) = (X, Y, Z) volume is sampled exactly at location
  // ((y+0.5)/Y, (x+0.5)/X, (z+0.5)/Z).
  const long X = 6, Y = 5, Z = 4;
  std::vector<float> value(static_cast<std::size_t>(X * Y * Z));
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<float>(i) * 0.25f + 1.f;
  std::vector<float> loc, weights;
  for (long x = 0; x < X; ++x)
    for (long y = 0; y < Y; ++y)
      for (long z = 0; z < Z; ++z) {
        loc.insert(loc.end(), {(static_cast<float>(y) + 0.5f) / Y, (static_cast<float>(x) + 0.5f) / X,
                               (static_cast<float>(z) + 0.5f) / Z});
        weights.push_back(1.f);
      }
  const long Q = X * Y * Z;
  std::vector<float> out(static_cast<std::size_t>(Q));
  const std::int64_t shapes[] = {X, Y, Z}, starts[] = {0};
  voxformer::ms_deform_attn_3d(voxformer::cpu_executor{1}, voxformer::make_view<4>(value.data(), {1, Q, 1, 1}),
                               voxformer::make_view<2>(shapes, {1, 3}), voxformer::make_view<1>(starts, {1}),
                               voxformer::make_view<6>(loc.data(), {1, Q, 1, 1, 1, 3}),
                               voxformer::make_view<5>(weights.data(), {1, Q, 1, 1, 1}),
                               voxformer::make_view<3>(out.data(), {1, Q, 1}));
  test::expect_close(out, value, 1e-6, 1e-6);
}

TEST(MsDeformAttn3d, ThreadCountDoesNotChangeBits) {
  const auto c = msda_case<float>::random(3, 2, 2000, 8, 16, 8, {16, 16, 8}, 9);
  EXPECT_EQ(c.run<test::view_family>({1}), c.run<test::view_family>({2}));
}

TEST(MsDeformAttn3d, RejectsTwoDimensionalShapes) {
  const auto c = msda_case<float>::random(3, 1, 4, 1, 4, 1, {2, 2, 2}, 10);
  std::vector<float> out(16);
  const std::int64_t shapes[] = {2, 4}, starts[] = {0};
  EXPECT_THROW(voxformer::ms_deform_attn_3d(voxformer::cpu_executor{1},
                                            voxformer::make_view<4>(c.value.data(), {1, 8, 1, 4}),
                                            voxformer::make_view<2>(shapes, {1, 2}), voxformer::make_view<1>(starts, {1}),
                                            voxformer::make_view<6>(c.locations.data(), {1, 4, 1, 1, 1, 3}),
                                            voxformer::make_view<5>(c.weights.data(), {1, 4, 1, 1, 1}),
                                            voxformer::make_view<3>(out.data(), {1, 4, 4})),
               voxformer::error);
}

}  // namespace
