// Mask-token scatter and row gather against torch index_put fixtures, edge cases, and every tensor family.
#include <gtest/gtest.h>

#include "support/fixtures.hpp"
#include "support/tensor_families.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/ops/scatter/mask_token_scatter.hpp"

namespace {

using voxformer::cpu_executor;
using voxformer::make_view;

struct scatter_fixture {
  std::vector<std::int32_t> unmasked = test::fixture_values<std::int32_t>(test::load_fixture("mask_token_scatter", "unmasked"));
  std::vector<float> seed = test::fixture_values<float>(test::load_fixture("mask_token_scatter", "seed"));
  std::vector<float> token = test::fixture_values<float>(test::load_fixture("mask_token_scatter", "mask_token"));
  std::vector<float> volume = test::fixture_values<float>(test::load_fixture("mask_token_scatter", "volume"));
  long n() const { return static_cast<long>(unmasked.size()); }
  long C() const { return static_cast<long>(token.size()); }
  long N() const { return static_cast<long>(volume.size()) / C(); }
};

template <class Family>
class MaskTokenScatter : public ::testing::Test {};
using families = test::tensor_families;
TYPED_TEST_SUITE(MaskTokenScatter, families);

TYPED_TEST(MaskTokenScatter, MatchesIndexPutAndGatherInverts) {
  const scatter_fixture f;
  for (int threads : {1, 2}) {
    std::vector<float> volume(f.volume.size(), -1.f), gathered(f.seed.size());
    auto s = TypeParam::template make<2>(f.seed.data(), {f.n(), f.C()});
    auto i = TypeParam::template make<1>(f.unmasked.data(), {f.n()});
    auto t = TypeParam::template make<1>(f.token.data(), {f.C()});
    auto v = TypeParam::template make<2>(volume.data(), {f.N(), f.C()});
    auto g = TypeParam::template make<2>(gathered.data(), {f.n(), f.C()});
    voxformer::scatter_with_mask_token(cpu_executor{threads}, TypeParam::arg(s), TypeParam::arg(i), TypeParam::arg(t),
                                       TypeParam::arg(v));
    EXPECT_EQ(volume, f.volume);  // pure copies: bit equality
    voxformer::gather_rows(cpu_executor{threads}, TypeParam::arg(v), TypeParam::arg(i), TypeParam::arg(g));
    EXPECT_EQ(gathered, f.seed);
  }
}

TEST(MaskTokenScatter, EmptyProposalGivesAllMaskTokens) {
  const std::vector<float> token = {1.f, 2.f, 3.f};
  std::vector<float> volume(30, 0.f), seed;
  std::vector<std::int32_t> none;
  voxformer::scatter_with_mask_token(cpu_executor{2}, make_view<2>(seed.data(), {0, 3}),
                                     make_view<1>(none.data(), {0}), make_view<1>(token.data(), {3}),
                                     make_view<2>(volume.data(), {10, 3}));
  for (int r = 0; r < 10; ++r)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(volume[r * 3 + c], token[c]);
}

TEST(MaskTokenScatter, BadIndicesAreRejected) {
  const std::vector<float> token = {1.f, 2.f}, seed = {1.f, 1.f, 2.f, 2.f};
  std::vector<float> volume(8);
  auto run = [&](std::vector<std::int32_t> idx) {
    voxformer::scatter_with_mask_token(cpu_executor{1}, make_view<2>(seed.data(), {2, 2}),
                                       make_view<1>(idx.data(), {2}), make_view<1>(token.data(), {2}),
                                       make_view<2>(volume.data(), {4, 2}));
  };
  EXPECT_NO_THROW(run({0, 3}));
  EXPECT_THROW(run({3, 0}), voxformer::error);   // not ascending
  EXPECT_THROW(run({1, 1}), voxformer::error);   // duplicate
  EXPECT_THROW(run({0, 4}), voxformer::error);   // out of range
  EXPECT_THROW(run({-1, 2}), voxformer::error);  // negative
}

TEST(GatherRows, NegativeIndexIsAZeroRow) {
  const std::vector<double> source = {1, 2, 3, 4, 5, 6};
  const std::vector<std::int64_t> idx = {2, -1, 0};
  std::vector<double> out(6, 9.0);
  voxformer::gather_rows(cpu_executor{1}, make_view<2>(source.data(), {3, 2}), make_view<1>(idx.data(), {3}),
                         make_view<2>(out.data(), {3, 2}));
  EXPECT_EQ(out, (std::vector<double>{5, 6, 0, 0, 1, 2}));
}

}  // namespace
