// Camera projection (VoxFormer point_sampling) and rebatching (nonzero lists, padded layout, scatter-mean)
// against PyTorch fixtures: 3 cameras (current, 6 m back, one turned away that sees nothing), D = 2 anchors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/fixtures.hpp"
#include "support/tensor_families.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/ops/rebatch/camera_batches.hpp"
#include "voxformer/ops/rebatch/camera_gather_scatter.hpp"
#include "voxformer/ops/rebatch/camera_projection.hpp"
#include "voxformer/ops/scatter/gather_rows.hpp"

namespace {

using voxformer::cpu_executor;
using voxformer::make_view;

const voxformer::image_size kitti_crop{370, 1220};

template <class Family>
class CameraRebatch : public ::testing::Test {};
using families = test::tensor_families;
TYPED_TEST_SUITE(CameraRebatch, families);

TYPED_TEST(CameraRebatch, ProjectionMatchesPointSampling) {
  const auto reference = test::fixture_values<double>(test::load_fixture("projection", "reference"));
  const auto mats = test::fixture_values<float>(test::load_fixture("projection", "lidar2img"));
  const auto expected_cam = test::fixture_values<float>(test::load_fixture("projection", "reference_cam"));
  const auto expected_vis = test::fixture_values<std::uint8_t>(test::load_fixture("projection", "visible"));
  const long K = 3, Q = static_cast<long>(reference.size()) / 6, D = 2;
  for (int threads : {1, 2}) {
    std::vector<float> cam(expected_cam.size());
    std::vector<std::uint8_t> vis(expected_vis.size(), 7);
    auto r = TypeParam::template make<3>(reference.data(), {Q, D, 3});
    auto m = TypeParam::template make<3>(mats.data(), {K, 4, 4});
    auto c = TypeParam::template make<4>(cam.data(), {K, Q, D, 2});
    auto v = TypeParam::template make<3>(vis.data(), {K, Q, D});
    voxformer::project_to_cameras(cpu_executor{threads}, TypeParam::arg(r), voxformer::point_cloud_range::voxformer(),
                                  TypeParam::arg(m), kitti_crop, TypeParam::arg(c), TypeParam::arg(v));
    EXPECT_EQ(vis, expected_vis);
    // Same fp32 formula; PyTorch's matmul may sum the 4 products in another order: ≤ 4 ulp apart.
    for (std::size_t i = 0; i < cam.size(); ++i)
      ASSERT_NEAR(cam[i], expected_cam[i], 5e-7 * std::abs(expected_cam[i]) + 1e-7) << i;
  }
}

TEST(CameraProjection, SpecTestVectorsAndNonFiniteReferences) {
  const auto mats = test::fixture_values<float>(test::load_fixture("projection", "lidar2img"));
  // Voxels (64,64,5), (127,0,15), (10,100,3), (0,64,8) of spec §8.10, and a NaN reference point.
  std::vector<double> ref;
  for (auto [x, y, z] : {std::array{64, 64, 5}, {127, 0, 15}, {10, 100, 3}, {0, 64, 8}})
    ref.insert(ref.end(), {(x + 0.5) / 128, (y + 0.5) / 128, (z + 0.5) / 16});
  ref.insert(ref.end(), {std::nan(""), 0.5, 0.5});
  std::vector<float> cam(10);
  std::vector<std::uint8_t> vis(5);
  voxformer::project_to_cameras(cpu_executor{1}, make_view<3>(ref.data(), {5, 1, 3}),
                                voxformer::point_cloud_range::voxformer(), make_view<3>(mats.data(), {1, 4, 4}),
                                kitti_crop, make_view<4>(cam.data(), {1, 5, 1, 2}), make_view<3>(vis.data(), {1, 5, 1}));
  EXPECT_EQ(vis, (std::vector<std::uint8_t>{1, 1, 0, 0, 0}));
  EXPECT_NEAR(cam[0], 0.487562, 2e-6);
  EXPECT_NEAR(cam[1], 0.461948, 2e-6);
  EXPECT_NEAR(cam[2], 0.782274, 2e-6);
  EXPECT_NEAR(cam[3], 0.313595, 2e-6);
  EXPECT_NEAR(cam[4], -1.709, 1e-3);
  EXPECT_TRUE(std::isfinite(cam[6]) && std::isfinite(cam[7]));  // behind the camera: depth clamped, no Inf
}

TYPED_TEST(CameraRebatch, CsrAndPaddedLayoutsAndScatterMeanMatchTheOriginal) {
  const auto visible = test::fixture_values<std::uint8_t>(test::load_fixture("rebatch", "visible"));
  const auto offsets_ref = test::fixture_values<std::int32_t>(test::load_fixture("rebatch", "offsets"));
  const auto indices_ref = test::fixture_values<std::int32_t>(test::load_fixture("rebatch", "indices"));
  const auto padded_ref = test::fixture_values<std::int32_t>(test::load_fixture("rebatch", "padded_indices"));
  const auto queries = test::fixture_values<float>(test::load_fixture("rebatch", "queries"));
  const auto rebatched_ref = test::fixture_values<float>(test::load_fixture("rebatch", "rebatched_queries"));
  const auto outputs = test::fixture_values<float>(test::load_fixture("rebatch", "camera_outputs"));
  const auto mean_ref = test::fixture_values<float>(test::load_fixture("rebatch", "scatter_mean"));
  const long K = 3, Q = 64, D = 2, C = 6, L = static_cast<long>(padded_ref.size()) / K;
  auto vis = TypeParam::template make<3>(visible.data(), {K, Q, D});

  // Padded layout: indices, lengths, the gathered zero-padded queries and the scatter-mean back.
  std::vector<std::int32_t> padded(K * L), lengths(K), row_of(K * Q);
  auto pi = TypeParam::template make<2>(padded.data(), {K, L});
  auto pl = TypeParam::template make<1>(lengths.data(), {K});
  auto ro = TypeParam::template make<2>(row_of.data(), {K, Q});
  const auto sizes = voxformer::build_padded_camera_batches(cpu_executor{2}, TypeParam::arg(vis), TypeParam::arg(pi),
                                                            TypeParam::arg(pl), TypeParam::arg(ro));
  EXPECT_EQ(sizes.max_len, L);
  EXPECT_EQ(sizes.total, offsets_ref.back());
  EXPECT_EQ(padded, padded_ref);
  EXPECT_EQ(lengths[2], 0);  // the camera that sees nothing
  std::vector<float> rebatched(K * L * C, -3.f), mean(Q * C);
  auto q = TypeParam::template make<2>(queries.data(), {Q, C});
  auto flat_idx = TypeParam::template make<1>(padded.data(), {K * L});
  auto rq = TypeParam::template make<2>(rebatched.data(), {K * L, C});
  voxformer::gather_rows(cpu_executor{2}, TypeParam::arg(q), TypeParam::arg(flat_idx), TypeParam::arg(rq));
  EXPECT_EQ(rebatched, rebatched_ref);
  auto out_rows = TypeParam::template make<2>(outputs.data(), {K * L, C});
  auto m = TypeParam::template make<2>(mean.data(), {Q, C});
  voxformer::camera_scatter_mean(cpu_executor{2}, TypeParam::arg(out_rows), TypeParam::arg(ro), TypeParam::arg(m));
  EXPECT_EQ(mean, mean_ref);  // same fp32 sums in the same camera order, one division

  // CSR layout: offsets + indices, and the same mean from the padded outputs re-packed without padding.
  std::vector<std::int32_t> offsets(K + 1), indices(K * Q, -5), csr_row_of(K * Q);
  auto co = TypeParam::template make<1>(offsets.data(), {K + 1});
  auto ci = TypeParam::template make<1>(indices.data(), {K * Q});
  auto cr = TypeParam::template make<2>(csr_row_of.data(), {K, Q});
  voxformer::build_camera_batches(cpu_executor{1}, TypeParam::arg(vis), TypeParam::arg(co), TypeParam::arg(ci),
                                  TypeParam::arg(cr));
  EXPECT_EQ(offsets, offsets_ref);
  indices.resize(static_cast<std::size_t>(offsets.back()));
  EXPECT_EQ(indices, indices_ref);
  std::vector<float> csr_outputs;
  for (long k = 0; k < K; ++k)
    csr_outputs.insert(csr_outputs.end(), outputs.begin() + k * L * C,
                       outputs.begin() + (k * L + offsets[k + 1] - offsets[k]) * C);
  std::vector<float> csr_mean(Q * C);
  voxformer::camera_scatter_mean(cpu_executor{1}, make_view<2>(csr_outputs.data(), {offsets.back(), C}),
                                 make_view<2>(csr_row_of.data(), {K, Q}), make_view<2>(csr_mean.data(), {Q, C}));
  EXPECT_EQ(csr_mean, mean_ref);
}

TEST(CameraRebatch, ReferencePointsFollowTheirRows) {
  const auto reference_cam = test::fixture_values<float>(test::load_fixture("projection", "reference_cam"));
  const auto visible = test::fixture_values<std::uint8_t>(test::load_fixture("projection", "visible"));
  const long K = 3, Q = 64, D = 2;
  std::vector<std::int32_t> offsets(K + 1), indices(K * Q), row_of(K * Q);
  const auto sizes = voxformer::build_camera_batches(cpu_executor{2}, make_view<3>(visible.data(), {K, Q, D}),
                                                     make_view<1>(offsets.data(), {K + 1}),
                                                     make_view<1>(indices.data(), {K * Q}),
                                                     make_view<2>(row_of.data(), {K, Q}));
  std::vector<float> rows(sizes.total * D * 2);
  voxformer::gather_camera_points(cpu_executor{2}, make_view<4>(reference_cam.data(), {K, Q, D, 2}),
                                  make_view<2>(row_of.data(), {K, Q}), make_view<3>(rows.data(), {sizes.total, D, 2}));
  for (long k = 0; k < K; ++k)
    for (long r = offsets[k]; r < offsets[k + 1]; ++r)
      for (long j = 0; j < D * 2; ++j) ASSERT_EQ(rows[r * D * 2 + j], reference_cam[(k * Q + indices[r]) * D * 2 + j]);
}

TEST(CameraRebatch, CapacityAndRowMapErrors) {
  std::vector<std::uint8_t> visible(2 * 4, 1);
  std::vector<std::int32_t> offsets(3), indices(5), row_of(8), padded(2 * 3), lengths(2);
  EXPECT_THROW(voxformer::build_camera_batches(cpu_executor{1}, make_view<3>(visible.data(), {2, 4, 1}),
                                               make_view<1>(offsets.data(), {3}), make_view<1>(indices.data(), {5}),
                                               make_view<2>(row_of.data(), {2, 4})),
               voxformer::error);
  EXPECT_THROW(voxformer::build_padded_camera_batches(cpu_executor{1}, make_view<3>(visible.data(), {2, 4, 1}),
                                                      make_view<2>(padded.data(), {2, 3}),
                                                      make_view<1>(lengths.data(), {2}),
                                                      make_view<2>(row_of.data(), {2, 4})),
               voxformer::error);
  std::vector<std::int32_t> bad_rows = {0, 1, 2, 9, -1, -1, -1, -1};
  std::vector<float> rows(4 * 2), out(4 * 2);
  EXPECT_THROW(voxformer::camera_scatter_mean(cpu_executor{1}, make_view<2>(rows.data(), {4, 2}),
                                              make_view<2>(bad_rows.data(), {2, 4}), make_view<2>(out.data(), {4, 2})),
               voxformer::error);
}

}  // namespace
