//! @file Camera images from PNG files, for the runner and the example: one 8-bit RGB file per camera, all of one
//! size, as uint8 [K, H, W, 3].
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "voxformer/core/config.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/io/png.hpp"

namespace voxformer::tools {

//! Reads `paths` (8-bit RGB PNG, one per camera in the configuration's order) and appends their pixels to `pixels`
//! as [K, H, W, 3]; returns {H, W}. A file of another kind or of another size than the first is an error naming it.
inline std::array<index_t, 2> read_camera_images(const std::vector<std::string>& paths,
                                                 std::vector<std::uint8_t>& pixels) {
  index_t height = 0, width = 0;
  for (std::size_t k = 0; k < paths.size(); ++k) {
    const io::rgb_image image = io::read_camera_image(paths[k]);
    if (k == 0) height = image.height, width = image.width;
    detail::require(static_cast<index_t>(image.height) == height && static_cast<index_t>(image.width) == width,
                    "--images '", paths[k], "' is ", image.width, "x", image.height, ", the first image ", width, "x",
                    height, ": every camera's image must have one size");
    pixels.insert(pixels.end(), image.rgb.begin(), image.rgb.end());
  }
  return {height, width};
}

}  // namespace voxformer::tools
