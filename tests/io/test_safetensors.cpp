// .safetensors reading (mmap and buffers) and writing, F16/BF16 conversion, in-place reads, and every
// malformed header the reader rejects, each with the message it must give.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "support/temp_file.hpp"
#include "voxformer/io/safetensors.hpp"

using test::error_of;
using test::temp_file;

namespace {

namespace st = voxformer::io;
using st::safetensors_dtype;

template <class T>
std::span<const std::byte> bytes_of(const std::vector<T>& values) {
  return std::as_bytes(std::span<const T>(values));
}

//! A file image from a header text and data bytes, with no padding and no checks (for malformed files).
std::vector<std::byte> raw_image(const std::string& header, std::size_t data_bytes = 0,
                                 std::uint64_t header_length = ~std::uint64_t{0}) {
  if (header_length == ~std::uint64_t{0}) header_length = header.size();
  std::vector<std::byte> image(8);
  for (int i = 0; i < 8; ++i) image[i] = static_cast<std::byte>((header_length >> (8 * i)) & 0xFF);
  for (char c : header) image.push_back(static_cast<std::byte>(c));
  image.resize(image.size() + data_bytes, std::byte{0x5A});
  return image;
}

std::string parse_error(const std::vector<std::byte>& image) {
  return error_of([&] { (void)st::safetensors_file::from_bytes(image, "case"); });
}

// The tensors of the round trip: every dtype family, a scalar, an empty tensor, and offsets that leave the
// I64 tensor 8-byte aligned but the F32 after the U8 one misaligned.
struct sample {
  std::vector<float> f32 = {1.5f, -2.f, 3.25f, 0.f, -0.f, 1e-30f};
  std::vector<std::int64_t> i64 = {-1, 0, 1, std::numeric_limits<std::int64_t>::max()};
  std::vector<std::uint8_t> u8 = {7, 8, 9};
  std::vector<float> f32_after_u8 = {42.f, -42.f};
  std::vector<double> f64 = {0.1, -1e300};
  std::vector<std::uint16_t> bf16_scalar = {0x3F80};  // 1.0
  std::vector<float> empty;
  std::vector<std::uint8_t> boolean = {1, 0, 1};

  std::vector<st::safetensors_tensor_bytes> tensors() const {
    return {{"f32", safetensors_dtype::f32, {2, 3}, bytes_of(f32)},
            {"i64", safetensors_dtype::i64, {4}, bytes_of(i64)},
            {"u8", safetensors_dtype::u8, {3}, bytes_of(u8)},
            {"f32_after_u8", safetensors_dtype::f32, {1, 2}, bytes_of(f32_after_u8)},
            {"f64", safetensors_dtype::f64, {2}, bytes_of(f64)},
            {"bf16_scalar", safetensors_dtype::bf16, {}, bytes_of(bf16_scalar)},
            {"empty", safetensors_dtype::f32, {0, 5}, bytes_of(empty)},
            {"mask", safetensors_dtype::boolean, {3}, bytes_of(boolean)}};
  }
};

template <class T>
std::vector<T> values_of(const st::safetensors_entry& e) {
  std::vector<T> v(static_cast<std::size_t>(e.elements()));
  if (!v.empty()) std::memcpy(v.data(), e.data, e.bytes());
  return v;
}

void expect_sample(const st::safetensors_file& file, const sample& s) {
  const auto written = s.tensors();
  ASSERT_EQ(file.entries().size(), written.size());
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < written.size(); ++i) {
    const auto& e = file.entries()[i];  // data-offset order = the order written
    EXPECT_EQ(e.name, written[i].name);
    EXPECT_EQ(e.dtype, written[i].dtype);
    EXPECT_EQ(e.shape, written[i].shape);
    EXPECT_EQ(e.begin, offset);
    EXPECT_EQ(e.bytes(), written[i].bytes.size());
    EXPECT_EQ(e.source, file.source());
    offset = e.end;
    EXPECT_EQ(file.find(e.name), &e);
    if (e.bytes()) {
      EXPECT_EQ(std::memcmp(e.data, written[i].bytes.data(), e.bytes()), 0) << e.name;
    }
  }
  EXPECT_EQ(file.find("absent"), nullptr);
  EXPECT_EQ(file.find(""), nullptr);
  EXPECT_EQ(file.find("bf16_scalar")->elements(), 1);
  EXPECT_EQ(file.find("empty")->elements(), 0);
  EXPECT_EQ(values_of<std::int64_t>(*file.find("i64")), s.i64);
  EXPECT_EQ(values_of<double>(*file.find("f64")), s.f64);
  EXPECT_EQ(file.metadata(), (std::map<std::string, std::string>{{"format", "pt"}, {"note", "round trip"}}));
}

const std::map<std::string, std::string> sample_metadata = {{"format", "pt"}, {"note", "round trip"}};

TEST(Safetensors, RoundTripThroughMmapAndBuffer) {
  const sample s;
  const auto tensors = s.tensors();
  const auto path = temp_file("roundtrip.safetensors");
  st::write_safetensors(path, tensors, sample_metadata);

  const auto mapped = st::safetensors_file::open(path);
  EXPECT_EQ(mapped.source(), path.string());
  expect_sample(mapped, s);

  const auto image = st::serialize_safetensors(tensors, sample_metadata);
  EXPECT_EQ(image.size(), std::filesystem::file_size(path));
  std::ifstream in(path, std::ios::binary);
  std::vector<char> on_disk(image.size());
  in.read(on_disk.data(), static_cast<std::streamsize>(on_disk.size()));
  EXPECT_EQ(std::memcmp(on_disk.data(), image.data(), image.size()), 0);

  const auto buffered = st::safetensors_file::from_bytes(image, "in memory");
  EXPECT_EQ(buffered.source(), "in memory");
  expect_sample(buffered, s);
  EXPECT_EQ(buffered.entries().front().data, image.data() + (image.size() - 88));  // no copy: points into image
}

