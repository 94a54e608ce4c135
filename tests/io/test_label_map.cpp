// The SemanticKITTI label map: the bundled semantic-kitti.yaml reproduces spec §5.1's class table, its names and
// (BGR → RGB) colours; the ground-truth rule of spec §2.4; conversions that reject unknown ids without writing;
// every malformed yaml is one error naming the source and the section.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "support/temp_file.hpp"
#include "voxformer/io/label_map.hpp"

namespace {

using test::error_of;
using voxformer::io::label_map;
using voxformer::io::rgb;

std::filesystem::path bundled_yaml() { return std::filesystem::path(VOXFORMER_EXAMPLE_DATA_DIR) / "semantic-kitti.yaml"; }

const label_map& semantic_kitti() {
  static const label_map map = label_map::read(bundled_yaml());
  return map;
}

TEST(LabelMap, BundledYamlGivesTheSpecClassTable) {
  // spec §5.1: index → name → raw id written by save_pred.
  const std::array<std::pair<const char*, std::uint16_t>, 20> table = {{
      {"unlabeled", 0}, {"car", 10}, {"bicycle", 11}, {"motorcycle", 15}, {"truck", 18}, {"other-vehicle", 20},
      {"person", 30}, {"bicyclist", 31}, {"motorcyclist", 32}, {"road", 40}, {"parking", 44}, {"sidewalk", 48},
      {"other-ground", 49}, {"building", 50}, {"fence", 51}, {"vegetation", 70}, {"trunk", 71}, {"terrain", 72},
      {"pole", 80}, {"traffic-sign", 81},
  }};
  const auto& map = semantic_kitti();
  ASSERT_EQ(map.classes(), 20);
  for (std::size_t c = 0; c < table.size(); ++c) {
    const auto id = static_cast<voxformer::index_t>(c);
    EXPECT_EQ(map.to_raw(id), table[c].second) << c;
    EXPECT_EQ(map.class_name(id), table[c].first) << c;
    EXPECT_EQ(map.to_class(table[c].second), c) << c;
    EXPECT_EQ(map.ignored(id), c == 0) << c;  // learning_ignore: only class 0
  }
  EXPECT_EQ(map.raw_ids().size(), 34u);
  EXPECT_EQ(map.source(), bundled_yaml().string());
}

TEST(LabelMap, ManyRawIdsToOneClass) {
  const auto& map = semantic_kitti();
  // moving-* to their static classes, bus and on-rails to other-vehicle, lane-marking to road, the rest to 0.
  const std::array<std::pair<std::uint16_t, int>, 12> mapped = {
      {{252, 1}, {253, 7}, {254, 6}, {255, 8}, {256, 5}, {257, 5}, {258, 4}, {259, 5}, {13, 5}, {16, 5}, {60, 9},
       {99, 0}}};
  for (const auto& [raw, c] : mapped) EXPECT_EQ(map.to_class(raw), c) << raw;
  EXPECT_EQ(map.to_class(1), 0);
  EXPECT_EQ(map.to_class(52), 0);
}

TEST(LabelMap, ColoursAreConvertedFromBgr) {
  const auto& map = semantic_kitti();
  EXPECT_EQ(map.class_colour(1), (rgb{100, 150, 245}));  // car: color_map 10 is [245, 150, 100], blue first
  EXPECT_EQ(map.class_colour(9), (rgb{255, 0, 255}));    // road
  EXPECT_EQ(map.class_colour(15), (rgb{0, 175, 0}));     // vegetation
  EXPECT_EQ(map.class_colour(19), (rgb{255, 0, 0}));     // traffic-sign: [0, 0, 255]
  EXPECT_EQ(map.class_colour(0), (rgb{0, 0, 0}));
  EXPECT_EQ(map.raw_colour(1), (rgb{255, 0, 0}));  // outlier
  EXPECT_EQ(map.raw_colour(99), (rgb{50, 255, 255}));
  EXPECT_EQ(map.raw_name(252), "moving-car");
  EXPECT_CONTAINS(error_of([&] { (void)map.raw_colour(2); }),
                  "voxformer::io::label_map::raw_colour: raw label 2 is not in the color_map of '");
  EXPECT_CONTAINS(error_of([&] { (void)map.raw_name(300); }), "raw_name: raw label 300 is not in the labels of");
}

TEST(LabelMap, PointLabelsUseTheirLow16Bits) {
  const auto& map = semantic_kitti();
  EXPECT_EQ(map.to_class(0x00070000u | 10u), 1);  // instance 7 of a car
  EXPECT_EQ(map.to_class(0xFFFF0000u | 40u), 9);
  EXPECT_EQ(error_of([&] { (void)map.to_class(0x00010002u); }),
            "voxformer::io::label_map::to_class: raw label 2 is not in the learning_map of '" + bundled_yaml().string() +
                "'");
}

TEST(LabelMap, ClassesOutsideTheMapAreErrors) {
  const auto& map = semantic_kitti();
  EXPECT_CONTAINS(error_of([&] { (void)map.to_raw(20); }),
                  "voxformer::io::label_map::to_raw: class 20 is not a class of '");
  EXPECT_CONTAINS(error_of([&] { (void)map.class_name(-1); }), "class -1 is not a class");
  EXPECT_CONTAINS(error_of([&] { (void)map.ignored(255); }), "label_map::ignored: class 255 is not a class");
}

TEST(LabelMap, GroundTruthRule) {
  // spec §2.4: raw ids mapping to class 0 become 255 except raw 0; invalid voxels become 255.
  const auto& map = semantic_kitti();
  const std::vector<std::uint16_t> raw = {0, 1, 10, 52, 99, 252, 40, 60, 0, 2};
  const std::vector<std::uint8_t> invalid = {0, 0, 0, 0, 0, 0, 1, 0, 1, 1};  // raw 2 is unknown, but invalid
  std::vector<std::uint8_t> classes(raw.size(), 77);
  map.ground_truth_classes(raw, invalid, classes);
  EXPECT_EQ(classes, (std::vector<std::uint8_t>{0, 255, 1, 255, 255, 1, 255, 9, 255, 255}));
  const std::vector<std::uint16_t> valid_raw(raw.begin(), raw.end() - 1);
  std::vector<std::uint8_t> no_mask(valid_raw.size());
  map.ground_truth_classes(valid_raw, {}, no_mask);
  EXPECT_EQ(no_mask, (std::vector<std::uint8_t>{0, 255, 1, 255, 255, 1, 9, 9, 0}));
}

TEST(LabelMap, GroundTruthErrorsWriteNothing) {
  const auto& map = semantic_kitti();
  const std::vector<std::uint16_t> raw = {0, 10, 2, 3};
  std::vector<std::uint8_t> classes(4, 77);
  EXPECT_EQ(error_of([&] { map.ground_truth_classes(raw, {}, classes); }),
            "voxformer::io::label_map::ground_truth_classes: raw label 2 at voxel 2 is not in the learning_map of '" +
                bundled_yaml().string() + "'");
  const std::vector<std::uint8_t> invalid = {0, 0, 1, 0};
  EXPECT_CONTAINS(error_of([&] { map.ground_truth_classes(raw, invalid, classes); }), "raw label 3 at voxel 3");
  const std::vector<std::uint8_t> short_mask = {0, 0, 1};
  EXPECT_CONTAINS(error_of([&] { map.ground_truth_classes(raw, short_mask, classes); }),
                  "ground_truth_classes: 'invalid' has 3 entries for 4 voxels (give none or one per voxel)");
  std::vector<std::uint8_t> short_out(3);
  EXPECT_CONTAINS(error_of([&] { map.ground_truth_classes(raw, {}, short_out); }),
                  "ground_truth_classes: the output has 3 entries for 4 input voxels");
  EXPECT_EQ(classes, std::vector<std::uint8_t>(4, 77));
}

TEST(LabelMap, PredictionsToClassesAndBack) {
  const auto& map = semantic_kitti();
  const std::vector<std::uint16_t> raw = {0, 1, 52, 10, 252, 81, 60};
  std::vector<std::uint8_t> classes(raw.size());
  map.to_classes(raw, classes);  // raw ids that map to 0 are empty space in a prediction
  EXPECT_EQ(classes, (std::vector<std::uint8_t>{0, 0, 0, 1, 1, 19, 9}));
  std::vector<std::uint16_t> back(classes.size());
  map.to_raw(classes, back);
  EXPECT_EQ(back, (std::vector<std::uint16_t>{0, 0, 0, 10, 10, 81, 40}));

  std::vector<std::uint8_t> untouched(3, 77);
  EXPECT_CONTAINS(error_of([&] { map.to_classes(std::vector<std::uint16_t>{10, 11, 65535}, untouched); }),
                  "voxformer::io::label_map::to_classes: raw label 65535 at voxel 2 is not in the learning_map");
  EXPECT_EQ(untouched, std::vector<std::uint8_t>(3, 77));
  std::vector<std::uint16_t> raw_out(3, 7);
  EXPECT_EQ(error_of([&] { map.to_raw(std::vector<std::uint8_t>{1, 20, 0}, raw_out); }),
            "voxformer::io::label_map::to_raw: value 20 at voxel 1 is not a class of '" + bundled_yaml().string() +
                "' (0..19)");
  EXPECT_CONTAINS(error_of([&] { map.to_raw(std::vector<std::uint8_t>{1, 2, 255}, raw_out); }),
                  "value 255 at voxel 2 is not a class");
  EXPECT_EQ(raw_out, std::vector<std::uint16_t>(3, 7));
  EXPECT_CONTAINS(error_of([&] { map.to_raw(std::vector<std::uint8_t>{1, 2}, raw_out); }),
                  "to_raw: the output has 3 entries for 2 input voxels");
}

TEST(LabelMap, ParsesFromMemoryLikeTheFile) {
  std::ifstream in(bundled_yaml());
  std::stringstream text;
  text << in.rdbuf();
  const auto map = label_map::parse(text.str(), "kitti.yaml");
  EXPECT_EQ(map.source(), "kitti.yaml");
  EXPECT_EQ(map.classes(), 20);
  EXPECT_EQ(map.raw_ids(), semantic_kitti().raw_ids());
  for (voxformer::index_t c = 0; c < 20; ++c) EXPECT_EQ(map.class_colour(c), semantic_kitti().class_colour(c));
}

TEST(LabelMap, FileErrorsNameTheFile) {
  const auto missing = test::temp_file("missing.yaml");
  EXPECT_EQ(error_of([&] { (void)label_map::read(missing); }),
            "voxformer::io::label_map::read('" + missing.string() + "'): cannot open: no such file");
  const auto folder = std::filesystem::temp_directory_path();
  EXPECT_CONTAINS(error_of([&] { (void)label_map::read(folder); }), "is a directory, not a file");
}

// A small valid configuration; each malformed case replaces one piece of it.
const std::string small_yaml = R"(labels:
  0: "unlabeled"
  10: "car"
  11: "bicycle"
  52: "other-structure"
color_map: # bgr
  0: [0, 0, 0]
  10: [245, 150, 100]
  11: [245, 230, 100]
  52: [0, 150, 255]
learning_map:
  0: 0
  10: 1
  11: 2
  52: 0
learning_map_inv:
  0: 0
  1: 10
  2: 11
learning_ignore:
  0: True
  1: False
  2: false
)";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

