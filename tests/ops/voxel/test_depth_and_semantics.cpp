// The two ops the end-to-end example adds to stage 1's input path: a LiDAR scan → a sparse depth map in camera 2
// (the inverse of depth_to_points: the round trip returns each nearest point, moved to its pixel centre) and
// labelled points → a semantic voxel grid (the majority class per voxel, against a brute-force count).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "support/error_of.hpp"
#include "support/fixtures.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/io/kitti.hpp"
#include "voxformer/ops/voxel/depth_map.hpp"
#include "voxformer/ops/voxel/pseudo_lidar.hpp"
#include "voxformer/ops/voxel/voxelize_semantic.hpp"

namespace {

using test::error_of;
using voxformer::cpu_executor;
using voxformer::index_t;

struct camera_2 {
  voxformer::pinhole_camera camera;
  voxformer::mat4<float> lidar_to_camera, camera_to_lidar;
  camera_2() {
    const auto calib = voxformer::io::read_kitti_calibration(test::frame_path("calib.txt"));
    camera = voxformer::pinhole_camera::from_projection(calib.p[2]);
    lidar_to_camera = voxformer::io::to_mat4f(calib.tr);
    camera_to_lidar = voxformer::io::to_mat4f(calib.camera_to_lidar());
  }
};

// The real scan through camera 2 and back: every pixel with a depth gives back a point that lies on the ray of its
// pixel centre at that depth — within half a pixel of some scan point at the same depth — and the map holds the
// nearest of the points that land on a pixel.
TEST(DepthMap, TheRealScanRoundTripsThroughDepthToPoints) {
  const camera_2 c;
  const auto scan = voxformer::io::read_kitti_scan(test::frame_path("scan.bin"));
  const index_t n = static_cast<index_t>(scan.size() / 4), h = 370, w = 1220;
  std::vector<float> depth(static_cast<std::size_t>(h * w), -1.f), depth1(depth.size(), -1.f);
  voxformer::points_to_depth_map(cpu_executor{2}, voxformer::make_view<2>(scan.data(), {n, 4}), c.camera,
                                 c.lidar_to_camera, voxformer::make_view<2>(depth.data(), {h, w}));
  voxformer::points_to_depth_map(cpu_executor{1}, voxformer::make_view<2>(scan.data(), {n, 4}), c.camera,
                                 c.lidar_to_camera, voxformer::make_view<2>(depth1.data(), {h, w}));
  EXPECT_EQ(depth, depth1);  // the nearest point wins whatever the order threads arrive in
  // The brute force: each point's pixel and camera depth in float64, the minimum per pixel.
  std::map<index_t, double> nearest;
  for (index_t i = 0; i < n; ++i) {
    const float* p = &scan[static_cast<std::size_t>(4 * i)];
    float cam[3];
    for (int r = 0; r < 3; ++r) cam[r] = c.lidar_to_camera.apply_row(r, p[0], p[1], p[2]);
    if (!(cam[2] > 0)) continue;
    const double u = std::floor(c.camera.fu * (cam[0] - c.camera.bx) / cam[2] + c.camera.cu + 0.5);
    const double v = std::floor(c.camera.fv * (cam[1] - c.camera.by) / cam[2] + c.camera.cv + 0.5);
    if (u < 0 || v < 0 || u >= w || v >= h) continue;
    const index_t pixel = static_cast<index_t>(v) * w + static_cast<index_t>(u);
    const auto it = nearest.find(pixel);
    if (it == nearest.end() || cam[2] < it->second) nearest[pixel] = cam[2];
  }
  index_t filled = 0;
  for (index_t pixel = 0; pixel < h * w; ++pixel) {
    const auto it = nearest.find(pixel);
    const float d = depth[static_cast<std::size_t>(pixel)];
    if (it == nearest.end()) {
      ASSERT_EQ(d, 0.f) << "pixel " << pixel;
    } else {
      ASSERT_NEAR(d, it->second, 1e-5 * it->second) << "pixel " << pixel;
      ++filled;
    }
  }
  EXPECT_GT(filled, 15000);  // about a fifth of the 124 668 points land in the 370×1220 crop
  // And back to points: on the pixel centre's ray, at the pixel's depth.
  std::vector<float> points(static_cast<std::size_t>(h * w * 4));
  voxformer::depth_to_points(cpu_executor{2}, voxformer::make_view<2>(static_cast<const float*>(depth.data()), {h, w}),
                             c.camera, c.camera_to_lidar, voxformer::make_view<2>(points.data(), {h * w, 4}));
  for (index_t pixel = 0; pixel < h * w; ++pixel) {
    const float* p = &points[static_cast<std::size_t>(4 * pixel)];
    if (depth[static_cast<std::size_t>(pixel)] == 0.f) {
      ASSERT_EQ(p[3], 0.f);
      continue;
    }
    float cam[3];
    for (int r = 0; r < 3; ++r) cam[r] = c.lidar_to_camera.apply_row(r, p[0], p[1], p[2]);
    ASSERT_NEAR(cam[2], depth[static_cast<std::size_t>(pixel)], 1e-3);
    ASSERT_NEAR(c.camera.fu * (cam[0] - c.camera.bx) / cam[2] + c.camera.cu, double(pixel % w), 1e-2);
    ASSERT_NEAR(c.camera.fv * (cam[1] - c.camera.by) / cam[2] + c.camera.cv, double(pixel / w), 1e-2);
  }
}

TEST(DepthMap, PointsBehindOutsideOrNotFiniteAreIgnored) {
  const voxformer::pinhole_camera camera{100.f, 100.f, 5.f, 4.f, 0.f, 0.f};
  const voxformer::mat4<float> identity{{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}};
  const std::vector<float> points = {0.f,  0.f, 10.f,  // pixel (u 5, v 4) at depth 10
                                     0.f,  0.f, 5.f,   // the same pixel, nearer: wins
                                     0.f,  0.f, -5.f,  // behind
                                     NAN,  0.f, 3.f,   // not finite
                                     50.f, 0.f, 1.f};  // far outside the image
  std::vector<float> depth(8 * 10, -1.f);
  voxformer::points_to_depth_map(cpu_executor{1}, voxformer::make_view<2>(points.data(), {5, 3}), camera, identity,
                                 voxformer::make_view<2>(depth.data(), {8, 10}));
  for (index_t i = 0; i < 80; ++i) EXPECT_EQ(depth[static_cast<std::size_t>(i)], i == 4 * 10 + 5 ? 5.f : 0.f) << i;
}

TEST(DepthMap, BadArgumentsWriteNothing) {
  const voxformer::pinhole_camera camera{100.f, 100.f, 5.f, 4.f, 0.f, 0.f};
  voxformer::mat4<float> matrix{{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}};
  std::vector<float> points(12, 1.f), depth(80, -1.f);
  const auto d = voxformer::make_view<2>(depth.data(), {8, 10});
  EXPECT_EQ(error_of([&] {
              voxformer::points_to_depth_map(cpu_executor{1}, voxformer::make_view<2>(points.data(), {6, 2}), camera,
                                             matrix, d);
            }),
            "voxformer::points_to_depth_map: argument 'points' [N, >=3] needs at least 3 columns (x, y, z), got 2");
  matrix.m[5] = NAN;
  EXPECT_EQ(error_of([&] {
              voxformer::points_to_depth_map(cpu_executor{1}, voxformer::make_view<2>(points.data(), {4, 3}), camera,
                                             matrix, d);
            }),
            "voxformer::points_to_depth_map: argument 'lidar_to_camera' holds a non-finite value");
  matrix.m[5] = 1;
  EXPECT_EQ(error_of([&] {
              voxformer::points_to_depth_map(cpu_executor{1}, voxformer::make_view<2>(points.data(), {4, 3}),
                                             voxformer::pinhole_camera{0.f, 100.f, 5.f, 4.f, 0.f, 0.f}, matrix, d);
            }),
            "voxformer::points_to_depth_map: argument 'camera' needs finite intrinsics and non-zero focal lengths");
  EXPECT_EQ(error_of([&] {
              voxformer::points_to_depth_map(cpu_executor{1},
                                             voxformer::make_view<2>(static_cast<const float*>(depth.data()), {4, 3}),
                                             camera, matrix, d);
            }),
            "voxformer::points_to_depth_map: output 'depth' overlaps input 'points'");
  EXPECT_TRUE(std::all_of(depth.begin(), depth.end(), [](float v) { return v == -1.f; }));
}

// ---- the majority class per voxel ----

const voxformer::volume_geometry unit_grid{{0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}, {4, 3, 2}};

std::vector<std::uint8_t> voxelize_semantic(const std::vector<float>& points, const std::vector<std::uint8_t>& classes,
                                            const voxformer::volume_geometry& g, int threads = 2) {
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(g.voxel_count()), 77);
  voxformer::voxelize_semantic(cpu_executor{threads},
                               voxformer::make_view<2>(points.data(), {index_t(classes.size()), 3}),
                               voxformer::make_view<1>(classes.data(), {index_t(classes.size())}), g,
                               voxformer::make_view<3>(labels.data(), {g.dims[0], g.dims[1], g.dims[2]}), 20);
  return labels;
}

