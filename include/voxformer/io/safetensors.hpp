//! @file `.safetensors` weight files: a validated, memory-mapped reader whose tensors are read in place when their
//! dtype and alignment fit (converted to float/double otherwise), and a writer.
//
// The format: an 8-byte little-endian header length N, N bytes of JSON (an object of tensor name →
// {"dtype", "shape", "data_offsets": [begin, end]} plus an optional "__metadata__" object of string → string),
// then the data section, which the tensors' byte ranges must tile exactly (no overlaps, no holes). Everything a
// malformed or hostile file could get wrong is checked before any tensor byte is touched; each problem is one
// `voxformer::error` naming the source, the tensor and what was expected.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "voxformer/core/error.hpp"
#include "voxformer/io/atomic_file.hpp"
#include "voxformer/io/json.hpp"

namespace voxformer::io {

// Tensor bytes are little-endian and read in place.
static_assert(std::endian::native == std::endian::little,
              "voxformer::io::safetensors reads little-endian tensor data in place: big-endian hosts are unsupported");

enum class safetensors_dtype : std::uint8_t { boolean, u8, i8, u16, i16, u32, i32, u64, i64, f16, bf16, f32, f64 };

inline constexpr std::size_t element_size(safetensors_dtype t) {
  switch (t) {
    case safetensors_dtype::boolean:
    case safetensors_dtype::u8:
    case safetensors_dtype::i8: return 1;
    case safetensors_dtype::u16:
    case safetensors_dtype::i16:
    case safetensors_dtype::f16:
    case safetensors_dtype::bf16: return 2;
    case safetensors_dtype::u32:
    case safetensors_dtype::i32:
    case safetensors_dtype::f32: return 4;
    case safetensors_dtype::u64:
    case safetensors_dtype::i64:
    case safetensors_dtype::f64: return 8;
  }
  return 0;
}

//! The dtype's name in the header ("F32", "BF16", "BOOL", …).
inline constexpr std::string_view to_string(safetensors_dtype t) {
  switch (t) {
    case safetensors_dtype::boolean: return "BOOL";
    case safetensors_dtype::u8: return "U8";
    case safetensors_dtype::i8: return "I8";
    case safetensors_dtype::u16: return "U16";
    case safetensors_dtype::i16: return "I16";
    case safetensors_dtype::u32: return "U32";
    case safetensors_dtype::i32: return "I32";
    case safetensors_dtype::u64: return "U64";
    case safetensors_dtype::i64: return "I64";
    case safetensors_dtype::f16: return "F16";
    case safetensors_dtype::bf16: return "BF16";
    case safetensors_dtype::f32: return "F32";
    case safetensors_dtype::f64: return "F64";
  }
  return "?";
}

//! The dtype named `name` in a header, or nothing for names this reader does not know (e.g. F8_E4M3).
inline constexpr std::optional<safetensors_dtype> safetensors_dtype_from_string(std::string_view name) {
  for (std::uint8_t i = 0; i <= static_cast<std::uint8_t>(safetensors_dtype::f64); ++i) {
    const auto t = static_cast<safetensors_dtype>(i);
    if (to_string(t) == name) return t;
  }
  return std::nullopt;
}

inline constexpr bool is_floating(safetensors_dtype t) {
  return t == safetensors_dtype::f16 || t == safetensors_dtype::bf16 || t == safetensors_dtype::f32 ||
         t == safetensors_dtype::f64;
}

//! The dtype whose elements a C++ `T` reads in place (there is no standard 16-bit float type before C++23).
template <class T>
constexpr safetensors_dtype safetensors_dtype_of() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, bool>)
    return safetensors_dtype::boolean;
  else if constexpr (std::is_same_v<U, std::uint8_t>)
    return safetensors_dtype::u8;
  else if constexpr (std::is_same_v<U, std::int8_t>)
    return safetensors_dtype::i8;
  else if constexpr (std::is_same_v<U, std::uint16_t>)
    return safetensors_dtype::u16;
  else if constexpr (std::is_same_v<U, std::int16_t>)
    return safetensors_dtype::i16;
  else if constexpr (std::is_same_v<U, std::uint32_t>)
    return safetensors_dtype::u32;
  else if constexpr (std::is_same_v<U, std::int32_t>)
    return safetensors_dtype::i32;
  else if constexpr (std::is_same_v<U, std::uint64_t>)
    return safetensors_dtype::u64;
  else if constexpr (std::is_same_v<U, std::int64_t>)
    return safetensors_dtype::i64;
  else if constexpr (std::is_same_v<U, float>)
    return safetensors_dtype::f32;
  else if constexpr (std::is_same_v<U, double>)
    return safetensors_dtype::f64;
  else
    static_assert(sizeof(U) == 0, "voxformer::io::safetensors_dtype_of: no safetensors dtype for this type");
}

