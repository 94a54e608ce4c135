//! @file NumPy `.npy` files (format versions 1–3, little-endian, C order): reading — from a file or from bytes in
//! memory — into an owning array that every op accepts directly as a (dynamically typed) tensor, and writing.
//
// The header is a Python dict literal; it is parsed strictly as the subset NumPy writes
// (`{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`): exactly these three keys, in any order, a
// descr of one little-endian numeric or bool type, a tuple of non-negative integers. The data must then fill the
// rest of the file exactly; everything is checked before the data is allocated or copied.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "voxformer/core/dtype.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/io/atomic_file.hpp"
#include "voxformer/io/binary_file.hpp"

namespace voxformer::io {

namespace detail {

//! Π shape, for a shape of non-negative extents whose non-zero extents multiply within int64 (NumPy's own rule:
//! a (2^62, 2^62, 0) array is "too big" for it too).
inline std::int64_t npy_element_count(const std::vector<std::int64_t>& shape, std::string_view where) {
  std::int64_t count = 1;
  bool empty = false;
  for (const auto e : shape) {
    voxformer::detail::require(e >= 0, where, ": negative extent ", e, " in the shape");
    if (e == 0) empty = true;
    else voxformer::detail::require(!__builtin_mul_overflow(count, e, &count), where,
                                    ": the shape's element count overflows 64 bits");
  }
  return empty ? 0 : count;
}

}  // namespace detail

struct npy_array {
  dtype type;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;

  //! Π shape. Throws (rather than overflow) for a hand-built shape read_npy would have rejected.
  std::int64_t size() const { return detail::npy_element_count(shape, "voxformer::io::npy_array::size"); }
  template <class T>
  const T* data() const {
    voxformer::detail::require(dtype_of<T>() == type, "voxformer::io::npy_array: holds ", to_string(type), ", not ",
                               to_string(dtype_of<T>()));
    return reinterpret_cast<const T*>(bytes.data());
  }
  template <class T>
  T* data() {
    return const_cast<T*>(static_cast<const npy_array&>(*this).data<T>());
  }
};

namespace detail {

// NumPy 2's NPY_MAXDIMS. It also keeps write_npy's header (≤ 21 characters per extent) within version 1's 65535.
inline constexpr std::size_t npy_max_rank = 64;

//! `<f4`, `|u1`, `|b1`, …: float 2/4/8 bytes, signed and unsigned integers 1/2/4/8, bool 1; `|` (no byte order)
//! only for 1-byte types.
inline dtype parse_npy_descr(std::string_view descr, std::string_view where) {
  using voxformer::detail::fail;
  using voxformer::detail::require;
  require(descr.empty() || descr[0] != '>', where, ": big-endian dtype '", descr,
          "' is not supported (save it little-endian, e.g. a.astype('<f4'))");
  const unsigned size = descr.size() == 3 ? static_cast<unsigned>(descr[2] - '0') : 0;
  bool valid = descr.size() == 3 && (descr[0] == '<' || (descr[0] == '|' && size == 1));
  scalar_kind kind = scalar_kind::other;
  switch (valid ? descr[1] : '\0') {
    case 'f': kind = scalar_kind::floating; valid = size == 2 || size == 4 || size == 8; break;
    case 'i': kind = scalar_kind::signed_int; valid = size == 1 || size == 2 || size == 4 || size == 8; break;
    case 'u': kind = scalar_kind::unsigned_int; valid = size == 1 || size == 2 || size == 4 || size == 8; break;
    case 'b': kind = scalar_kind::boolean; valid = size == 1; break;
    default: valid = false;
  }
  if (!valid)
    fail(where, ": unsupported dtype '", descr, "' (supported: <f2 <f4 <f8, <i1..<i8, <u1..<u8, |b1; '|' only for ",
         "1-byte types)");
  return {kind, static_cast<std::uint8_t>(8 * size)};
}

inline std::string npy_descr(dtype t, std::string_view where) {
  const char kind = t.kind == scalar_kind::floating       ? 'f'
                    : t.kind == scalar_kind::signed_int   ? 'i'
                    : t.kind == scalar_kind::unsigned_int ? 'u'
                    : t.kind == scalar_kind::boolean      ? 'b'
                                                          : '?';
  // (Not string concatenation: GCC 12 warns falsely on it, -Wrestrict.)
  std::string descr(1, t.bits == 8 ? '|' : '<');
  descr += kind;
  descr += t.bits % 8 == 0 && t.bits / 8 <= 9 ? static_cast<char>('0' + t.bits / 8) : '?';
  (void)parse_npy_descr(descr, where);  // the one list of supported types
  return descr;
}

struct npy_header {
  dtype type;
  std::vector<std::int64_t> shape;
  std::size_t data_offset = 0;  //!< magic, length and header dictionary
};

//! Reads the dictionary literal `text`. Throws for anything but the forms NumPy writes.
class npy_dict_parser {
 public:
  npy_dict_parser(std::string_view text, std::string_view where) : text_(text), where_(where) {}

