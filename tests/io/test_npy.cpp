// .npy reading and writing, and malformed files: one test per way a file can be wrong.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/error_of.hpp"
#include "support/temp_file.hpp"
#include "support/fixtures.hpp"
#include "voxformer/io/npy.hpp"

namespace {

using test::error_of;
using test::temp_file;

std::span<const std::byte> as_bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

//! A version-1 image with header dictionary `dict` (padded as NumPy does) followed by `data_bytes` zero bytes.
std::string npy_image(std::string dict, std::size_t data_bytes) {
  dict.append(64 - (10 + dict.size() + 1) % 64, ' ');
  dict += '\n';
  std::string image("\x93NUMPY\x01\x00", 8);
  image += static_cast<char>(dict.size() & 0xFF);
  image += static_cast<char>(dict.size() >> 8);
  return image + dict + std::string(data_bytes, '\0');
}

std::string header_with(const std::string& descr, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
}

//! The error parse_npy gives for an image (or "no error").
std::string parse_error(const std::string& image) {
  return error_of([&] { (void)voxformer::io::parse_npy(as_bytes(image), "case.npy"); });
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
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

TEST(Npy, WritesTheHeaderNumpyWrites) {
  const auto fixture = test::fixture_path("projection", "lidar2img");
  const auto a = voxformer::io::read_npy(fixture);
  const auto path = temp_file("like_numpy.npy");
  voxformer::io::write_npy(path, a.data<float>(), a.shape);
  std::ifstream written(path, std::ios::binary), original(fixture, std::ios::binary);
  const std::string mine{std::istreambuf_iterator<char>(written), {}};
  const std::string numpy{std::istreambuf_iterator<char>(original), {}};
  EXPECT_EQ(mine, numpy);
}

TEST(Npy, ParsesFromMemoryLikeFromAFile) {
  const std::string image = npy_image(header_with("<i4", "(2, 3)"), 24);
  const auto a = voxformer::io::parse_npy(as_bytes(image), "memory");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a.type, voxformer::dtype_of<std::int32_t>());
  EXPECT_EQ(a.bytes.size(), 24u);
  const auto path = temp_file("memory.npy");
  write_file(path, image);
  const auto b = voxformer::io::read_npy(path);
  EXPECT_EQ(b.shape, a.shape);
  EXPECT_EQ(b.bytes, a.bytes);
}

TEST(Npy, MalformedFilesThrow) {
  const auto path = temp_file("bad.npy");
  write_file(path, "not numpy at all");
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_npy(path); }), "not a .npy file");
  // A valid header followed by too few data bytes.
  const std::vector<float> values(10, 1.f);
  voxformer::io::write_npy(path, values.data(), {10});
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 4);
  const auto message = error_of([&] { (void)voxformer::io::read_npy(path); });
  EXPECT_CONTAINS(message, "read_npy('" + path.string() + "')");
  EXPECT_CONTAINS(message, "expected 40 data bytes, found 36");
}

TEST(Npy, TrailingBytesAfterTheDataThrow) {
  EXPECT_CONTAINS(parse_error(npy_image(header_with("<f4", "(10,)"), 44)), "expected 40 data bytes, found 44");
}

// Was: a signed product that wrapped ((2^62+1)·4 = 4 elements) and was trusted — a 144-byte file "read".
TEST(Npy, ShapeProductOverflowIsRejected) {
  const std::string image = npy_image(header_with("<f4", "(4611686018427387905, 4)"), 16);
  ASSERT_EQ(image.size(), 144u);
  const auto path = temp_file("overflow.npy");
  write_file(path, image);
  const auto message = error_of([&] { (void)voxformer::io::read_npy(path); });
  EXPECT_CONTAINS(message, path.string());
  EXPECT_CONTAINS(message, "element count overflows 64 bits");
  // The product overflows uint64 only with the item size: 2^61 float64 elements are 2^64 bytes.
  EXPECT_CONTAINS(parse_error(npy_image(header_with("<f8", "(2305843009213693952,)"), 0)),
                  "data size overflows 64 bits");
}

// Was: the header was allocated at the stated length (4.2 GB for a 134-byte file) before being read.
TEST(Npy, HeaderLengthBeyondTheFileFailsFast) {
  std::string image("\x93NUMPY\x02\x00\xF0\xFF\xFF\xFF", 12);
  image.append(122, ' ');
  ASSERT_EQ(image.size(), 134u);
  const auto path = temp_file("huge_header.npy");
  write_file(path, image);
  const auto start = std::chrono::steady_clock::now();
  const auto message = error_of([&] { (void)voxformer::io::read_npy(path); });
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_CONTAINS(message, path.string());
  EXPECT_CONTAINS(message, "header length 4294967280 exceeds the 122 bytes after it");
}

// Was: std::bad_alloc from allocating 4 TB for the data of a file that has none.
TEST(Npy, DataSizeIsCheckedAgainstTheFileBeforeAllocating) {
  EXPECT_CONTAINS(parse_error(npy_image(header_with("<f4", "(1000000000000,)"), 0)),
                  "expected 4000000000000 data bytes, found 0");
}

