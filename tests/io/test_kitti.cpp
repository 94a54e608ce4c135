// KITTI calibration: VoxFormer's lidar2img = K4·Tr against the spec's float64 test vectors (§8.10).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/fixtures.hpp"
#include "voxformer/io/kitti.hpp"

namespace {

TEST(KittiCalibration, LidarToImageMatchesSpecVectors) {
  const auto calib = voxformer::io::read_kitti_calibration(test::frame_path("calib.txt"));
  const Eigen::Matrix4d m = calib.lidar_to_image();
  const double expected[3][4] = {{600.560052, -708.153849, -9.594978, -204.411181},
                                 {178.523258, 5.362788, -708.242970, -113.040607},
                                 {0.999977, -0.001806, -0.006496, -0.333997}};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) EXPECT_NEAR(m(r, c), expected[r][c], 1e-6) << r << "," << c;
  // Rigid inverse: exact up to how orthonormal KITTI's published rotation is (~8e-8).
  EXPECT_TRUE((calib.camera_to_lidar() * calib.tr).isIdentity(1e-6));
}

TEST(KittiCalibration, MissingRowThrows) {
  const auto path = std::filesystem::temp_directory_path() / "voxformer_test_calib.txt";
  std::ofstream(path) << "P0: 1 2 3\n";
  EXPECT_THROW((void)voxformer::io::read_kitti_calibration(path), voxformer::error);
}

TEST(KittiScan, RealFrameSizes) {
  EXPECT_EQ(voxformer::io::read_kitti_scan(test::frame_path("scan.bin")).size(), 126624u * 4);
  EXPECT_EQ(voxformer::io::read_kitti_labels(test::frame_path("scan.label")).size(), 126624u);
  EXPECT_THROW((void)voxformer::io::read_binary_array<double>(test::frame_path("calib.txt")), voxformer::error);
}

}  // namespace
