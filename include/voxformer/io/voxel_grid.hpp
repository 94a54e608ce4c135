//! @file Bit-packed voxel grid files (SemanticKITTI `.bin`/`.invalid`/`.occluded`, VoxFormer `.pseudo`, spec §2.1):
//! one bit per voxel, C order, most significant bit first — voxel 8b+j is bit 7−j of byte b (docs/conventions.md,
//! "Bit-packed files"). A 256×256×32 grid is 262144 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "voxformer/core/error.hpp"
#include "voxformer/io/atomic_file.hpp"
#include "voxformer/io/binary_file.hpp"

namespace voxformer::io {

namespace detail {

//! Π extents, each ≥ 0, without overflow.
inline std::uint64_t grid_voxels(const std::vector<std::int64_t>& extents, std::string_view where) {
  std::uint64_t voxels = 1;
  for (const auto e : extents) {
    voxformer::detail::require(e >= 0, where, ": negative grid extent ", e);
    voxformer::detail::require(!__builtin_mul_overflow(voxels, static_cast<std::uint64_t>(e), &voxels), where,
                               ": the grid's voxel count overflows 64 bits");
  }
  return voxels;
}

inline std::string grid_string(const std::vector<std::int64_t>& extents) {
  std::ostringstream out;
  for (std::size_t d = 0; d < extents.size(); ++d) out << (d ? "x" : "") << extents[d];
  return out.str();
}

//! Checks that a grid of `extents` packs into `bytes` bytes, ceil(voxels/8); returns the voxel count.
inline std::uint64_t require_packed_size(std::uintmax_t bytes, const std::vector<std::int64_t>& extents,
                                         std::string_view where) {
  const auto voxels = grid_voxels(extents, where);
  const auto packed = voxels / 8 + (voxels % 8 != 0);
  voxformer::detail::require(bytes == packed, where, ": ", bytes, " bytes, a ", grid_string(extents),
                             " grid packs into ", packed);
  return voxels;
}

//! Unpacks exactly the grid of `extents` from `bytes` (padding bits must be 0).
inline std::vector<std::uint8_t> unpack_grid(std::span<const std::byte> bytes, const std::vector<std::int64_t>& extents,
                                             std::string_view where) {
  const auto voxels = require_packed_size(bytes.size(), extents, where);
  // A set bit past the last voxel means the file holds a different grid (the writer leaves them 0).
  const bool padding_clear = voxels % 8 == 0 || (std::to_integer<unsigned>(bytes.back()) & 0xFFu >> voxels % 8) == 0;
  voxformer::detail::require(padding_clear, where, ": padding bits after the last voxel are set: not a ",
                             grid_string(extents), " grid");
  std::vector<std::uint8_t> grid(static_cast<std::size_t>(voxels));
  for (std::size_t v = 0; v < grid.size(); ++v)
    grid[v] = static_cast<std::uint8_t>(std::to_integer<unsigned>(bytes[v / 8]) >> (7 - v % 8) & 1u);
  return grid;
}

}  // namespace detail

//! Unpacks a grid of `extents` from bytes in memory into one 0/1 byte per voxel, C order. A size other than
//! ceil(Π extents / 8) bytes, or set padding bits, throws; `name` identifies the bytes in messages.
inline std::vector<std::uint8_t> parse_packed_grid(std::span<const std::byte> bytes,
                                                   const std::vector<std::int64_t>& extents, std::string_view name) {
  return detail::unpack_grid(bytes, extents, "voxformer::io::parse_packed_grid('" + std::string(name) + "')");
}

//! Reads a packed grid file of `extents` (e.g. {256, 256, 32}); its size is checked before it is read.
inline std::vector<std::uint8_t> read_packed_grid(const std::filesystem::path& path,
                                                  const std::vector<std::int64_t>& extents) {
  const std::string where = "voxformer::io::read_packed_grid('" + path.string() + "')";
  detail::require_packed_size(detail::regular_file_size(path, where), extents, where);
  return detail::unpack_grid(detail::read_file_as<std::byte>(path, where), extents, where);
}

//! Packs one byte per voxel (non-zero = 1) into ceil(n/8) bytes, padding bits 0.
inline std::vector<std::byte> pack_grid(std::span<const std::uint8_t> voxels) {
  std::vector<std::byte> bytes(voxels.size() / 8 + (voxels.size() % 8 != 0));
  for (std::size_t v = 0; v < voxels.size(); ++v)
    if (voxels[v] != 0) bytes[v / 8] |= std::byte{static_cast<std::uint8_t>(0x80u >> v % 8)};
  return bytes;
}

//! Writes `voxels` (one byte per voxel, C order, Π extents of them) as a packed grid file.
inline void write_packed_grid(const std::filesystem::path& path, std::span<const std::uint8_t> voxels,
                              const std::vector<std::int64_t>& extents) {
  const std::string where = "voxformer::io::write_packed_grid('" + path.string() + "')";
  const auto expected = detail::grid_voxels(extents, where);
  voxformer::detail::require(voxels.size() == expected, where, ": ", voxels.size(), " voxels, a ",
                             detail::grid_string(extents), " grid has ", expected);
  const auto bytes = pack_grid(voxels);
  detail::write_file_atomically(path, where, bytes.data(), bytes.size());
}

}  // namespace voxformer::io
