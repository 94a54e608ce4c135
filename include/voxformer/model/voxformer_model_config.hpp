//! @file The whole model's configuration: the image path, stage 2 + head, optionally stage 1, and which frame of a
//! sequence each of the head's cameras is (VoxFormer-T's five cameras are one camera at t, t−12, t−9, t−6, t−3).
#pragma once

#include <algorithm>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "voxformer/core/error.hpp"
#include "voxformer/model/config.hpp"
#include "voxformer/model/image_backbone_config.hpp"
#include "voxformer/model/qpn_config.hpp"

namespace voxformer {

struct voxformer_model_config {
  model_config head = model_config::voxformer_t();
  image_backbone_config image{};
  //! With it, a frame's scene input is the occupancy grid and stage 1 proposes; without, it is the proposal itself.
  std::optional<qpn_config> stage1{};
  //! One per camera of the head, in its order: the camera's frame relative to the current one (0, or a past frame:
  //! negative). A frame before the sequence's start is replaced by the current one, as the original does.
  std::vector<index_t> temporal_offsets{0, -12, -9, -6, -3};

  //! VoxFormer-T and -S (and the 3-D variants: "T-3D", "S-3D"), with or without stage 1 (the official grid).
  static voxformer_model_config preset(std::string_view variant, bool with_stage1) {
    voxformer_model_config c;
    c.head = model_config::preset(variant);
    if (c.head.cameras == 1) c.temporal_offsets = {0};
    if (with_stage1) c.stage1 = qpn_config{};
    return c;
  }

  //! Frames of features a stream keeps: the current one and every one back to the oldest offset.
  index_t history() const { return 1 - *std::min_element(temporal_offsets.begin(), temporal_offsets.end()); }

  void validate() const {
    constexpr const char* where = "voxformer::voxformer_model_config";
    head.validate();
    image.validate();
    const auto [h, w] = image.feature_shape();
    detail::require(head.levels() == 1 && head.feature_shapes[0] == feature_shape{h, w}, where,
                    ": the head samples ", head.levels(), " feature level(s) of ", head.feature_shapes[0].height, "x",
                    head.feature_shapes[0].width, "; the image path gives one of ", h, "x", w, " (crop ",
                    image.crop[0], "x", image.crop[1], ")");
    detail::require(head.image.height == image.crop[0] && head.image.width == image.crop[1], where,
                    ": the head normalises pixel coordinates by ", head.image.height, "x", head.image.width,
                    ", which must be the crop, ", image.crop[0], "x", image.crop[1]);
    detail::require(head.embed_dims == image.neck_channels, where, ": the head's embed_dims (", head.embed_dims,
                    ") must be the image features' channels, neck_channels (", image.neck_channels, ")");
    detail::require(static_cast<index_t>(temporal_offsets.size()) == head.cameras, where, ": ",
                    temporal_offsets.size(), " temporal offsets for the head's ", head.cameras, " cameras");
    std::set<index_t> distinct;
    for (const index_t offset : temporal_offsets)
      detail::require(offset <= 0 && offset >= -(index_t{1} << 16) && distinct.insert(offset).second, where,
                      ": temporal offsets must be distinct, 0 or past frames (at most 65536 back), got ", offset);
    if (stage1) {
      stage1->validate();
      const auto grid = stage1->output_grid();
      detail::require(grid == head.volume, where, ": stage 1's proposal [", grid[0], ", ", grid[1], ", ", grid[2],
                      "] must be the head's query volume [", head.volume[0], ", ", head.volume[1], ", ",
                      head.volume[2], "]");
    }
  }
};

}  // namespace voxformer