std::string parse_error(const std::string& yaml) {
  return error_of([&] { (void)label_map::parse(yaml, "small.yaml"); });
}

TEST(LabelMap, SmallYamlParses) {
  const auto map = label_map::parse(small_yaml, "small.yaml");
  EXPECT_EQ(map.classes(), 3);
  EXPECT_EQ(map.to_class(52), 0);
  EXPECT_EQ(map.class_name(2), "bicycle");
  EXPECT_TRUE(map.ignored(0));
  EXPECT_FALSE(map.ignored(2));
  // Extra sections (content, split) and extra ids in labels / color_map are fine.
  const auto extra = label_map::parse(small_yaml + "content:\n  0: 0.5\nsplit:\n  train: [0, 1]\n", "extra.yaml");
  EXPECT_EQ(extra.classes(), 3);
  const auto more = label_map::parse(replaced(replaced(small_yaml, "  52: \"other", "  99: \"x\"\n  52: \"other"),
                                              "  52: [0, 150", "  99: [1, 2, 3]\n  52: [0, 150"),
                                     "more.yaml");
  EXPECT_EQ(more.raw_colour(99), (rgb{3, 2, 1}));
  EXPECT_CONTAINS(error_of([&] { (void)more.to_class(99); }), "raw label 99 is not in the learning_map");
}

