// Bad arguments that every op shares: layouts `as_view` rejects (negative or overflowing extents, outputs that
// address an element twice), arguments that alias each other, and that a rejected call writes nothing.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "support/error_of.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/ops/rebatch/camera_batches.hpp"
#include "voxformer/ops/rebatch/camera_gather_scatter.hpp"
#include "voxformer/ops/rebatch/camera_projection.hpp"
#include "voxformer/ops/scatter/gather_rows.hpp"
#include "voxformer/ops/scatter/mask_token_scatter.hpp"
#include "voxformer/ops/voxel/bit_pack.hpp"
#include "voxformer/ops/voxel/downsample.hpp"
#include "voxformer/ops/voxel/proposal.hpp"
#include "voxformer/ops/voxel/pseudo_lidar.hpp"
#include "voxformer/ops/voxel/voxelize.hpp"

namespace {

using test::error_of;
using voxformer::index_t;
using voxformer::make_view;
using voxformer::tensor_view;

const voxformer::cpu_executor cpu{2};

// A runtime-typed tensor that reports whatever shape and strides it is given, as a DLPack capsule may.
struct reported_tensor {
  void* data;
  voxformer::dtype type;
  std::vector<std::int64_t> shape, strides;  // strides empty: C-contiguous
};

}  // namespace

template <>
struct voxformer::tensor_traits<reported_tensor> {
  static dynamic_tensor describe(const reported_tensor& t) {
    return {t.data, t.type, static_cast<int>(t.shape.size()), t.shape.data(),
            t.strides.empty() ? nullptr : t.strides.data(), memory_space::host, true};
  }
};

