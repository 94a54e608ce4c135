//! @file Stage 2's inputs for the pipeline benchmarks, from the bundled frame (sequence 08, frame 1000): its occupancy
//! downsampled as the proposal (7 580 voxels), lidar2img of the variant's frames (T: t, t−12, t−9, t−6, t−3; S: t)
//! from calib.txt and poses.txt, random image features at the official shape, random weights at the official sizes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <random>
#include <string_view>
#include <vector>

#include "voxformer/io/kitti.hpp"
#include "voxformer/io/kitti_poses.hpp"
#include "voxformer/io/voxel_grid.hpp"
#include "voxformer/ops/voxel/downsample.hpp"
#include "voxformer/voxformer.hpp"

namespace bench {

//! `copies` copies of `one` after one another: a batch of one frame's inputs.
template <class T>
std::vector<T> repeated(const std::vector<T>& one, voxformer::index_t copies) {
  std::vector<T> all;
  for (voxformer::index_t b = 0; b < copies; ++b) all.insert(all.end(), one.begin(), one.end());
  return all;
}

struct bundled_frame {
  voxformer::voxformer_model_config variant;
  voxformer::model_config& config = variant.head;
  voxformer::parameter_store<float> weights;
  std::vector<float> features, lidar2img;  //!< [1, K, C, h, w]; [K, 4, 4]
  std::vector<std::uint8_t> proposal = std::vector<std::uint8_t>(128 * 128 * 16);

  explicit bundled_frame(std::string_view name)
      : variant(voxformer::voxformer_model_config::preset(name, false)),
        weights(voxformer::parameter_store<float>::random(variant.head, 2)) {
    using namespace voxformer;
    const auto dir = std::filesystem::path(VOXFORMER_EXAMPLE_DATA_DIR) / "semantickitti_08_001000";
    const auto occupancy = io::read_packed_grid(dir / "voxels.bin", {256, 256, 32});
    downsample_occupancy(cpu_executor{2}, make_view<3>(occupancy.data(), {256, 256, 32}),
                         make_view<3>(proposal.data(), {128, 128, 16}));
    const auto calibration = io::read_kitti_calibration(dir / "calib.txt");
    const auto poses = io::read_kitti_poses(dir / "poses.txt");
    for (const auto& matrix : io::temporal_lidar_to_image(calibration, poses, 1000, variant.temporal_offsets))
      for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c) lidar2img.push_back(static_cast<float>(matrix(r, c)));
    const auto& level = config.feature_shapes[0];
    features.resize(static_cast<std::size_t>(config.cameras * config.embed_dims * level.height * level.width));
    std::mt19937 gen(5);
    std::normal_distribution<float> normal;
    for (auto& x : features) x = normal(gen);
  }
  bundled_frame(const bundled_frame&) = delete;

  std::array<voxformer::index_t, 5> feature_shape() const {
    const auto& level = config.feature_shapes[0];
    return {1, config.cameras, config.embed_dims, level.height, level.width};
  }
};

}  // namespace bench
