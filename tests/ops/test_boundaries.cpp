// Exact boundaries that the rest of the suite left unpinned (issue 10: of 23 planted one-line bugs, these
// seven survived it). Each test names the bug it catches; every expected value sits exactly on the boundary
// in fp32, and a test that depends on a search or a float-order effect asserts that effect first, so that it
// cannot pass vacuously.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/cpu_instances.hpp"  // compiled once per build flavour (tests/CMakeLists.txt)
#include "voxformer/ops/msda/ms_deform_attn.hpp"
#include "voxformer/ops/msda/ms_deform_attn_3d.hpp"
#include "voxformer/ops/rebatch/camera_batches.hpp"
#include "voxformer/ops/rebatch/camera_gather_scatter.hpp"
#include "voxformer/ops/rebatch/camera_projection.hpp"
#include "voxformer/ops/voxel/voxelize.hpp"

namespace {

using voxformer::cpu_executor;
using voxformer::index_t;
using voxformer::make_view;
using voxformer::volume_geometry;
using voxformer::z_convention;

// ---------------------------------------------------------------------------------------------------------
// 1. MSDA range test: a tap is evaluated only if strictly inside (−1, w) × (−1, h) [× (−1, z)].

// One point, one head, one channel, weight 1, on a single level of extent `extent` ((h, w) or (h, w, z))
// whose cell r holds r + 1 (so any tap that is evaluated contributes something non-zero).
template <int Dims>
float sample_one_point(const std::array<std::int64_t, Dims>& extent, const std::array<float, Dims>& location) {
  std::int64_t cells = 1;
  for (const std::int64_t e : extent) cells *= e;
  std::vector<float> value(static_cast<std::size_t>(cells));
  for (std::size_t r = 0; r < value.size(); ++r) value[r] = static_cast<float>(r + 1);
  const std::int64_t starts[] = {0};
  const float weight[] = {1.f};
  float out = -7.f;
  const auto v = make_view<4>(value.data(), {1, cells, 1, 1});
  const auto shapes = make_view<2>(extent.data(), {1, Dims});
  const auto start = make_view<1>(starts, {1});
  const auto loc = make_view<6>(location.data(), {1, 1, 1, 1, 1, Dims});
  const auto w = make_view<5>(weight, {1, 1, 1, 1, 1});
  const auto o = make_view<3>(&out, {1, 1, 1});
  if constexpr (Dims == 2) voxformer::ms_deform_attn(cpu_executor{1}, v, shapes, start, loc, w, o);
  else voxformer::ms_deform_attn_3d(cpu_executor{1}, v, shapes, start, loc, w, o);
  return out;
}

// Catches, in ops/msda/msda_sampler.hpp `multilinear_corners::locate`, `position < size` made `<=` (or any
// change that admits position == size) on the h axis (the first `inside` line) or on the w / z axes (the loop
// line). Only a 1-cell axis exposes it: there the shifted "upper" tap is the cell itself and would get the
// full weight 1 − 0 = 1; on a wider axis both taps of position == size weigh 0 anyway.
TEST(Boundaries, MsdaSampleOnTheFarEdgeOfAOneCellLevelContributesNothing) {
  // Pixel coordinate y·h − 0.5 = 1.5·1 − 0.5 = 1 = h exactly in fp32: outside (−1, h).
  EXPECT_EQ(sample_one_point<2>({1, 2}, {0.5f, 1.5f}), 0.f) << "h = 1, pixel y = h";
  EXPECT_EQ(sample_one_point<2>({1, 2}, {0.25f, 1.5f}), 0.f) << "h = 1, pixel y = h, pixel x = 0";
  EXPECT_EQ(sample_one_point<2>({2, 1}, {1.5f, 0.5f}), 0.f) << "w = 1, pixel x = w";
  EXPECT_EQ(sample_one_point<2>({2, 1}, {1.5f, 0.25f}), 0.f) << "w = 1, pixel x = w, pixel y = 0";
  EXPECT_EQ(sample_one_point<2>({1, 1}, {1.5f, 1.5f}), 0.f) << "1×1 level, both at the far edge";
  // The near edge −1 (location −0.5) contributes 0 as well.
  EXPECT_EQ(sample_one_point<2>({1, 2}, {0.5f, -0.5f}), 0.f);
  EXPECT_EQ(sample_one_point<2>({2, 1}, {-0.5f, 0.5f}), 0.f);
  // Controls: the same levels are sampled just inside the edge (pixel 0.75: the cell with weight 0.25, its
  // upper neighbour being outside), and at a cell centre.
  EXPECT_EQ(sample_one_point<2>({1, 2}, {0.25f, 1.25f}), 0.25f);  // cell (0, 0) = 1
  EXPECT_EQ(sample_one_point<2>({2, 1}, {1.25f, 0.25f}), 0.25f);  // cell (0, 0) = 1
  EXPECT_EQ(sample_one_point<2>({1, 2}, {0.75f, 0.5f}), 2.f);     // cell (0, 1) = 2
  EXPECT_EQ(sample_one_point<2>({2, 1}, {0.5f, 0.75f}), 2.f);     // cell (1, 0) = 2

  // Trilinear, (h, w, z) ← (y, x, z): each axis of extent 1 in turn, the point at its far edge.
  EXPECT_EQ(sample_one_point<3>({1, 2, 2}, {0.25f, 1.5f, 0.25f}), 0.f) << "h = 1, position h";
  EXPECT_EQ(sample_one_point<3>({2, 1, 2}, {1.5f, 0.25f, 0.25f}), 0.f) << "w = 1, position w";
  EXPECT_EQ(sample_one_point<3>({2, 2, 1}, {0.25f, 0.25f, 1.5f}), 0.f) << "z = 1, position z";
  EXPECT_EQ(sample_one_point<3>({1, 2, 2}, {0.25f, 1.25f, 0.25f}), 0.25f);  // controls, cell (0, 0, 0) = 1
  EXPECT_EQ(sample_one_point<3>({2, 1, 2}, {1.25f, 0.25f, 0.25f}), 0.25f);
  EXPECT_EQ(sample_one_point<3>({2, 2, 1}, {0.25f, 0.25f, 1.25f}), 0.25f);
}

// ---------------------------------------------------------------------------------------------------------
// 2 and 5. Projection: visible = w′ > 1e-5 ∧ 0 < vn < 1 ∧ 0 < un < 1 (all strict), (un, vn) = (u′, v′) /
// max(w′, 1e-5) / (W, H).

struct projected {
  std::vector<float> cam;           // [K, Q, 1, 2]
  std::vector<std::uint8_t> visible;  // [K, Q, 1]
};

projected project(const std::vector<double>& reference, const voxformer::point_cloud_range& range,
                  const std::vector<float>& lidar2img, voxformer::image_size image) {
  const index_t Q = static_cast<index_t>(reference.size() / 3), K = static_cast<index_t>(lidar2img.size() / 16);
  projected p{std::vector<float>(static_cast<std::size_t>(K * Q * 2), -9.f),
              std::vector<std::uint8_t>(static_cast<std::size_t>(K * Q), 7)};
  voxformer::project_to_cameras(cpu_executor{1}, make_view<3>(reference.data(), {Q, 1, 3}), range,
                                make_view<3>(lidar2img.data(), {K, 4, 4}), image,
                                make_view<4>(p.cam.data(), {K, Q, 1, 2}), make_view<3>(p.visible.data(), {K, Q, 1}));
  return p;
}

// Catches, in ops/rebatch/camera_projection.hpp `project_reference_point`, any of `vn > 0.f`, `vn < 1.f`,
// `un < 1.f`, `un > 0.f` made non-strict (>= / <=).
TEST(Boundaries, PointProjectedExactlyOntoTheImageEdgeIsNotVisible) {
  // u′ = x, v′ = y, w′ = 1 over the box [0, 8] × [0, 4] × [0, 1] and an 8 × 4 image: un = x/8, vn = y/4, and
  // every product and quotient below is exact in fp32.
  const voxformer::point_cloud_range range{{0.0, 0.0, 0.0}, {8.0, 4.0, 1.0}};
  const std::vector<float> lidar2img = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};
  const double just_below_one = 1.0 - 0x1p-24;  // x = 8 − 2^-21, y = 4 − 2^-22: exact floats, un, vn = 1 − 2^-24
  const double just_above_zero = 0x1p-24;       // un, vn = 2^-24
  const std::vector<double> reference = {
      0.5, 0.5, 0.5,                       // 0: centre, visible
      0.0, 0.5, 0.5,                       // 1: un = 0
      1.0, 0.5, 0.5,                       // 2: un = 1
      0.5, 0.0, 0.5,                       // 3: vn = 0
      0.5, 1.0, 0.5,                       // 4: vn = 1
      0.0, 0.0, 0.5,                       // 5: corner (0, 0)
      1.0, 1.0, 0.5,                       // 6: corner (1, 1)
      just_below_one, just_below_one, 0.5,   // 7: just inside the far edges, visible
      just_above_zero, just_above_zero, 0.5  // 8: just inside the near edges, visible
  };
  const auto p = project(reference, range, lidar2img, {4, 8});
  // The normalised coordinates are exactly on the edges (so the test is about the comparisons alone).
  const std::vector<float> expected_cam = {0.5f, 0.5f, 0.f, 0.5f, 1.f, 0.5f, 0.5f, 0.f, 0.5f, 1.f, 0.f, 0.f,
                                           1.f,  1.f,  1.f - 0x1p-24f, 1.f - 0x1p-24f, 0x1p-24f, 0x1p-24f};
  ASSERT_EQ(p.cam, expected_cam);
  EXPECT_EQ(p.visible, (std::vector<std::uint8_t>{1, 0, 0, 0, 0, 0, 0, 1, 1}));
}

