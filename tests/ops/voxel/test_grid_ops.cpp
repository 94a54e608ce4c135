// Bit packing (MSB first), occupancy downsampling and proposal lists, against brute force and fixtures,
// through every tensor family.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "support/fixtures.hpp"
#include "support/tensor_families.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/ops/voxel/bit_pack.hpp"
#include "voxformer/ops/voxel/downsample.hpp"
#include "voxformer/ops/voxel/proposal.hpp"

namespace {

using voxformer::cpu_executor;

std::vector<std::uint8_t> random_grid(std::size_t n, double density, unsigned seed) {
  std::mt19937 gen(seed);
  std::bernoulli_distribution occupied(density);
  std::vector<std::uint8_t> g(n);
  for (auto& v : g) v = occupied(gen) ? static_cast<std::uint8_t>(1 + gen() % 3) : 0;
  return g;
}

// Coarse voxel (x, y, z) is 1 iff any fine voxel in its fx × fy × fz block is non-zero; [X/fx, Y/fy, Z/fz].
std::vector<std::uint8_t> downsample_brute_force(const std::vector<std::uint8_t>& fine, long X, long Y, long Z,
                                                 long fx, long fy, long fz) {
  const long cy = Y / fy, cz = Z / fz;
  std::vector<std::uint8_t> coarse(static_cast<std::size_t>(X / fx * cy * cz), 0);
  for (long x = 0; x < X; ++x)
    for (long y = 0; y < Y; ++y)
      for (long z = 0; z < Z; ++z)
        if (fine[static_cast<std::size_t>((x * Y + y) * Z + z)] != 0)
          coarse[static_cast<std::size_t>((x / fx * cy + y / fy) * cz + z / fz)] = 1;
  return coarse;
}

template <class Family>
class GridOps : public ::testing::Test {};
using families = test::tensor_families;
TYPED_TEST_SUITE(GridOps, families);

TYPED_TEST(GridOps, PackIsMsbFirstAndRoundTrips) {
  const long X = 5, Y = 3, Z = 3;  // 45 voxels: the last byte is partial
  auto grid = random_grid(X * Y * Z, 0.4, 1);
  grid[0] = 1, grid[1] = 0, grid[7] = 1;
  std::vector<std::uint8_t> bytes(6), back(grid.size());
  auto g = TypeParam::template make<3>(grid.data(), {X, Y, Z});
  auto b = TypeParam::template make<1>(bytes.data(), {6});
  auto r = TypeParam::template make<3>(back.data(), {X, Y, Z});
  voxformer::pack_bits(cpu_executor{2}, TypeParam::arg(g), TypeParam::arg(b));
  for (std::size_t v = 0; v < grid.size(); ++v)
    ASSERT_EQ((bytes[v / 8] >> (7 - v % 8)) & 1, grid[v] != 0 ? 1 : 0) << v;
  EXPECT_EQ(bytes[5] & 0x07, 0);  // bits past the end are zero
  voxformer::unpack_bits(cpu_executor{1}, TypeParam::arg(b), TypeParam::arg(r));
  for (std::size_t v = 0; v < grid.size(); ++v) ASSERT_EQ(back[v], grid[v] != 0 ? 1 : 0);
}

TYPED_TEST(GridOps, DownsampleIsAnyChildOccupied) {
  const long X = 8, Y = 6, Z = 4;
  const auto fine = random_grid(X * Y * Z, 0.05, 2);
  std::vector<std::uint8_t> coarse(X * Y * Z / 8, 7);
  auto f = TypeParam::template make<3>(fine.data(), {X, Y, Z});
  auto c = TypeParam::template make<3>(coarse.data(), {X / 2, Y / 2, Z / 2});
  voxformer::downsample_occupancy(cpu_executor{2}, TypeParam::arg(f), TypeParam::arg(c));
  EXPECT_EQ(coarse, downsample_brute_force(fine, X, Y, Z, 2, 2, 2));
}

// The CPU runs one element per coarse column, a GPU one per coarse voxel: both kernel shapes against brute
// force, with a different factor on every axis (2, 3, 4).
TEST(Downsample, ColumnAndVoxelElementsMatchBruteForceForUnequalFactors) {
  const long X = 6, Y = 9, Z = 8, cx = 3, cy = 3, cz = 2;
  const auto fine = random_grid(X * Y * Z, 0.02, 3);
  const auto expected = downsample_brute_force(fine, X, Y, Z, 2, 3, 4);
  ASSERT_GT(std::count(expected.begin(), expected.end(), 1), 2);
  ASSERT_LT(std::count(expected.begin(), expected.end(), 1), cx * cy * cz);
  const auto f = voxformer::make_view<3>(fine.data(), {X, Y, Z});
  std::vector<std::uint8_t> columns(expected.size(), 7), voxels(expected.size(), 7);
  voxformer::downsample_occupancy(cpu_executor{2}, f, voxformer::make_view<3>(columns.data(), {cx, cy, cz}));
  const auto c = voxformer::make_view<3>(voxels.data(), {cx, cy, cz});
  using per_voxel = voxformer::kernels::any_child_occupied<decltype(f), decltype(c), false>;
  voxformer::parallel_for(cpu_executor{2}, c.size(), per_voxel{f, c}, 1);
  EXPECT_EQ(columns, expected);
  EXPECT_EQ(voxels, expected);
}

TYPED_TEST(GridOps, ProposalListsMatchTorchNonzero) {
  auto proposal = test::fixture_values<std::uint8_t>(test::load_fixture("mask_token_scatter", "proposal"));
  const auto expect_on = test::fixture_values<std::int32_t>(test::load_fixture("mask_token_scatter", "unmasked"));
  const auto expect_off = test::fixture_values<std::int32_t>(test::load_fixture("mask_token_scatter", "masked"));
  const long n = static_cast<long>(proposal.size());
  for (int threads : {1, 2}) {
    std::vector<std::int32_t> on(proposal.size(), -9), off(proposal.size(), -9);
    auto m = TypeParam::template make<3>(proposal.data(), {n / 8, 4, 2});
    auto u = TypeParam::template make<1>(on.data(), {n});
    auto k = TypeParam::template make<1>(off.data(), {n});
    const auto counts = voxformer::proposal_indices(cpu_executor{threads}, TypeParam::arg(m), TypeParam::arg(u),
                                                    TypeParam::arg(k));
    on.resize(static_cast<std::size_t>(counts.unmasked));
    off.resize(static_cast<std::size_t>(counts.masked));
    EXPECT_EQ(on, expect_on);
    EXPECT_EQ(off, expect_off);
  }
}

TEST(Proposal, EmptyFullAndFloatMasks) {
  const long n = 128 * 128 * 16;
  std::vector<std::int32_t> on(n), off(n);
  std::vector<std::uint8_t> empty(n, 0), full(n, 1);
  auto run = [&](auto& mask) {
    return voxformer::proposal_indices(cpu_executor{2}, voxformer::make_view<3>(mask.data(), {128, 128, 16}),
                                       voxformer::make_view<1>(on.data(), {n}), voxformer::make_view<1>(off.data(), {n}));
  };
  EXPECT_EQ(run(empty).unmasked, 0);
  EXPECT_EQ(run(full).unmasked, n);
  EXPECT_EQ(on[n - 1], n - 1);
  // VoxFormer's proposal is float32; NaN is not > 0 and counts as masked.
  std::vector<float> mask(n, 0.f);
  mask[5] = 1.f, mask[6] = std::nanf(""), mask[7] = -1.f, mask[n - 1] = 0.5f;
  const auto counts = run(mask);
  EXPECT_EQ(counts.unmasked, 2);
  EXPECT_EQ(on[0], 5);
  EXPECT_EQ(on[1], n - 1);
}

TEST(Proposal, TooSmallOutputIsReportedBeforeWriting) {
  std::vector<std::uint8_t> mask(64, 1);
  std::vector<std::int32_t> on(10, -1), off(64);
  try {
    voxformer::proposal_indices(cpu_executor{1}, voxformer::make_view<3>(mask.data(), {4, 4, 4}),
                                voxformer::make_view<1>(on.data(), {10}), voxformer::make_view<1>(off.data(), {64}));
    FAIL();
  } catch (const voxformer::error& e) {
    EXPECT_STREQ(e.what(),
                 "voxformer::proposal_indices: argument 'unmasked' [n] has room for 10 indices, but the mask needs 64");
  }
  EXPECT_EQ(on, std::vector<std::int32_t>(10, -1));
}

TEST(GridOps, ShapeMismatchesThrow) {
  std::vector<std::uint8_t> grid(64), bytes(9), coarse(27);
  EXPECT_THROW(voxformer::pack_bits(cpu_executor{1}, voxformer::make_view<3>(grid.data(), {4, 4, 4}),
                                    voxformer::make_view<1>(bytes.data(), {9})),
               voxformer::error);
  EXPECT_THROW(voxformer::downsample_occupancy(cpu_executor{1}, voxformer::make_view<3>(grid.data(), {4, 4, 4}),
                                               voxformer::make_view<3>(coarse.data(), {3, 3, 3})),
               voxformer::error);
}

}  // namespace