TEST(Safetensors, DataSectionStartsEightByteAligned) {
  const sample s;
  for (std::size_t n = 0; n <= 3; ++n) {  // different header lengths
    const auto all = s.tensors();
    const std::vector<st::safetensors_tensor_bytes> tensors(all.begin(), all.begin() + static_cast<long>(n));
    const auto image = st::serialize_safetensors(tensors);
    std::uint64_t header = 0;
    for (int i = 7; i >= 0; --i) header = (header << 8) | std::to_integer<std::uint64_t>(image[i]);
    EXPECT_EQ((8 + header) % 8, 0u) << n;
    EXPECT_EQ(static_cast<char>(image[8]), '{');
    (void)st::safetensors_file::from_bytes(image, "aligned");  // the padding spaces are valid JSON whitespace
  }
}

TEST(Safetensors, MovedFileKeepsItsEntries) {
  const sample s;
  const auto image = st::serialize_safetensors(s.tensors(), sample_metadata);
  auto file = st::safetensors_file::from_bytes(image, "moved");
  const auto* f32 = file.find("f32");
  st::safetensors_file other = std::move(file);
  EXPECT_EQ(other.find("f32"), f32);
  EXPECT_EQ(other.find("f32")->source, "moved");
  const auto path = temp_file("moved.safetensors");
  st::write_safetensors(path, s.tensors(), sample_metadata);
  other = st::safetensors_file::open(path);  // the buffer-backed contents are released, the mapping taken over
  expect_sample(other, s);
}

TEST(Safetensors, InPlaceReadsNeedDtypeAndAlignment) {
  const sample s;
  const auto path = temp_file("inplace.safetensors");
  st::write_safetensors(path, s.tensors(), sample_metadata);
  const auto file = st::safetensors_file::open(path);
  const auto& f32 = *file.find("f32");
  EXPECT_TRUE(st::readable_in_place<float>(f32));  // offset 0 of an 8-byte aligned data section
  EXPECT_FALSE(st::readable_in_place<double>(f32));
  EXPECT_FALSE(st::readable_in_place<std::int32_t>(f32));
  const auto view = st::view_in_place<float>(f32);
  EXPECT_EQ(view.data(), reinterpret_cast<const float*>(f32.data));
  EXPECT_EQ(std::vector<float>(view.begin(), view.end()), s.f32);
  EXPECT_TRUE(st::readable_in_place<std::int64_t>(*file.find("i64")));
  EXPECT_FALSE(st::readable_in_place<double>(*file.find("f64")));  // at byte 67, after the U8 tensor

  // f32_after_u8 begins at 24 + 32 + 3 = byte 59 of the data section: not 4-byte aligned.
  const auto& misaligned = *file.find("f32_after_u8");
  EXPECT_EQ(misaligned.begin, 59u);
  EXPECT_FALSE(st::readable_in_place<float>(misaligned));
  EXPECT_CONTAINS(error_of([&] { (void)st::view_in_place<float>(misaligned); }),
                  "view_in_place: tensor 'f32_after_u8' at byte offset 59 of the data section is not readable in "
                  "place as F32 (misaligned for its type)");
  EXPECT_CONTAINS(error_of([&] { (void)st::view_in_place<double>(misaligned); }),
                  "view_in_place: tensor 'f32_after_u8' is F32, expected F64");
  std::vector<float> converted(2);
  st::convert_elements(misaligned, converted.data());
  EXPECT_EQ(converted, s.f32_after_u8);

  // A whole buffer one byte off: nothing wider than a byte is readable in place, conversion still is.
  const auto image = st::serialize_safetensors(s.tensors(), sample_metadata);
  std::vector<std::byte> shifted(image.size() + 16);
  std::byte* odd = shifted.data() + (8 - reinterpret_cast<std::uintptr_t>(shifted.data()) % 8) % 8 + 1;
  std::memcpy(odd, image.data(), image.size());
  const auto off = st::safetensors_file::from_bytes({odd, image.size()}, "shifted");
  EXPECT_FALSE(st::readable_in_place<float>(*off.find("f32")));
  EXPECT_FALSE(st::readable_in_place<std::int64_t>(*off.find("i64")));
  EXPECT_TRUE(st::readable_in_place<std::uint8_t>(*off.find("u8")));
  std::vector<double> widened(6);
  st::convert_elements(*off.find("f32"), widened.data());
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(widened[i], static_cast<double>(s.f32[i]));
  EXPECT_CONTAINS(error_of([&] { (void)st::view_in_place<std::int64_t>(*off.find("i64")); }),
                  "voxformer::io::safetensors('shifted'): view_in_place: tensor 'i64' at byte offset 24");
}

TEST(Safetensors, BoolIsInPlaceOnlyWhenEveryByteIsZeroOrOne) {
  const std::vector<std::uint8_t> good = {0, 1, 1}, bad = {0, 2, 1};
  const std::vector<st::safetensors_tensor_bytes> tensors = {{"good", safetensors_dtype::boolean, {3}, bytes_of(good)},
                                                             {"bad", safetensors_dtype::boolean, {3}, bytes_of(bad)}};
  const auto image = st::serialize_safetensors(tensors);
  const auto file = st::safetensors_file::from_bytes(image, "bools");
  EXPECT_TRUE(st::readable_in_place<bool>(*file.find("good")));
  EXPECT_EQ(st::view_in_place<bool>(*file.find("good"))[1], true);
  EXPECT_FALSE(st::readable_in_place<bool>(*file.find("bad")));
  EXPECT_FALSE(st::readable_in_place<std::uint16_t>(*file.find("good")));
  EXPECT_CONTAINS(error_of([&] { (void)st::view_in_place<bool>(*file.find("bad")); }),
                  "not readable in place as BOOL (misaligned, or a byte other than 0/1)");
}

// Bit patterns with their exact values: ±0, ±1, the largest and smallest normals, the smallest and largest
// subnormals, ±inf, nan, and an inexact-looking fraction.
struct known_value {
  std::uint16_t bits;
  double value;
};

