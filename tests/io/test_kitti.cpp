// KITTI calibration: VoxFormer's lidar2img = K4·Tr against the spec's float64 test vectors (§8.10); malformed
// calib.txt files; scans and labels.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "support/error_of.hpp"
#include "support/temp_file.hpp"
#include "support/fixtures.hpp"
#include "voxformer/io/kitti.hpp"

namespace {

using test::error_of;
using test::temp_file;

std::string row(const std::string& key, int numbers = 12, const std::string& first = "1") {
  std::string line = key + ":";
  for (int i = 0; i < numbers; ++i) line += " " + (i == 0 ? first : std::to_string(i));
  return line + "\n";
}

std::string valid_calibration() { return row("P0") + row("P1") + row("P2") + row("P3") + row("Tr"); }

std::string calibration_error(const std::string& text) {
  return error_of([&] { (void)voxformer::io::parse_kitti_calibration(text, "calib.txt"); });
}

TEST(KittiCalibration, LidarToImageMatchesSpecVectors) {
  const auto calib = voxformer::io::read_kitti_calibration(test::frame_path("calib.txt"));
  const Eigen::Matrix4d m = calib.lidar_to_image();
  const double expected[3][4] = {{600.560052, -708.153849, -9.594978, -204.411181},
                                 {178.523258, 5.362788, -708.242970, -113.040607},
                                 {0.999977, -0.001806, -0.006496, -0.333997}};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) EXPECT_NEAR(m(r, c), expected[r][c], 1e-6) << r << "," << c;
  // Rigid inverse: exact up to how orthonormal KITTI's published rotation is (~8e-8).
  EXPECT_TRUE((calib.camera_to_lidar() * calib.tr).isIdentity(1e-6));
}

TEST(KittiCalibration, ParsesFromMemoryLikeTheFile) {
  std::ifstream in(test::frame_path("calib.txt"));
  std::stringstream text;
  text << in.rdbuf();
  const auto from_file = voxformer::io::read_kitti_calibration(test::frame_path("calib.txt"));
  const auto from_text = voxformer::io::parse_kitti_calibration(text.str(), "calib.txt");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(from_text.p[i], from_file.p[i]);
  EXPECT_EQ(from_text.tr, from_file.tr);
  EXPECT_EQ(from_file.p[2](0, 3), 4.688783000000e+01);  // row-major: the 4th number is P2's baseline term
}

TEST(KittiCalibration, AcceptedForms) {
  // CRLF line ends, blank lines, rows in another order, and rows VoxFormer does not use.
  std::string text = "calib_time: 09-Jan-2012 13:57:47\r\n\r\n" + row("Tr") + row("P3") + "  \t\n" + row("P2") +
                     row("P1") + row("R0_rect", 9) + row("P0", 12, "-7.07e+02");
  const auto calib = voxformer::io::parse_kitti_calibration(text, "calib.txt");
  EXPECT_EQ(calib.p[0](0, 0), -707.0);
  EXPECT_EQ(calib.p[1](2, 3), 11.0);
  EXPECT_EQ(calib.tr(3, 3), 1.0);
  std::string crlf;
  for (const char c : valid_calibration()) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  EXPECT_EQ(voxformer::io::parse_kitti_calibration(crlf, "crlf").p[3](1, 2), 6.0);
}

TEST(KittiCalibration, MissingRowThrows) {
  const auto path = temp_file("calib.txt");
  std::ofstream(path) << "P0: 1 2 3\n";
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_kitti_calibration(path); }),
                  "read_kitti_calibration('" + path.string() + "'): line 1: row 'P0:' has 3 numbers, needs 12");
  EXPECT_CONTAINS(calibration_error(row("P0") + row("P1") + row("P2") + row("P3")),
                  "needs a row 'Tr:' with 12 numbers");
  EXPECT_CONTAINS(calibration_error(""), "needs a row 'P0:'");
}

TEST(KittiCalibration, ExtraNumbersThrow) {
  // Only the rows VoxFormer reads are checked: P9 is skipped.
  const auto text = row("P0") + row("P1") + row("P2") + row("Tr") + "\n" + row("P9", 13) + row("P3", 13);
  EXPECT_CONTAINS(calibration_error(text), "line 7: row 'P3:' has more than 12 numbers");
}

