// Bilinear multi-scale deformable attention against PyTorch grid_sample fixtures and a brute-force loop.
// Tolerances: float32 op vs float64 oracle, |Δ| ≤ 1e-5 + 1e-5·|ref| for values ~N(0,1): the fp32 pixel
// coordinate x·W − 0.5 alone is off by up to W·2^-24 px (≈5e-6 at W = 77), which moves a sample by as much.
#include <gtest/gtest.h>

#include <limits>

#include "support/msda_case.hpp"
#include "support/tensor_families.hpp"

namespace {

using test::msda_case;
constexpr double abs_tol = 1e-5, rel_tol = 1e-5;

template <class Family>
class MsDeformAttn : public ::testing::Test {};
using families = test::tensor_families;
TYPED_TEST_SUITE(MsDeformAttn, families);

TYPED_TEST(MsDeformAttn, MatchesGridSampleOnMultiLevelFixture) {
  const auto c = msda_case<float>::from_fixture("msda_multilevel", 2);
  const auto expected = test::fixture_values<double>(test::load_fixture("msda_multilevel", "out"));
  for (int threads : {1, 2}) test::expect_close(c.template run<TypeParam>({threads}), expected, abs_tol, rel_tol);
}

TYPED_TEST(MsDeformAttn, MatchesGridSampleAtVoxFormerLevelShape) {
  const auto c = msda_case<float>::from_fixture("msda_voxformer_level", 2);
  const auto expected = test::fixture_values<double>(test::load_fixture("msda_voxformer_level", "out"));
  for (int threads : {1, 2}) test::expect_close(c.template run<TypeParam>({threads}), expected, abs_tol, rel_tol);
}

TYPED_TEST(MsDeformAttn, BorderTapsMatchGridSample) {
  // u, v ∈ {−1, −0.5, 0, W−1, W−0.5, W}: exact borders, half-pixel borders, fully outside.
  const auto c = msda_case<float>::from_fixture("msda_borders", 2);
  const auto expected = test::fixture_values<double>(test::load_fixture("msda_borders", "out"));
  test::expect_close(c.template run<TypeParam>({1}), expected, 1e-6, 1e-6);
}

TEST(MsDeformAttn, ThreadCountDoesNotChangeBits) {
  const auto c = msda_case<float>::random(2, 2, 3000, 8, 16, 8, {24, 77}, 1);
  EXPECT_EQ(c.run<test::view_family>({1}), c.run<test::view_family>({2}));
}

TEST(MsDeformAttn, EveryChannelChunkMatchesBruteForce) {
  // head_dim 32/16/8/4 take the compile-time chunks, 6 and 3 the scalar one; three levels.
  for (long dh : {32L, 16L, 8L, 4L, 6L, 3L}) {
    const auto c = msda_case<float>::random(2, 2, 50, 3, dh, 4, {6, 9, 3, 5, 1, 1}, static_cast<unsigned>(dh));
    test::expect_close(c.run<test::view_family>({2}), c.reference_output(), abs_tol, rel_tol);
  }
}

TEST(MsDeformAttn, DoubleInstantiationMatchesBruteForceTightly) {
  const auto c = msda_case<double>::random(2, 1, 40, 2, 16, 4, {7, 5, 3, 4}, 3);
  test::expect_close(c.run<test::view_family>({1}), c.reference_output(), 1e-13, 1e-13);
}

TEST(MsDeformAttn, NonFiniteLocationsContributeNothing) {
  auto c = msda_case<float>::random(2, 1, 8, 1, 16, 4, {5, 6}, 4);
  const float bad[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity(), 1e30f};
  for (std::size_t i = 0; i < c.locations.size(); i += 3) c.locations[i] = bad[(i / 3) % 4];
  const auto out = c.run<test::view_family>({1});
  for (float v : out) ASSERT_TRUE(std::isfinite(v));
  test::expect_close(out, c.reference_output(), abs_tol, rel_tol);
}

// Runs a one-batch, one-level case with `value` stored as [B, heads, dh, S] and viewed as [B, S, heads, dh]:
// channel stride S, read in place (the non-packed loop), no copy.
std::vector<float> run_on_transposed_value(const msda_case<float>& c) {
  std::vector<float> transposed(c.value.size());
  for (long s = 0; s < c.S; ++s)
    for (long h = 0; h < c.H; ++h)
      for (long d = 0; d < c.D; ++d) transposed[(h * c.D + d) * c.S + s] = c.value[(s * c.H + h) * c.D + d];
  voxformer::tensor_view<const float, 4> value(transposed.data(), {1, c.S, c.H, c.D},
                                               {c.S * c.H * c.D, 1, c.D * c.S, c.S});
  std::vector<float> out(static_cast<std::size_t>(c.Q * c.H * c.D));
  const std::int64_t starts[] = {0};
  voxformer::ms_deform_attn(voxformer::cpu_executor{2}, value, voxformer::make_view<2>(c.shapes.data(), {1, 2}),
                            voxformer::make_view<1>(starts, {1}),
                            voxformer::make_view<6>(c.locations.data(), {1, c.Q, c.H, 1, c.P, 2}),
                            voxformer::make_view<5>(c.weights.data(), {1, c.Q, c.H, 1, c.P}),
                            voxformer::make_view<3>(out.data(), {1, c.Q, c.H * c.D}));
  return out;
}

TEST(MsDeformAttn, NonFiniteValuesReachOnlyTheQueriesThatSampleThem) {
  // A NaN/Inf cell reaches an output iff one of its samples has the cell as a neighbour — with weight 0 too, as
  // grid_sample (0 · NaN); never through the branch-free reads of out-of-level taps (the bug: all but a few
  // hundred of 51 200 outputs NaN). VoxFormer's layout (one level, 8 heads × 16 channels, 8 points: the
  // one-batch kernel), several levels with 1-wide axes, and partial point batches.
  struct shape_case {
    long H, D, P;
    std::vector<std::int64_t> shapes;
  };
  for (const auto& [H, D, P, shapes] : {shape_case{8, 16, 8, {16, 64}}, shape_case{3, 16, 5, {6, 9, 1, 5, 3, 1, 1, 1}},
                                        shape_case{2, 6, 11, {4, 4, 2, 3}}}) {
    auto c = msda_case<float>::random(2, 2, 400, H, D, P, shapes, 21, -0.3, 1.3);
    c.poison_values(97, 13);
    const auto expected = c.reference_output();
    long poisoned = 0;
    for (float v : expected) poisoned += std::isfinite(v) ? 0 : 1;
    ASSERT_GT(poisoned, 0);                                               // the case tests something
    ASSERT_LT(poisoned, static_cast<long>(expected.size()) * 9 / 10);     // … and not only poisoned outputs
    for (int threads : {1, 2}) test::expect_close(c.run<test::view_family>({threads}), expected, abs_tol, rel_tol);
  }
}

TEST(MsDeformAttn, NonFiniteValuesAreExactForWideHeadsAndStridedValues) {
  // A head wider than a channel chunk (elements start at c0 > 0) and a value map read through strides (the
  // non-packed loop): the recomputation must write the same channels and heads as the fast loop.
  auto c = msda_case<float>::random(2, 1, 120, 2, 64, 4, {4, 8}, 23, -0.3, 1.3);
  c.poison_values(41, 5);
  const auto expected = c.reference_output();
  test::expect_close(c.run<test::view_family>({2}), expected, abs_tol, rel_tol);
  test::expect_close(run_on_transposed_value(c), expected, abs_tol, rel_tol);
}

TEST(MsDeformAttn, StridedValueReadInPlace) {
  const auto c = msda_case<float>::random(2, 1, 30, 2, 16, 4, {4, 6}, 5);
  test::expect_close(run_on_transposed_value(c), c.reference_output(), abs_tol, rel_tol);
}

TEST(MsDeformAttn, EmptyQueriesAreANoOp) {
  const auto c = msda_case<float>::random(2, 2, 0, 8, 16, 8, {24, 77}, 6);
  EXPECT_TRUE(c.run<test::view_family>({2}).empty());
}

TEST(MsDeformAttn, NoSamplingPointsGiveZeros) {
  for (long heads : {8L, 3L}) {  // a group of 8 heads per element, and single heads
    const auto c = msda_case<float>::random(2, 2, 5, heads, 16, 0, {24, 77}, 10);
    const auto out = c.run<test::view_family>({1});
    ASSERT_EQ(out.size(), static_cast<std::size_t>(2 * 5 * heads * 16));
    for (float v : out) ASSERT_EQ(v, 0.f);
  }
}

TEST(MsDeformAttn, RejectsBadArgumentsWithClearMessages) {
  auto c = msda_case<float>::random(2, 1, 4, 2, 8, 2, {3, 4}, 7);
  std::vector<float> out(64);
  const std::int64_t shapes[] = {3, 4}, starts[] = {0}, bad_starts[] = {1}, too_big[] = {3, 5};
  const auto value = voxformer::make_view<4>(c.value.data(), {1, 12, 2, 8});
  const auto loc = voxformer::make_view<6>(c.locations.data(), {1, 4, 2, 1, 2, 2});
  const auto w = voxformer::make_view<5>(c.weights.data(), {1, 4, 2, 1, 2});
  auto call = [&](auto shape_data, auto start_data, voxformer::tensor_view<float, 3> o) {
    voxformer::ms_deform_attn(voxformer::cpu_executor{1}, value, voxformer::make_view<2>(shape_data, {1, 2}),
                              voxformer::make_view<1>(start_data, {1}), loc, w, o);
  };
  try {
    call(shapes, starts, voxformer::make_view<3>(out.data(), {1, 4, 15}));
    FAIL() << "wrong output shape accepted";
  } catch (const voxformer::error& e) {
    EXPECT_STREQ(e.what(), "voxformer::ms_deform_attn: argument 'out' [B, Q, heads*head_dim] expected shape "
                           "[1, 4, 16], got [1, 4, 15]");
  }
  EXPECT_THROW(call(bad_starts, starts, voxformer::make_view<3>(out.data(), {1, 4, 16})), voxformer::error);
  EXPECT_THROW(call(shapes, bad_starts, voxformer::make_view<3>(out.data(), {1, 4, 16})), voxformer::error);
  EXPECT_THROW(call(too_big, starts, voxformer::make_view<3>(out.data(), {1, 4, 16})), voxformer::error);
  // Output aliasing an input.
  EXPECT_THROW(call(shapes, starts, voxformer::make_view<3>(c.value.data(), {1, 4, 16})), voxformer::error);
  // Device memory handed to the CPU executor.
  voxformer::tensor_view<float, 3> device_out(out.data(), {1, 4, 16}, voxformer::memory_space::device);
  EXPECT_THROW(call(shapes, starts, device_out), voxformer::error);
}

TEST(MsDeformAttn, DynamicTensorWithWrongDtypeIsRejected) {
  auto c = msda_case<float>::random(2, 1, 4, 2, 8, 2, {3, 4}, 8);
  std::vector<double> out(64);
  test::dlpack_tensor<3> o(out.data(), {1, 4, 16});
  const std::int64_t shapes[] = {3, 4}, starts[] = {0};
  try {
    voxformer::ms_deform_attn(voxformer::cpu_executor{1}, voxformer::make_view<4>(c.value.data(), {1, 12, 2, 8}),
                              voxformer::make_view<2>(shapes, {1, 2}), voxformer::make_view<1>(starts, {1}),
                              voxformer::make_view<6>(c.locations.data(), {1, 4, 2, 1, 2, 2}),
                              voxformer::make_view<5>(c.weights.data(), {1, 4, 2, 1, 2}), o.tensor);
    FAIL() << "float64 output accepted for a float32 op";
  } catch (const voxformer::error& e) {
    EXPECT_STREQ(e.what(), "voxformer::ms_deform_attn: argument 'out' has element type float64, expected float32");
  }
}

}  // namespace

