// libFuzzer target for the .npy reader (scripts/fuzz.sh builds and runs it; seeds in tests/fuzz/corpus/npy/). Any
// input must either parse into an array whose shape, dtype and bytes agree, or throw voxformer::error: a crash, a
// sanitizer report, another exception or a broken invariant is a finding. A parsed array is also written back
// (the header write_npy writes) and re-read, which must give the same array.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>

#include "voxformer/io/npy.hpp"

namespace {

namespace io = voxformer::io;

void check(bool condition) {
  if (!condition) std::abort();
}

template <class T>
unsigned sum_elements(const io::npy_array& a) {
  unsigned sum = 0;
  const T* values = a.data<T>();
  for (std::int64_t i = 0; i < a.size(); ++i) sum += static_cast<unsigned>(values[i] != T{});
  return sum;
}

void touch(const io::npy_array& a) {
  const auto elements = a.size();
  check(elements >= 0 && a.bytes.size() == static_cast<std::uint64_t>(elements) * (a.type.bits / 8u));
  unsigned checksum = 0;
  for (const auto b : a.bytes) checksum += std::to_integer<unsigned>(b);
  const auto t = a.type;
  if (t == voxformer::dtype_of<float>()) checksum += sum_elements<float>(a);
  else if (t == voxformer::dtype_of<double>()) checksum += sum_elements<double>(a);
  else if (t == voxformer::dtype_of<std::int8_t>()) checksum += sum_elements<std::int8_t>(a);
  else if (t == voxformer::dtype_of<std::int16_t>()) checksum += sum_elements<std::int16_t>(a);
  else if (t == voxformer::dtype_of<std::int32_t>()) checksum += sum_elements<std::int32_t>(a);
  else if (t == voxformer::dtype_of<std::int64_t>()) checksum += sum_elements<std::int64_t>(a);
  else if (t == voxformer::dtype_of<std::uint8_t>()) checksum += sum_elements<std::uint8_t>(a);
  else if (t == voxformer::dtype_of<bool>()) checksum += static_cast<unsigned>(a.bytes.size());  // any byte: not a bool
  else if (t == voxformer::dtype_of<std::uint16_t>()) checksum += sum_elements<std::uint16_t>(a);
  else if (t == voxformer::dtype_of<std::uint32_t>()) checksum += sum_elements<std::uint32_t>(a);
  else if (t == voxformer::dtype_of<std::uint64_t>()) checksum += sum_elements<std::uint64_t>(a);
  else check(t == (voxformer::dtype{voxformer::scalar_kind::floating, 16}));  // the one type without a C++ type
  // The tensor adapter must describe the same memory.
  const auto d = voxformer::tensor_traits<io::npy_array>::describe(a);
  check(d.rank == static_cast<int>(a.shape.size()) && d.type == a.type && d.data == a.bytes.data());
  volatile unsigned sink = checksum;
  (void)sink;
}

void round_trip(const io::npy_array& a) {
  const std::string image = io::detail::npy_preamble(a.type, a.shape, "round trip") +
                            std::string(reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size());
  const auto again = io::parse_npy(std::as_bytes(std::span(image.data(), image.size())), "round trip");
  check(again.type == a.type && again.shape == a.shape && again.bytes == a.bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  std::optional<io::npy_array> array;
  try {
    array.emplace(io::parse_npy(input, "fuzz input"));
  } catch (const voxformer::error&) {
    return 0;  // a malformed input, rejected: the expected outcome for most inputs
  }
  // Outside the try: nothing below may throw for a file that parsed.
  touch(*array);
  round_trip(*array);
  return 0;
}