TEST(LabelMap, MalformedYamlIsOneErrorNamingTheSection) {
  const std::string where = "voxformer::io::label_map::parse('small.yaml'): ";
  const struct {
    std::string yaml, message;
  } cases[] = {
      {"labels: [1, 2", "not valid yaml: yaml-cpp: error at line 1"},
      {"", "not a yaml map of sections"},
      {"- 1\n- 2\n", "not a yaml map of sections"},
      {replaced(small_yaml, "learning_map_inv:", "learning_map_inverse:"), "no 'learning_map_inv' section"},
      {replaced(small_yaml, "learning_ignore:\n  0: True\n  1: False\n  2: false\n", ""), "no 'learning_ignore' section"},
      {replaced(small_yaml, "learning_map:\n  0: 0\n  10: 1\n  11: 2\n  52: 0\n", "learning_map: [0, 1]\n"),
       "'learning_map' (line 11) is not a map of key: value pairs"},
      {replaced(small_yaml, "learning_map_inv:\n  0: 0\n  1: 10\n  2: 11\n", "learning_map_inv: {}\n"),
       "'learning_map_inv' is empty"},
      {replaced(small_yaml, "  10: 1\n", "  car: 1\n"), "'learning_map' (line 13): raw label 'car' is not a decimal integer"},
      {replaced(small_yaml, "  10: 1\n", "  10: one\n"), "'learning_map' (line 13): class 'one' is not a decimal integer"},
      {replaced(small_yaml, "  10: 1\n", "  10: 1.0\n"), "'learning_map' (line 13): class '1.0' is not a decimal integer"},
      {replaced(small_yaml, "  10: 1\n", "  10: [1]\n"), "'learning_map' (line 13): class (a list) is not a decimal integer"},
      {replaced(small_yaml, "  10: 1\n", "  \"10\": 1\n"), "'learning_map' (line 13): raw label '10' is not a decimal integer"},
      {replaced(small_yaml, "  10: 1\n", "  010: 1\n"), "'learning_map' (line 13): raw label '010' is not a decimal integer"},
      {replaced(small_yaml, "  10: 1\n", "  -10: 1\n"), "'learning_map' (line 13): raw label '-10' is not a decimal integer"},
      {replaced(small_yaml, "  10: 1\n", "  0x0A: 1\n"), "'learning_map' (line 13): raw label '0x0A' is not a decimal integer"},
      {replaced(small_yaml, "  10: 1\n", "  10:\n"), "'learning_map' (line 13): class (empty) is not a decimal integer"},
      {replaced(small_yaml, "  52: 0\nlearning_map_inv", "  65536: 0\nlearning_map_inv"),
       "'learning_map' (line 15): raw label 65536 is out of range (0..65535)"},
      {replaced(small_yaml, "  10: 1\n", "  10: 1\n  10: 2\n"), "'learning_map' (line 14) lists raw label 10 twice"},
      {small_yaml + "learning_map:\n  0: 0\n", "the 'learning_map' section appears 2 times"},
      // 01 is 1 spelled with a leading zero: rejected like the octal-looking keys PyYAML reads differently.
      {replaced(small_yaml, "  1: 10\n", "  1: 10\n  01: 10\n"),
       "'learning_map_inv' (line 19): class '01' is not a decimal integer"},
      {replaced(small_yaml, "  1: 10\n", "  1: 10\n  1: 11\n"), "'learning_map_inv' (line 19) lists class 1 twice"},
      {replaced(small_yaml, "  2: 11\n", "  3: 11\n"), "'learning_map_inv' has 3 entries but no class 2 (classes are 0..2)"},
      {replaced(small_yaml, "  2: 11\n", "  255: 11\n"), "'learning_map_inv' (line 19): class 255 is out of range (0..254)"},
      {replaced(small_yaml, "  11: 2\n", "  11: 3\n"),
       "'learning_map' (line 14) maps raw label 11 to class 3, which 'learning_map_inv' lacks (classes 0..2)"},
      {replaced(small_yaml, "  11: 2\n", "  11: 1\n"),
       "'learning_map_inv' (line 19) writes class 2 as raw label 11, but 'learning_map' maps 11 to class 1"},
      {replaced(small_yaml, "  2: 11\n", "  2: 12\n"),
       "'learning_map_inv' (line 19) writes class 2 as raw label 12, which 'learning_map' lacks"},
      {replaced(small_yaml, "  1: 10\n", "  1: 11\n"),
       "'learning_map_inv' (line 18) writes class 1 as raw label 11, but 'learning_map' maps 11 to class 2"},
      {replaced(small_yaml, "  52: \"other-structure\"\n", ""), "'labels' has no name for raw label 52 of 'learning_map'"},
      {replaced(small_yaml, "  10: \"car\"\n", "  10: [c, a, r]\n"),
       "'labels' (line 3): the name of raw label 10 is (a list), not text"},
      {replaced(small_yaml, "  52: [0, 150, 255]\n", ""), "'color_map' has no colour for raw label 52 of 'learning_map'"},
      {replaced(small_yaml, "[245, 150, 100]", "[245, 150]"),
       "'color_map' (line 8): raw label 10 has (a list), not a list of 3 bytes [blue, green, red]"},
      {replaced(small_yaml, "[245, 150, 100]", "[245, 150, 100, 0]"), "'color_map' (line 8): raw label 10 has (a list), not a list of 3 bytes"},
      {replaced(small_yaml, "[245, 150, 100]", "245"), "'color_map' (line 8): raw label 10 has '245', not a list of 3 bytes"},
      {replaced(small_yaml, "[245, 150, 100]", "[245, 256, 100]"),
       "'color_map' (line 8): colour byte 256 is out of range (0..255)"},
      {replaced(small_yaml, "[245, 150, 100]", "[245, x, 100]"), "'color_map' (line 8): colour byte 'x' is not a decimal"},
      {replaced(small_yaml, "  2: false\n", "  2: maybe\n"),
       "'learning_ignore' (line 23): class 2 has 'maybe', not true or false"},
      {replaced(small_yaml, "  2: false\n", ""), "'learning_ignore' has 2 entries for 3 classes"},
      {replaced(small_yaml, "  2: false\n", "  2: false\n  3: true\n"),
       "'learning_ignore' (line 24) lists class 3, which 'learning_map_inv' lacks (classes 0..2)"},
      {replaced(small_yaml, "  2: false\n", "  2: false\n  2: true\n"), "'learning_ignore' (line 24) lists class 2 twice"},
      {"labels: {}\ncolor_map: {}\nlearning_map: {}\nlearning_map_inv: {0: 0}\nlearning_ignore: {0: true}\n",
       "'learning_map_inv' (line 4) writes class 0 as raw label 0, which 'learning_map' lacks"},
      {"labels: &a {0: x}\ncolor_map: *a\n", "no 'learning_map_inv' section"},
  };
  for (const auto& c : cases) {
    const auto message = parse_error(c.yaml);
    EXPECT_CONTAINS(message, where + c.message);
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(LabelMap, ReadNamesTheFileInYamlErrors) {
  const auto path = test::temp_file("bad.yaml");
  std::ofstream(path) << replaced(small_yaml, "  10: 1\n", "  10: one\n");
  EXPECT_CONTAINS(error_of([&] { (void)label_map::read(path); }),
                  "voxformer::io::label_map::read('" + path.string() + "'): 'learning_map' (line 13): class 'one'");
  std::ofstream(path) << "labels: {";
  EXPECT_CONTAINS(error_of([&] { (void)label_map::read(path); }),
                  "voxformer::io::label_map::read('" + path.string() + "'): not valid yaml: ");
  std::filesystem::remove(path);
}

}  // namespace
