//! @file Loading the committed PyTorch fixtures and the real SemanticKITTI frame.
#pragma once

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "voxformer/io/npy.hpp"

namespace test {

inline std::filesystem::path fixture_path(const std::string& group, const std::string& name) {
  return std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / group / (name + ".npy");
}

inline voxformer::io::npy_array load_fixture(const std::string& group, const std::string& name) {
  return voxformer::io::read_npy(fixture_path(group, name));
}

inline std::filesystem::path frame_path(const std::string& file) {
  return std::filesystem::path(VOXFORMER_EXAMPLE_DATA_DIR) / "semantickitti_08_001000" / file;
}

//! The values of a fixture as std::vector<T> (the element type must match exactly).
template <class T>
std::vector<T> fixture_values(const voxformer::io::npy_array& a) {
  const T* p = a.data<T>();
  return std::vector<T>(p, p + a.size());
}

template <int Rank>
std::array<voxformer::index_t, Rank> fixture_shape(const voxformer::io::npy_array& a) {
  std::array<voxformer::index_t, Rank> s{};
  for (int d = 0; d < Rank; ++d) s[d] = a.shape.at(static_cast<std::size_t>(d));
  return s;
}

}  // namespace test
