//! @file Bit-packed occupancy grids (SemanticKITTI .bin/.invalid, VoxFormer .pseudo/.query files, spec §2.1):
//! one bit per voxel, C order, most significant bit first — voxel 8b+j is bit 7−j of byte b.
#pragma once

#include <cstdint>

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

namespace kernels {

//! Byte b from voxels 8b..8b+7 (any non-zero voxel is a 1 bit; bits past the end are 0).
template <class Grid, class Bytes>
struct pack_byte {
  Grid grid;  // [n]
  Bytes bytes;  // [ceil(n/8)]
  VOXFORMER_HOST_DEVICE void operator()(index_t b) const {
    std::uint8_t byte = 0;
    for (int j = 0; j < 8; ++j) {
      const index_t v = 8 * b + j;
      if (v < grid.extent(0) && grid(v) != 0) byte |= static_cast<std::uint8_t>(0x80u >> j);
    }
    bytes(b) = byte;
  }
};

template <class Bytes, class Grid>
struct unpack_bit {
  Bytes bytes;
  Grid grid;
  VOXFORMER_HOST_DEVICE void operator()(index_t v) const {
    grid(v) = static_cast<std::uint8_t>((bytes(v / 8) >> (7 - v % 8)) & 1u);
  }
};

}  // namespace kernels

//! Bytes needed for `voxels` bits.
constexpr index_t packed_size(index_t voxels) { return (voxels + 7) / 8; }

//! Packs `grid` (uint8, any rank, contiguous; non-zero = 1) into `bytes` [ceil(n/8)].
template <int GridRank = 3, class Executor, class Grid, class Bytes>
void pack_bits(const Executor& executor, Grid&& grid, Bytes&& bytes) {
  constexpr const char* op = "voxformer::pack_bits";
  const auto g = flat_contiguous(op, "grid", as_view<const std::uint8_t, GridRank>(grid, op, "grid"));
  const auto b = as_view<std::uint8_t, 1>(bytes, op, "bytes");
  expect_shape(op, "bytes", "[ceil(voxels/8)]", b, {packed_size(g.size())});
  expect_accessible(op, "grid", executor, g);
  expect_accessible(op, "bytes", executor, b);
  expect_no_aliasing(op, {detail::memory_of("bytes", b)}, {detail::memory_of("grid", g)});
  parallel_for(executor, b.size(), kernels::pack_byte<decltype(g), decltype(b)>{g, b});
}

//! Unpacks `bytes` [ceil(n/8)] into `grid` (uint8 0/1, any rank, contiguous).
template <int GridRank = 3, class Executor, class Bytes, class Grid>
void unpack_bits(const Executor& executor, Bytes&& bytes, Grid&& grid) {
  constexpr const char* op = "voxformer::unpack_bits";
  const auto b = as_view<const std::uint8_t, 1>(bytes, op, "bytes");
  const auto g = flat_contiguous(op, "grid", as_view<std::uint8_t, GridRank>(grid, op, "grid"));
  expect_shape(op, "bytes", "[ceil(voxels/8)]", b, {packed_size(g.size())});
  expect_accessible(op, "grid", executor, g);
  expect_accessible(op, "bytes", executor, b);
  expect_no_aliasing(op, {detail::memory_of("grid", g)}, {detail::memory_of("bytes", b)});
  parallel_for(executor, g.size(), kernels::unpack_bit<decltype(b), decltype(g)>{b, g});
}

}  // namespace voxformer
