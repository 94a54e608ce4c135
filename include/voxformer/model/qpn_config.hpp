//! @file The query proposal network's configuration (stage 1: LMSCNet_SS with out_scale "1_2", spec §1.3, §2.5):
//! the input occupancy grid fixes every size — its height Z is the 2-D convolutions' channel count f, and the
//! channel widths of the encoder and decoder are f, 1.5f, 2f, 2.5f, f/8, f/4, f/2 as in LMSCNet.
#pragma once

#include <array>
#include <cstdint>
#include <limits>

#include "voxformer/core/config.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/core/layout_check.hpp"

namespace voxformer {

struct qpn_config {
  //! The occupancy grid [X, Y, Z] = [x][y][z] (official 256 × 256 × 32): rows, columns and channels of the
  //! network's 2-D image. X and Y must divide by 8 (three 2× poolings), Z by 8 (the f/8 channels).
  std::array<index_t, 3> grid{256, 256, 32};

  static constexpr index_t classes = 2;               //!< empty, occupied
  static constexpr index_t head_planes = 8;           //!< the 3-D segmentation head's width
  static constexpr index_t dilations[3] = {1, 2, 3};  //!< its ASPP branches

  index_t height() const { return grid[2]; }  //!< f
  //! Channels after encoder block b = 1..4: f, 1.5f, 2f, 2.5f.
  index_t encoder_channels(int block) const { return height() * (block + 1) / 2; }
  //! Channels of the 1:8, 1:4 and 1:2 scale outputs: f/8, f/4, f/2.
  index_t out_1_8() const { return height() / 8; }
  index_t out_1_4() const { return height() / 4; }
  index_t out_1_2() const { return height() / 2; }
  //! The proposal's grid: [X/2, Y/2, Z/2] (official 128 × 128 × 16).
  std::array<index_t, 3> output_grid() const { return {grid[0] / 2, grid[1] / 2, grid[2] / 2}; }
  index_t voxels() const { return grid[0] * grid[1] * grid[2]; }
  index_t output_voxels() const { return voxels() / 8; }

  //! Bounds of the grid. An extent: 2^16, so that a channel count f = Z keeps each weight under (2.5 · 2^16)² · 9
  //! elements. The voxels: the proposal [X/2, Y/2, Z/2] is stage 2's query grid, whose output grid, the size of this
  //! one, is indexed in int32 (`model_limits::voxels`); every buffer of stage 1 is a small multiple of them.
  static constexpr index_t max_extent = index_t{1} << 16;
  static constexpr index_t max_voxels = std::numeric_limits<std::int32_t>::max();

  void validate() const {
    for (std::size_t a = 0; a < 3; ++a)
      detail::require(grid[a] > 0 && grid[a] % 8 == 0 && grid[a] <= max_extent, "voxformer::qpn_config: grid extent ",
                      a, " must be a positive multiple of 8 up to ", max_extent, ", got ", grid[a]);
    index_t count = 1;
    detail::require(detail::product_within({grid[0], grid[1], grid[2]}, count) && count <= max_voxels, "voxformer::qpn_config: voxels X*Y*Z (", grid[0], " x ", grid[1],
                    " x ", grid[2], ") must be at most ", max_voxels,
                    ": the proposal is stage 2's query grid, whose output grid, this one, is indexed in int32");
  }
};

}  // namespace voxformer
