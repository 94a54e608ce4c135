// PNG through libpng: a round trip, the bytes of the header written, other colour types read as RGB, and the
// errors — each naming the file.
#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "support/temp_file.hpp"
#include "voxformer/io/png.hpp"

namespace {

using test::error_of;
using test::temp_file;
using voxformer::io::read_png_rgb;
using voxformer::io::write_png;

//! A width × height image whose every pixel differs: (x·30, y·40, x + y), rows top to bottom.
std::vector<std::uint8_t> gradient(int width, int height) {
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(3 * width * height));
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const auto at = static_cast<std::size_t>(3 * (y * width + x));
      rgb[at] = static_cast<std::uint8_t>(30 * x);
      rgb[at + 1] = static_cast<std::uint8_t>(40 * y);
      rgb[at + 2] = static_cast<std::uint8_t>(x + y);
    }
  return rgb;
}

std::vector<std::uint8_t> file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
}

std::uint32_t big_endian_at(const std::vector<std::uint8_t>& bytes, std::size_t at) {
  return std::uint32_t{bytes[at]} << 24 | std::uint32_t{bytes[at + 1]} << 16 | std::uint32_t{bytes[at + 2]} << 8 |
         bytes[at + 3];
}

TEST(Png, RoundTripOfAGradient) {
  const int width = 7, height = 5;  // not square: a swapped width and height shows
  const auto rgb = gradient(width, height);
  const auto path = temp_file("gradient.png");
  write_png(path, rgb, width, height);
  const auto image = read_png_rgb(path);
  EXPECT_EQ(image.width, width);
  EXPECT_EQ(image.height, height);
  EXPECT_EQ(image.rgb, rgb);
  // The PNG signature, then IHDR: width, height (big-endian), bit depth 8, colour type 2 (RGB), not interlaced.
  const auto bytes = file_bytes(path);
  ASSERT_GE(bytes.size(), 33u);
  EXPECT_EQ(png_sig_cmp(bytes.data(), 0, 8), 0);
  EXPECT_EQ(std::string(bytes.begin() + 12, bytes.begin() + 16), "IHDR");
  EXPECT_EQ(big_endian_at(bytes, 16), 7u);
  EXPECT_EQ(big_endian_at(bytes, 20), 5u);
  EXPECT_EQ(bytes[24], 8);
  EXPECT_EQ(bytes[25], PNG_COLOR_TYPE_RGB);
  EXPECT_EQ(bytes[28], PNG_INTERLACE_NONE);
  std::filesystem::remove(path);
}

TEST(Png, OnePixelRoundTrips) {
  const std::vector<std::uint8_t> rgb = {1, 2, 3};
  const auto path = temp_file("pixel.png");
  write_png(path, rgb, 1, 1);
  EXPECT_EQ(read_png_rgb(path).rgb, rgb);
  std::filesystem::remove(path);
}

//! Writes `pixels` in libpng's `format` with its simplified API (another writer than ours).
void write_with_libpng(const std::filesystem::path& path, png_uint_32 format, int width, int height,
                       const void* pixels, const void* colormap = nullptr, png_uint_32 colormap_entries = 0) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.format = format;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.colormap_entries = colormap_entries;
  ASSERT_NE(png_image_write_to_file(&image, path.c_str(), 0, pixels, 0, colormap), 0) << image.message;
}

TEST(Png, OtherColourTypesAreReadAsRgb) {
  const auto path = temp_file("colour_types.png");
  const std::vector<std::uint8_t> expected = {10, 10, 10, 200, 200, 200};  // two grey pixels as RGB

  const std::vector<std::uint8_t> grey = {10, 200};
  write_with_libpng(path, PNG_FORMAT_GRAY, 2, 1, grey.data());
  EXPECT_EQ(read_png_rgb(path).rgb, expected);

  const std::vector<std::uint8_t> grey_alpha = {10, 0, 200, 128};  // alpha is dropped, not composited
  write_with_libpng(path, PNG_FORMAT_GA, 2, 1, grey_alpha.data());
  EXPECT_EQ(read_png_rgb(path).rgb, expected);

  const std::vector<std::uint8_t> rgba = {10, 10, 10, 0, 200, 200, 200, 255};
  write_with_libpng(path, PNG_FORMAT_RGBA, 2, 1, rgba.data());
  EXPECT_EQ(read_png_rgb(path).rgb, expected);

  const std::vector<std::uint16_t> grey16 = {257 * 10, 257 * 200};  // 16 bits scaled to 8: v·255/65535
  write_with_libpng(path, PNG_FORMAT_LINEAR_Y, 2, 1, grey16.data());
  EXPECT_EQ(read_png_rgb(path).rgb, expected);

  const std::vector<std::uint8_t> palette = {255, 0, 0, 0, 0, 255, 10, 20, 30};
  const std::vector<std::uint8_t> indices = {2, 0, 1, 1};
  write_with_libpng(path, PNG_FORMAT_RGB_COLORMAP, 2, 2, indices.data(), palette.data(), 3);
  const auto image = read_png_rgb(path);
  EXPECT_EQ(image.width, 2);
  EXPECT_EQ(image.height, 2);
  EXPECT_EQ(image.rgb, (std::vector<std::uint8_t>{10, 20, 30, 255, 0, 0, 0, 0, 255, 0, 0, 255}));
  std::filesystem::remove(path);
}

