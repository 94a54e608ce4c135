// Depth → pseudo-LiDAR (spec §2.2) against the formulas in float64, invalid depths, and every tensor family.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/fixtures.hpp"
#include "support/tensor_families.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/io/kitti.hpp"
#include "voxformer/ops/voxel/pseudo_lidar.hpp"

namespace {

template <class Family>
class PseudoLidar : public ::testing::Test {};
using families = test::tensor_families;
TYPED_TEST_SUITE(PseudoLidar, families);

TYPED_TEST(PseudoLidar, MatchesFloat64FormulaAndMarksInvalidPixels) {
  const auto calib = voxformer::io::read_kitti_calibration(test::frame_path("calib.txt"));
  double p2[12];
  for (int i = 0; i < 12; ++i) p2[i] = calib.p[2](i / 4, i % 4);
  const auto camera = voxformer::pinhole_camera::from_projection(p2);
  const Eigen::Matrix4d cam_to_lidar = calib.camera_to_lidar();
  const long H = 6, W = 9;
  std::vector<float> depth(H * W);
  for (long i = 0; i < H * W; ++i) depth[i] = 2.f + 0.7f * static_cast<float>(i);
  depth[3] = std::numeric_limits<float>::quiet_NaN();
  depth[4] = std::numeric_limits<float>::infinity();
  depth[5] = -1.f;
  depth[6] = 0.f;
  std::vector<float> points(H * W * 4, -5.f);
  auto d = TypeParam::template make<2>(depth.data(), {H, W});
  auto p = TypeParam::template make<2>(points.data(), {H * W, 4});
  voxformer::depth_to_points(voxformer::cpu_executor{2}, TypeParam::arg(d), camera,
                             voxformer::io::to_mat4f(cam_to_lidar), TypeParam::arg(p));
  const double fu = p2[0], fv = p2[5], cu = p2[2], cv = p2[6], bx = -p2[3] / fu, by = -p2[7] / fv;
  for (long i = 0; i < H * W; ++i) {
    const double z = depth[i];
    if (!(z > 0) || !std::isfinite(z)) {
      EXPECT_TRUE(std::isnan(points[4 * i])) << i;
      EXPECT_EQ(points[4 * i + 3], 0.f) << i;
      continue;
    }
    const Eigen::Vector4d cam((static_cast<double>(i % W) - cu) * z / fu + bx,
                              (static_cast<double>(i / W) - cv) * z / fv + by, z, 1.0);
    const Eigen::Vector4d lidar = cam_to_lidar * cam;
    for (int a = 0; a < 3; ++a) EXPECT_NEAR(points[4 * i + a], lidar[a], 2e-5 * (1 + std::abs(lidar[a]))) << i;
    EXPECT_EQ(points[4 * i + 3], 1.f);
  }
}

TEST(PseudoLidar, FilterKeepsXNonNegativeAndZBelowLimit) {
  // Identity extrinsics: lidar = camera coordinates. Pixel column 0 lies left of cu = 1 → x < 0, dropped;
  // column 1 gives x = 0, kept (x ≥ 0). A z limit below the depth drops everything.
  const voxformer::pinhole_camera camera{100.f, 100.f, 1.f, 1.f, 0.f, 0.f};
  const voxformer::mat4<float> identity{{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}};
  std::vector<float> depth = {5.f, 5.f, 5.f, 5.f}, points(16);
  const auto d = voxformer::make_view<2>(depth.data(), {2, 2});
  const auto p = voxformer::make_view<2>(points.data(), {4, 4});
  voxformer::depth_to_points(voxformer::cpu_executor{1}, d, camera, identity, p);
  EXPECT_TRUE(std::isnan(points[0]));
  EXPECT_EQ(points[3], 0.f);
  EXPECT_EQ(points[4], 0.f);
  EXPECT_EQ(points[6], 5.f);
  EXPECT_EQ(points[7], 1.f);
  voxformer::depth_to_points(voxformer::cpu_executor{1}, d, camera, identity, p, {0.f, 4.f});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(points[4 * i + 3], 0.f);
  EXPECT_THROW(voxformer::depth_to_points(voxformer::cpu_executor{1}, d, camera, identity,
                                          voxformer::make_view<2>(points.data(), {2, 4})),
               voxformer::error);
}

}  // namespace
