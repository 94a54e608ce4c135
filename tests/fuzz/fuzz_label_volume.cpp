// libFuzzer target for the SemanticKITTI label volume reader (scripts/fuzz.sh builds and runs it; seeds in
// tests/fuzz/corpus/label_volume/). The input is extents and a volume (grid_input.hpp). It must either parse into
// exactly one uint16 per voxel holding the input's bytes, or throw voxformer::error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "grid_input.hpp"
#include "voxformer/io/label_volume.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = fuzz::split_grid_input(data, size);
  if (!input) return 0;
  const auto& [extents, bytes] = *input;
  std::optional<std::vector<std::uint16_t>> labels;
  try {
    labels.emplace(voxformer::io::parse_label_volume(bytes, extents, "fuzz input"));
  } catch (const voxformer::error&) {
    return 0;  // a malformed input, rejected: the expected outcome for most inputs
  }
  // Outside the try: nothing below may throw for a volume that parsed.
  std::uint64_t voxels = 1;
  for (const auto e : extents) voxels *= static_cast<std::uint64_t>(e);  // (checked by the parser)
  fuzz::check(labels->size() == voxels && 2 * voxels == bytes.size());
  fuzz::check(labels->empty() || std::memcmp(labels->data(), bytes.data(), bytes.size()) == 0);
  return 0;
}
