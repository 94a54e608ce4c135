// libFuzzer target for the raw binary arrays — KITTI scans (N × 4 float32), labels (uint32 per point) and
// generic arrays (scripts/fuzz.sh builds and runs it; seeds in tests/fuzz/corpus/kitti_scan_labels/). Every input
// is parsed as each of them: each must either give exactly the input's values or throw voxformer::error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "voxformer/io/kitti.hpp"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

//! `parse()`'s values, touched and compared with the input, or nothing when it throws voxformer::error.
template <class T, class Parse>
void expect_values(std::span<const std::byte> input, std::size_t unit, Parse&& parse) {
  std::vector<T> values;
  try {
    values = parse();
  } catch (const voxformer::error&) {
    check(input.size() % unit != 0);  // the only reason to reject
    return;
  }
  check(input.size() % unit == 0 && values.size() * sizeof(T) == input.size());
  check(values.empty() || std::memcmp(values.data(), input.data(), input.size()) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace io = voxformer::io;
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  expect_values<float>(input, 16, [&] { return io::parse_kitti_scan(input, "fuzz scan"); });
  expect_values<std::uint32_t>(input, 4, [&] { return io::parse_kitti_labels(input, "fuzz labels"); });
  expect_values<double>(input, 8, [&] { return io::parse_binary_array<double>(input, "fuzz array"); });
  expect_values<std::uint8_t>(input, 1, [&] { return io::parse_binary_array<std::uint8_t>(input, "fuzz array"); });
  // Labels for a scan of a given point count (taken from the input's first byte, or the whole input as a scan).
  const std::size_t points = size == 0 ? 0 : std::to_integer<std::size_t>(input[0]) % 8 + size / 16;
  bool matched = true;
  try {
    check(io::parse_kitti_labels(input, "fuzz labels", points).size() == points);
  } catch (const voxformer::error&) {
    matched = false;
  }
  check(matched == (size == 4 * points));
  return 0;
}
