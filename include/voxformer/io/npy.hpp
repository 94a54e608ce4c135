//! @file NumPy `.npy` files (format versions 1–3, little-endian, C order): reading into an owning array
//! that every op accepts directly as a (dynamically typed) tensor, and writing.
#pragma once

#include <cctype>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "voxformer/core/dtype.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer::io {

struct npy_array {
  dtype type;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;

  std::int64_t size() const {
    std::int64_t n = 1;
    for (auto e : shape) n *= e;
    return n;
  }
  template <class T>
  const T* data() const {
    detail::require(dtype_of<T>() == type, "voxformer::io::npy_array: holds ", to_string(type), ", not ",
                    to_string(dtype_of<T>()));
    return reinterpret_cast<const T*>(bytes.data());
  }
  template <class T>
  T* data() {
    return const_cast<T*>(static_cast<const npy_array&>(*this).data<T>());
  }
};

namespace detail {

inline dtype parse_npy_descr(const std::string& descr, const std::string& where) {
  voxformer::detail::require(descr.size() >= 3 && (descr[0] == '<' || descr[0] == '|'), where,
                             ": unsupported dtype '", descr, "' (little-endian or byte types only)");
  const char kind = descr[1];
  const int bytes = std::stoi(descr.substr(2));
  const auto bits = static_cast<std::uint8_t>(8 * bytes);
  switch (kind) {
    case 'f': return {scalar_kind::floating, bits};
    case 'i': return {scalar_kind::signed_int, bits};
    case 'u': return {scalar_kind::unsigned_int, bits};
    case 'b': return {scalar_kind::boolean, bits};
    default: voxformer::detail::fail(where, ": unsupported dtype '", descr, "'");
  }
}

inline std::string npy_descr(dtype t) {
  const char kind = t.kind == scalar_kind::floating ? 'f'
                    : t.kind == scalar_kind::signed_int ? 'i'
                    : t.kind == scalar_kind::unsigned_int ? 'u'
                                                        : 'b';
  std::ostringstream descr;  // (not string concatenation: GCC 12 warns falsely on it, -Wrestrict)
  descr << (t.bits == 8 ? '|' : '<') << kind << t.bits / 8;
  return descr.str();
}

//! Value of `'key':` in the header dictionary, up to the next top-level comma or closing brace.
inline std::string npy_header_field(const std::string& header, const std::string& key, const std::string& where) {
  const auto at = header.find("'" + key + "'");
  voxformer::detail::require(at != std::string::npos, where, ": header has no '", key, "' field");
  auto begin = header.find(':', at);
  voxformer::detail::require(begin != std::string::npos, where, ": malformed header");
  ++begin;
  int depth = 0;
  auto end = begin;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(') ++depth;
    else if (c == ')') --depth;
    else if ((c == ',' || c == '}') && depth == 0) break;
  }
  std::string value = header.substr(begin, end - begin);
  const auto first = value.find_first_not_of(" '");
  const auto last = value.find_last_not_of(" '");
  return first == std::string::npos ? std::string{} : value.substr(first, last - first + 1);
}

}  // namespace detail

//! Reads a `.npy` file. Malformed files (bad magic, truncated data, Fortran order, big-endian or object
//! dtypes) throw `voxformer::error` naming the file and the problem.
inline npy_array read_npy(const std::filesystem::path& path) {
  const std::string where = "voxformer::io::read_npy('" + path.string() + "')";
  std::ifstream in(path, std::ios::binary);
  voxformer::detail::require(in.good(), where, ": cannot open file");
  char magic[8] = {};
  in.read(magic, 8);
  voxformer::detail::require(in.good() && std::memcmp(magic, "\x93NUMPY", 6) == 0, where, ": not a .npy file");
  const int major = static_cast<unsigned char>(magic[6]);
  voxformer::detail::require(major >= 1 && major <= 3, where, ": unsupported format version ", major);
  std::uint32_t header_len = 0;
  unsigned char len_bytes[4] = {};
  in.read(reinterpret_cast<char*>(len_bytes), major == 1 ? 2 : 4);
  for (int i = (major == 1 ? 1 : 3); i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  voxformer::detail::require(in.good(), where, ": truncated header");

  npy_array array;
  array.type = detail::parse_npy_descr(detail::npy_header_field(header, "descr", where), where);
  voxformer::detail::require(detail::npy_header_field(header, "fortran_order", where) == "False", where,
                             ": Fortran-order arrays are not supported");
  const std::string shape = detail::npy_header_field(header, "shape", where);
  for (std::size_t i = 0; i < shape.size();) {
    if (std::isdigit(static_cast<unsigned char>(shape[i]))) {
      std::size_t used = 0;
      array.shape.push_back(std::stoll(shape.substr(i), &used));
      i += used;
    } else {
      ++i;
    }
  }
  const auto expected = static_cast<std::uintmax_t>(array.size()) * (array.type.bits / 8);
  array.bytes.resize(expected);
  in.read(reinterpret_cast<char*>(array.bytes.data()), static_cast<std::streamsize>(expected));
  voxformer::detail::require(in.gcount() == static_cast<std::streamsize>(expected), where, ": expected ", expected,
                             " data bytes, found ", in.gcount());
  return array;
}

//! Writes `count` = Π shape values as a version-1 `.npy` file.
template <class T>
void write_npy(const std::filesystem::path& path, const T* values, const std::vector<std::int64_t>& shape) {
  std::string dims;
  std::int64_t count = 1;
  for (auto e : shape) {
    dims += std::to_string(e) + ",";
    count *= e;
  }
  if (shape.size() > 1) dims.pop_back();
  std::string header = "{'descr': '" + detail::npy_descr(dtype_of<T>()) + "', 'fortran_order': False, 'shape': (" +
                       dims + "), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  const auto len = static_cast<std::uint16_t>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  const char len_bytes[2] = {static_cast<char>(len & 0xFF), static_cast<char>(len >> 8)};
  out.write(len_bytes, 2);
  out << header;
  out.write(reinterpret_cast<const char*>(values), static_cast<std::streamsize>(count * sizeof(T)));
  voxformer::detail::require(out.good(), "voxformer::io::write_npy: cannot write '", path.string(), "'");
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