TEST(KittiCalibration, NonFiniteValuesThrow) {
  for (const std::string value : {"nan", "NaN", "inf", "-inf", "infinity"}) {
    EXPECT_CONTAINS(calibration_error(row("P0") + row("P1", 12, value) + row("P2") + row("P3") + row("Tr")),
                    "calib.txt'): line 2: row 'P1:' holds a non-finite value");
  }
  EXPECT_CONTAINS(calibration_error(row("Tr", 12, "1e999") + row("P0")), "'1e999' in row 'Tr:' is out of the range");
}

TEST(KittiCalibration, NonNumbersThrow) {
  for (const std::string value : {"x", "1.5.2", "0x10", "+1", "1,5", "--1"}) {
    EXPECT_CONTAINS(calibration_error(row("P0", 12, value) + row("P1") + row("P2") + row("P3") + row("Tr")),
                    "line 1: '" + value + "' in row 'P0:' is not a number");
  }
}

TEST(KittiCalibration, DuplicateRowsThrow) {
  EXPECT_CONTAINS(calibration_error(valid_calibration() + row("P2")), "line 6 repeats the row 'P2:'");
}

TEST(KittiCalibration, LinesWithoutAKeyThrow) {
  for (const std::string line : {"1 2 3\n", ": 1 2 3\n", ":\n", "P0 : 1\n", "P0\n", "  :"}) {
    EXPECT_CONTAINS(calibration_error(valid_calibration() + line), "calib.txt'): line 6 does not start with a 'key:'");
  }
}

TEST(KittiCalibration, FileErrorsNameTheFile) {
  const auto missing = temp_file("missing_calib.txt");
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_kitti_calibration(missing); }),
                  "read_kitti_calibration('" + missing.string() + "'): cannot open: no such file");
  EXPECT_CONTAINS(
      error_of([&] { (void)voxformer::io::read_kitti_calibration(std::filesystem::temp_directory_path()); }),
      "is a directory");
}

TEST(KittiScan, RealFrameSizes) {
  EXPECT_EQ(voxformer::io::read_kitti_scan(test::frame_path("scan.bin")).size(), 126624u * 4);
  EXPECT_EQ(voxformer::io::read_kitti_labels(test::frame_path("scan.label")).size(), 126624u);
  EXPECT_EQ(voxformer::io::read_kitti_labels(test::frame_path("scan.label"), 126624).size(), 126624u);
  EXPECT_THROW((void)voxformer::io::read_binary_array<double>(test::frame_path("calib.txt")), voxformer::error);
}

TEST(KittiScan, PartialPointsThrow) {
  const std::vector<std::byte> bytes(20);
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::parse_kitti_scan(bytes, "scan.bin"); }),
                  "parse_kitti_scan('scan.bin'): 20 bytes is not a whole number of 16-byte (x, y, z, r) points");
  const auto path = temp_file("scan.bin");
  voxformer::io::write_binary_array(path, bytes.data(), bytes.size());
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_kitti_scan(path); }),
                  "read_kitti_scan('" + path.string() + "'): 20 bytes is not a whole number");
}

TEST(KittiScan, NonFiniteCoordinatesAreKept) {  // the voxeliser ignores them
  const float point[4] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), 1, 0};
  std::vector<std::byte> bytes(sizeof point);
  std::memcpy(bytes.data(), point, sizeof point);
  const auto scan = voxformer::io::parse_kitti_scan(bytes, "scan.bin");
  ASSERT_EQ(scan.size(), 4u);
  EXPECT_TRUE(std::isnan(scan[0]) && std::isinf(scan[1]));
}

TEST(KittiLabels, CountMustMatchTheScan) {
  const auto path = test::frame_path("scan.label");
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_kitti_labels(path, 126623); }),
                  "read_kitti_labels('" + path.string() +
                      "'): 506496 bytes, not one uint32 label for each of the scan's 126623 points");
  const std::vector<std::byte> bytes(10);
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::parse_kitti_labels(bytes, "scan.label"); }),
                  "parse_kitti_labels('scan.label'): 10 bytes is not a whole number of 4-byte elements");
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::parse_kitti_labels(bytes, "scan.label", 2); }),
                  "10 bytes, not one uint32 label for each of the scan's 2 points");
  EXPECT_EQ(voxformer::io::parse_kitti_labels(std::span(bytes).first(8), "scan.label", 2).size(), 2u);
}

}  // namespace
