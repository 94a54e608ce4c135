//! @file The image path's configuration (spec §1.1, §3.1): how a camera image is cropped and normalised, and the
//! widths of ResNet-50 up to layer3 and of the FPN neck. The official values are the defaults; every one is settable
//! (a width-reduced network of the same graph is what the committed test fixtures use).
#pragma once

#include <array>
#include <cmath>

#include "voxformer/core/config.hpp"
#include "voxformer/core/error.hpp"

namespace voxformer {

struct image_backbone_config {
  //! Rows and columns kept of each image, from its top-left corner (so the intrinsics are unchanged): 370 × 1220.
  std::array<index_t, 2> crop{370, 1220};
  //! Per channel (R, G, B): the network sees (u / 255 − mean) / stddev of each 8-bit value u (ImageNet's
  //! statistics; torchvision's Normalize(mean, std)).
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> stddev{0.229f, 0.224f, 0.225f};
  //! The stem's channels b; layer i (1, 2, 3) has planes b·2^(i−1) and outputs expansion × that (ResNet-50: 64).
  index_t base_width = 64;
  //! Bottlenecks in layer1, layer2, layer3 (ResNet-50: 3, 4, 6; layer4 is not computed, spec §3.1).
  std::array<index_t, 3> blocks{3, 4, 6};
  //! The FPN's output channels: the image features' width, the model's embed_dims (128).
  index_t neck_channels = 128;

  static constexpr index_t expansion = 4;
  static constexpr index_t stages = 3;

  //! Planes (the middle width of a bottleneck) and output channels of layer `layer` (0, 1, 2).
  index_t planes(int layer) const { return base_width << layer; }
  index_t layer_channels(int layer) const { return expansion * planes(layer); }

  //! The extent after one stride-2 step of the network (7×7/2 pad 3, 3×3/2 pad 1 pooling, 3×3/2 pad 1): ⌊(n−1)/2⌋+1.
  static constexpr index_t halve(index_t n) { return (n - 1) / 2 + 1; }
  //! The image features' rows and columns: the crop halved four times (370 × 1220 → 24 × 77).
  std::array<index_t, 2> feature_shape() const {
    index_t h = crop[0], w = crop[1];
    for (int s = 0; s < 4; ++s) h = halve(h), w = halve(w);
    return {h, w};
  }

  void validate() const {
    constexpr const char* where = "voxformer::image_backbone_config";
    constexpr index_t largest_side = index_t{1} << 16, largest_width = index_t{1} << 12;
    for (std::size_t a = 0; a < 2; ++a)
      detail::require(crop[a] >= 1 && crop[a] <= largest_side, where, ": crop[", a, "] (", crop[a], ") must be in [1, ",
                      largest_side, "]");
    for (std::size_t c = 0; c < 3; ++c)
      detail::require(std::isfinite(mean[c]) && std::isfinite(stddev[c]) && stddev[c] > 0.f, where, ": channel ", c,
                      " needs a finite mean and a finite positive stddev, got ", mean[c], " and ", stddev[c]);
    // Generous bounds, far above ResNet-50's: every width and product below then fits 64 bits with room to spare.
    detail::require(base_width >= 1 && base_width <= largest_width, where, ": base_width (", base_width,
                    ") must be in [1, ", largest_width, "]");
    for (std::size_t l = 0; l < 3; ++l)
      detail::require(blocks[l] >= 1 && blocks[l] <= 64, where, ": blocks[", l, "] (", blocks[l],
                      ") must be in [1, 64]");
    detail::require(neck_channels >= 1 && neck_channels <= largest_width, where, ": neck_channels (", neck_channels,
                    ") must be in [1, ", largest_width, "]");
  }
};

}  // namespace voxformer
