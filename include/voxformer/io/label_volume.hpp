//! @file SemanticKITTI voxel label volumes (`.label` of the SSC benchmark, spec §5.2): one little-endian uint16 raw
//! label id per voxel, C order [x][y][z] — 4 MiB for 256×256×32. Ground truth and submissions share the format;
//! io/label_map.hpp turns raw ids into classes and back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "voxformer/core/error.hpp"
#include "voxformer/io/atomic_file.hpp"
#include "voxformer/io/binary_file.hpp"
#include "voxformer/io/voxel_grid.hpp"

namespace voxformer::io {

namespace detail {

//! Checks that a volume of `extents` is exactly `bytes` bytes (2 per voxel, without overflow).
inline void require_label_volume_size(std::uintmax_t bytes, const std::vector<std::int64_t>& extents,
                                      std::string_view where) {
  std::uint64_t expected = 0;
  voxformer::detail::require(!__builtin_mul_overflow(grid_voxels(extents, where), std::uint64_t{2}, &expected), where,
                             ": a ", grid_string(extents), " volume of uint16 labels overflows 64 bits");
  voxformer::detail::require(bytes == expected, where, ": ", bytes, " bytes, a ", grid_string(extents),
                             " volume of uint16 labels is ", expected);
}

}  // namespace detail

//! The raw label ids of a volume of `extents` from bytes in memory; a size other than 2·Π extents throws before
//! anything is allocated. `name` identifies the bytes in messages.
inline std::vector<std::uint16_t> parse_label_volume(std::span<const std::byte> bytes,
                                                     const std::vector<std::int64_t>& extents, std::string_view name) {
  const std::string where = "voxformer::io::parse_label_volume('" + std::string(name) + "')";
  detail::require_label_volume_size(bytes.size(), extents, where);
  return detail::array_from_bytes<std::uint16_t>(bytes, where);
}

//! Reads a `.label` volume of `extents` (e.g. {256, 256, 32}); its size is checked before it is read.
inline std::vector<std::uint16_t> read_label_volume(const std::filesystem::path& path,
                                                    const std::vector<std::int64_t>& extents) {
  const std::string where = "voxformer::io::read_label_volume('" + path.string() + "')";
  detail::require_label_volume_size(detail::regular_file_size(path, where), extents, where);
  auto labels = detail::read_file_as<std::uint16_t>(path, where);
  detail::require_label_volume_size(2 * labels.size(), extents, where);  // the file may have changed meanwhile
  return labels;
}

//! Writes `labels` (raw ids, C order, Π extents of them) as a `.label` volume.
inline void write_label_volume(const std::filesystem::path& path, std::span<const std::uint16_t> labels,
                               const std::vector<std::int64_t>& extents) {
  const std::string where = "voxformer::io::write_label_volume('" + path.string() + "')";
  const auto expected = detail::grid_voxels(extents, where);
  voxformer::detail::require(labels.size() == expected, where, ": ", labels.size(), " labels, a ",
                             detail::grid_string(extents), " volume has ", expected);
  detail::write_file_atomically(path, where, labels.data(), labels.size_bytes());
}

}  // namespace voxformer::io
