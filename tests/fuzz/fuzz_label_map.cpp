// libFuzzer target for the label map (yaml through yaml-cpp; scripts/fuzz.sh builds and runs it, linking
// fuzz_label_map.ldflags; seeds in tests/fuzz/corpus/label_map/, dictionary fuzz_label_map.dict). The input is the
// yaml text. It must either parse into a consistent map — every class's raw id maps back to it, every raw id of the
// learning map has a class, a name and a colour, and the volume conversions round-trip without throwing — or throw
// voxformer::error (a yaml-cpp exception escaping would be a finding).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <vector>

#include "voxformer/io/label_map.hpp"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using voxformer::io::label_map;
  std::optional<label_map> map;
  try {
    map.emplace(label_map::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz input"));
  } catch (const voxformer::error&) {
    return 0;  // a malformed input, rejected: the expected outcome for most inputs
  }
  // Outside the try: nothing below may throw for a map that parsed.
  const auto classes = map->classes();
  check(classes >= 1 && classes <= 255);
  for (voxformer::index_t c = 0; c < classes; ++c) {
    const auto raw = map->to_raw(c);
    check(map->to_class(raw) == c);
    check(map->class_colour(c) == map->raw_colour(raw));
    check(map->class_name(c) == map->raw_name(raw));
    (void)map->ignored(c);
  }
  const auto& raw_ids = map->raw_ids();
  check(!raw_ids.empty());
  for (std::size_t i = 0; i < raw_ids.size(); ++i) {
    check(i == 0 || raw_ids[i - 1] < raw_ids[i]);
    check(map->to_class(raw_ids[i]) < classes);
    (void)map->raw_name(raw_ids[i]);
    (void)map->raw_colour(raw_ids[i]);
  }
  std::vector<std::uint8_t> as_classes(raw_ids.size()), truth(raw_ids.size());
  std::vector<std::uint16_t> back(raw_ids.size());
  map->to_classes(raw_ids, as_classes);
  map->to_raw(as_classes, back);
  map->ground_truth_classes(raw_ids, {}, truth);
  for (std::size_t i = 0; i < raw_ids.size(); ++i) {
    check(map->to_class(back[i]) == as_classes[i]);
    check(truth[i] == (as_classes[i] == 0 && raw_ids[i] != 0 ? label_map::ignore : as_classes[i]));
  }
  return 0;
}