TEST(VoxelizeSemantic, TheMajorityWinsTiesGoToTheSmallerClassAndIgnoreLosesTies) {
  std::vector<float> points;
  std::vector<std::uint8_t> classes;
  auto add = [&](float x, float y, float z, std::uint8_t c, int copies) {
    for (int i = 0; i < copies; ++i) points.insert(points.end(), {x + 0.1f * float(i) / 4, y, z}), classes.push_back(c);
  };
  add(0.5f, 0.5f, 0.5f, 5, 3), add(0.5f, 0.5f, 0.5f, 3, 2);     // voxel (0, 0, 0): 5 beats 3
  add(1.5f, 0.5f, 0.5f, 7, 2), add(1.5f, 0.5f, 0.5f, 4, 2);     // voxel (1, 0, 0): a 2:2 tie → 4
  add(2.5f, 2.5f, 1.5f, 255, 3), add(2.5f, 2.5f, 1.5f, 9, 2);   // voxel (2, 2, 1): mostly ignore → 255
  add(3.5f, 1.5f, 0.5f, 255, 1), add(3.5f, 1.5f, 0.5f, 19, 1);  // voxel (3, 1, 0): a tie with ignore → 19
  add(-0.5f, 0.5f, 0.5f, 1, 4), add(0.5f, 0.5f, 9.f, 1, 4);     // outside the grid: ignored
  add(NAN, 0.5f, 0.5f, 1, 1);
  const auto labels = voxelize_semantic(points, classes, unit_grid);
  std::vector<std::uint8_t> expected(24, 0);
  expected[0] = 5, expected[unit_grid.flat_index(1, 0, 0)] = 4, expected[unit_grid.flat_index(2, 2, 1)] = 255;
  expected[unit_grid.flat_index(3, 1, 0)] = 19;
  EXPECT_EQ(labels, expected);
}