template <class T>
void expect_converts(safetensors_dtype dtype, const std::vector<known_value>& cases) {
  std::vector<std::uint16_t> bits;
  for (const auto& c : cases) bits.push_back(c.bits);
  const std::vector<st::safetensors_tensor_bytes> tensors = {
      {"x", dtype, {static_cast<std::int64_t>(bits.size())}, bytes_of(bits)}};
  const auto image = st::serialize_safetensors(tensors);
  const auto file = st::safetensors_file::from_bytes(image, "known");
  std::vector<T> out(bits.size());
  st::convert_elements(file.entries()[0], out.data());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (std::isnan(cases[i].value)) {
      EXPECT_TRUE(std::isnan(out[i])) << std::hex << cases[i].bits;
    } else {
      EXPECT_EQ(out[i], static_cast<T>(cases[i].value)) << std::hex << cases[i].bits;
      EXPECT_EQ(std::signbit(out[i]), std::signbit(cases[i].value)) << std::hex << cases[i].bits;
    }
  }
}

const double inf = std::numeric_limits<double>::infinity();
const double nan = std::numeric_limits<double>::quiet_NaN();

const std::vector<known_value> half_cases = {{0x0000, 0.0},        {0x8000, -0.0},     {0x3C00, 1.0},
                                             {0xC000, -2.0},       {0x7BFF, 65504.0},  {0x0400, 0x1p-14},
                                             {0x0001, 0x1p-24},    {0x8001, -0x1p-24}, {0x03FF, 1023 * 0x1p-24},
                                             {0x0200, 0x1p-15},    {0x7C00, inf},      {0xFC00, -inf},
                                             {0x7E00, nan},        {0x7C01, nan},      {0xFE00, nan},
                                             {0x3555, 0x1.554p-2}, {0x5640, 100.0},    {0xBBFF, -(1 - 0x1p-11)}};

const std::vector<known_value> bfloat_cases = {{0x0000, 0.0},      {0x8000, -0.0},     {0x3F80, 1.0},
                                               {0xC000, -2.0},     {0x4049, 3.140625}, {0x7F7F, 0x1.FEp127},
                                               {0x0080, 0x1p-126}, {0x0001, 0x1p-133}, {0x807F, -127 * 0x1p-133},
                                               {0x7F80, inf},      {0xFF80, -inf},     {0x7FC0, nan},
                                               {0xFFC1, nan}};

TEST(Safetensors, HalfConvertsExactly) {
  expect_converts<float>(safetensors_dtype::f16, half_cases);
  expect_converts<double>(safetensors_dtype::f16, half_cases);
}

TEST(Safetensors, BFloat16ConvertsExactly) {
  expect_converts<float>(safetensors_dtype::bf16, bfloat_cases);
  expect_converts<double>(safetensors_dtype::bf16, bfloat_cases);
}

TEST(Safetensors, HalfNanKeepsItsPayloadAndSign) {
  const std::vector<std::uint16_t> bits = {0x7E01, 0xFD55};
  const std::vector<st::safetensors_tensor_bytes> tensors = {{"nan", safetensors_dtype::f16, {2}, bytes_of(bits)}};
  const auto image = st::serialize_safetensors(tensors);
  const auto file = st::safetensors_file::from_bytes(image, "nan");
  float out[2];
  st::convert_elements(file.entries()[0], out);
  EXPECT_EQ(std::bit_cast<std::uint32_t>(out[0]), 0x7FC02000u);
  EXPECT_EQ(std::bit_cast<std::uint32_t>(out[1]), 0xFFAAA000u);
}

TEST(Safetensors, EveryHalfMatchesItsDefinition) {
  // All 65536 patterns against (-1)^s · 2^(e-15) · (1 + m/1024), or 2^-14 · m/1024 for e = 0.
  std::vector<std::uint16_t> bits(65536);
  for (std::size_t i = 0; i < bits.size(); ++i) bits[i] = static_cast<std::uint16_t>(i);
  const std::vector<st::safetensors_tensor_bytes> tensors = {{"all", safetensors_dtype::f16, {65536}, bytes_of(bits)}};
  const auto image = st::serialize_safetensors(tensors);
  const auto file = st::safetensors_file::from_bytes(image, "all halves");
  std::vector<double> out(bits.size());
  st::convert_elements(file.entries()[0], out.data());
  for (std::size_t i = 0; i < bits.size(); ++i) {
    const int e = static_cast<int>((i >> 10) & 0x1F), m = static_cast<int>(i & 0x3FF);
    const double sign = (i & 0x8000) ? -1.0 : 1.0;
    if (e == 31) {
      EXPECT_TRUE(m == 0 ? out[i] == sign * inf : std::isnan(out[i])) << i;
      continue;
    }
    const double expected = e == 0 ? sign * std::ldexp(m / 1024.0, -14) : sign * std::ldexp(1 + m / 1024.0, e - 15);
    ASSERT_EQ(out[i], expected) << i;
  }
}

TEST(Safetensors, WideFloatsConvert) {
  const std::vector<double> f64 = {0.1, 1e300, -1e-320, 1.0 + 0x1p-30};
  const std::vector<float> f32 = {0.1f, -3.5f};
  const std::vector<st::safetensors_tensor_bytes> tensors = {{"f64", safetensors_dtype::f64, {4}, bytes_of(f64)},
                                                             {"f32", safetensors_dtype::f32, {2}, bytes_of(f32)}};
  const auto image = st::serialize_safetensors(tensors);
  const auto file = st::safetensors_file::from_bytes(image, "wide");
  float narrowed[4];
  st::convert_elements(*file.find("f64"), narrowed);
  EXPECT_EQ(narrowed[0], 0.1f);
  EXPECT_EQ(narrowed[1], std::numeric_limits<float>::infinity());
  EXPECT_EQ(narrowed[2], -0.f);
  EXPECT_TRUE(std::signbit(narrowed[2]));
  EXPECT_EQ(narrowed[3], 1.f);
  double exact[4];
  st::convert_elements(*file.find("f64"), exact);
  EXPECT_EQ(std::vector<double>(exact, exact + 4), f64);
  double widened[2];
  st::convert_elements(*file.find("f32"), widened);
  EXPECT_EQ(widened[0], static_cast<double>(0.1f));
  EXPECT_EQ(widened[1], -3.5);
}