namespace {

// Every loop shape of the kernel against brute force: head groups of 8 (heads 8 and 16) and single heads
// (3), one and two channel chunks per head, point counts that fill, miss and overrun one batch of lanes.
TEST(MsDeformAttn, HeadGroupsAndPartialPointBatchesMatchBruteForce) {
  for (long heads : {8L, 16L, 3L})
    for (long dh : {16L, 32L})
      for (long points : {3L, 8L, 11L}) {
        SCOPED_TRACE("heads " + std::to_string(heads) + ", head_dim " + std::to_string(dh) + ", points " +
                     std::to_string(points));
        const auto c = msda_case<float>::random(2, 2, 37, heads, dh, points, {6, 9, 3, 5},
                                                static_cast<unsigned>(heads * 100 + dh + points));
        test::expect_close(c.run<test::view_family>({2}), c.reference_output(), abs_tol, rel_tol);
      }
}

// Locations stored [B, Q, heads, L, 2, P] and an output with padded rows: neither is packed, so the
// strided loads and stores run, read in place.
TEST(MsDeformAttn, StridedLocationsAndOutputReadInPlace) {
  const auto c = msda_case<float>::random(2, 1, 21, 8, 16, 8, {5, 7}, 9);
  std::vector<float> planar(c.locations.size());
  for (long t = 0; t < c.Q * c.H; ++t)
    for (long p = 0; p < c.P; ++p)
      for (long a = 0; a < 2; ++a) planar[(t * 2 + a) * c.P + p] = c.locations[(t * c.P + p) * 2 + a];
  const long row = c.H * c.D + 5;
  std::vector<float> padded(static_cast<std::size_t>(c.Q * row), -777.f);
  const std::int64_t shapes[] = {5, 7}, starts[] = {0};
  voxformer::ms_deform_attn(
      voxformer::cpu_executor{2}, voxformer::make_view<4>(c.value.data(), {1, c.S, c.H, c.D}),
      voxformer::make_view<2>(shapes, {1, 2}), voxformer::make_view<1>(starts, {1}),
      voxformer::tensor_view<const float, 6>(planar.data(), {1, c.Q, c.H, 1, c.P, 2},
                                             {c.Q * c.H * 2 * c.P, c.H * 2 * c.P, 2 * c.P, 2 * c.P, 1, c.P}),
      voxformer::make_view<5>(c.weights.data(), {1, c.Q, c.H, 1, c.P}),
      voxformer::tensor_view<float, 3>(padded.data(), {1, c.Q, c.H * c.D}, {c.Q * row, row, 1}));
  std::vector<float> out;
  for (long q = 0; q < c.Q; ++q) {
    out.insert(out.end(), padded.begin() + q * row, padded.begin() + q * row + c.H * c.D);
    for (long i = c.H * c.D; i < row; ++i) ASSERT_EQ(padded[static_cast<std::size_t>(q * row + i)], -777.f);
  }
  test::expect_close(out, c.reference_output(), abs_tol, rel_tol);
}

// One level with exactly one batch of lanes of points (4 with SSE, 8 with AVX) runs a compile-time
// specialised kernel; levels one or two cells wide exercise the taps that are shifted back into the level.
// Locations in [−0.6, 1.6] put about half of the points on a border or outside. Tolerance: 8 points with
// weights up to 1 each add up the per-point fp32 coordinate error (see the top), so 4e-5 absolute.
TEST(MsDeformAttn, SingleLevelFullLaneBatchMatchesBruteForceOnNarrowLevels) {
  const std::vector<std::vector<std::int64_t>> levels = {{24, 77}, {1, 5}, {5, 1}, {2, 2}, {1, 1}, {2, 7}};
  for (long points : {4L, 8L})
    for (const auto& shape : levels) {
      SCOPED_TRACE("points " + std::to_string(points) + ", level " + std::to_string(shape[0]) + "x" +
                   std::to_string(shape[1]));
      const auto seed = static_cast<unsigned>(points * 1000 + shape[0] * 100 + shape[1]);
      const auto c = msda_case<float>::random(2, 2, 29, 8, 16, points, shape, seed, -0.6, 1.6);
      test::expect_close(c.run<test::view_family>({2}), c.reference_output(), 4e-5, rel_tol);
    }
}

TEST(MsDeformAttn, RejectsLevelsBeyondTheSupportedExtent) {
  // Coordinates are fp32 and cells 32-bit: an extent above 2^24 is refused before anything is read.
  std::vector<float> value(16), locations(4), weights(2), out(8);
  const std::int64_t shapes[] = {1, (std::int64_t{1} << 24) + 1}, starts[] = {0};
  try {
    voxformer::ms_deform_attn(voxformer::cpu_executor{1}, voxformer::make_view<4>(value.data(), {1, 2, 1, 8}),
                              voxformer::make_view<2>(shapes, {1, 2}), voxformer::make_view<1>(starts, {1}),
                              voxformer::make_view<6>(locations.data(), {1, 1, 1, 1, 2, 2}),
                              voxformer::make_view<5>(weights.data(), {1, 1, 1, 1, 2}),
                              voxformer::make_view<3>(out.data(), {1, 1, 8}));
    FAIL() << "an extent of 2^24 + 1 was accepted";
  } catch (const voxformer::error& e) {
    EXPECT_STREQ(e.what(), "voxformer::ms_deform_attn: level 0 has extent 16777217; extents must be in [1, 16777216]");
  }
}

}  // namespace