// Catches, in ops/rebatch/camera_projection.hpp, a change of either depth constant on its own: the visibility
// threshold (`row[2] > projection_depth_eps` in `seen`, e.g. made 1e-4f) or the divisor clamp (`w = row[2] >
// eps ? row[2] : eps`, e.g. 1e-4f or 1e-6f in either place), or of `projection_depth_eps` itself.
TEST(Boundaries, DepthThresholdAndDivisorClampArePinnedSeparately) {
  // One camera per depth w′; its lidar2img is a pure translation (u′, v′, w′) = (a, b, w′), so the projected
  // row is exactly (a, b, w′) whatever the reference point.
  const voxformer::image_size crop{370, 1220};
  const float depths[] = {5e-5f, 2e-5f, 9e-5f, 2e-4f, 1e-5f, 5e-6f, 0.f, -1.f};
  const bool visible[] = {true, true, true, true, false, false, false, false};
  std::vector<float> lidar2img;
  std::vector<float> a_of, b_of;
  for (const float w : depths) {
    // A pixel inside the crop at depth max(w, 1e-5): (u, v) = (305, 92.5) → (un, vn) ≈ (0.25, 0.25).
    const float d = w > 1e-5f ? w : 1e-5f;
    const float a = 305.f * d, b = 92.5f * d;
    a_of.push_back(a), b_of.push_back(b);
    lidar2img.insert(lidar2img.end(), {0, 0, 0, a, 0, 0, 0, b, 0, 0, 0, w, 0, 0, 0, 1});
  }
  const auto p = project({0.5, 0.5, 0.5}, voxformer::point_cloud_range::voxformer(), lidar2img, crop);
  for (std::size_t k = 0; k < std::size(depths); ++k) {
    const float divisor = depths[k] > 1e-5f ? depths[k] : 1e-5f;  // max(w′, 1e-5)
    EXPECT_EQ(p.visible[k], visible[k] ? 1 : 0) << "w' = " << depths[k];
    EXPECT_EQ(p.cam[2 * k], a_of[k] / divisor / 1220.f) << "w' = " << depths[k];
    EXPECT_EQ(p.cam[2 * k + 1], b_of[k] / divisor / 370.f) << "w' = " << depths[k];
    // Non-vacuous: clamping to 1e-4 between 1e-5 and 1e-4, or dividing by w′ itself below 1e-5, would give
    // another coordinate.
    if (depths[k] > 1e-5f && depths[k] < 1e-4f) {
      EXPECT_NE(a_of[k] / 1e-4f / 1220.f, p.cam[2 * k]);
    }
    if (depths[k] > 0.f && depths[k] < 1e-5f) {
      EXPECT_NE(a_of[k] / depths[k] / 1220.f, p.cam[2 * k]);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// 3 and 4. Voxelisation: strictly inside the box, i = ⌊(p − origin)/size⌋ in fp32.

std::vector<std::uint8_t> voxelize_points(const std::vector<float>& xyz, const volume_geometry& g,
                                          z_convention convention) {
  std::vector<std::uint8_t> grid(static_cast<std::size_t>(g.voxel_count()), 9);
  voxformer::voxelize(cpu_executor{1}, make_view<2>(xyz.data(), {static_cast<index_t>(xyz.size() / 3), 3}), g,
                      make_view<3>(grid.data(), {g.dims[0], g.dims[1], g.dims[2]}), convention);
  return grid;
}

// The flat indices of the occupied voxels.
std::vector<index_t> occupied(const std::vector<std::uint8_t>& grid) {
  std::vector<index_t> k;
  for (std::size_t i = 0; i < grid.size(); ++i)
    if (grid[i] != 0) k.push_back(static_cast<index_t>(i));
  return k;
}

// Catches, in ops/voxel/voxelize.hpp `voxel_of_point`, `p[a] < g.upper(a)` made `<=` (a point on the upper
// face kept), and `p[a] > g.origin[a]` made `>=` (on the lower face kept) under z_convention::voxformer.
// The built-in presets cannot show the first: there ⌊(upper − origin)/size⌋ = dims and the index check drops
// the point anyway. Custom geometries where fp32 rounds that quotient below dims are searched for here.
TEST(Boundaries, PointOnTheUpperFaceOfACustomGeometryIsDropped) {
  // The first candidate whose upper face, on every axis, the index check ⌊(upper − origin)/size⌋ < dims alone
  // would keep.
  auto upper_face_passes_index_check = [](const volume_geometry& c) {
    for (int a = 0; a < 3; ++a)
      if (!(std::floor((c.upper(a) - c.origin[a]) / c.voxel_size[a]) < static_cast<float>(c.dims[a]))) return false;
    return true;
  };
  volume_geometry g{};
  bool found = false;
  for (const float origin : {-3.7f, 0.1f, 1.3f, -0.3f})
    for (const float size : {0.15f, 0.1f, 0.3f, 0.7f})
      for (index_t n = 3; n <= 40 && !found; ++n) {
        g = {{origin, origin, origin}, {size, size, size}, {n, n + 1, n + 2}};
        found = upper_face_passes_index_check(g);
      }
  ASSERT_TRUE(found) << "no custom geometry whose upper face the index check alone would keep";

  for (int a = 0; a < 3; ++a) {
    // Inside on the other axes: the centre of voxel 0 along each.
    std::array<float, 3> inside{};
    for (int b = 0; b < 3; ++b) inside[b] = g.origin[b] + 0.5f * g.voxel_size[b];
    auto with = [&](float v) {
      auto p = inside;
      p[a] = v;
      return std::vector<float>(p.begin(), p.end());
    };
    const float upper = g.upper(a), lower = g.origin[a];
    // The index formula alone would keep both faces' points (in voxel dims−1 and 0 along a).
    ASSERT_LT(std::floor((upper - lower) / g.voxel_size[a]), static_cast<float>(g.dims[a]));
    EXPECT_TRUE(occupied(voxelize_points(with(upper), g, z_convention::voxformer)).empty()) << "upper face, axis " << a;
    EXPECT_TRUE(occupied(voxelize_points(with(lower), g, z_convention::voxformer)).empty()) << "lower face, axis " << a;
    // Just inside either face: kept, in the voxel ⌊(p − origin)/size⌋ says.
    for (const float v : {std::nextafter(upper, lower), std::nextafter(lower, upper)}) {
      std::array<index_t, 3> idx{};
      for (int b = 0; b < 3; ++b) {
        const float coordinate = b == a ? v : inside[b];
        idx[b] = static_cast<index_t>(std::floor((coordinate - g.origin[b]) / g.voxel_size[b]));
      }
      ASSERT_LT(idx[a], g.dims[a]);
      EXPECT_EQ(occupied(voxelize_points(with(v), g, z_convention::voxformer)),
                (std::vector<index_t>{g.flat_index(idx[0], idx[1], idx[2])}))
          << "just inside, axis " << a << ", p = " << v;
    }
    // SemanticKITTI's pre-fix convention has no box test: the lower face is voxel 0 (z: layer 0 + 1).
    const std::array<index_t, 3> pre_fix_lower = {0, 0, 1};
    EXPECT_EQ(occupied(voxelize_points(with(lower), g, z_convention::semantickitti_pre_fix)),
              (std::vector<index_t>{g.flat_index(pre_fix_lower[0], pre_fix_lower[1], pre_fix_lower[2])}))
        << "pre-fix lower face, axis " << a;
  }
}

// Catches, in ops/voxel/voxelize.hpp `voxel_of_point`, `(p[a] − origin) / size` computed as
// `(p[a] − origin) * (1 / size)`: one ulp below (or at) a voxel boundary the two round to different sides.
TEST(Boundaries, VoxelIndexDividesByTheSizeAtUlpAdjacentCoordinates) {
  const volume_geometry g = volume_geometry::voxformer_fine();
  const std::array<float, 3> elsewhere = {10.1f, 0.1f, 1.1f};  // inside, on the axes not under test
  for (int a = 0; a < 3; ++a) {
    const float origin = g.origin[a], size = g.voxel_size[a], reciprocal = 1.f / size;
    std::vector<float> disagreeing;
    for (index_t i = 1; i < g.dims[a] && disagreeing.size() < 24; ++i) {
      float v = origin + static_cast<float>(i) * size;
      for (int u = 0; u < 4; ++u) v = std::nextafter(v, -std::numeric_limits<float>::infinity());
      for (int u = 0; u < 9; ++u, v = std::nextafter(v, std::numeric_limits<float>::infinity()))
        if (std::floor((v - origin) / size) != std::floor((v - origin) * reciprocal)) disagreeing.push_back(v);
    }
    // Non-vacuous: e.g. x = 2.5999999f at 0.2 m: ⌊x/0.2⌋ = 12, ⌊x·5⌋ = 13.
    ASSERT_FALSE(disagreeing.empty()) << "axis " << a;
    for (const float v : disagreeing) {
      std::array<float, 3> p = elsewhere;
      p[a] = v;
      std::array<index_t, 3> idx{};
      for (int b = 0; b < 3; ++b)
        idx[b] = static_cast<index_t>(std::floor((p[b] - g.origin[b]) / g.voxel_size[b]));
      EXPECT_EQ(occupied(voxelize_points({p[0], p[1], p[2]}, g, z_convention::voxformer)),
                (std::vector<index_t>{g.flat_index(idx[0], idx[1], idx[2])}))
          << "axis " << a << ", p = " << v;
    }
  }
  // The value quoted in the brief, on x.
  EXPECT_EQ(std::floor(2.5999999f / 0.2f), 12.f);
  EXPECT_EQ(occupied(voxelize_points({2.5999999f, 0.1f, 1.1f}, g, z_convention::voxformer)),
            (std::vector<index_t>{g.flat_index(12, 128, 15)}));
}

// ---------------------------------------------------------------------------------------------------------
// 6 and 7. Rebatching: camera k's batch is the queries with any visible anchor; the scatter-mean sums the
// cameras in ascending order, then divides by the count.

// Catches, in ops/rebatch/camera_batches.hpp `seen_by_camera`, a test of fewer than all D anchors (`d < 1`,
// `d + 1 < extent(2)`, only `visible(camera, q, 0)`) or `seen |=` made `seen =` (only the last anchor counts).
TEST(Boundaries, QuerySeenOnlyThroughALaterAnchorIsInTheCameraBatch) {
  constexpr index_t K = 2, Q = 6, D = 3;
  // visible[k][q][d]
  const std::vector<std::uint8_t> visible = {
      // camera 0: q0 anchor 0 only, q1 anchor 1 only, q2 anchor 2 only, q3 none, q4 anchors 1 + 2, q5 0 + 1
      1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0,
      // camera 1: q1 anchor 1 only, q3 anchor 2 only
      0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  const auto vis = make_view<3>(visible.data(), {K, Q, D});

  const auto sizes = voxformer::camera_batch_sizes_of(cpu_executor{1}, vis);
  EXPECT_EQ(sizes.total, 7);
  EXPECT_EQ(sizes.max_len, 5);

  std::vector<std::int32_t> offsets(K + 1), indices(K * Q, -5), row_of(K * Q, -5);
  voxformer::build_camera_batches(cpu_executor{1}, vis, make_view<1>(offsets.data(), {K + 1}),
                                  make_view<1>(indices.data(), {K * Q}), make_view<2>(row_of.data(), {K, Q}));
  EXPECT_EQ(offsets, (std::vector<std::int32_t>{0, 5, 7}));
  indices.resize(7);
  EXPECT_EQ(indices, (std::vector<std::int32_t>{0, 1, 2, 4, 5, 1, 3}));
  EXPECT_EQ(row_of, (std::vector<std::int32_t>{0, 1, 2, -1, 3, 4, -1, 5, -1, 6, -1, -1}));

  constexpr index_t L = 5;
  std::vector<std::int32_t> padded(K * L, -5), lengths(K, -5), padded_row_of(K * Q, -5);
  voxformer::build_padded_camera_batches(cpu_executor{1}, vis, make_view<2>(padded.data(), {K, L}),
                                         make_view<1>(lengths.data(), {K}),
                                         make_view<2>(padded_row_of.data(), {K, Q}));
  EXPECT_EQ(lengths, (std::vector<std::int32_t>{5, 2}));
  EXPECT_EQ(padded, (std::vector<std::int32_t>{0, 1, 2, 4, 5, 1, 3, -1, -1, -1}));
  EXPECT_EQ(padded_row_of, (std::vector<std::int32_t>{0, 1, 2, -1, 3, 4, -1, 5, -1, 6, -1, -1}));
}

// Σ in the given camera order, then / count: the original's per-camera `slots +=` and one division.
float mean_in_order(const std::vector<float>& values) {
  float sum = 0.f;
  for (const float v : values) sum += v;
  return sum / static_cast<float>(values.size());
}

// Catches, in ops/rebatch/camera_gather_scatter.hpp `camera_mean`, summing the cameras in any order but
// ascending (e.g. descending: `for (k = K − 1; k >= 0; --k)`).
TEST(Boundaries, ScatterMeanSumsThreeCamerasInAscendingOrder) {
  constexpr index_t K = 4, Q = 3, C = 2;
  // Per (query, channel): the values of the cameras that see the query, ascending. 1e8 − 1e8 + 1 = 1 in this
  // order; any other order loses the 1 (the fp32 ulp at 1e8 is 8) or keeps it where this one does not.
  const std::vector<std::vector<index_t>> cameras = {{0, 1, 3}, {1, 2, 3}, {0, 1, 2, 3}};
  const std::vector<std::vector<std::vector<float>>> values = {
      {{1e8f, -1e8f, 1.f}, {1.f, 1e8f, -1e8f}},
      {{-1e8f, 1e8f, 1.f}, {1.f, -1e8f, 1e8f}},
      {{1e8f, -1e8f, 1.f, 1.f}, {1.f, 1.f, 1e8f, -1e8f}}};
  std::vector<float> expected(Q * C);
  for (index_t q = 0; q < Q; ++q)
    for (index_t c = 0; c < C; ++c) {
      const auto& ascending = values[q][c];
      expected[q * C + c] = mean_in_order(ascending);
      // Non-vacuous: the descending order gives another float.
      const std::vector<float> descending(ascending.rbegin(), ascending.rend());
      ASSERT_NE(mean_in_order(descending), expected[q * C + c]) << q << ", " << c;
    }
  EXPECT_EQ(expected[0], 1.f / 3.f);  // (1e8 + −1e8) + 1, / 3
  EXPECT_EQ(expected[1], 0.f);        // (1 + 1e8) + −1e8 = 0

  std::vector<std::uint8_t> visible(K * Q, 0);
  for (index_t q = 0; q < Q; ++q)
    for (const index_t k : cameras[q]) visible[k * Q + q] = 1;
  const auto vis = make_view<3>(visible.data(), {K, Q, 1});

  // The rows of camera k's outputs at row_of[k, q]; then the scatter-mean back.
  auto check = [&](const std::vector<std::int32_t>& row_of, index_t rows, const char* layout) {
    std::vector<float> out_rows(static_cast<std::size_t>(rows * C), 0.f);
    for (index_t q = 0; q < Q; ++q)
      for (std::size_t j = 0; j < cameras[q].size(); ++j)
        for (index_t c = 0; c < C; ++c) {
          const std::int32_t row = row_of[cameras[q][j] * Q + q];
          ASSERT_GE(row, 0);
          out_rows[row * C + c] = values[q][c][j];
        }
    std::vector<float> mean(Q * C, -3.f);
    voxformer::camera_scatter_mean(cpu_executor{1}, make_view<2>(out_rows.data(), {rows, C}),
                                   make_view<2>(row_of.data(), {K, Q}), make_view<2>(mean.data(), {Q, C}));
    EXPECT_EQ(mean, expected) << layout;
  };

  std::vector<std::int32_t> offsets(K + 1), indices(K * Q), row_of(K * Q);
  const auto sizes = voxformer::build_camera_batches(cpu_executor{1}, vis, make_view<1>(offsets.data(), {K + 1}),
                                                     make_view<1>(indices.data(), {K * Q}),
                                                     make_view<2>(row_of.data(), {K, Q}));
  check(row_of, sizes.total, "CSR");
  const index_t L = sizes.max_len;
  std::vector<std::int32_t> padded(K * L), lengths(K), padded_row_of(K * Q);
  voxformer::build_padded_camera_batches(cpu_executor{1}, vis, make_view<2>(padded.data(), {K, L}),
                                         make_view<1>(lengths.data(), {K}),
                                         make_view<2>(padded_row_of.data(), {K, Q}));
  check(padded_row_of, K * L, "padded");
  // Any row map: rows numbered against the camera order (camera 3 first), still summed by camera.
  std::vector<std::int32_t> reversed_rows(K * Q, -1);
  std::int32_t next = 0;
  for (index_t k = K - 1; k >= 0; --k)
    for (index_t q = 0; q < Q; ++q)
      if (visible[k * Q + q] != 0) reversed_rows[k * Q + q] = next++;
  check(reversed_rows, next, "rows in descending camera order");
}

}  // namespace