TEST(Safetensors, ConvertRejectsNonFloatingDtypes) {
  const std::vector<std::int32_t> i32 = {1, 2};
  const std::vector<st::safetensors_tensor_bytes> tensors = {{"ids", safetensors_dtype::i32, {2}, bytes_of(i32)}};
  const auto image = st::serialize_safetensors(tensors);
  const auto file = st::safetensors_file::from_bytes(image, "ints");
  float out[2];
  EXPECT_CONTAINS(error_of([&] { st::convert_elements(file.entries()[0], out); }),
                  "voxformer::io::safetensors('ints'): convert_elements: tensor 'ids' is I32, expected F16, BF16, F32 "
                  "or F64");
}

TEST(Safetensors, DtypeNamesAndSizes) {
  const std::pair<safetensors_dtype, std::size_t> sizes[] = {
      {safetensors_dtype::boolean, 1}, {safetensors_dtype::u8, 1},   {safetensors_dtype::i8, 1},
      {safetensors_dtype::u16, 2},     {safetensors_dtype::i16, 2},  {safetensors_dtype::u32, 4},
      {safetensors_dtype::i32, 4},     {safetensors_dtype::u64, 8},  {safetensors_dtype::i64, 8},
      {safetensors_dtype::f16, 2},     {safetensors_dtype::bf16, 2}, {safetensors_dtype::f32, 4},
      {safetensors_dtype::f64, 8}};
  for (const auto& [t, size] : sizes) {
    EXPECT_EQ(st::element_size(t), size);
    EXPECT_EQ(st::safetensors_dtype_from_string(st::to_string(t)), t);
  }
  EXPECT_EQ(st::to_string(safetensors_dtype::bf16), "BF16");
  EXPECT_EQ(st::to_string(safetensors_dtype::boolean), "BOOL");
  EXPECT_FALSE(st::safetensors_dtype_from_string("f32").has_value());
}

// --- valid edge cases -------------------------------------------------------------------------------------------

TEST(Safetensors, ScalarsEmptyTensorsAndEmptyFiles) {
  // Empty tensors may share an offset with each other and with the next tensor; a zero extent makes any other
  // extent harmless.
  const auto image =
      raw_image(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                R"("e1":{"dtype":"F64","shape":[0],"data_offsets":[4,4]},)"
                R"("e2":{"dtype":"I64","shape":[3,0,4611686018427387904,4611686018427387904],"data_offsets":[4,4]},)"
                R"("t":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}   )",
                6);
  const auto file = st::safetensors_file::from_bytes(image, "edges");
  ASSERT_EQ(file.entries().size(), 4u);
  EXPECT_EQ(file.entries()[0].name, "s");
  EXPECT_EQ(file.entries()[0].elements(), 1);
  EXPECT_EQ(file.entries()[1].name, "e1");
  EXPECT_EQ(file.entries()[2].name, "e2");
  EXPECT_EQ(file.entries()[2].elements(), 0);
  EXPECT_EQ(file.entries()[3].name, "t");
  double none[1] = {7.0};
  st::convert_elements(*file.find("e1"), none);  // nothing to write
  EXPECT_EQ(none[0], 7.0);

  EXPECT_TRUE(st::safetensors_file::from_bytes(raw_image("{}"), "no tensors").entries().empty());
  const auto only_metadata = st::safetensors_file::from_bytes(raw_image(R"({"__metadata__":{}})"), "meta");
  EXPECT_TRUE(only_metadata.entries().empty());
  EXPECT_TRUE(only_metadata.metadata().empty());
  const std::vector<st::safetensors_tensor_bytes> nothing;
  const auto path = temp_file("nothing.safetensors");
  st::write_safetensors(path, nothing);
  EXPECT_TRUE(st::safetensors_file::open(path).entries().empty());
  EXPECT_EQ(std::filesystem::file_size(path), 16u);  // length + "{}" padded to 8
}

TEST(Safetensors, Utf8NamesAndMetadata) {
  const std::vector<float> w = {1.f, 2.f};
  const std::vector<std::uint16_t> b = {0x3C00};
  const std::string weight = "编码器.层_0.权重", bias = "décodeur.biais";
  const std::vector<st::safetensors_tensor_bytes> tensors = {{weight, safetensors_dtype::f32, {2}, bytes_of(w)},
                                                             {bias, safetensors_dtype::f16, {1}, bytes_of(b)}};
  const std::map<std::string, std::string> metadata = {{"描述", "体素 ✓"}, {"format", "pt"}};
  const auto path = temp_file("utf8_名前.safetensors");
  st::write_safetensors(path, tensors, metadata);
  const auto file = st::safetensors_file::open(path);
  ASSERT_NE(file.find(weight), nullptr);
  ASSERT_NE(file.find(bias), nullptr);
  EXPECT_EQ(file.entries()[0].name, weight);
  EXPECT_EQ(file.metadata(), metadata);
  float out[1];
  st::convert_elements(*file.find(bias), out);
  EXPECT_EQ(out[0], 1.f);
  // Names appear as written in messages, and escaped UTF-8 in a header reads as the same name.
  const auto escaped = raw_image(R"({"\u7f16":{"dtype":"F32","shape":[1],"data_offsets":[0,3]}})", 3);
  EXPECT_CONTAINS(parse_error(escaped), "tensor '编': data_offsets [0, 3] span 3 bytes, expected 4 for F32 [1]");
}

// --- malformed buffers and headers ------------------------------------------------------------------------------

const std::string f32_2x3 = R"("dtype":"F32","shape":[2,3],"data_offsets":[0,24])";