struct safetensors_entry {
  std::string name;
  safetensors_dtype dtype = safetensors_dtype::u8;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  // data_offsets, relative to the data section
  const std::byte* data = nullptr;   // into the mapping / buffer
  std::string_view source;           // the file's source, for messages (lives as long as the file)

  std::size_t bytes() const { return static_cast<std::size_t>(end - begin); }
  //! Π shape (0 when any extent is 0; the parser has checked that the product fits).
  std::int64_t elements() const {
    std::uint64_t n = 1;  // unsigned: an unchecked entry built by hand wraps instead of overflowing
    for (auto e : shape) {
      if (e == 0) return 0;
      n *= static_cast<std::uint64_t>(e);
    }
    return static_cast<std::int64_t>(n);
  }
};

namespace detail {

//! Largest header accepted (the reference implementation's limit is of the same size): a bound on what a
//! hostile length field can make the JSON parser allocate.
inline constexpr std::uint64_t safetensors_max_header_bytes = 100ull * 1024 * 1024;

inline std::string safetensors_where(std::string_view source) {
  std::string where = "voxformer::io::safetensors('";
  where += source;
  where += "')";
  return where;
}

inline std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::ostringstream s;
  s << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << ']';
  return s.str();
}

inline std::string offsets_string(std::uint64_t begin, std::uint64_t end) {
  std::ostringstream s;
  s << '[' << begin << ", " << end << ']';
  return s.str();
}

//! Element and byte counts of a shape, or nothing when either overflows 64 bits (elements: int64, as
//! `safetensors_entry::elements()` returns it). A zero extent makes the tensor empty whatever the others are.
struct safetensors_counts {
  std::optional<std::uint64_t> elements, bytes;
};
inline safetensors_counts count_elements(const std::vector<std::int64_t>& shape, safetensors_dtype t) {
  safetensors_counts counts;
  if (std::find(shape.begin(), shape.end(), std::int64_t{0}) != shape.end()) return {0, 0};
  std::uint64_t n = 1;
  for (auto e : shape) {
    if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(e), &n) ||
        n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return counts;
  }
  counts.elements = n;
  std::uint64_t b = 0;
  if (!__builtin_mul_overflow(n, static_cast<std::uint64_t>(element_size(t)), &b)) counts.bytes = b;
  return counts;
}

//! Exact IEEE binary16 → binary32: normals rebias the exponent, subnormals are m · 2⁻²⁴ (exact in float),
//! inf and nan keep sign and payload.
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu;
  const std::uint32_t mantissa = h & 0x3FFu;
  std::uint32_t bits = 0;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else if (exponent == 0) {
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  } else {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  return std::bit_cast<float>(bits);
}

//! bfloat16 is the top half of a binary32.
inline float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