// A camera image must be what a camera gives, 8-bit RGB: every other kind is an error naming the file and the kind,
// not converted (a grey or palette picture is not a camera's).
TEST(Png, ACameraImageIsEightBitRgbOnly) {
  const auto path = temp_file("camera.png");
  const std::string where = "voxformer::io::read_camera_image('" + path.string() + "'): ";
  write_png(path, gradient(5, 3), 5, 3);
  const auto image = voxformer::io::read_camera_image(path);
  EXPECT_EQ(image.width, 5);
  EXPECT_EQ(image.rgb, gradient(5, 3));
  const std::vector<std::uint8_t> grey = {10, 200}, rgba = {10, 10, 10, 0, 200, 200, 200, 255};
  const std::vector<std::uint16_t> rgb16 = {1, 2, 3, 4, 5, 6};
  const std::vector<std::uint8_t> palette = {255, 0, 0, 0, 0, 255}, indices = {1, 0};
  struct kind {
    const char* name;
    std::function<void()> write;
  };
  const kind kinds[] = {
      {"8-bit grey", [&] { write_with_libpng(path, PNG_FORMAT_GRAY, 2, 1, grey.data()); }},
      {"8-bit RGBA", [&] { write_with_libpng(path, PNG_FORMAT_RGBA, 2, 1, rgba.data()); }},
      {"16-bit RGB", [&] { write_with_libpng(path, PNG_FORMAT_LINEAR_RGB, 2, 1, rgb16.data()); }},
      {"palette", [&] { write_with_libpng(path, PNG_FORMAT_RGB_COLORMAP, 2, 1, indices.data(), palette.data(), 2); }},
  };
  for (const auto& [name, write] : kinds) {
    write();
    const std::string message = error_of([&] { (void)voxformer::io::read_camera_image(path); });
    EXPECT_CONTAINS(message, where);
    EXPECT_CONTAINS(message, name);
  }
  write_png(path, gradient(5, 3), 5, 3);
  auto bytes = file_bytes(path);
  bytes.resize(bytes.size() / 2);
  write_bytes(path, bytes);
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_camera_image(path); }), where);
  std::filesystem::remove(path);
}

TEST(Png, AnInterlacedImageIsReadWhole) {
  // Adam7 by libpng's own writer: seven passes, of which a 7×5 image leaves some rows and columns empty.
  const int width = 7, height = 5;
  auto rgb = gradient(width, height);
  const auto path = temp_file("interlaced.png");
  std::FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, file);
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  std::vector<png_bytep> rows;
  for (int y = 0; y < height; ++y) rows.push_back(rgb.data() + 3 * width * y);
  png_set_rows(png, info, rows.data());
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(file);
  ASSERT_EQ(file_bytes(path)[28], PNG_INTERLACE_ADAM7);
  EXPECT_EQ(read_png_rgb(path).rgb, rgb);
  std::filesystem::remove(path);
}

TEST(Png, SizesAreCheckedBeforeTheFileIsCreated) {
  const auto path = temp_file("never_written.png");
  const std::string where = "write_png('" + path.string() + "'): ";
  const auto rgb = gradient(2, 2);
  EXPECT_CONTAINS(error_of([&] { write_png(path, std::span(rgb).first(11), 2, 2); }),
                  where + "11 bytes, a 2x2 RGB image has 12");
  EXPECT_CONTAINS(error_of([&] { write_png(path, rgb, 2, 3); }), where + "12 bytes, a 2x3 RGB image has 18");
  EXPECT_CONTAINS(error_of([&] { write_png(path, {}, 0, 3); }), where + "width and height must be positive, got 0x3");
  EXPECT_CONTAINS(error_of([&] { write_png(path, {}, 3, -1); }), where + "width and height must be positive, got 3x-1");
  EXPECT_CONTAINS(error_of([&] { write_png(path, rgb, 1000001, 1); }),
                  where + "1000001x1 exceeds libpng's limit of 1000000x1000000");
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Png, AFileThatCannotBeWrittenIsAnError) {
  const auto rgb = gradient(2, 2);
  const auto path = temp_file("no_such_folder") / "image.png";
  EXPECT_CONTAINS(error_of([&] { write_png(path, rgb, 2, 2); }),
                  "write_png('" + path.string() + "'): cannot open for writing: No such file or directory");
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  // A device is written directly (tests/io/test_atomic_file.cpp): a small image and a large one, which fails inside
  // libpng, both give the system's reason.
  EXPECT_CONTAINS(error_of([&] { write_png("/dev/full", rgb, 2, 2); }),
                  "write_png('/dev/full'): cannot write: No space left on device");
  std::vector<std::uint8_t> noise(3 * 256 * 256);
  std::mt19937 random(7);
  for (auto& v : noise) v = static_cast<std::uint8_t>(random());
  EXPECT_CONTAINS(error_of([&] { write_png("/dev/full", noise, 256, 256); }),
                  "write_png('/dev/full'): cannot write: No space left on device");
}