TEST(SafetensorsMalformed, ShortBufferAndHeaderLength) {
  std::vector<std::byte> five(5);
  EXPECT_CONTAINS(parse_error(five),
                  "voxformer::io::safetensors('case'): 5 bytes, shorter than the 8-byte header length");
  EXPECT_CONTAINS(parse_error({}), "0 bytes, shorter than the 8-byte header length");
  EXPECT_CONTAINS(parse_error(raw_image("{}", 0, 100)), "header length 100 exceeds the 2 bytes after the length field");
  EXPECT_CONTAINS(parse_error(raw_image("{}", 0, 104857601)),
                  "header length 104857601 exceeds the limit of 104857600 bytes (100 MiB)");
  EXPECT_CONTAINS(parse_error(raw_image("{}", 0, ~std::uint64_t{0} - 1)),
                  "header length 18446744073709551614 exceeds the limit");
}

TEST(SafetensorsMalformed, HeaderNotAJsonObject) {
  EXPECT_CONTAINS(parse_error(raw_image("")), "header must be a JSON object starting with '{', got an empty header");
  EXPECT_CONTAINS(parse_error(raw_image("[1]")), "header must be a JSON object starting with '{', got '['");
  EXPECT_CONTAINS(parse_error(raw_image(" {}")), "header must be a JSON object starting with '{', got ' '");
  EXPECT_CONTAINS(parse_error(raw_image("\xef\xbb\xbf{}")), "starting with '{', got byte 0xef");  // a BOM
  EXPECT_CONTAINS(parse_error(raw_image(R"({"a":)")), "header is not valid JSON: [json.exception.parse_error.101]");
  EXPECT_CONTAINS(parse_error(raw_image("{} x")), "header is not valid JSON");
  EXPECT_CONTAINS(parse_error(raw_image(std::string("{}\0 ", 4))),
                  "header is not valid JSON: NUL byte at offset 2 of the header");
  EXPECT_CONTAINS(parse_error(raw_image(std::string("{}\0{\"a\":1}", 10))), "NUL byte at offset 2");
  EXPECT_CONTAINS(parse_error(raw_image("{\"\xff\":1}")), "header is not valid JSON");  // not UTF-8
}

TEST(SafetensorsMalformed, DuplicateKeys) {
  const std::string entry = "{" + f32_2x3 + "}";
  EXPECT_CONTAINS(parse_error(raw_image(R"({"a":)" + entry + R"(,"a":)" + entry + "}", 24)),
                  "voxformer::io::safetensors('case'): header: duplicate key 'a'");
  EXPECT_CONTAINS(parse_error(raw_image(R"({"a":{"dtype":"F32",)" + f32_2x3 + "}}", 24)),
                  "tensor 'a': duplicate key 'dtype'");
  EXPECT_CONTAINS(parse_error(raw_image(R"({"__metadata__":{"k":"1","k":"2"}})")), "__metadata__: duplicate key 'k'");
  EXPECT_CONTAINS(parse_error(raw_image(R"({"__metadata__":{},"__metadata__":{}})")),
                  "header: duplicate key '__metadata__'");
  // The same key in different objects is fine.
  (void)st::safetensors_file::from_bytes(raw_image(R"({"__metadata__":{"dtype":"x"},"dtype":)" + entry + "}", 24),
                                         "ok");
}

TEST(SafetensorsMalformed, NestingDeeperThanAHeader) {
  EXPECT_CONTAINS(
      parse_error(raw_image(R"({"a":{"dtype":"F32","shape":[[2],3],"data_offsets":[0,24]}})", 24)),
      "tensor 'a', field 'shape': JSON nested deeper than a safetensors header allows (an array at depth 3)");
  EXPECT_CONTAINS(parse_error(raw_image(R"({"a":[[{"x":1}]]})")),
                  "tensor 'a': JSON nested deeper than a safetensors header allows (an object at depth 3)");
  EXPECT_CONTAINS(parse_error(raw_image(R"({"__metadata__":{"k":[[]]}})")),
                  "__metadata__, key 'k': JSON nested deeper");
  EXPECT_CONTAINS(parse_error(raw_image(R"({"a":)" + std::string(100000, '[') + std::string(100000, ']') + "}")),
                  "tensor 'a': JSON nested deeper");
}

TEST(SafetensorsMalformed, EntryFields) {
  const auto header = [](const std::string& body) { return raw_image(R"({"w":)" + body + "}", 24); };
  EXPECT_CONTAINS(parse_error(header("[1,2]")), "tensor 'w': entry must be a JSON object, got array [1,2]");
  EXPECT_CONTAINS(parse_error(header(R"("F32")")), "tensor 'w': entry must be a JSON object, got string \"F32\"");
  EXPECT_CONTAINS(parse_error(header(R"({"dtype":"F32","data_offsets":[0,24]})")), "tensor 'w': missing field 'shape'");
  EXPECT_CONTAINS(parse_error(header(R"({"shape":[2,3],"data_offsets":[0,24]})")), "tensor 'w': missing field 'dtype'");
  EXPECT_CONTAINS(parse_error(header(R"({"dtype":"F32","shape":[2,3]})")), "tensor 'w': missing field 'data_offsets'");
  EXPECT_CONTAINS(parse_error(header("{" + f32_2x3 + R"(,"offset":0})")),
                  "tensor 'w': unexpected field 'offset' (expected exactly dtype, shape, data_offsets)");
  EXPECT_CONTAINS(parse_error(header(R"({"dtype":"F8_E4M3","shape":[2,3],"data_offsets":[0,24]})")),
                  "tensor 'w': unknown dtype 'F8_E4M3' (expected one of BOOL, U8, I8, U16, I16, U32, I32, U64, I64, "
                  "F16, BF16, F32, F64)");
  EXPECT_CONTAINS(parse_error(header(R"({"dtype":"f32","shape":[2,3],"data_offsets":[0,24]})")),
                  "tensor 'w': unknown dtype 'f32'");
  EXPECT_CONTAINS(parse_error(header(R"({"dtype":4,"shape":[2,3],"data_offsets":[0,24]})")),
                  "tensor 'w': field 'dtype' must be a string, got number 4");
}

