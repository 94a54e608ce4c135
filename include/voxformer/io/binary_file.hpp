//! @file Whole-file reads of raw little-endian arrays (KITTI scans and labels, bit-packed voxel grids).
#pragma once

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "voxformer/core/error.hpp"

namespace voxformer::io {

//! Reads a file of packed `T` values; throws if it cannot be opened or its size is not a multiple of
//! sizeof(T) (a truncated file is an error, not a shorter array).
template <class T>
std::vector<T> read_binary_array(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  voxformer::detail::require(in.good(), "voxformer::io: cannot open '", path.string(), "'");
  const auto bytes = std::filesystem::file_size(path);
  voxformer::detail::require(bytes % sizeof(T) == 0, "voxformer::io: '", path.string(), "' has ", bytes,
                  " bytes, not a whole number of ", sizeof(T), "-byte elements");
  std::vector<T> values(bytes / sizeof(T));
  in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(bytes));
  voxformer::detail::require(in.good() || bytes == 0, "voxformer::io: short read from '", path.string(), "'");
  return values;
}

template <class T>
void write_binary_array(const std::filesystem::path& path, const T* values, std::size_t count) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(values), static_cast<std::streamsize>(count * sizeof(T)));
  voxformer::detail::require(out.good(), "voxformer::io: cannot write '", path.string(), "'");
}

}  // namespace voxformer::io
