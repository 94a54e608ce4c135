// libFuzzer target for the bit-packed voxel grid reader (scripts/fuzz.sh builds and runs it; seeds in
// tests/fuzz/corpus/packed_grid/). The input is extents and a packed grid (grid_input.hpp). It must either unpack
// into 0/1 voxels that pack back into exactly those bytes, or throw voxformer::error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "grid_input.hpp"
#include "voxformer/io/voxel_grid.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace io = voxformer::io;
  const auto input = fuzz::split_grid_input(data, size);
  if (!input) return 0;
  const auto& [extents, grid_bytes] = *input;
  std::optional<std::vector<std::uint8_t>> grid;
  try {
    grid.emplace(io::parse_packed_grid(grid_bytes, extents, "fuzz input"));
  } catch (const voxformer::error&) {
    return 0;  // a malformed input, rejected: the expected outcome for most inputs
  }
  // Outside the try: nothing below may throw for a grid that parsed.
  std::uint64_t voxels = 1;
  for (const auto e : extents) voxels *= static_cast<std::uint64_t>(e);  // (checked by the parser)
  fuzz::check(grid->size() == voxels);
  for (const auto v : *grid) fuzz::check(v <= 1);
  const auto packed = io::pack_grid(*grid);
  fuzz::check(packed.size() == grid_bytes.size() &&
              (packed.empty() || std::memcmp(packed.data(), grid_bytes.data(), packed.size()) == 0));
  return 0;
}