TEST(SafetensorsMalformed, Shapes) {
  const auto shape = [](const std::string& s) {
    return raw_image(R"({"w":{"dtype":"F32","shape":)" + s + R"(,"data_offsets":[0,24]}})", 24);
  };
  EXPECT_CONTAINS(parse_error(shape(R"("2x3")")),
                  "tensor 'w': field 'shape' must be an array of non-negative integers, got string \"2x3\"");
  EXPECT_CONTAINS(parse_error(shape("null")), "field 'shape' must be an array of non-negative integers, got null");
  EXPECT_CONTAINS(parse_error(shape("[2,-3]")),
                  "tensor 'w': field 'shape' must be an array of non-negative integers, got -3 at index 1");
  EXPECT_CONTAINS(parse_error(shape("[2.0,3]")), "got 2.0 at index 0");
  EXPECT_CONTAINS(parse_error(shape("[true,3]")), "got true at index 0");
  EXPECT_CONTAINS(parse_error(shape("[9223372036854775808]")), "got 9223372036854775808 at index 0");
  EXPECT_CONTAINS(parse_error(shape("[4294967296,4294967296]")),
                  "tensor 'w': element count of shape [4294967296, 4294967296] overflows 64 bits");
  EXPECT_CONTAINS(parse_error(shape("[3037000500,3037000500]")), "element count of shape");  // > 2^63, < 2^64
  EXPECT_CONTAINS(parse_error(raw_image(R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})")),
                  "tensor 'w': byte count of F64 shape [4611686018427387904] (4611686018427387904 elements of 8 bytes) "
                  "overflows 64 bits");
  EXPECT_CONTAINS(parse_error(shape("[2,4]")),
                  "tensor 'w': data_offsets [0, 24] span 24 bytes, expected 32 for F32 [2, 4]");
  EXPECT_CONTAINS(parse_error(shape("[]")), "tensor 'w': data_offsets [0, 24] span 24 bytes, expected 4 for F32 []");
}

TEST(SafetensorsMalformed, DataOffsets) {
  const auto offsets = [](const std::string& o, std::size_t data = 24) {
    return raw_image(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":)" + o + "}}", data);
  };
  const std::string two = "tensor 'w': field 'data_offsets' must be two non-negative integers [begin, end], got ";
  EXPECT_CONTAINS(parse_error(offsets("[0]")), two + "[0]");
  EXPECT_CONTAINS(parse_error(offsets("[0,24,48]")), two + "[0,24,48]");
  EXPECT_CONTAINS(parse_error(offsets("[-1,23]")), two + "[-1,23]");
  EXPECT_CONTAINS(parse_error(offsets("[0,24.0]")), two + "[0,24.0]");
  EXPECT_CONTAINS(parse_error(offsets(R"({"begin":0})")), two + "{\"begin\":0}");
  EXPECT_CONTAINS(parse_error(offsets("[0,18446744073709551616]")), two);
  EXPECT_CONTAINS(parse_error(offsets("[24,0]")), "tensor 'w': data_offsets [24, 0] have begin > end");
  EXPECT_CONTAINS(parse_error(offsets("[0,20]")),
                  "tensor 'w': data_offsets [0, 20] span 20 bytes, expected 24 for F32 [2, 3]");
  EXPECT_CONTAINS(parse_error(offsets("[0,24]", 16)),
                  "tensor 'w': data_offsets [0, 24] lie outside the data section of 16 bytes");
  EXPECT_CONTAINS(parse_error(offsets("[18446744073709551600,18446744073709551615]")), "span 15 bytes, expected 24");
  EXPECT_CONTAINS(parse_error(offsets("[18446744073709551591,18446744073709551615]")),
                  "data_offsets [18446744073709551591, 18446744073709551615] lie outside the data section of 24 bytes");
}

TEST(SafetensorsMalformed, TensorsMustTileTheDataSection) {
  const auto two = [](const std::string& a, const std::string& b, std::size_t data) {
    return raw_image(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":)" + a +
                         R"(},"b":{"dtype":"U8","shape":[8],"data_offsets":)" + b + "}}",
                     data);
  };
  EXPECT_CONTAINS(parse_error(two("[0,8]", "[4,12]", 12)),
                  "voxformer::io::safetensors('case'): tensor 'b' data_offsets [4, 12] overlap tensor 'a' [0, 8]");
  EXPECT_CONTAINS(parse_error(two("[0,8]", "[0,8]", 8)), "tensor 'b' data_offsets [0, 8] overlap tensor 'a' [0, 8]");
  EXPECT_CONTAINS(parse_error(two("[8,16]", "[4,12]", 16)),  // sorted by begin: b comes first
                  "tensor 'b' data_offsets [4, 12] begin at 4, expected 0 (the start of the data section): "
                  "safetensors forbids holes");
  EXPECT_CONTAINS(parse_error(two("[0,8]", "[12,20]", 20)),
                  "tensor 'b' data_offsets [12, 20] begin at 12, expected 8 (the end of tensor 'a'): safetensors "
                  "forbids holes");
  EXPECT_CONTAINS(parse_error(two("[0,8]", "[8,16]", 20)),
                  "data section is 20 bytes, but the tensors cover 16: safetensors forbids holes (4 trailing bytes)");
  EXPECT_CONTAINS(parse_error(raw_image("{}", 4)), "data section is 4 bytes, but the tensors cover 0");
  // An empty tensor inside another one's bytes overlaps it.
  EXPECT_CONTAINS(parse_error(raw_image(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
                                        R"("z":{"dtype":"U8","shape":[0],"data_offsets":[4,4]}})",
                                        8)),
                  "tensor 'z' data_offsets [4, 4] overlap tensor 'a' [0, 8]");
  (void)st::safetensors_file::from_bytes(two("[8,16]", "[0,8]", 16), "out of order is fine");
}