// Was: std::invalid_argument / std::out_of_range from std::stoll, without the file name.
TEST(Npy, NonNumericOrHugeShapeEntriesThrow) {
  for (const std::string shape : {"('a', 2)", "(3x, 2)", "(3 4)", "(,)", "(3,,)", "[3, 4]", "3", "(3, 4", "(1.5,)"}) {
    const auto message = parse_error(npy_image(header_with("<f4", shape), 0));
    EXPECT_CONTAINS(message, "parse_npy('case.npy')");
    EXPECT_CONTAINS(message, "'shape' must be a tuple of non-negative integers");
  }
  EXPECT_CONTAINS(parse_error(npy_image(header_with("<f4", "(99999999999999999999,)"), 0)),
                  "shape extent '99999999999999999999' exceeds 64 bits");
}

// Was: the minus sign was skipped and (-3, 2) read as (3, 2).
TEST(Npy, NegativeShapeEntriesThrow) {
  EXPECT_CONTAINS(parse_error(npy_image(header_with("<f4", "(-3, 2)"), 24)),
                  "'shape' must be a tuple of non-negative integers, got '(-3, 2)'");
}

TEST(Npy, ShapeForms) {
  const auto shape_of = [](const std::string& shape, std::size_t bytes) {
    return voxformer::io::parse_npy(as_bytes(npy_image(header_with("|u1", shape), bytes)), "case").shape;
  };
  EXPECT_EQ(shape_of("()", 1), std::vector<std::int64_t>{});  // a scalar: one element
  EXPECT_EQ(shape_of("(3,)", 3), std::vector<std::int64_t>{3});
  EXPECT_EQ(shape_of("(3)", 3), std::vector<std::int64_t>{3});
  EXPECT_EQ(shape_of("( 2 , 3 , )", 6), (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(shape_of("(0, 5)", 0), (std::vector<std::int64_t>{0, 5}));
  // As in NumPy, the non-zero extents of an empty array must still multiply within 64 bits.
  EXPECT_EQ(shape_of("(4611686018427387904, 1, 0)", 0), (std::vector<std::int64_t>{4611686018427387904, 1, 0}));
  EXPECT_CONTAINS(parse_error(npy_image(header_with("|u1", "(4611686018427387905, 4, 0)"), 0)),
                  "element count overflows 64 bits");
  std::string rank65 = "(";
  for (int d = 0; d < 65; ++d) rank65 += "1, ";
  EXPECT_CONTAINS(parse_error(npy_image(header_with("|u1", rank65 + ")"), 1)), "more than 64 dimensions");
}

// Was: '<f64' parsed as an 8·64-bit type that wrapped to a 0-byte dtype.
TEST(Npy, UnsupportedDtypesThrow) {
  for (const std::string descr : {"<f64", "<f1", "|f4", "<i3", "<u16", "<b2", "<c8", "<U3", "|O", "|V8", "=f4", "<f"}) {
    const auto message = parse_error(npy_image(header_with(descr, "(1,)"), 8));
    EXPECT_CONTAINS(message, "parse_npy('case.npy')");
    EXPECT_CONTAINS(message, "unsupported dtype '" + descr + "'");
  }
  EXPECT_CONTAINS(parse_error(npy_image("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,), }", 4)),
                  "'descr' is not a string (structured dtypes are not supported)");
}

TEST(Npy, BigEndianDtypesThrow) {
  EXPECT_CONTAINS(parse_error(npy_image(header_with(">f4", "(2,)"), 8)), "big-endian dtype '>f4' is not supported");
}

TEST(Npy, SupportedDtypes) {
  const std::pair<std::string, voxformer::dtype> cases[] = {
      {"|b1", voxformer::dtype_of<bool>()},          {"<f2", {voxformer::scalar_kind::floating, 16}},
      {"<f4", voxformer::dtype_of<float>()},         {"<f8", voxformer::dtype_of<double>()},
      {"|i1", voxformer::dtype_of<std::int8_t>()},   {"<i8", voxformer::dtype_of<std::int64_t>()},
      {"|u1", voxformer::dtype_of<std::uint8_t>()},  {"<u1", voxformer::dtype_of<std::uint8_t>()},
      {"<u2", voxformer::dtype_of<std::uint16_t>()}, {"<u4", voxformer::dtype_of<std::uint32_t>()}};
  for (const auto& [descr, type] : cases) {
    const auto a = voxformer::io::parse_npy(as_bytes(npy_image(header_with(descr, "(3,)"), 3 * type.bits / 8)), descr);
    EXPECT_EQ(a.type, type) << descr;
  }
}

// A bool byte other than 0 or 1 would be undefined behaviour when read as bool.
TEST(Npy, BoolBytesMustBeZeroOrOne) {
  std::string image = npy_image(header_with("|b1", "(3,)"), 3);
  image[image.size() - 2] = '\x01';
  EXPECT_EQ(voxformer::io::parse_npy(as_bytes(image), "bools").data<bool>()[1], true);
  image[image.size() - 1] = '\x07';
  EXPECT_CONTAINS(parse_error(image), "bool element 2 is 7, not 0 or 1");
}

// Was: "'descr'" found anywhere in the header, e.g. inside another value; now the dictionary is parsed.
TEST(Npy, HeaderDictionaryIsParsedStrictly) {
  const auto ok = npy_image("{'shape': (2,), \"fortran_order\": False, 'descr': '<i4'}", 8);
  EXPECT_EQ(voxformer::io::parse_npy(as_bytes(ok), "any order").shape, std::vector<std::int64_t>{2});
  EXPECT_CONTAINS(parse_error(npy_image("{'note': 'descr', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4)),
                  "unexpected key 'note'");
  EXPECT_CONTAINS(parse_error(npy_image("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4)),
                  "key 'descr' appears twice");
  EXPECT_CONTAINS(parse_error(npy_image("{'fortran_order': False, 'shape': (1,)}", 4)), "header lacks 'descr'");
  EXPECT_CONTAINS(parse_error(npy_image("{'descr': '<f4', 'shape': (1,)}", 4)), "header lacks 'fortran_order'");
  EXPECT_CONTAINS(parse_error(npy_image("{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}", 4)),
                  "expected ',' or '}'");
  EXPECT_CONTAINS(parse_error(npy_image(header_with("<f4", "(1,)") + " x", 4)), "unexpected characters after");
  EXPECT_CONTAINS(parse_error(npy_image("{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", 4)),
                  "unsupported dtype");
  EXPECT_CONTAINS(parse_error(npy_image("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", 4)),
                  "'fortran_order' is '', not True or False");
  EXPECT_CONTAINS(parse_error(npy_image("{'descr': '<f4', 'fortran_order': True, 'shape': (1,)}", 4)),
                  "Fortran-order arrays are not supported");
  EXPECT_CONTAINS(parse_error(npy_image("{'descr", 0)), "unterminated string");
}

TEST(Npy, VersionsAndMagic) {
  std::string image = npy_image(header_with("<f4", "(1,)"), 4);
  image[6] = 4;
  EXPECT_CONTAINS(parse_error(image), "unsupported format version 4.0");
  image[6] = 1;
  image[7] = 1;
  EXPECT_CONTAINS(parse_error(image), "unsupported format version 1.1");
  EXPECT_CONTAINS(parse_error(std::string("\x93NUMPY\x01\x00\x10", 9)), "truncated header length");
  EXPECT_CONTAINS(parse_error("\x93NUMP"), "not a .npy file");
  // Versions 2 and 3 have a 4-byte header length.
  std::string dict = header_with("<i2", "(2,)") + "\n";
  std::string v3("\x93NUMPY\x03\x00", 8);
  v3 += static_cast<char>(dict.size());
  v3 += std::string(3, '\0') + dict + std::string(4, '\0');
  EXPECT_EQ(voxformer::io::parse_npy(as_bytes(v3), "v3").type, voxformer::dtype_of<std::int16_t>());
}

TEST(Npy, FileErrorsNameTheFile) {
  const auto missing = temp_file("missing.npy");
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_npy(missing); }),
                  "read_npy('" + missing.string() + "'): cannot open: no such file");
  const auto directory = std::filesystem::temp_directory_path();
  EXPECT_CONTAINS(error_of([&] { (void)voxformer::io::read_npy(directory); }), "is a directory");
}

// npy_array::size() of a hand-built array read_npy would have rejected throws rather than overflows.
TEST(Npy, SizeDoesNotOverflow) {
  const voxformer::io::npy_array huge{voxformer::dtype_of<float>(), {std::int64_t{1} << 62, 4}, {}};
  EXPECT_CONTAINS(error_of([&] { (void)huge.size(); }), "element count overflows 64 bits");
  const voxformer::io::npy_array negative{voxformer::dtype_of<float>(), {-3, 2}, {}};
  EXPECT_CONTAINS(error_of([&] { (void)negative.size(); }), "negative extent -3");
}

TEST(Npy, WriterChecksTheShape) {
  const float value = 0;
  const auto path = temp_file("bad_shape.npy");
  EXPECT_CONTAINS(error_of([&] { voxformer::io::write_npy(path, &value, {-1}); }),
                  "write_npy('" + path.string() + "'): negative extent -1");
  EXPECT_CONTAINS(error_of([&] { voxformer::io::write_npy(path, &value, {std::int64_t{1} << 62, 4}); }),
                  "element count overflows 64 bits");
  EXPECT_CONTAINS(error_of([&] { voxformer::io::write_npy(path, &value, std::vector<std::int64_t>(65, 1)); }),
                  "rank 65 exceeds 64");
  // The largest rank and extents still fit a version-1 header, and read back.
  const std::vector<std::int64_t> shape(64, 1);
  voxformer::io::write_npy(path, &value, shape);
  EXPECT_EQ(voxformer::io::read_npy(path).shape, shape);
  const std::uint8_t scalar = 7;
  voxformer::io::write_npy(path, &scalar, {});
  const auto a = voxformer::io::read_npy(path);
  EXPECT_EQ(a.size(), 1);
  EXPECT_EQ(*a.data<std::uint8_t>(), 7);
}

}  // namespace
