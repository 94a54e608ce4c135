// .npy reading and writing, and malformed files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/fixtures.hpp"
#include "voxformer/io/npy.hpp"

namespace {

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("voxformer_test_" + name);
}

TEST(Npy, RoundTrip) {
  const std::vector<std::int32_t> values = {1, -2, 3, 4, 5, 6};
  const auto path = temp_file("roundtrip.npy");
  voxformer::io::write_npy(path, values.data(), {2, 3});
  const auto a = voxformer::io::read_npy(path);
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(test::fixture_values<std::int32_t>(a), values);
  EXPECT_THROW((void)a.data<float>(), voxformer::error);
}

TEST(Npy, ReadsNumpyWrittenFixtures) {
  const auto a = test::load_fixture("projection", "lidar2img");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{3, 4, 4}));
  EXPECT_EQ(a.type, voxformer::dtype_of<float>());
}

TEST(Npy, MalformedFilesThrow) {
  const auto path = temp_file("bad.npy");
  {
    std::ofstream(path, std::ios::binary) << "not numpy at all";
  }
  EXPECT_THROW((void)voxformer::io::read_npy(path), voxformer::error);
  // A valid header followed by too few data bytes.
  const std::vector<float> values(10, 1.f);
  voxformer::io::write_npy(path, values.data(), {10});
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 4);
  try {
    (void)voxformer::io::read_npy(path);
    FAIL();
  } catch (const voxformer::error& e) {
    EXPECT_NE(std::string(e.what()).find("expected 40 data bytes, found 36"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)voxformer::io::read_npy(temp_file("missing.npy")), voxformer::error);
}

}  // namespace