TEST(SafetensorsMalformed, Metadata) {
  EXPECT_CONTAINS(parse_error(raw_image(R"({"__metadata__":["pt"]})")),
                  "voxformer::io::safetensors('case'): __metadata__ must be an object of string to string, got array "
                  "[\"pt\"]");
  EXPECT_CONTAINS(parse_error(raw_image(R"({"__metadata__":null})")),
                  "__metadata__ must be an object of string to string, got null");
  EXPECT_CONTAINS(parse_error(raw_image(R"({"__metadata__":{"format":"pt","step":1}})")),
                  "__metadata__ must be an object of string to string, key 'step' holds number 1");
  EXPECT_CONTAINS(parse_error(raw_image(R"({"__metadata__":{"k":{"a":"b"}}})")), "key 'k' holds object {\"a\":\"b\"}");
}

// --- files ------------------------------------------------------------------------------------------------------

TEST(SafetensorsFiles, MissingDirectoryEmptyAndShortFiles) {
  const auto open_error = [](const std::filesystem::path& p) {
    return error_of([&] { (void)st::safetensors_file::open(p); });
  };
  const auto missing = temp_file("does_not_exist.safetensors");
  std::filesystem::remove(missing);
  EXPECT_CONTAINS(open_error(missing),
                  "voxformer::io::safetensors('" + missing.string() + "'): cannot open: No such file or directory");
  const auto directory = temp_file("a_directory");
  std::filesystem::create_directories(directory);
  EXPECT_CONTAINS(open_error(directory),
                  "voxformer::io::safetensors('" + directory.string() + "'): is a directory, not a file");
  const auto empty = temp_file("empty.safetensors");
  { std::ofstream(empty, std::ios::binary | std::ios::trunc); }
  EXPECT_CONTAINS(open_error(empty), "voxformer::io::safetensors('" + empty.string() +
                                         "'): empty file (a safetensors file has at least 8 bytes)");
  const auto short_file = temp_file("short.safetensors");
  { std::ofstream(short_file, std::ios::binary | std::ios::trunc) << "12345"; }
  EXPECT_CONTAINS(open_error(short_file), "'): file of 5 bytes, shorter than the 8-byte header length");
  EXPECT_CONTAINS(open_error("/dev/null"), "voxformer::io::safetensors('/dev/null'): not a regular file");
  // A FIFO is refused at once: opening it to read must not wait for a writer that never comes.
  const auto fifo = temp_file("a_fifo.safetensors");
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_CONTAINS(open_error(fifo), "voxformer::io::safetensors('" + fifo.string() + "'): not a regular file");
  std::filesystem::remove(fifo);
  // A malformed file's message names its path too (and the mapping is released: nothing leaks under ASan).
  const auto truncated = temp_file("truncated.safetensors");
  const sample s;
  st::write_safetensors(truncated, s.tensors());
  std::filesystem::resize_file(truncated, std::filesystem::file_size(truncated) - 3);
  EXPECT_CONTAINS(open_error(truncated),
                  "voxformer::io::safetensors('" + truncated.string() +
                      "'): tensor 'mask': data_offsets [85, 88] lie outside the data section of 85 bytes");
}

TEST(SafetensorsFiles, ReleasePagesKeepsTheDataReadable) {
  std::vector<float> big(5 * 4096 / 4 + 3);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i);
  const std::vector<std::uint8_t> small = {1, 2, 3};
  const std::vector<st::safetensors_tensor_bytes> tensors = {
      {"small", safetensors_dtype::u8, {3}, bytes_of(small)},
      {"big", safetensors_dtype::f32, {static_cast<std::int64_t>(big.size())}, bytes_of(big)}};
  const auto path = temp_file("pages.safetensors");
  st::write_safetensors(path, tensors);
  const auto file = st::safetensors_file::open(path);
  std::vector<float> first(big.size()), again(big.size());
  st::convert_elements(*file.find("big"), first.data());
  file.release_pages(*file.find("big"));
  file.release_pages(*file.find("small"));                // within one page: nothing to drop
  st::convert_elements(*file.find("big"), again.data());  // re-read from the file
  EXPECT_EQ(first, big);
  EXPECT_EQ(again, big);

  const auto image = st::serialize_safetensors(tensors);
  const auto buffered = st::safetensors_file::from_bytes(image, "buffer");
  buffered.release_pages(*buffered.find("big"));  // no-op
  EXPECT_EQ(std::memcmp(buffered.find("big")->data, big.data(), 4 * big.size()), 0);
  EXPECT_CONTAINS(error_of([&] { file.release_pages(*buffered.find("big")); }),
                  "'): release_pages: tensor 'big' does not belong to this file");
}

// --- writer -----------------------------------------------------------------------------------------------------

TEST(SafetensorsWriter, RejectsInconsistentTensors) {
  const std::vector<float> five(5);
  const auto path = temp_file("writer_errors.safetensors");
  const auto write_error = [&](std::vector<st::safetensors_tensor_bytes> tensors) {
    return error_of([&] { st::write_safetensors(path, tensors); });
  };
  EXPECT_CONTAINS(write_error({{"w", safetensors_dtype::f32, {2, 3}, bytes_of(five)}}),
                  "voxformer::io::safetensors('" + path.string() + "'): tensor 'w': F32 [2, 3] needs 24 bytes, got 20");
  EXPECT_CONTAINS(write_error({{"w", safetensors_dtype::f32, {5}, bytes_of(five)},
                               {"w", safetensors_dtype::f32, {5}, bytes_of(five)}}),
                  "tensor 'w' is given twice");
  EXPECT_CONTAINS(write_error({{"__metadata__", safetensors_dtype::f32, {5}, bytes_of(five)}}),
                  "a tensor cannot be named '__metadata__'");
  EXPECT_CONTAINS(write_error({{"w", safetensors_dtype::f32, {-5}, bytes_of(five)}}),
                  "tensor 'w': negative extent in shape [-5]");
  EXPECT_CONTAINS(write_error({{"w", safetensors_dtype::f64, {1ll << 62}, bytes_of(five)}}),
                  "tensor 'w': byte count of shape [4611686018427387904] overflows 64 bits");
  EXPECT_CONTAINS(write_error({{"bad\xff", safetensors_dtype::f32, {5}, bytes_of(five)}}),
                  "cannot write the header (names and metadata must be UTF-8)");
  const std::vector<st::safetensors_tensor_bytes> fine = {{"w", safetensors_dtype::f32, {5}, bytes_of(five)}};
  EXPECT_CONTAINS(error_of([&] { st::write_safetensors(temp_file("no_such_dir") / "x.safetensors", fine); }),
                  "x.safetensors'): cannot open for writing");
  EXPECT_CONTAINS(error_of([&] {
                    (void)st::serialize_safetensors(fine, {{"k", "\xc3"}});
                  }),
                  "voxformer::io::safetensors('<memory>'): cannot write the header");
}

