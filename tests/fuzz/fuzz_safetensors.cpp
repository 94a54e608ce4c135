// libFuzzer target for the .safetensors reader (scripts/fuzz.sh builds and runs it; seeds in
// tests/fuzz/corpus/safetensors/). Any input must either parse into entries that satisfy the format's
// invariants, or throw voxformer::error: a crash, a sanitizer report, another exception or a broken invariant is
// a finding. A parsed file is also written back and re-read, which must give the same entries.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "voxformer/io/safetensors.hpp"

namespace {

namespace st = voxformer::io;

void check(bool condition) {
  if (!condition) std::abort();
}

// Converted tensors go through one buffer of at most this many values (inputs are small; this bounds it anyway).
constexpr std::size_t max_converted = std::size_t{1} << 20;

void touch(const st::safetensors_file& file, std::span<const std::byte> input) {
  const std::byte* section = nullptr;  // the data section, as every entry's data - begin
  std::uint64_t covered = 0;
  std::vector<double> doubles;
  std::vector<float> floats;
  unsigned checksum = 0;
  for (const auto& e : file.entries()) {
    check(e.begin == covered && e.begin <= e.end);  // they tile the data section in order
    covered = e.end;
    check(e.bytes() == static_cast<std::size_t>(e.elements()) * st::element_size(e.dtype));
    if (!section) section = e.data - e.begin;
    check(e.data == section + e.begin && section >= input.data() + 8 && e.end <= input.size());
    check(file.find(e.name) == &e);
    check(e.source == file.source());
    for (std::size_t i = 0; i < e.bytes(); ++i) checksum += std::to_integer<unsigned>(e.data[i]);
    if (st::is_floating(e.dtype)) {
      const auto n = static_cast<std::size_t>(e.elements());
      if (n <= max_converted) {
        doubles.resize(n);
        floats.resize(n);
        st::convert_elements(e, doubles.data());
        st::convert_elements(e, floats.data());
      }
    } else {
      bool threw = false;
      try {
        st::convert_elements(e, floats.data());
      } catch (const voxformer::error&) {
        threw = true;
      }
      check(threw);
    }
    if (e.dtype == st::safetensors_dtype::f32 && st::readable_in_place<float>(e)) {
      check(st::view_in_place<float>(e).size() == static_cast<std::size_t>(e.elements()));
    }
    if (e.dtype == st::safetensors_dtype::boolean && st::readable_in_place<bool>(e)) {
      for (bool b : st::view_in_place<bool>(e)) checksum += b;
    }
    file.release_pages(e);  // a buffer: no-op
  }
  if (section) check(section + covered == input.data() + input.size());
  for (const auto& [key, value] : file.metadata()) checksum += static_cast<unsigned>(key.size() + value.size());
  // Keeps the loads above from being optimised away.
  volatile unsigned sink = checksum;
  (void)sink;
}

void round_trip(const st::safetensors_file& file) {
  std::vector<st::safetensors_tensor_bytes> tensors;
  for (const auto& e : file.entries()) tensors.push_back({e.name, e.dtype, e.shape, {e.data, e.bytes()}});
  const auto image = st::serialize_safetensors(tensors, file.metadata());
  const auto again = st::safetensors_file::from_bytes(image, "round trip");
  check(again.entries().size() == file.entries().size());
  check(again.metadata() == file.metadata());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& a = file.entries()[i];
    const auto& b = again.entries()[i];
    check(a.name == b.name && a.dtype == b.dtype && a.shape == b.shape && a.begin == b.begin && a.end == b.end);
    check(a.bytes() == 0 || std::memcmp(a.data, b.data, a.bytes()) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  std::optional<st::safetensors_file> file;
  try {
    file.emplace(st::safetensors_file::from_bytes(input, "fuzz input"));
  } catch (const voxformer::error&) {
    return 0;  // a malformed input, rejected: the expected outcome for most inputs
  }
  // Outside the try: nothing below may throw for a file that parsed.
  touch(*file, input);
  round_trip(*file);
  return 0;
}