namespace {

reported_tensor floats(float* data, std::vector<std::int64_t> shape, std::vector<std::int64_t> strides = {}) {
  return {data, voxformer::dtype_of<float>(), std::move(shape), std::move(strides)};
}

// Runs `call`, which must throw a voxformer::error containing `expected`, and checks that `buffer` is unchanged.
template <class Buffer, class Call>
void expect_rejected_untouched(const Buffer& buffer, const std::string& expected, Call&& call) {
  const Buffer before = buffer;
  EXPECT_NE(error_of(call).find(expected), std::string::npos) << error_of(call);
  EXPECT_TRUE(buffer == before) << "a rejected call wrote its output";
}

TEST(ArgumentChecks, RuntimeTypedNegativeExtentIsRejected) {
  std::vector<float> depth(6), points(24);
  EXPECT_EQ(error_of([&] {
              voxformer::depth_to_points(cpu, floats(depth.data(), {-3, 2}), {}, {}, make_view<2>(points.data(), {6, 4}));
            }),
            "voxformer::depth_to_points: argument 'depth' has negative extent -3 in dimension 0");
}

TEST(ArgumentChecks, RuntimeTypedExtentsWhoseProductOverflowsAreRejected) {
  // (2^62 + 1) × 4 elements: the product wraps to 4, which a 144-byte buffer would "hold".
  std::vector<float> data(36);
  const std::int64_t huge = (std::int64_t{1} << 62) + 1;
  EXPECT_EQ(error_of([&] {
              voxformer::depth_to_points(cpu, floats(data.data(), {huge, 4}), {}, {}, make_view<2>(data.data(), {1, 4}));
            }),
            "voxformer::depth_to_points: argument 'depth' has more elements than a 64-bit index can count");
  EXPECT_NE(error_of([&] {
              voxformer::depth_to_points(cpu, floats(data.data(), {4, 4}, {std::int64_t{1} << 62, 1}), {}, {},
                                         make_view<2>(data.data(), {16, 4}));
            }).find("strides whose offsets overflow"),
            std::string::npos);
}

TEST(ArgumentChecks, NullDataWithElementsIsRejected) {
  std::vector<float> points(24);
  EXPECT_NE(error_of([&] {
              voxformer::depth_to_points(cpu, floats(nullptr, {2, 3}), {}, {}, make_view<2>(points.data(), {6, 4}));
            }).find("argument 'depth' has 6 elements but no data"),
            std::string::npos);
}

TEST(ArgumentChecks, OutputsThatAddressAnElementTwiceAreRejected) {
  std::vector<float> depth(6, 5.f), points(24, -1.f);
  // A zero stride: all six points would be written to one row.
  expect_rejected_untouched(points, "output 'points' addresses some elements more than once", [&] {
    voxformer::depth_to_points(cpu, make_view<2>(depth.data(), {2, 3}), {}, {},
                               tensor_view<float, 2>(points.data(), {6, 4}, {0, 1}));
  });
  // Overlapping rows (stride 2 for rows of 4), and the same through a runtime-typed tensor.
  expect_rejected_untouched(points, "output 'points' addresses some elements more than once", [&] {
    voxformer::depth_to_points(cpu, make_view<2>(depth.data(), {2, 3}), {}, {},
                               tensor_view<float, 2>(points.data(), {6, 4}, {2, 1}));
  });
  expect_rejected_untouched(points, "output 'points' addresses some elements more than once", [&] {
    voxformer::depth_to_points(cpu, make_view<2>(depth.data(), {2, 3}), {}, {}, floats(points.data(), {6, 4}, {4, 0}));
  });
  // An input may broadcast (a zero stride reads one row for all): only outputs must be one-to-one.
  voxformer::depth_to_points(cpu, tensor_view<const float, 2>(depth.data(), {2, 3}, {0, 1}), {}, {},
                             make_view<2>(points.data(), {6, 4}));
  // A transposed (column-major) output addresses each element once.
  std::vector<float> transposed(24);
  voxformer::depth_to_points(cpu, make_view<2>(depth.data(), {2, 3}), {}, {},
                             tensor_view<float, 2>(transposed.data(), {6, 4}, {1, 6}));
  EXPECT_EQ(transposed[6 * 3], points[3]);  // column 3 (the validity flag) of point 0
}

TEST(ArgumentChecks, DepthToPointsInPlaceIsRejected) {
  std::vector<float> buffer(24, 3.f);
  expect_rejected_untouched(buffer, "voxformer::depth_to_points: output 'points' overlaps input 'depth'", [&] {
    voxformer::depth_to_points(cpu, make_view<2>(buffer.data(), {2, 3}), {}, {}, make_view<2>(buffer.data(), {6, 4}));
  });
}

TEST(ArgumentChecks, VoxelizeIntoItsOwnPointsIsRejectedBeforeTheFill) {
  // The grid's fill would zero the points before they are read.
  const auto geometry = voxformer::volume_geometry{{0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}, {2, 2, 4}};
  std::vector<float> points = {0.5f, 0.5f, 0.5f, 1.f, 1.5f, 1.5f, 3.5f, 1.f, 0.1f, 0.2f, 0.3f, 1.f};
  auto* bytes = reinterpret_cast<std::uint8_t*>(points.data());
  expect_rejected_untouched(points, "voxformer::voxelize: output 'occupancy' overlaps input 'points'", [&] {
    voxformer::voxelize(cpu, make_view<2>(points.data(), {3, 4}), geometry, make_view<3>(bytes, {2, 2, 4}));
  });
  std::vector<std::uint32_t> labels(4);  // 3 labels, and the grid's 16 bytes over all four
  expect_rejected_untouched(labels, "voxformer::voxelize_labeled: output 'occupancy' overlaps input 'labels'", [&] {
    voxformer::voxelize_labeled(cpu, make_view<2>(points.data(), {3, 4}), make_view<1>(labels.data(), {3}), geometry,
                                make_view<3>(reinterpret_cast<std::uint8_t*>(labels.data()), {2, 2, 4}),
                                voxformer::z_convention::voxformer);
  });
}

TEST(ArgumentChecks, VoxelizeNeedsXyzColumns) {
  const std::vector<float> points(8, 0.5f);
  std::vector<std::uint8_t> grid(16, 7);
  expect_rejected_untouched(
      grid, "voxformer::voxelize: argument 'points' [N, >=3] needs at least 3 columns (x, y, z), got 2", [&] {
        voxformer::voxelize(cpu, make_view<2>(points.data(), {4, 2}),
                            voxformer::volume_geometry{{0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}, {2, 2, 4}},
                            make_view<3>(grid.data(), {2, 2, 4}));
      });
}

TEST(ArgumentChecks, BitPackingInPlaceIsRejected) {
  std::vector<std::uint8_t> buffer(64, 1);
  expect_rejected_untouched(buffer, "voxformer::pack_bits: output 'bytes' overlaps input 'grid'", [&] {
    voxformer::pack_bits(cpu, make_view<3>(buffer.data(), {4, 4, 4}), make_view<1>(buffer.data(), {8}));
  });
  expect_rejected_untouched(buffer, "voxformer::unpack_bits: output 'grid' overlaps input 'bytes'", [&] {
    voxformer::unpack_bits(cpu, make_view<1>(buffer.data() + 56, {8}), make_view<3>(buffer.data(), {4, 4, 4}));
  });
}

TEST(ArgumentChecks, DownsampleInPlaceAndEmptyFineGridsAreRejected) {
  std::vector<std::uint8_t> buffer(64, 1);
  expect_rejected_untouched(buffer, "voxformer::downsample_occupancy: output 'coarse' overlaps input 'fine'", [&] {
    voxformer::downsample_occupancy(cpu, make_view<3>(buffer.data(), {4, 4, 4}), make_view<3>(buffer.data(), {2, 2, 2}));
  });
  std::vector<std::uint8_t> coarse(4, 7);
  expect_rejected_untouched(coarse, "extent 0 of 'fine' (0) is not a positive whole multiple of extent 0 of 'coarse'",
                            [&] {
                              voxformer::downsample_occupancy(cpu, make_view<3>(buffer.data(), {0, 4, 4}),
                                                              make_view<3>(coarse.data(), {1, 2, 2}));
                            });
}

TEST(ArgumentChecks, ProposalListsMustBeTwoBuffers) {
  std::vector<std::uint8_t> mask = {1, 0, 1, 0, 0, 1, 0, 0};
  std::vector<std::int32_t> list(8, -7);
  expect_rejected_untouched(list, "voxformer::proposal_indices: outputs 'unmasked' and 'masked' overlap", [&] {
    voxformer::proposal_indices<1>(cpu, make_view<1>(mask.data(), {8}), make_view<1>(list.data(), {8}),
                                   make_view<1>(list.data(), {8}));
  });
}

TEST(ArgumentChecks, ProjectionOutputsMustNotAliasTheInputsOrEachOther) {
  std::vector<double> reference(2 * 1 * 3, 0.5);
  std::vector<float> lidar2img(16, 0.f), cam(2 * 2, 9.f);
  for (int i = 0; i < 4; ++i) lidar2img[static_cast<std::size_t>(5 * i)] = 1.f;
  const auto range = voxformer::point_cloud_range::voxformer();
  auto* visible_in_cam = reinterpret_cast<std::uint8_t*>(cam.data());
  expect_rejected_untouched(cam, "voxformer::project_to_cameras: outputs 'reference_cam' and 'visible' overlap", [&] {
    voxformer::project_to_cameras(cpu, make_view<3>(reference.data(), {2, 1, 3}), range,
                                  make_view<3>(lidar2img.data(), {1, 4, 4}), {370, 1220},
                                  make_view<4>(cam.data(), {1, 2, 1, 2}), make_view<3>(visible_in_cam, {1, 2, 1}));
  });
  std::vector<std::uint8_t> visible(2, 5);
  expect_rejected_untouched(lidar2img, "voxformer::project_to_cameras: output 'reference_cam' overlaps input 'lidar2img'",
                            [&] {
                              voxformer::project_to_cameras(cpu, make_view<3>(reference.data(), {2, 1, 3}), range,
                                                            make_view<3>(lidar2img.data(), {1, 4, 4}), {370, 1220},
                                                            make_view<4>(lidar2img.data() + 4, {1, 2, 1, 2}),
                                                            make_view<3>(visible.data(), {1, 2, 1}));
                            });
}

TEST(ArgumentChecks, CameraBatchOutputsMustBeDistinctBuffers) {
  const std::vector<std::uint8_t> visible = {1, 0, 1, 1, 1, 0};  // [K = 2, Q = 3, D = 1]
  std::vector<std::int32_t> offsets(3, -5), shared(6, -5);
  expect_rejected_untouched(shared, "voxformer::build_camera_batches: outputs 'indices' and 'row_of' overlap", [&] {
    voxformer::build_camera_batches(cpu, make_view<3>(visible.data(), {2, 3, 1}), make_view<1>(offsets.data(), {3}),
                                    make_view<1>(shared.data(), {6}), make_view<2>(shared.data(), {2, 3}));
  });
  std::vector<std::int32_t> lengths(2, -5);
  expect_rejected_untouched(shared, "voxformer::build_padded_camera_batches: outputs 'indices' and 'row_of' overlap",
                            [&] {
                              voxformer::build_padded_camera_batches(
                                  cpu, make_view<3>(visible.data(), {2, 3, 1}), make_view<2>(shared.data(), {2, 3}),
                                  make_view<1>(lengths.data(), {2}), make_view<2>(shared.data(), {2, 3}));
                            });
}

TEST(ArgumentChecks, GatherCameraPointsChecksItsOutputAndItsMap) {
  std::vector<float> cam(2 * 3 * 1 * 2, 1.f), out(4 * 1 * 2, 8.f);
  std::vector<std::int32_t> row_of = {0, -1, 1, 2, 3, -1};
  // An output the CPU cannot touch is named as such (it used to be blamed on 'fill: view').
  EXPECT_EQ(error_of([&] {
              voxformer::gather_camera_points(cpu, make_view<4>(cam.data(), {2, 3, 1, 2}),
                                              make_view<2>(row_of.data(), {2, 3}),
                                              tensor_view<float, 3>(out.data(), {4, 1, 2}, voxformer::memory_space::device));
            }),
            "voxformer::gather_camera_points: argument 'out' lives in device 0 memory, which the cpu_executor cannot access");
  // Two (camera, query) pairs mapped to one row: their writes would race, last writer wins.
  row_of[4] = 0;
  expect_rejected_untouched(out, "argument 'row_of' names row 0 twice", [&] {
    voxformer::gather_camera_points(cpu, make_view<4>(cam.data(), {2, 3, 1, 2}), make_view<2>(row_of.data(), {2, 3}),
                                    make_view<3>(out.data(), {4, 1, 2}));
  });
  std::vector<float> mean(3 * 2, 4.f), rows(4 * 2, 1.f);
  expect_rejected_untouched(mean, "voxformer::camera_scatter_mean: argument 'row_of' names row 0 twice", [&] {
    voxformer::camera_scatter_mean(cpu, make_view<2>(rows.data(), {4, 2}), make_view<2>(row_of.data(), {2, 3}),
                                   make_view<2>(mean.data(), {3, 2}));
  });
  row_of[4] = -2;  // only −1 means "not seen"
  expect_rejected_untouched(out, "argument 'row_of' names row -2", [&] {
    voxformer::gather_camera_points(cpu, make_view<4>(cam.data(), {2, 3, 1, 2}), make_view<2>(row_of.data(), {2, 3}),
                                    make_view<3>(out.data(), {4, 1, 2}));
  });
}

TEST(ArgumentChecks, RowOpsRejectOutputsOverTheirIndices) {
  std::vector<float> source(4 * 2, 1.f);
  std::vector<std::int32_t> indices = {0, 1, 2, 3, 0, 0, 0, 0};
  auto* as_floats = reinterpret_cast<float*>(indices.data());
  expect_rejected_untouched(indices, "voxformer::gather_rows: output 'out' overlaps input 'indices'", [&] {
    voxformer::gather_rows(cpu, make_view<2>(source.data(), {4, 2}), make_view<1>(indices.data(), {4}),
                           make_view<2>(as_floats, {4, 2}));
  });
  const std::vector<float> token = {7.f, 7.f};
  expect_rejected_untouched(indices, "voxformer::scatter_with_mask_token: output 'volume' overlaps input 'unmasked'",
                            [&] {
                              voxformer::scatter_with_mask_token(cpu, make_view<2>(source.data(), {2, 2}),
                                                                 make_view<1>(indices.data(), {2}),
                                                                 make_view<1>(token.data(), {2}),
                                                                 make_view<2>(as_floats, {4, 2}));
                            });
}

}  // namespace