  npy_header parse() {
    npy_header header;
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{', "'{'");
    while (peek() != '}') {
      const auto key = string_literal("a key");
      expect(':', "':'");
      if (key == "descr") {
        once(has_descr, key);
        require(peek() == '\'' || peek() == '"', where_, ": 'descr' is not a string (structured dtypes are not ",
                "supported)");
        header.type = parse_npy_descr(string_literal("the descr"), where_);
      } else if (key == "fortran_order") {
        once(has_order, key);
        const auto value = identifier();
        require(value == "False" || value == "True", where_, ": 'fortran_order' is '", value, "', not True or False");
        require(value == "False", where_, ": Fortran-order arrays are not supported");
      } else if (key == "shape") {
        once(has_shape, key);
        header.shape = shape();
      } else {
        voxformer::detail::fail(where_, ": unexpected key '", key, "' in the header");
      }
      if (peek() != ',') break;
      ++at_;
    }
    expect('}', "',' or '}'");
    skip_space();
    require(at_ == text_.size(), where_, ": unexpected characters after the header dictionary");
    require(has_descr && has_order && has_shape, where_, ": header lacks ",
            !has_descr ? "'descr'" : !has_order ? "'fortran_order'" : "'shape'");
    return header;
  }

 private:
  template <class... Parts>
  static void require(bool condition, Parts&&... parts) {
    voxformer::detail::require(condition, std::forward<Parts>(parts)...);
  }

  void skip_space() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r'))
      ++at_;
  }
  char peek() {
    skip_space();
    return at_ < text_.size() ? text_[at_] : '\0';
  }
  void expect(char c, std::string_view what) {
    require(peek() == c, where_, ": malformed header: expected ", what, " at byte ", at_, " of the dictionary");
    ++at_;
  }
  void once(bool& seen, std::string_view key) {
    require(!seen, where_, ": key '", key, "' appears twice in the header");
    seen = true;
  }
  //! A quoted string without escapes (no key or descr NumPy writes has any).
  std::string_view string_literal(std::string_view what) {
    const char quote = peek();
    require(quote == '\'' || quote == '"', where_, ": malformed header: expected ", what, " (a quoted string) at byte ",
            at_, " of the dictionary");
    const auto end = text_.find(quote, at_ + 1);
    require(end != std::string_view::npos, where_, ": malformed header: unterminated string");
    const auto value = text_.substr(at_ + 1, end - at_ - 1);
    require(value.find('\\') == std::string_view::npos, where_, ": malformed header: escape in a string");
    at_ = end + 1;
    return value;
  }
  std::string_view identifier() {
    skip_space();
    const auto begin = at_;
    while (at_ < text_.size() && ((text_[at_] >= 'A' && text_[at_] <= 'Z') || (text_[at_] >= 'a' && text_[at_] <= 'z')))
      ++at_;
    return text_.substr(begin, at_ - begin);
  }
  //! `(d0, d1, ...)` of non-negative decimal integers, trailing comma optional; `()` is a scalar.
  std::vector<std::int64_t> shape() {
    skip_space();
    const auto begin = at_;
    const auto malformed = [&] {
      const auto close = text_.find(')', begin);
      const auto excerpt = text_.substr(begin, close == std::string_view::npos ? 40 : close + 1 - begin);
      voxformer::detail::fail(where_, ": 'shape' must be a tuple of non-negative integers, got '",
                              excerpt.substr(0, 40), "'");
    };
    std::vector<std::int64_t> extents;
    if (peek() != '(') malformed();
    ++at_;
    while (peek() != ')') {
      if (peek() < '0' || peek() > '9') malformed();
      std::int64_t e = 0;
      const auto [end, ec] = std::from_chars(text_.data() + at_, text_.data() + text_.size(), e);
      require(ec != std::errc::result_out_of_range, where_, ": shape extent '",
              text_.substr(at_, static_cast<std::size_t>(end - text_.data()) - at_).substr(0, 40),
              "' exceeds 64 bits");
      at_ = static_cast<std::size_t>(end - text_.data());
      extents.push_back(e);
      require(extents.size() <= npy_max_rank, where_, ": the shape has more than ", npy_max_rank, " dimensions");
      if (peek() == ',') ++at_;
      else if (peek() != ')') malformed();
    }
    ++at_;
    return extents;
  }

  std::string_view text_, where_;
  std::size_t at_ = 0;
};

//! Validates a whole `.npy` image — magic, version, header, and a data size of exactly Π shape · itemsize — and
//! returns what the data is. Nothing is allocated from a size in the file before it is checked against `file`.
inline npy_header parse_npy_header(std::span<const std::byte> file, std::string_view where) {
  using voxformer::detail::require;
  const auto byte = [&](std::size_t i) { return std::to_integer<std::uint32_t>(file[i]); };
  require(file.size() >= 8 && std::memcmp(file.data(), "\x93NUMPY", 6) == 0, where,
          ": not a .npy file (no \\x93NUMPY magic)");
  const auto major = byte(6), minor = byte(7);
  require(major >= 1 && major <= 3 && minor == 0, where, ": unsupported format version ", major, ".", minor);
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  require(file.size() >= 8 + length_bytes, where, ": truncated header length");
  std::uint32_t header_length = 0;
  for (std::size_t i = length_bytes; i-- > 0;) header_length = header_length << 8 | byte(8 + i);
  const std::size_t begin = 8 + length_bytes;
  require(header_length <= file.size() - begin, where, ": header length ", header_length, " exceeds the ",
          file.size() - begin, " bytes after it");
  npy_header header =
      npy_dict_parser({reinterpret_cast<const char*>(file.data() + begin), header_length}, where).parse();
  header.data_offset = begin + header_length;
  const auto elements = static_cast<std::uint64_t>(npy_element_count(header.shape, where));
  std::uint64_t bytes = 0;
  require(!__builtin_mul_overflow(elements, std::uint64_t{header.type.bits / 8u}, &bytes), where,
          ": the data size overflows 64 bits");
  require(bytes == file.size() - header.data_offset, where, ": expected ", bytes, " data bytes, found ",
          file.size() - header.data_offset);
  return header;
}

//! The preamble and header NumPy would write for `shape` of `type` (version 1, data aligned to 64 bytes).
inline std::string npy_preamble(dtype type, const std::vector<std::int64_t>& shape, std::string_view where) {
  voxformer::detail::require(shape.size() <= npy_max_rank, where, ": rank ", shape.size(), " exceeds ", npy_max_rank);
  std::uint64_t bytes = 0;
  voxformer::detail::require(
      !__builtin_mul_overflow(static_cast<std::uint64_t>(npy_element_count(shape, where)), type.bits / 8u, &bytes),
      where, ": the data size overflows 64 bits");
  std::string dict = "{'descr': '" + npy_descr(type, where) + "', 'fortran_order': False, 'shape': (";
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (d > 0) dict += ", ";
    dict += std::to_string(shape[d]);
  }
  dict += shape.size() == 1 ? ",), }" : "), }";
  dict.append(64 - (10 + dict.size() + 1) % 64, ' ');  // NumPy's padding rule
  dict += '\n';
  const auto length = static_cast<std::uint16_t>(dict.size());
  std::string preamble("\x93NUMPY\x01\x00", 8);
  preamble += static_cast<char>(length & 0xFF);
  preamble += static_cast<char>(length >> 8);
  return preamble + dict;
}

//! A bool array's bytes must be 0 or 1: any other byte read as `bool` is undefined behaviour.
inline void check_npy_booleans(dtype type, std::span<const std::byte> data, std::string_view where) {
  if (type.kind != scalar_kind::boolean) return;
  for (std::size_t i = 0; i < data.size(); ++i)
    voxformer::detail::require(std::to_integer<unsigned>(data[i]) <= 1, where, ": bool element ", i, " is ",
                               std::to_integer<unsigned>(data[i]), ", not 0 or 1");
}

}  // namespace detail

//! Parses a `.npy` image in memory (copying the data); `name` identifies it in messages. Malformed images (see the
//! file comment) throw `voxformer::error` naming it and the problem.
inline npy_array parse_npy(std::span<const std::byte> file, std::string_view name) {
  auto header = detail::parse_npy_header(file, "voxformer::io::parse_npy('" + std::string(name) + "')");
  const auto data = file.subspan(header.data_offset);
  detail::check_npy_booleans(header.type, data, "voxformer::io::parse_npy('" + std::string(name) + "')");
  return {header.type, std::move(header.shape), std::vector<std::byte>(data.begin(), data.end())};
}

//! Reads a `.npy` file; a missing, unreadable or malformed file throws `voxformer::error` naming it and the problem.
inline npy_array read_npy(const std::filesystem::path& path) {
  const std::string where = "voxformer::io::read_npy('" + path.string() + "')";
  auto file = detail::read_file_as<std::byte>(path, where);
  auto header = detail::parse_npy_header(file, where);
  detail::check_npy_booleans(header.type, std::span<const std::byte>(file).subspan(header.data_offset), where);
  // The data moves to the front of the file's buffer: no second copy of a large array.
  file.erase(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(header.data_offset));
  return {header.type, std::move(header.shape), std::move(file)};
}

//! `f(values)` with the array's elements as a typed pointer — `const T*` for T = bool, (u)int8 … (u)int64, float,
//! double — returning what `f` returns. Other dtypes (float16, which C++ has no type for) throw naming `where`.
template <class F>
decltype(auto) visit_elements(const npy_array& a, std::string_view where, F&& f) {
  auto as = [&](auto tag) -> decltype(auto) { return f(a.data<decltype(tag)>()); };
  const dtype t = a.type;
  if (t == dtype_of<bool>()) return as(bool{});
  if (t == dtype_of<std::uint8_t>()) return as(std::uint8_t{});
  if (t == dtype_of<std::int8_t>()) return as(std::int8_t{});
  if (t == dtype_of<std::uint16_t>()) return as(std::uint16_t{});
  if (t == dtype_of<std::int16_t>()) return as(std::int16_t{});
  if (t == dtype_of<std::uint32_t>()) return as(std::uint32_t{});
  if (t == dtype_of<std::int32_t>()) return as(std::int32_t{});
  if (t == dtype_of<std::uint64_t>()) return as(std::uint64_t{});
  if (t == dtype_of<std::int64_t>()) return as(std::int64_t{});
  if (t == dtype_of<float>()) return as(float{});
  if (t == dtype_of<double>()) return as(double{});
  voxformer::detail::fail(where, ": unsupported dtype ", to_string(t));
}

//! Writes Π shape `values` as a version-1 `.npy` file, with the header NumPy writes.
template <class T>
void write_npy(const std::filesystem::path& path, const T* values, const std::vector<std::int64_t>& shape) {
  const std::string where = "voxformer::io::write_npy('" + path.string() + "')";
  const std::string preamble = detail::npy_preamble(dtype_of<T>(), shape, where);
  // Fits: npy_preamble checked that count · sizeof(T) does not overflow.
  const auto count = static_cast<std::size_t>(detail::npy_element_count(shape, where));
  detail::write_file_atomically(path, where, [&](detail::atomic_file& file) {
    file.write(preamble);
    file.write(values, count * sizeof(T));  // straight from the caller's memory: a large array is not copied
  });
}

}  // namespace voxformer::io

//! An `npy_array` is a dynamically typed host tensor: pass it to any op (a const one only as an input).
template <>
struct voxformer::tensor_traits<voxformer::io::npy_array> {
  static dynamic_tensor describe(const io::npy_array& a) {
    return {const_cast<std::byte*>(a.bytes.data()), a.type, static_cast<int>(a.shape.size()), a.shape.data(),
            nullptr, memory_space::host, true};
  }
};