// --- the fuzzer's seeds and regressions -------------------------------------------------------------------------

const std::filesystem::path fuzz_dir = std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / ".." / "fuzz";

//! The seed corpus of tests/fuzz/fuzz_safetensors.cpp, made by the writer. The committed files must equal
//! these; `VOXFORMER_WRITE_FUZZ_SEEDS=1 voxformer_tests --gtest_filter=SafetensorsFuzzSeeds.*` rewrites them.
std::map<std::string, std::vector<std::byte>> fuzz_seeds() {
  std::map<std::string, std::vector<std::byte>> seeds;
  const std::vector<float> f32 = {1.f, -2.f, 0.5f, 3.f, 1e-3f, -0.f};
  const std::vector<std::uint16_t> f16 = {0x3C00, 0x0001, 0x7C00, 0xFE00}, bf16 = {0x3F80, 0xFF80, 0x0001};
  const std::vector<std::uint8_t> u8 = {1, 2, 3}, mask = {1, 0, 1, 1};
  const std::vector<double> f64 = {0.25, -1e300};
  const std::vector<std::int32_t> i32 = {-7, 7};
  const std::vector<std::int64_t> i64 = {1ll << 40};
  const std::vector<float> none;
  const std::vector<st::safetensors_tensor_bytes> mixed = {
      {"encoder.layer.0.weight", safetensors_dtype::f32, {2, 3}, bytes_of(f32)},
      {"encoder.layer.0.bias", safetensors_dtype::f16, {4}, bytes_of(f16)},
      {"ids", safetensors_dtype::u8, {3}, bytes_of(u8)},
      {"scale", safetensors_dtype::bf16, {3}, bytes_of(bf16)},
      {"f64", safetensors_dtype::f64, {2}, bytes_of(f64)}};
  seeds["valid_mixed.safetensors"] = st::serialize_safetensors(mixed, {{"format", "pt"}});
  const std::vector<st::safetensors_tensor_bytes> ints = {{"mask", safetensors_dtype::boolean, {2, 2}, bytes_of(mask)},
                                                          {"i32", safetensors_dtype::i32, {2}, bytes_of(i32)},
                                                          {"empty", safetensors_dtype::f32, {0, 3}, bytes_of(none)},
                                                          {"step", safetensors_dtype::i64, {}, bytes_of(i64)}};
  seeds["valid_ints_scalar_empty.safetensors"] = st::serialize_safetensors(ints);
  const std::vector<st::safetensors_tensor_bytes> utf8 = {{"权重", safetensors_dtype::f32, {6}, bytes_of(f32)}};
  seeds["valid_utf8.safetensors"] = st::serialize_safetensors(utf8, {{"描述", "体素"}});
  seeds["valid_no_tensors.safetensors"] = st::serialize_safetensors({}, {{"format", "pt"}});

  auto truncated = seeds["valid_mixed.safetensors"];
  truncated.resize(truncated.size() - 5);
  seeds["malformed_truncated.safetensors"] = truncated;
  seeds["malformed_overlap.safetensors"] =
      raw_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[4],)"
                R"("data_offsets":[4,12]}})",
                12);
  seeds["malformed_duplicate.safetensors"] =
      raw_image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],)"
                R"("data_offsets":[0,4]}})",
                4);
  return seeds;
}

std::vector<std::byte> read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  if (!chars.empty()) std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

TEST(SafetensorsFuzzSeeds, CorpusIsTheWritersOutput) {
  const auto corpus = fuzz_dir / "corpus" / "safetensors";
  const bool write = std::getenv("VOXFORMER_WRITE_FUZZ_SEEDS") != nullptr;
  for (const auto& [name, bytes] : fuzz_seeds()) {
    if (write) {
      std::filesystem::create_directories(corpus);
      std::ofstream(corpus / name, std::ios::binary | std::ios::trunc)
          .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    EXPECT_TRUE(read_all(corpus / name) == bytes)
        << (corpus / name) << " differs from the writer's output; rewrite it with VOXFORMER_WRITE_FUZZ_SEEDS=1";
    if (name.starts_with("valid_")) {
      EXPECT_NO_THROW((void)st::safetensors_file::from_bytes(bytes, name)) << name;
    } else {
      EXPECT_THROW((void)st::safetensors_file::from_bytes(bytes, name), voxformer::error) << name;
    }
  }
}

TEST(SafetensorsFuzzSeeds, RegressionsParseOrThrowVoxformerErrors) {
  const auto regressions = fuzz_dir / "regressions" / "safetensors";
  if (!std::filesystem::exists(regressions)) return;  // none recorded yet
  for (const auto& file : std::filesystem::directory_iterator(regressions)) {
    const auto bytes = read_all(file.path());
    try {
      (void)st::safetensors_file::from_bytes(bytes, file.path().filename().string());
    } catch (const voxformer::error&) {
    }
  }
}

}  // namespace
