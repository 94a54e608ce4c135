//! @file Paths for the files a test writes.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace test {

//! `name` in the temporary directory, made unique per process: ctest runs each test as its own process,
//! several at once.
inline std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("voxformer_test_" + std::to_string(::getpid()) + "_" + name);
}

}  // namespace test
