//! @file B frames in batched host buffers, built from one pipeline fixture frame: what the batch tests give
//! `run_batch` on every executor (the CPU's directly, the emulated device's and the GPU's after an upload).
#pragma once

#include <cstdint>
#include <vector>

#include "support/pipeline_fixture.hpp"

namespace test {

//! B frames in batched buffers, built from one fixture frame: frame b's features shifted by b/4, its proposal
//! one of `proposals`, the matrices the fixture's.
struct frame_batch {
  using index_t = voxformer::index_t;
  index_t frames;
  std::vector<std::vector<float>> features;  // per level [B, K, C, h, w]
  std::vector<float> lidar2img;              // [B, K, 4, 4]
  std::vector<std::uint8_t> proposals;       // [B, X, Y, Z]
  std::vector<voxformer::tensor_view<const float, 5>> feature_views;

  frame_batch(const pipeline_fixture& f, const std::vector<std::vector<std::uint8_t>>& frame_proposals)
      : frames(static_cast<index_t>(frame_proposals.size())) {
    for (const auto& level : f.features) {
      const auto n = static_cast<std::size_t>(level.size());
      auto& values = features.emplace_back();
      for (index_t b = 0; b < frames; ++b)
        for (std::size_t i = 0; i < n; ++i) values.push_back(level.data<float>()[i] + 0.25f * static_cast<float>(b));
      const auto& s = level.shape;
      feature_views.push_back(
          voxformer::make_view<5>(static_cast<const float*>(values.data()), {frames, s[1], s[2], s[3], s[4]}));
    }
    for (index_t b = 0; b < frames; ++b) {
      lidar2img.insert(lidar2img.end(), f.lidar2img.data<float>(), f.lidar2img.data<float>() + f.lidar2img.size());
      proposals.insert(proposals.end(), frame_proposals[b].begin(), frame_proposals[b].end());
    }
  }

  // The views point into this object's own buffers.
  frame_batch(const frame_batch&) = delete;
  frame_batch& operator=(const frame_batch&) = delete;

  //! Frame b alone, as `run` takes it.
  std::vector<voxformer::tensor_view<const float, 5>> frame_features(index_t b) const {
    std::vector<voxformer::tensor_view<const float, 5>> levels;
    for (const auto& level : feature_views) levels.push_back(voxformer::leading_slice(level, b, 1));
    return levels;
  }
  auto matrices() const {
    const index_t cameras = frames > 0 ? index_t(lidar2img.size()) / frames / 16 : 0;
    return voxformer::make_view<4>(lidar2img.data(), {frames, cameras, 4, 4});
  }
};

}  // namespace test