TEST(Png, ANonPngFileIsAnError) {
  const auto path = temp_file("not_a.png");
  const std::string where = "read_png_rgb('" + path.string() + "'): ";
  std::ofstream(path) << "P3 2 2 255\n";  // a PPM image
  EXPECT_CONTAINS(error_of([&] { (void)read_png_rgb(path); }),
                  where + "not a PNG file (it does not start with the PNG signature)");
  write_bytes(path, {0x89, 'P', 'N'});
  EXPECT_CONTAINS(error_of([&] { (void)read_png_rgb(path); }),
                  where + "not a PNG file (it does not start with the PNG signature)");
  std::filesystem::remove(path);
  EXPECT_CONTAINS(error_of([&] { (void)read_png_rgb(path); }), where + "cannot open: no such file");
  EXPECT_CONTAINS(error_of([&] { (void)read_png_rgb(std::filesystem::temp_directory_path()); }),
                  "is a directory, not a file");
}

TEST(Png, ATruncatedPngIsAnError) {
  const auto path = temp_file("truncated.png");
  const std::string where = "read_png_rgb('" + path.string() + "'): ";
  write_png(path, gradient(7, 5), 7, 5);
  const auto bytes = file_bytes(path);
  // Cut anywhere after the signature: every prefix is an error, none a crash or a short image.
  for (std::size_t size = 8; size < bytes.size(); ++size) {
    write_bytes(path, {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size)});
    SCOPED_TRACE(size);
    EXPECT_CONTAINS(error_of([&] { (void)read_png_rgb(path); }), where + "truncated: the file ends inside the PNG");
  }
  std::filesystem::remove(path);
}

TEST(Png, ACorruptPngIsAnError) {
  const auto path = temp_file("corrupt.png");
  write_png(path, gradient(7, 5), 7, 5);
  auto bytes = file_bytes(path);
  bytes[17] ^= 1;  // the width, so IHDR's CRC no longer matches
  write_bytes(path, bytes);
  EXPECT_CONTAINS(error_of([&] { (void)read_png_rgb(path); }),
                  "read_png_rgb('" + path.string() + "'): libpng: IHDR: CRC error");
  std::filesystem::remove(path);
}

TEST(Png, AHeaderClaimingMorePixelsThanTheFileHoldsIsAnError) {
  const auto path = temp_file("huge.png");
  write_png(path, gradient(7, 5), 7, 5);
  auto bytes = file_bytes(path);
  for (const std::size_t at : {16u, 20u}) {  // width and height 1 000 000 (libpng's limit), with a valid CRC
    bytes[at] = 0x00, bytes[at + 1] = 0x0F, bytes[at + 2] = 0x42, bytes[at + 3] = 0x40;
  }
  const auto crc = static_cast<std::uint32_t>(crc32(0, bytes.data() + 12, 17));
  for (int i = 0; i < 4; ++i) bytes[29 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (24 - 8 * i));
  write_bytes(path, bytes);
  EXPECT_CONTAINS(error_of([&] { (void)read_png_rgb(path); }),
                  "read_png_rgb('" + path.string() + "'): the header claims 1000000x1000000 pixels, more than a " +
                      std::to_string(bytes.size()) + "-byte PNG can hold");
  std::filesystem::remove(path);
}

// A 1-bit grey image that deflate's bound allows (a 64 KiB file may hold 20000 × 20000 such pixels) would still be
// 1.2 GB as RGB: refused before anything is allocated.
TEST(Png, AnImageOfMoreThanAGibibyteOfRgbIsAnError) {
  const auto path = temp_file("wide.png");
  write_png(path, gradient(7, 5), 7, 5);
  auto bytes = file_bytes(path);
  for (const std::size_t at : {16u, 20u}) {  // width and height 20 000
    bytes[at] = 0x00, bytes[at + 1] = 0x00, bytes[at + 2] = 0x4E, bytes[at + 3] = 0x20;
  }
  bytes[24] = 1, bytes[25] = 0;  // 1-bit greyscale
  const auto crc = static_cast<std::uint32_t>(crc32(0, bytes.data() + 12, 17));
  for (int i = 0; i < 4; ++i) bytes[29 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (24 - 8 * i));
  bytes.resize(64 * 1024, 0);
  write_bytes(path, bytes);
  EXPECT_CONTAINS(error_of([&] { (void)read_png_rgb(path); }),
                  "read_png_rgb('" + path.string() + "'): 20000x20000 pixels are more than this reader returns");
  std::filesystem::remove(path);
}

}  // namespace
