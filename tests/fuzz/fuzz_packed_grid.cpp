// libFuzzer target for the bit-packed voxel grid reader (scripts/fuzz.sh builds and runs it; seeds in
// tests/fuzz/corpus/packed_grid/). The input's first byte chooses a rank (0–3, bits 0–1) and whether the
// extents that follow are 1-byte (small, usually valid) or 8-byte signed (bit 2: negative or overflowing
// products); the rest is the packed grid. It must either unpack into 0/1 voxels that pack back into exactly those
// bytes, or throw voxformer::error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "voxformer/io/voxel_grid.hpp"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace io = voxformer::io;
  if (size == 0) return 0;
  const std::size_t rank = data[0] & 3u, width = data[0] & 4u ? 8 : 1;
  if (size < 1 + rank * width) return 0;
  std::vector<std::int64_t> extents(rank);
  for (std::size_t d = 0; d < rank; ++d) {
    if (width == 8) std::memcpy(&extents[d], data + 1 + 8 * d, 8);
    else extents[d] = data[1 + d];
  }
  const auto grid_bytes = std::span(reinterpret_cast<const std::byte*>(data), size).subspan(1 + rank * width);
  std::optional<std::vector<std::uint8_t>> grid;
  try {
    grid.emplace(io::parse_packed_grid(grid_bytes, extents, "fuzz input"));
  } catch (const voxformer::error&) {
    return 0;  // a malformed input, rejected: the expected outcome for most inputs
  }
  // Outside the try: nothing below may throw for a grid that parsed.
  std::uint64_t voxels = 1;
  for (const auto e : extents) voxels *= static_cast<std::uint64_t>(e);  // (checked by the parser)
  check(grid->size() == voxels);
  for (const auto v : *grid) check(v <= 1);
  const auto packed = io::pack_grid(*grid);
  check(packed.size() == grid_bytes.size() &&
        (packed.empty() || std::memcmp(packed.data(), grid_bytes.data(), packed.size()) == 0));
  return 0;
}
