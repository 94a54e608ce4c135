// End-to-end walk through VoxFormer's sparse stages on a real SemanticKITTI frame (08/001000):
// voxelise the LiDAR scan (reproducing the dataset's voxels.bin), build the query proposal at 0.4 m,
// project the proposed voxels into the KITTI left camera and rebatch them, sample an image feature map
// with multi-scale deformable attention, average back over the cameras and scatter into the dense
// volume with a mask token. Usage: kitti_frame_pipeline [frame_dir] [threads]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>
#include <voxformer/voxformer.hpp>

namespace {

using namespace voxformer;
using clock_type = std::chrono::steady_clock;

double milliseconds_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) try {
  const std::filesystem::path frame =
      argc > 1 ? std::filesystem::path(argv[1])
               : std::filesystem::path(VOXFORMER_EXAMPLE_DATA_DIR) / "semantickitti_08_001000";
  const cpu_executor executor{argc > 2 ? std::stoi(argv[2]) : 2};
  std::printf("voxformer-cpp: VoxFormer's sparse stages on %s (%d threads)\n", frame.string().c_str(),
              executor.resolved_threads());

  // 1. Scan → 256×256×32 occupancy (SemanticKITTI's pre-fix convention), compared with voxels.bin.
  // Each step times its library calls alone: not the file reads, the allocations or the printing around them.
  const auto scan = io::read_kitti_scan(frame / "scan.bin");
  const auto labels = io::read_kitti_labels(frame / "scan.label", scan.size() / 4);
  const auto expected = io::read_binary_array<std::uint8_t>(frame / "voxels.bin");
  const index_t points = static_cast<index_t>(labels.size());
  const auto fine_geometry = volume_geometry::voxformer_fine();
  std::vector<std::uint8_t> fine(static_cast<std::size_t>(fine_geometry.voxel_count()));
  std::vector<std::uint8_t> packed(static_cast<std::size_t>(packed_size(fine_geometry.voxel_count())));
  auto start = clock_type::now();
  voxelize_labeled(executor, make_view<2>(scan.data(), {points, 4}), make_view<1>(labels.data(), {points}),
                   fine_geometry, make_view<3>(fine.data(), {256, 256, 32}));
  pack_bits(executor, make_view<3>(fine.data(), {256, 256, 32}), make_view<1>(packed.data(), {index_t(packed.size())}));
  const double voxelize_ms = milliseconds_since(start);
  index_t occupied = 0;
  for (auto v : fine) occupied += v;
  std::printf("1. voxelised %lld points → %lld occupied voxels of 256x256x32; voxels.bin %s (%.1f ms)\n",
              static_cast<long long>(points), static_cast<long long>(occupied),
              packed == expected ? "reproduced bit for bit" : "DIFFERS", voxelize_ms);

  // 2. Proposal at the query resolution: any occupied child → proposed; the rest get the mask token.
  const auto coarse_geometry = volume_geometry::voxformer_coarse();
  const index_t voxels = coarse_geometry.voxel_count();
  std::vector<std::uint8_t> proposal(static_cast<std::size_t>(voxels));
  std::vector<std::int32_t> unmasked(static_cast<std::size_t>(voxels)), masked(static_cast<std::size_t>(voxels));
  start = clock_type::now();
  downsample_occupancy(executor, make_view<3>(fine.data(), {256, 256, 32}), make_view<3>(proposal.data(), {128, 128, 16}));
  const auto counts = proposal_indices(executor, make_view<3>(proposal.data(), {128, 128, 16}),
                                       make_view<1>(unmasked.data(), {voxels}), make_view<1>(masked.data(), {voxels}));
  const double proposal_ms = milliseconds_since(start);
  unmasked.resize(static_cast<std::size_t>(counts.unmasked));
  const index_t queries = counts.unmasked;
  std::printf("2. proposal 128x128x16: %lld queries (%.2f %%), %lld masked voxels (%.1f ms)\n",
              static_cast<long long>(queries), 100.0 * double(queries) / double(voxels),
              static_cast<long long>(counts.masked), proposal_ms);

  // 3. Project each query's reference point (its voxel centre, float64 as in VoxFormer) into the camera.
  Eigen::Matrix<double, Eigen::Dynamic, 3, Eigen::RowMajor> reference(queries, 3);
  for (index_t i = 0; i < queries; ++i) {
    const auto c = coarse_geometry.coord_of(unmasked[static_cast<std::size_t>(i)]);
    reference.row(i) << coarse_geometry.normalised_centre<double>(c.x, 0),
        coarse_geometry.normalised_centre<double>(c.y, 1), coarse_geometry.normalised_centre<double>(c.z, 2);
  }
  const auto calibration = io::read_kitti_calibration(frame / "calib.txt");
  const mat4<float> lidar2img = io::to_mat4f(calibration.lidar_to_image());
  constexpr index_t cameras = 1;
  std::vector<float> reference_cam(static_cast<std::size_t>(cameras * queries * 2));
  std::vector<std::uint8_t> visible(static_cast<std::size_t>(cameras * queries));
  std::vector<std::int32_t> offsets(cameras + 1), indices(static_cast<std::size_t>(cameras * queries)),
      row_of(static_cast<std::size_t>(cameras * queries));
  start = clock_type::now();
  project_to_cameras(executor, make_view<3>(reference.data(), {queries, 1, 3}), point_cloud_range::voxformer(),
                     make_view<3>(lidar2img.m, {cameras, 4, 4}), image_size{370, 1220},
                     make_view<4>(reference_cam.data(), {cameras, queries, 1, 2}),
                     make_view<3>(visible.data(), {cameras, queries, 1}));
  const auto batches = build_camera_batches(executor, make_view<3>(visible.data(), {cameras, queries, 1}),
                                            make_view<1>(offsets.data(), {cameras + 1}),
                                            make_view<1>(indices.data(), {cameras * queries}),
                                            make_view<2>(row_of.data(), {cameras, queries}));
  const double projection_ms = milliseconds_since(start);
  std::printf("3. projected into the KITTI left camera (370x1220): %lld of %lld queries visible (%.1f ms)\n",
              static_cast<long long>(batches.total), static_cast<long long>(queries), projection_ms);

  // 4. Deformable sampling of a 24×77 feature map (8 heads × 16 channels, 8 points around each reference).
  constexpr index_t heads = 8, head_dim = 16, channels = heads * head_dim, points_per_head = 8, h = 24, w = 77;
  const index_t rows = batches.total;
  Eigen::Tensor<float, 4, Eigen::RowMajor> features(1, h * w, heads, head_dim);  // a smooth synthetic map
  for (index_t s = 0; s < h * w; ++s)
    for (index_t c = 0; c < channels; ++c)
      features(0, s, c / head_dim, c % head_dim) =
          std::sin(0.3f * float(s % w) + 0.1f * float(c)) * std::cos(0.2f * float(s / w));
  std::vector<float> row_reference(static_cast<std::size_t>(rows * 2));
  gather_camera_points(executor, make_view<4>(reference_cam.data(), {cameras, queries, 1, 2}),
                       make_view<2>(row_of.data(), {cameras, queries}), make_view<3>(row_reference.data(), {rows, 1, 2}));
  std::vector<float> locations(static_cast<std::size_t>(rows * heads * points_per_head * 2));
  std::vector<float> weights(static_cast<std::size_t>(rows * heads * points_per_head), 1.f / points_per_head);
  for (index_t r = 0; r < rows; ++r)
    for (index_t k = 0; k < heads * points_per_head; ++k) {
      // A ring of offsets, one to two feature cells around the reference point (normalised by the level size).
      const float angle = 0.785f * float(k % points_per_head), radius = 1.f + float(k / points_per_head) / heads;
      locations[static_cast<std::size_t>((r * heads * points_per_head + k) * 2)] =
          row_reference[static_cast<std::size_t>(2 * r)] + radius * std::cos(angle) / w;
      locations[static_cast<std::size_t>((r * heads * points_per_head + k) * 2 + 1)] =
          row_reference[static_cast<std::size_t>(2 * r + 1)] + radius * std::sin(angle) / h;
    }
  std::vector<float> sampled(static_cast<std::size_t>(rows * channels));
  const std::int64_t spatial_shapes[] = {h, w}, level_start[] = {0};
  start = clock_type::now();
  ms_deform_attn(executor, features, make_view<2>(spatial_shapes, {1, 2}), make_view<1>(level_start, {1}),
                 make_view<6>(locations.data(), {1, rows, heads, 1, points_per_head, 2}),
                 make_view<5>(weights.data(), {1, rows, heads, 1, points_per_head}),
                 make_view<3>(sampled.data(), {1, rows, channels}));
  const double sampling_ms = milliseconds_since(start);
  std::printf("4. sampled %lld head-samples from the 24x77 map in %.1f ms (%.0f M/s)\n",
              static_cast<long long>(rows * heads * points_per_head), sampling_ms,
              double(rows * heads * points_per_head) / sampling_ms / 1e3);

  // 5. Mean over the cameras that see each query, then the dense volume: seeds + one shared mask token.
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> seed(queries, channels);
  const Eigen::VectorXf mask_token = Eigen::VectorXf::Constant(channels, 0.5f);
  std::vector<float> volume(static_cast<std::size_t>(voxels * channels));
  start = clock_type::now();
  camera_scatter_mean(executor, make_view<2>(sampled.data(), {rows, channels}),
                      make_view<2>(row_of.data(), {cameras, queries}), seed);
  scatter_with_mask_token(executor, seed, make_view<1>(unmasked.data(), {queries}), mask_token,
                          make_view<2>(volume.data(), {voxels, channels}));
  const double scatter_ms = milliseconds_since(start);
  double checksum = 0;
  for (float v : volume) checksum += v;
  std::printf("5. dense volume %lldx%lld (%.0f MiB): %lld seed rows + %lld mask-token rows, checksum %.4f (%.1f ms)\n",
              static_cast<long long>(voxels), static_cast<long long>(channels),
              double(volume.size() * sizeof(float)) / (1 << 20), static_cast<long long>(queries),
              static_cast<long long>(counts.masked), checksum, scatter_ms);
  const double csr = double(rows * channels * 4) / (1 << 20), dense = double(voxels * channels * 4) / (1 << 20);
  std::printf("   sparse query batch: %.2f MiB (CSR, no padding) vs %.0f MiB if every voxel were a query\n", csr, dense);
  return packed == expected ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "kitti_frame_pipeline: %s\n", e.what());
  return 2;
}