TEST(VoxelizeSemantic, RandomPointsMatchABruteForceCountForAnyThreadCount) {
  const voxformer::volume_geometry g{{0.f, -2.f, -1.f}, {0.25f, 0.25f, 0.5f}, {16, 16, 6}};
  std::mt19937 generator(3);
  std::uniform_real_distribution<float> x(-0.5f, 4.5f), y(-2.5f, 2.5f), z(-1.5f, 2.5f);
  std::uniform_int_distribution<int> c(0, 5);
  std::vector<float> points;
  std::vector<std::uint8_t> classes;
  for (int i = 0; i < 20000; ++i) {
    points.insert(points.end(), {x(generator), y(generator), z(generator)});
    const int k = c(generator);
    classes.push_back(k == 5 ? 255 : static_cast<std::uint8_t>(k));
  }
  std::map<index_t, std::map<int, int>> votes;
  for (std::size_t i = 0; i < classes.size(); ++i) {
    const index_t v = voxformer::kernels::voxel_of_point(g, voxformer::z_convention::voxformer, points[3 * i],
                                                         points[3 * i + 1], points[3 * i + 2]);
    if (v >= 0) ++votes[v][classes[i] == 255 ? 1000 : classes[i]];
  }
  std::vector<std::uint8_t> expected(static_cast<std::size_t>(g.voxel_count()), 0);
  for (const auto& [v, counts] : votes) {
    int best = -1, most = 0;
    for (const auto& [k, count] : counts)  // ascending class, "ignore" (1000) last: the first maximum wins
      if (count > most) best = k, most = count;
    expected[static_cast<std::size_t>(v)] = best == 1000 ? 255 : static_cast<std::uint8_t>(best);
  }
  for (int threads : {1, 2, 3}) EXPECT_EQ(voxelize_semantic(points, classes, g, threads), expected) << threads;
}

TEST(VoxelizeSemantic, BadArgumentsWriteNothing) {
  const std::vector<float> points = {0.5f, 0.5f, 0.5f, 1.5f, 0.5f, 0.5f};
  std::vector<std::uint8_t> classes = {3, 20}, labels(24, 77);
  auto call = [&](index_t class_count, const voxformer::volume_geometry& g) {
    voxformer::voxelize_semantic(cpu_executor{1}, voxformer::make_view<2>(points.data(), {2, 3}),
                                 voxformer::make_view<1>(static_cast<const std::uint8_t*>(classes.data()), {2}), g,
                                 voxformer::make_view<3>(labels.data(), {4, 3, 2}), class_count);
  };
  EXPECT_EQ(error_of([&] { call(20, unit_grid); }),
            "voxformer::voxelize_semantic: point 1 has class 20, outside [0, 20) and not the ignore value 255");
  EXPECT_EQ(error_of([&] { call(0, unit_grid); }),
            "voxformer::voxelize_semantic: class_count must be in [1, 254], empty a class and ignore outside them; got "
            "class_count 0, empty 0, ignore 255");
  EXPECT_EQ(error_of([&] {
              call(21, {{0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}, {4, 2, 3}});
            }),
            "voxformer::voxelize_semantic: argument 'labels' [X, Y, Z] expected shape [4, 2, 3], got [4, 3, 2]");
  EXPECT_EQ(error_of([&] {
              voxformer::voxelize_semantic(
                  cpu_executor{1}, voxformer::make_view<2>(points.data(), {2, 2}),
                  voxformer::make_view<1>(static_cast<const std::uint8_t*>(classes.data()), {2}), unit_grid,
                  voxformer::make_view<3>(labels.data(), {4, 3, 2}), 21);
            }),
            "voxformer::voxelize_semantic: argument 'points' [N, >=3] needs at least 3 columns (x, y, z), got 2");
  EXPECT_TRUE(std::all_of(labels.begin(), labels.end(), [](std::uint8_t v) { return v == 77; }));
  classes[1] = 255;
  call(20, unit_grid);
  EXPECT_EQ(labels[0], 3);
  EXPECT_EQ(labels[static_cast<std::size_t>(unit_grid.flat_index(1, 0, 0))], 255);
}

}  // namespace