template <class T>
T load_unaligned(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

//! A read-only private mapping of a whole file; unmapped on destruction.
class safetensors_mapping {
 public:
  safetensors_mapping() = default;
  safetensors_mapping(void* address, std::size_t size) : address_(address), size_(size) {}
  safetensors_mapping(safetensors_mapping&& other) noexcept
      : address_(std::exchange(other.address_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  safetensors_mapping& operator=(safetensors_mapping&& other) noexcept {
    if (this != &other) {
      unmap();
      address_ = std::exchange(other.address_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~safetensors_mapping() { unmap(); }

  const std::byte* data() const { return static_cast<const std::byte*>(address_); }
  std::size_t size() const { return size_; }
  bool mapped() const { return address_ != nullptr; }

 private:
  void unmap() {
    if (address_) ::munmap(address_, size_);
    address_ = nullptr;
    size_ = 0;
  }
  void* address_ = nullptr;
  std::size_t size_ = 0;
};

//! Everything a parsed file holds, on the heap so that moving the file keeps entries' `source` and `data` valid.
struct safetensors_contents {
  std::string source;
  safetensors_mapping mapping;
  std::vector<safetensors_entry> entries;  // by begin
  std::vector<std::size_t> by_name;        // indices into entries, sorted by name
  std::map<std::string, std::string> metadata;
};

//! The header's strict parse (io/json.hpp): root → entry → shape array is as deep as a valid header goes, and a
//! message names the entry (and its field, or the metadata key) it is about.
inline strict_json_guard safetensors_header_guard(const std::string& where) {
  return strict_json_guard(where, 3, "a safetensors header", [](const std::vector<std::string>& keys) -> std::string {
    if (keys.empty()) return "header";
    const bool metadata = keys[0] == "__metadata__";
    std::string context = metadata ? std::string("__metadata__") : "tensor '" + keys[0] + "'";
    if (keys.size() >= 2) context += (metadata ? ", key '" : ", field '") + keys[1] + "'";
    return context;
  });
}

inline std::optional<std::uint64_t> json_unsigned(const nlohmann::json& j) {
  if (j.is_number_unsigned()) return j.get<std::uint64_t>();
  if (j.is_number_integer() && j.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(j.get<std::int64_t>());
  return std::nullopt;
}

// (Checks whose message formats JSON or shapes are `if (!ok) fail(...)`: `require` would build the message for
// every valid entry too.)
inline safetensors_entry parse_safetensors_entry(const std::string& where, const std::string& name,
                                                 const nlohmann::json& j, std::uint64_t data_size) {
  using voxformer::detail::fail;
  using voxformer::detail::require;
  const std::string tensor = "tensor '" + name + "'";
  if (!j.is_object()) {
    fail(where, ": ", tensor, ": entry must be a JSON object, got ", j.type_name(), " ", json_excerpt(j));
  }
  for (const auto& [key, value] : j.items()) {
    require(key == "dtype" || key == "shape" || key == "data_offsets", where, ": ", tensor, ": unexpected field '", key,
            "' (expected exactly dtype, shape, data_offsets)");
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    require(j.contains(field), where, ": ", tensor, ": missing field '", field, "'");
  }

  safetensors_entry entry;
  entry.name = name;
  const auto& dtype = j["dtype"];
  if (!dtype.is_string()) {
    fail(where, ": ", tensor, ": field 'dtype' must be a string, got ", dtype.type_name(), " ", json_excerpt(dtype));
  }
  const auto parsed = safetensors_dtype_from_string(dtype.get_ref<const std::string&>());
  require(parsed.has_value(), where, ": ", tensor, ": unknown dtype '", dtype.get_ref<const std::string&>(),
          "' (expected one of BOOL, U8, I8, U16, I16, U32, I32, U64, I64, F16, BF16, F32, F64)");
  entry.dtype = *parsed;

  const auto& shape = j["shape"];
  constexpr const char* shape_rule = ": field 'shape' must be an array of non-negative integers, got ";
  if (!shape.is_array()) fail(where, ": ", tensor, shape_rule, shape.type_name(), " ", json_excerpt(shape));
  entry.shape.reserve(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const auto extent = json_unsigned(shape[i]);
    if (!extent || *extent > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail(where, ": ", tensor, shape_rule, json_excerpt(shape[i]), " at index ", i);
    }
    entry.shape.push_back(static_cast<std::int64_t>(*extent));
  }
  const auto counts = count_elements(entry.shape, entry.dtype);
  if (!counts.elements) {
    fail(where, ": ", tensor, ": element count of shape ", shape_string(entry.shape), " overflows 64 bits");
  }
  if (!counts.bytes) {
    fail(where, ": ", tensor, ": byte count of ", to_string(entry.dtype), " shape ", shape_string(entry.shape), " (",
         *counts.elements, " elements of ", element_size(entry.dtype), " bytes) overflows 64 bits");
  }

  const auto& offsets = j["data_offsets"];
  const bool two = offsets.is_array() && offsets.size() == 2;
  const auto begin = two ? json_unsigned(offsets[0]) : std::nullopt;
  const auto end = two ? json_unsigned(offsets[1]) : std::nullopt;
  if (!begin || !end) {
    fail(where, ": ", tensor, ": field 'data_offsets' must be two non-negative integers [begin, end], got ",
         json_excerpt(offsets));
  }
  entry.begin = *begin;
  entry.end = *end;
  if (entry.begin > entry.end) {
    fail(where, ": ", tensor, ": data_offsets ", offsets_string(entry.begin, entry.end), " have begin > end");
  }
  if (entry.end - entry.begin != *counts.bytes) {
    fail(where, ": ", tensor, ": data_offsets ", offsets_string(entry.begin, entry.end), " span ",
         entry.end - entry.begin, " bytes, expected ", *counts.bytes, " for ", to_string(entry.dtype), " ",
         shape_string(entry.shape));
  }
  if (entry.end > data_size) {
    fail(where, ": ", tensor, ": data_offsets ", offsets_string(entry.begin, entry.end),
         " lie outside the data section of ", data_size, " bytes");
  }
  return entry;
}

//! Parses and validates a whole file image into `contents` (whose `source` is set).
inline void parse_safetensors(std::span<const std::byte> bytes, safetensors_contents& contents) {
  using voxformer::detail::fail;
  using voxformer::detail::require;
  const std::string where = safetensors_where(contents.source);
  require(bytes.size() >= 8, where, ": ", bytes.size(), " bytes, shorter than the 8-byte header length");
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | std::to_integer<std::uint64_t>(bytes[i]);
  require(header_size <= safetensors_max_header_bytes, where, ": header length ", header_size, " exceeds the limit of ",
          safetensors_max_header_bytes, " bytes (100 MiB)");
  require(header_size <= bytes.size() - 8, where, ": header length ", header_size, " exceeds the ", bytes.size() - 8,
          " bytes after the length field");
  const char* header = reinterpret_cast<const char*>(bytes.data() + 8);
  if (header_size == 0 || header[0] != '{') {
    std::ostringstream first;
    if (header_size == 0)
      first << "an empty header";
    else if (header[0] >= 0x20 && header[0] < 0x7F)
      first << "'" << header[0] << "'";
    else
      first << "byte 0x" << std::hex << std::to_integer<unsigned>(bytes[8]);
    fail(where, ": header must be a JSON object starting with '{', got ", first.str());
  }

  // nlohmann's lexer reads a NUL byte as the end of the input, which would let a header hide bytes after one.
  // (No valid JSON text contains one: control characters in strings must be escaped.)
  if (const void* nul = std::memchr(header, 0, header_size)) {
    fail(where, ": header is not valid JSON: NUL byte at offset ", static_cast<const char*>(nul) - header,
         " of the header");
  }
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(header, header + header_size, safetensors_header_guard(where));
  } catch (const nlohmann::json::exception& e) {
    fail(where, ": header is not valid JSON: ", e.what());
  }
  require(root.is_object(), where, ": header must be a JSON object, got ", root.type_name());

  const std::uint64_t data_size = bytes.size() - 8 - header_size;
  const std::byte* data = bytes.data() + 8 + header_size;
  contents.entries.reserve(root.size());
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) {
        fail(where, ": __metadata__ must be an object of string to string, got ", value.type_name(), " ",
             json_excerpt(value));
      }
      for (const auto& [meta_key, meta_value] : value.items()) {
        if (!meta_value.is_string()) {
          fail(where, ": __metadata__ must be an object of string to string, key '", meta_key, "' holds ",
               meta_value.type_name(), " ", json_excerpt(meta_value));
        }
        contents.metadata.emplace(meta_key, meta_value.get<std::string>());
      }
      continue;
    }
    contents.entries.push_back(parse_safetensors_entry(where, key, value, data_size));
  }

  // Sorted by begin (then end: empty tensors may share an offset), the byte ranges must tile the data section.
  auto& entries = contents.entries;
  std::sort(entries.begin(), entries.end(), [](const safetensors_entry& a, const safetensors_entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  std::uint64_t covered = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (e.begin < covered) {
      const auto& previous = entries[i - 1];
      fail(where, ": tensor '", e.name, "' data_offsets ", offsets_string(e.begin, e.end), " overlap tensor '",
           previous.name, "' ", offsets_string(previous.begin, previous.end));
    }
    if (e.begin > covered) {
      const std::string after =
          i == 0 ? std::string("the start of the data section") : "the end of tensor '" + entries[i - 1].name + "'";
      fail(where, ": tensor '", e.name, "' data_offsets ", offsets_string(e.begin, e.end), " begin at ", e.begin,
           ", expected ", covered, " (", after, "): safetensors forbids holes");
    }
    covered = e.end;
  }
  require(covered == data_size, where, ": data section is ", data_size, " bytes, but the tensors cover ", covered,
          ": safetensors forbids holes (", data_size - covered, " trailing bytes)");

  contents.by_name.resize(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    entries[i].data = data + entries[i].begin;
    entries[i].source = contents.source;
    contents.by_name[i] = i;
  }
  std::sort(contents.by_name.begin(), contents.by_name.end(),
            [&](std::size_t a, std::size_t b) { return entries[a].name < entries[b].name; });
}

}  // namespace detail

//! A parsed `.safetensors` file: its entries point into a read-only mapping (or a caller's buffer). Move-only.
class safetensors_file {
 public:
  //! Maps the whole file read-only (MAP_PRIVATE) and validates it; nothing is copied, and a tensor's pages are
  //! read from disk only when touched. Out of scope: a file truncated or rewritten while mapped (reading its
  //! tensors may then fault with SIGBUS or see the new bytes), as with any mmap reader.
  static safetensors_file open(const std::filesystem::path& path) {
    auto contents = std::make_unique<detail::safetensors_contents>();
    contents->source = path.string();
    const std::string where = detail::safetensors_where(contents->source);
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; it is then refused below.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    voxformer::detail::require(fd >= 0, where, ": cannot open: ", std::strerror(errno));
    struct stat info {};
    const int stat_result = ::fstat(fd, &info);
    const int stat_errno = errno;
    if (stat_result != 0 || !S_ISREG(info.st_mode)) {
      ::close(fd);
      voxformer::detail::require(stat_result == 0, where, ": cannot stat: ", std::strerror(stat_errno));
      voxformer::detail::fail(where, S_ISDIR(info.st_mode) ? ": is a directory, not a file" : ": not a regular file");
    }
    const auto size = static_cast<std::size_t>(info.st_size);
    if (size < 8) {
      ::close(fd);
      voxformer::detail::require(size != 0, where, ": empty file (a safetensors file has at least 8 bytes)");
      voxformer::detail::fail(where, ": file of ", size, " bytes, shorter than the 8-byte header length");
    }
    void* address = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int map_errno = errno;
    ::close(fd);  // the mapping keeps the file alive
    voxformer::detail::require(address != MAP_FAILED, where, ": cannot mmap ", size,
                               " bytes: ", std::strerror(map_errno));
    contents->mapping = detail::safetensors_mapping(address, size);
    detail::parse_safetensors({contents->mapping.data(), size}, *contents);
    return safetensors_file(std::move(contents));
  }

  //! Parses a file image that the caller keeps alive as long as this object (tests, fuzzing, embedded weights).
  static safetensors_file from_bytes(std::span<const std::byte> bytes, std::string source) {
    auto contents = std::make_unique<detail::safetensors_contents>();
    contents->source = std::move(source);
    detail::parse_safetensors(bytes, *contents);
    return safetensors_file(std::move(contents));
  }

  //! In data-offset order.
  const std::vector<safetensors_entry>& entries() const { return contents_->entries; }

  const safetensors_entry* find(std::string_view name) const {
    const auto& by_name = contents_->by_name;
    const auto& entries = contents_->entries;
    const auto at = std::lower_bound(by_name.begin(), by_name.end(), name,
                                     [&](std::size_t i, std::string_view n) { return entries[i].name < n; });
    return at != by_name.end() && entries[*at].name == name ? &entries[*at] : nullptr;
  }

  //! The header's "__metadata__" (empty without one).
  const std::map<std::string, std::string>& metadata() const { return contents_->metadata; }
  const std::string& source() const { return contents_->source; }

  //! Drops the pages that lie wholly inside `entry` from this process's memory (madvise MADV_DONTNEED on the
  //! private read-only mapping: they are re-read from the file if touched again). A loader that has converted
  //! or copied a large tensor calls it to keep the resident size near one tensor. Pages shared with a
  //! neighbour are kept. No-op for a file parsed from a buffer.
  void release_pages(const safetensors_entry& entry) const {
    const auto& mapping = contents_->mapping;
    if (!mapping.mapped() || entry.bytes() == 0) return;
    const auto base = reinterpret_cast<std::uintptr_t>(mapping.data());
    const auto first = reinterpret_cast<std::uintptr_t>(entry.data);
    voxformer::detail::require(
        first >= base && first - base <= mapping.size() && entry.bytes() <= mapping.size() - (first - base),
        detail::safetensors_where(contents_->source), ": release_pages: tensor '", entry.name,
        "' does not belong to this file");
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const std::uintptr_t from = (first + page - 1) / page * page;
    const std::uintptr_t to = (first + entry.bytes()) / page * page;
    if (from >= to) return;
    const int result = ::madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
    voxformer::detail::require(result == 0, detail::safetensors_where(contents_->source),
                               ": release_pages: madvise failed for tensor '", entry.name, "': ", std::strerror(errno));
  }

 private:
  explicit safetensors_file(std::unique_ptr<detail::safetensors_contents> contents) : contents_(std::move(contents)) {}
  std::unique_ptr<detail::safetensors_contents> contents_;
};

//! Reads a floating tensor (F16, BF16, F32, F64) as `entry.elements()` values of T (float or double) into
//! `out`. Widening is exact (F16/BF16 subnormals, ±inf and nan included); F64 → float rounds to nearest, and
//! overflows to ±inf. Any alignment of the tensor bytes is fine. Throws for other dtypes.
template <class T>
void convert_elements(const safetensors_entry& entry, T* out) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "voxformer::io::convert_elements: converts to float or double");
  if (!is_floating(entry.dtype)) {
    voxformer::detail::fail(detail::safetensors_where(entry.source), ": convert_elements: tensor '", entry.name,
                            "' is ", to_string(entry.dtype), ", expected F16, BF16, F32 or F64");
  }
  const auto n = static_cast<std::size_t>(entry.elements());
  if (entry.bytes() != n * element_size(entry.dtype)) {  // only an entry built by hand
    voxformer::detail::fail(detail::safetensors_where(entry.source), ": convert_elements: tensor '", entry.name,
                            "' holds ", entry.bytes(), " bytes, expected ", n * element_size(entry.dtype), " for ",
                            to_string(entry.dtype), " ", detail::shape_string(entry.shape));
  }
  if (n == 0) return;
  const std::byte* in = entry.data;
  switch (entry.dtype) {
    case safetensors_dtype::f16:
      for (std::size_t i = 0; i < n; ++i)
        out[i] = static_cast<T>(detail::half_to_float(detail::load_unaligned<std::uint16_t>(in + 2 * i)));
      break;
    case safetensors_dtype::bf16:
      for (std::size_t i = 0; i < n; ++i)
        out[i] = static_cast<T>(detail::bfloat16_to_float(detail::load_unaligned<std::uint16_t>(in + 2 * i)));
      break;
    case safetensors_dtype::f32:
      if constexpr (std::is_same_v<T, float>) {
        std::memcpy(out, in, n * sizeof(float));
      } else {
        for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(detail::load_unaligned<float>(in + 4 * i));
      }
      break;
    case safetensors_dtype::f64:
      if constexpr (std::is_same_v<T, double>) {
        std::memcpy(out, in, n * sizeof(double));
      } else {
        for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(detail::load_unaligned<double>(in + 8 * i));
      }
      break;
    default: break;
  }
}

//! True when the entry's bytes can be read in place as T: same dtype, an alignof(T)-aligned address and, for
//! bool, every byte 0 or 1 (any other byte is not a valid bool; this case scans the tensor).
template <class T>
bool readable_in_place(const safetensors_entry& entry) {
  if (entry.dtype != safetensors_dtype_of<T>()) return false;
  if (reinterpret_cast<std::uintptr_t>(entry.data) % alignof(T) != 0) return false;
  if constexpr (std::is_same_v<std::remove_cv_t<T>, bool>) {
    for (std::size_t i = 0; i < entry.bytes(); ++i)
      if (std::to_integer<unsigned>(entry.data[i]) > 1) return false;
  }
  return true;
}

//! The entry's elements read in place (zero-copy); throws unless `readable_in_place<T>(entry)`.
template <class T>
std::span<const T> view_in_place(const safetensors_entry& entry) {
  const std::string_view dtype = to_string(safetensors_dtype_of<T>());
  if (entry.dtype != safetensors_dtype_of<T>()) {
    voxformer::detail::fail(detail::safetensors_where(entry.source), ": view_in_place: tensor '", entry.name, "' is ",
                            to_string(entry.dtype), ", expected ", dtype);
  }
  if (!readable_in_place<T>(entry)) {
    voxformer::detail::fail(detail::safetensors_where(entry.source), ": view_in_place: tensor '", entry.name,
                            "' at byte offset ", entry.begin, " of the data section is not readable in place as ",
                            dtype,
                            std::is_same_v<std::remove_cv_t<T>, bool> ? " (misaligned, or a byte other than 0/1)"
                                                                      : " (misaligned for its type)");
  }
  return {reinterpret_cast<const T*>(entry.data), static_cast<std::size_t>(entry.elements())};
}

//! One tensor to write: its bytes must be exactly Π shape · element_size(dtype), little-endian, row-major.
struct safetensors_tensor_bytes {
  std::string name;
  safetensors_dtype dtype = safetensors_dtype::u8;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;
};

namespace detail {

//! The 8-byte length field and the JSON header, padded with spaces so that the data section starts 8-byte
//! aligned (in a mapped file, a tensor whose offset is a multiple of its element size is then readable in place).
//! Entries are written in the given order, so the header is assembled from per-entry dumps.
inline std::string safetensors_prefix(std::span<const safetensors_tensor_bytes> tensors,
                                      const std::map<std::string, std::string>& metadata, const std::string& where) {
  using voxformer::detail::fail;
  using voxformer::detail::require;
  std::string json = "{";
  std::set<std::string_view> names;
  std::uint64_t offset = 0;
  try {
    if (!metadata.empty()) json += "\"__metadata__\":" + nlohmann::json(metadata).dump();
    for (const auto& t : tensors) {
      const std::string tensor = "tensor '" + t.name + "'";
      require(t.name != "__metadata__", where, ": a tensor cannot be named '__metadata__'");
      require(names.insert(t.name).second, where, ": ", tensor, " is given twice");
      if (std::any_of(t.shape.begin(), t.shape.end(), [](std::int64_t e) { return e < 0; })) {
        fail(where, ": ", tensor, ": negative extent in shape ", shape_string(t.shape));
      }
      const auto counts = count_elements(t.shape, t.dtype);
      if (!counts.bytes)
        fail(where, ": ", tensor, ": byte count of shape ", shape_string(t.shape), " overflows 64 bits");
      if (t.bytes.size() != *counts.bytes) {
        fail(where, ": ", tensor, ": ", to_string(t.dtype), " ", shape_string(t.shape), " needs ", *counts.bytes,
             " bytes, got ", t.bytes.size());
      }
      nlohmann::ordered_json entry = {{"dtype", std::string(to_string(t.dtype))},
                                      {"shape", t.shape},
                                      {"data_offsets", {offset, offset + *counts.bytes}}};
      if (json.size() > 1) json += ',';
      json += nlohmann::json(t.name).dump() + ":" + entry.dump();
      offset += *counts.bytes;
    }
  } catch (const nlohmann::json::exception& e) {
    fail(where, ": cannot write the header (names and metadata must be UTF-8): ", e.what());
  }
  json += '}';
  json.append((8 - json.size() % 8) % 8, ' ');
  require(json.size() <= safetensors_max_header_bytes, where, ": header of ", json.size(),
          " bytes exceeds the limit of ", safetensors_max_header_bytes, " bytes");
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((json.size() >> (8 * i)) & 0xFF);
  return prefix + json;
}

}  // namespace detail

//! A whole file image in memory (tests, fuzzing seeds); see `write_safetensors`.
inline std::vector<std::byte> serialize_safetensors(std::span<const safetensors_tensor_bytes> tensors,
                                                    const std::map<std::string, std::string>& metadata = {}) {
  const std::string prefix = detail::safetensors_prefix(tensors, metadata, detail::safetensors_where("<memory>"));
  std::vector<std::byte> image(reinterpret_cast<const std::byte*>(prefix.data()),
                               reinterpret_cast<const std::byte*>(prefix.data() + prefix.size()));
  for (const auto& t : tensors) image.insert(image.end(), t.bytes.begin(), t.bytes.end());
  return image;
}

//! Writes `tensors`, their data in the given order, and `metadata` as "__metadata__".
inline void write_safetensors(const std::filesystem::path& path, std::span<const safetensors_tensor_bytes> tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  const std::string where = detail::safetensors_where(path.string());
  const std::string prefix = detail::safetensors_prefix(tensors, metadata, where);
  detail::write_file_atomically(path, where, [&](detail::atomic_file& file) {
    file.write(prefix);
    for (const auto& t : tensors) file.write(t.bytes.data(), t.bytes.size());
  });
}

}  // namespace voxformer::io
