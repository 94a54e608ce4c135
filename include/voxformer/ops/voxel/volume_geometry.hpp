//! @file The voxel volume: origin, voxel size, dimensions, and VoxFormer's index order (spec §3.4).
//!
//! Flat index k = (x·Y + y)·Z + z: x slowest, z fastest (for 128×128×16, k = 2048x + 16y + z).
#pragma once

#include "voxformer/core/config.hpp"

namespace voxformer {

struct voxel_coord {
  index_t x, y, z;
};

struct volume_geometry {
  float origin[3];      //!< metres, the outer corner of voxel (0, 0, 0)
  float voxel_size[3];  //!< metres
  index_t dims[3];      //!< voxels along x, y, z

  //! 256×256×32 @ 0.2 m over x∈[0,51.2), y∈[−25.6,25.6), z∈[−2,4.4): SemanticKITTI / VoxFormer output grid.
  static constexpr volume_geometry voxformer_fine() { return {{0.f, -25.6f, -2.f}, {0.2f, 0.2f, 0.2f}, {256, 256, 32}}; }
  //! 128×128×16 @ 0.4 m over the same box: VoxFormer's query / proposal grid.
  static constexpr volume_geometry voxformer_coarse() {
    return {{0.f, -25.6f, -2.f}, {0.4f, 0.4f, 0.4f}, {128, 128, 16}};
  }

  VOXFORMER_HOST_DEVICE constexpr index_t voxel_count() const { return dims[0] * dims[1] * dims[2]; }

  VOXFORMER_HOST_DEVICE constexpr index_t flat_index(index_t x, index_t y, index_t z) const {
    return (x * dims[1] + y) * dims[2] + z;
  }

  VOXFORMER_HOST_DEVICE constexpr voxel_coord coord_of(index_t k) const {
    return {k / (dims[1] * dims[2]), (k / dims[2]) % dims[1], k % dims[2]};
  }

  //! Upper bound of the box along an axis, metres.
  VOXFORMER_HOST_DEVICE constexpr float upper(int axis) const {
    return origin[axis] + static_cast<float>(dims[axis]) * voxel_size[axis];
  }

  //! VoxFormer's normalised reference point of a voxel: ((x+0.5)/X, (y+0.5)/Y, (z+0.5)/Z) (spec §3.4).
  template <class T>
  VOXFORMER_HOST_DEVICE constexpr T normalised_centre(index_t index, int axis) const {
    return (static_cast<T>(index) + T(0.5)) / static_cast<T>(dims[axis]);
  }
};

}  // namespace voxformer
