//! @file Whole-file reads of raw little-endian arrays (KITTI scans and labels, bit-packed voxel grids), from a file
//! or from bytes in memory, and the size checks the other readers share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "voxformer/core/error.hpp"
#include "voxformer/io/atomic_file.hpp"

namespace voxformer::io {

namespace detail {

//! Byte count of the regular file at `path`. The std::error_code overloads: the throwing ones would let a
//! std::filesystem_error (missing file, directory) escape instead of a voxformer::error naming the caller.
inline std::uintmax_t regular_file_size(const std::filesystem::path& path, std::string_view where) {
  using voxformer::detail::fail;
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) fail(where, ": cannot open: no such file");
  if (ec) fail(where, ": cannot open: ", ec.message());
  if (std::filesystem::is_directory(status)) fail(where, ": is a directory, not a file");
  if (!std::filesystem::is_regular_file(status)) fail(where, ": is not a regular file");
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec) fail(where, ": cannot read its size: ", ec.message());
  return bytes;
}

//! The whole file as `T` values. Its size must be a multiple of `unit` bytes (a multiple of sizeof(T); a
//! truncated file is an error, not a shorter array), checked before anything is allocated.
template <class T>
std::vector<T> read_file_as(const std::filesystem::path& path, std::string_view where, std::size_t unit = sizeof(T),
                            std::string_view unit_name = "element") {
  static_assert(std::is_trivially_copyable_v<T>);
  using voxformer::detail::require;
  const auto bytes = regular_file_size(path, where);
  require(bytes % unit == 0, where, ": ", bytes, " bytes is not a whole number of ", unit, "-byte ", unit_name, "s");
  std::vector<T> values(static_cast<std::size_t>(bytes / sizeof(T)));
  std::ifstream in(path, std::ios::binary);
  require(in.is_open(), where, ": cannot open for reading");
  in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(bytes));
  require(in.gcount() == static_cast<std::streamsize>(bytes), where, ": short read (", in.gcount(), " of ", bytes,
          " bytes)");
  return values;
}

//! `bytes` as `T` values, with read_file_as's size rule.
template <class T>
std::vector<T> array_from_bytes(std::span<const std::byte> bytes, std::string_view where, std::size_t unit = sizeof(T),
                                std::string_view unit_name = "element") {
  static_assert(std::is_trivially_copyable_v<T>);
  voxformer::detail::require(bytes.size() % unit == 0, where, ": ", bytes.size(), " bytes is not a whole number of ",
                             unit, "-byte ", unit_name, "s");
  std::vector<T> values(bytes.size() / sizeof(T));
  if (!bytes.empty()) std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

}  // namespace detail

//! Reads a file of packed `T` values. A missing file, a directory, or a size that is not a multiple of sizeof(T)
//! is a voxformer::error naming the file.
template <class T>
std::vector<T> read_binary_array(const std::filesystem::path& path) {
  return detail::read_file_as<T>(path, "voxformer::io::read_binary_array('" + path.string() + "')");
}

//! The same from bytes in memory; `name` identifies them in messages.
template <class T>
std::vector<T> parse_binary_array(std::span<const std::byte> bytes, std::string_view name) {
  return detail::array_from_bytes<T>(bytes, "voxformer::io::parse_binary_array('" + std::string(name) + "')");
}

//! Writes `count` packed `T` values as the whole file (atomic_file.hpp: complete, or the destination left as it was).
template <class T>
void write_binary_array(const std::filesystem::path& path, const T* values, std::size_t count) {
  static_assert(std::is_trivially_copyable_v<T>);
  detail::write_file_atomically(path, "voxformer::io::write_binary_array('" + path.string() + "')", values,
                                count * sizeof(T));
}

}  // namespace voxformer::io
