//! @file How the grid fuzzers read their input: the first byte chooses a rank (0–3, bits 0–1) and whether the
//! extents that follow are 1-byte (small, usually valid) or 8-byte signed (bit 2: negative or overflowing products);
//! the rest is the file's bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

namespace fuzz {

struct grid_input {
  std::vector<std::int64_t> extents;
  std::span<const std::byte> bytes;
};

//! The extents and the bytes after them, or nothing for an input too short to hold its extents.
inline std::optional<grid_input> split_grid_input(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return std::nullopt;
  const std::size_t rank = data[0] & 3u, width = data[0] & 4u ? 8 : 1;
  if (size < 1 + rank * width) return std::nullopt;
  grid_input input{std::vector<std::int64_t>(rank), {}};
  for (std::size_t d = 0; d < rank; ++d) {
    if (width == 8) std::memcpy(&input.extents[d], data + 1 + 8 * d, 8);
    else input.extents[d] = data[1 + d];
  }
  input.bytes = std::span(reinterpret_cast<const std::byte*>(data), size).subspan(1 + rank * width);
  return input;
}

//! Aborts (a finding) unless `condition` holds.
inline void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace fuzz
