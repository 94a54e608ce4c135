// The model configuration: the four published variants (spec §1.1, §1.2), every value settable, the checks
// that reject configurations that cannot work (every field's range, every product in checked arithmetic), and the
// JSON form the PyTorch reference writes, read strictly.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "support/error_of.hpp"
#include "support/temp_file.hpp"
#include "voxformer/model/config.hpp"
#include "voxformer/model/config_json.hpp"

using test::error_of;

namespace {

using voxformer::index_t;
using voxformer::model_config;
using voxformer::self_attention_kind;

TEST(ModelConfig, PresetsAreThePublishedVariants) {
  const model_config t = model_config::voxformer_t(), s = model_config::voxformer_s();
  const model_config t3 = model_config::voxformer_t_3d(), s3 = model_config::voxformer_s_3d();
  for (const auto* c : {&t, &s, &t3, &s3}) {
    EXPECT_EQ(c->volume, (std::array<voxformer::index_t, 3>{128, 128, 16}));
    EXPECT_EQ(c->embed_dims, 128);
    EXPECT_EQ(c->heads, 8);
    EXPECT_EQ(c->points_cross, 8);
    EXPECT_EQ(c->points_self, 8);
    EXPECT_EQ(c->layers_cross, 3);
    EXPECT_EQ(c->layers_self, 2);
    EXPECT_EQ(c->ffn_hidden, 256);  // the configs' 1024 is overridden (spec §3.7)
    EXPECT_EQ(c->classes, 20);
    EXPECT_EQ(c->view_shape, (std::array<voxformer::index_t, 2>{512, 512}));
    EXPECT_EQ(c->image.height, 370);
    EXPECT_EQ(c->image.width, 1220);
    EXPECT_EQ(c->feature_shapes, (std::vector<voxformer::feature_shape>{{24, 77}}));
    EXPECT_EQ(c->output_volume(), (std::array<voxformer::index_t, 3>{256, 256, 32}));
    EXPECT_DOUBLE_EQ(c->range.max[0], 51.2);
    EXPECT_DOUBLE_EQ(c->range.min[1], -25.6);
    EXPECT_DOUBLE_EQ(c->range.min[2], -2.0);
    EXPECT_NO_THROW(c->validate());
  }
  EXPECT_EQ(t.cameras, 5);
  EXPECT_EQ(s.cameras, 1);
  EXPECT_EQ(t3.cameras, 5);
  EXPECT_EQ(s3.cameras, 1);
  EXPECT_EQ(t.self_attention, self_attention_kind::planar);
  EXPECT_EQ(s.self_attention, self_attention_kind::planar);
  EXPECT_EQ(t3.self_attention, self_attention_kind::volumetric);
  EXPECT_EQ(s3.self_attention, self_attention_kind::volumetric);
  EXPECT_EQ(model_config::preset("S-3D").cameras, 1);
  EXPECT_EQ(error_of([] { model_config::preset("XL"); }),
            "voxformer::model_config: unknown variant 'XL' (expected T, S, T-3D or S-3D)");
}

TEST(ModelConfig, ValidationNamesTheValueThatCannotWork) {
  auto with = [](auto change) {
    model_config c = model_config::voxformer_t();
    change(c);
    return error_of([&] { c.validate(); });
  };
  EXPECT_EQ(with([](model_config& c) { c.heads = 6; }), "voxformer::model_config: heads (6) must divide embed_dims (128)");
  EXPECT_EQ(with([](model_config& c) { c.view_shape = {256, 512}; }),
            "voxformer::model_config: the self-attention view 256x512 has 131072 cells, but the volume 128x128x16 has "
            "262144 voxels");
  EXPECT_EQ(with([](model_config& c) { c.embed_dims = 9, c.heads = 3; }),
            "voxformer::model_config: embed_dims (9) must be even: the positional encoding gives half to rows, half to "
            "columns");
  EXPECT_EQ(with([](model_config& c) { c.embed_dims = 2048; }),
            "voxformer::model_config: embed_dims (2048) must be in [2, 1024]: the fused head holds at most that many "
            "per voxel");
  EXPECT_EQ(with([](model_config& c) { c.classes = 300; }),
            "voxformer::model_config: classes (300) must be in [1, 256]: labels are uint8");
  EXPECT_EQ(with([](model_config& c) { c.feature_shapes = {{24, 77}, {12, 39}, {6, 20}, {3, 10}, {2, 5}}; }),
            "voxformer::model_config: level_embed_rows (4) must be in [5, 65536]: a row per feature level at least");
  EXPECT_EQ(with([](model_config& c) { c.feature_shapes.clear(); }),
            "voxformer::model_config: feature levels (0) must be in [1, 16]");
  EXPECT_EQ(with([](model_config& c) { c.layers_self = -1; }),
            "voxformer::model_config: layers_self (-1) must be in [0, 65536]");
  EXPECT_EQ(with([](model_config& c) { c.self_attention = static_cast<self_attention_kind>(7); }),
            "voxformer::model_config: self_attention must be planar or volumetric, got 7");
  // Every value is settable: a reduced configuration the tests run.
  EXPECT_EQ(with([](model_config& c) {
              c.volume = {8, 6, 4}, c.view_shape = {12, 16}, c.embed_dims = 32, c.heads = 4, c.points_cross = 4,
              c.points_self = 4, c.layers_cross = 2, c.ffn_hidden = 64, c.cameras = 2, c.classes = 5;
            }),
            "no error");
}

constexpr index_t extent = index_t{1} << 24;  // an MSDA level's (and fp32's exact integers')
constexpr index_t count = index_t{1} << 16;   // the generous bound of points, layers, cameras, FFN width

// A reduced configuration with room in every product, so that each field can reach its own bound.
model_config roomy() {
  model_config c = model_config::voxformer_t();
  c.volume = {8, 6, 4}, c.view_shape = {12, 16}, c.embed_dims = 32, c.heads = 4, c.points_cross = 4;
  c.points_self = 4, c.ffn_hidden = 64, c.cameras = 2, c.feature_shapes = {{6, 10}};
  return c;
}

// Was: no upper bounds (points_cross = 2^60 overflowed the parameter shapes, a huge `cameras` the camera rows).
TEST(ModelConfig, EveryFieldHasARangeItsBoundIncluded) {
  struct field_case {
    std::string name;
    index_t low, high;
    std::function<void(model_config&, index_t)> set;  // the field (and what must follow it to stay valid)
  };
  const std::vector<field_case> cases = {
      {"volume[0]", 1, extent, [](model_config& c, index_t v) { c.volume = {v, 1, 1}, c.view_shape = {1, v}; }},
      {"volume[1]", 1, extent, [](model_config& c, index_t v) { c.volume = {1, v, 1}, c.view_shape = {1, v}; }},
      {"volume[2]", 1, extent, [](model_config& c, index_t v) { c.volume = {1, 1, v}, c.view_shape = {1, v}; }},
      {"view_shape[0]", 1, extent,
       [](model_config& c, index_t v) { c.volume = {std::clamp(v, index_t{1}, extent), 1, 1}, c.view_shape = {v, 1}; }},
      {"view_shape[1]", 1, extent,
       [](model_config& c, index_t v) { c.volume = {std::clamp(v, index_t{1}, extent), 1, 1}, c.view_shape = {1, v}; }},
      {"embed_dims", 2, 1024, [](model_config& c, index_t v) { c.embed_dims = v, c.heads = 1; }},
      {"heads", 1, 32, [](model_config& c, index_t v) { c.heads = v; }},
      {"points_cross", 1, count, [](model_config& c, index_t v) { c.points_cross = v; }},
      {"points_self", 1, count, [](model_config& c, index_t v) { c.points_self = v; }},
      {"layers_cross", 0, count, [](model_config& c, index_t v) { c.layers_cross = v; }},
      {"layers_self", 0, count, [](model_config& c, index_t v) { c.layers_self = v; }},
      {"ffn_hidden", 1, count, [](model_config& c, index_t v) { c.ffn_hidden = v; }},
      {"cameras", 1, count, [](model_config& c, index_t v) { c.cameras = v; }},
      {"classes", 1, 256, [](model_config& c, index_t v) { c.classes = v; }},
      {"feature_shapes[0].height", 1, extent, [](model_config& c, index_t v) { c.feature_shapes = {{v, 1}}; }},
      {"feature_shapes[0].width", 1, extent, [](model_config& c, index_t v) { c.feature_shapes = {{1, v}}; }},
      {"level_embed_rows", 1, count, [](model_config& c, index_t v) { c.level_embed_rows = v; }},
      {"image.height", 1, extent, [](model_config& c, index_t v) { c.image.height = v; }},
      {"image.width", 1, extent, [](model_config& c, index_t v) { c.image.width = v; }},
  };
  for (const auto& f : cases) {
    SCOPED_TRACE(f.name);
    auto error_with = [&](index_t value) {
      model_config c = roomy();
      f.set(c, value);
      return error_of([&] { c.validate(); });
    };
    EXPECT_EQ(error_with(f.high), "no error");
    EXPECT_EQ(error_with(f.low), "no error");
    const std::string range = "must be in [" + std::to_string(f.low) + ", " + std::to_string(f.high) + "]";
    for (const index_t bad : {f.high + 1, f.low - 1, index_t{1} << 58, index_t{1} << 60, -(index_t{1} << 60),
                              std::numeric_limits<index_t>::max(), std::numeric_limits<index_t>::min()})
      EXPECT_CONTAINS(error_with(bad),
                      "voxformer::model_config: " + f.name + " (" + std::to_string(bad) + ") " + range);
  }
  // The number of feature levels: a vector's length.
  auto with_levels = [](std::size_t levels) {
    model_config c = roomy();
    c.feature_shapes.assign(levels, {2, 3});
    c.level_embed_rows = 16;
    return error_of([&] { c.validate(); });
  };
  EXPECT_EQ(with_levels(16), "no error");
  EXPECT_EQ(with_levels(17), "voxformer::model_config: feature levels (17) must be in [1, 16]");
}

// Was: unchecked products (the voxel count overflowed int64 before it was compared, a feature level's cells were
// not bounded at all).
TEST(ModelConfig, ProductsOfFieldsAreBoundedInCheckedArithmetic) {
  auto with = [](auto change) {
    model_config c = roomy();
    change(c);
    return error_of([&] { c.validate(); });
  };
  EXPECT_EQ(with([&](model_config& c) { c.volume = {extent, extent, extent}; }),  // 2^72
            "voxformer::model_config: voxels X*Y*Z (16777216 x 16777216 x 16777216) must be at most 268435455: the "
            "output grid, 8 voxels per voxel, is indexed in int32");
  EXPECT_CONTAINS(with([](model_config& c) { c.volume = {16384, 16384, 1}, c.view_shape = {16384, 16384}; }),
                  "voxels X*Y*Z (16384 x 16384 x 1) must be at most 268435455");
  EXPECT_EQ(with([](model_config& c) { c.volume = {16383, 16385, 1}, c.view_shape = {16383, 16385}; }), "no error");
  EXPECT_EQ(with([&](model_config& c) { c.feature_shapes = {{extent, extent}}; }),
            "voxformer::model_config: the cells of feature_shapes[0] (16777216 x 16777216) must be at most 2147483647: "
            "MSDA numbers the cells of a level in int32");
  EXPECT_CONTAINS(with([](model_config& c) { c.feature_shapes = {{46341, 46341}}; }),
                  "the cells of feature_shapes[0] (46341 x 46341) must be at most 2147483647");
  EXPECT_EQ(with([](model_config& c) { c.feature_shapes = {{46341, 46340}}; }), "no error");
  // The camera rows of VoxFormer-T's 262144 voxels.
  EXPECT_EQ(with([](model_config& c) { c = model_config::voxformer_t(), c.cameras = 8191; }), "no error");
  EXPECT_EQ(with([](model_config& c) { c = model_config::voxformer_t(), c.cameras = 8192; }),
            "voxformer::model_config: cameras x voxels (8192 x 262144) must be at most 2147483647: the rebatched "
            "camera rows are indexed in int32");
  // Samples per query: 32 heads x 1 level x 2^15 points = 2^20.
  EXPECT_EQ(with([](model_config& c) { c.heads = 32, c.points_cross = 32768; }), "no error");
  EXPECT_EQ(with([](model_config& c) { c.heads = 32, c.points_cross = 32769; }),
            "voxformer::model_config: the cross-attention's samples per query, heads x levels x points_cross (32 x 1 x "
            "32769) must be at most 1048576");
  EXPECT_EQ(with([](model_config& c) { c.heads = 8, c.points_self = 65536; }), "no error");
  EXPECT_CONTAINS(with([](model_config& c) { c.heads = 16, c.points_self = 65536; }),
                  "the self-attention's samples per query, heads x 2 x points_self (16 x 2 x 65536) must be at most "
                  "1048576");
  // Buffers of 2^40 elements: rows of every voxel times a row's width.
  auto grid = [](model_config& c, index_t z) { c.volume = {128, 128, z}, c.view_shape = {512, 32 * z}; };
  EXPECT_EQ(with([&](model_config& c) { grid(c, 16), c.embed_dims = 128, c.heads = 16, c.points_cross = 65536; }),
            "no error");
  EXPECT_EQ(with([&](model_config& c) { grid(c, 32), c.embed_dims = 128, c.heads = 16, c.points_cross = 65536; }),
            "voxformer::model_config: the cross-attention's sampling rows, voxels x 3 x heads x levels x points_cross "
            "(524288 x 3 x 16 x 1 x 65536) must be at most 1099511627776");
  EXPECT_EQ(with([&](model_config& c) {  // exactly 2^40
              grid(c, 16), c.self_attention = self_attention_kind::volumetric, c.heads = 8, c.points_self = 65536;
            }),
            "no error");
  EXPECT_CONTAINS(with([&](model_config& c) {
                    grid(c, 32), c.self_attention = self_attention_kind::volumetric, c.heads = 8,
                    c.points_self = 65536;
                  }),
                  "the self-attention's sampling rows, voxels x (self_dims + 1) x heads x 2 x points_self (524288 x 4 "
                  "x 8 x 2 x 65536) must be at most 1099511627776");
  auto largest_grid = [](model_config& c) { c.volume = {16383, 16385, 1}, c.view_shape = {16383, 16385}; };
  EXPECT_EQ(with([&](model_config& c) { largest_grid(c), c.ffn_hidden = 4096; }), "no error");
  EXPECT_CONTAINS(with([&](model_config& c) { largest_grid(c), c.ffn_hidden = 4097; }),
                  "the FFN's hidden rows, voxels x ffn_hidden (268435455 x 4097) must be at most 1099511627776");
  EXPECT_EQ(with([](model_config& c) { c.cameras = 65536, c.feature_shapes = {{1024, 1024}}, c.embed_dims = 16; }),
            "no error");  // exactly 2^40
  EXPECT_EQ(with([](model_config& c) { c.cameras = 65536, c.feature_shapes = {{1024, 1024}}; }),
            "voxformer::model_config: the image values, cameras x feature rows x embed_dims (65536 x 1048576 x 32) "
            "must be at most 1099511627776");
}

TEST(ModelConfig, ThePointCloudRangeIsFiniteInFloat) {
  auto with = [](int axis, double low, double high) {
    model_config c = model_config::voxformer_t();
    c.range.min[axis] = low, c.range.max[axis] = high;
    return error_of([&] { c.validate(); });
  };
  constexpr double largest = std::numeric_limits<float>::max(), nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(with(2, -2, -3), "voxformer::model_config: point-cloud range axis 2 is [-2, -3]; it must have min < max, "
                             "both finite in fp32 (reference points are projected in fp32)");
  EXPECT_EQ(with(0, -largest, largest), "no error");
  for (const auto& [low, high] : {std::pair{1.0, 1.0}, std::pair{0.0, 1e39}, std::pair{-1e39, 0.0},
                                  std::pair{0.0, std::numeric_limits<double>::infinity()}, std::pair{nan, 1.0},
                                  std::pair{0.0, nan}})
    EXPECT_CONTAINS(with(1, low, high), "point-cloud range axis 1 is [");
}

TEST(ModelConfig, JsonAppliesOverThePresetAndRejectsUnknownKeys) {
  const auto c = voxformer::config_from_json(
      nlohmann::json::parse(R"({"variant": "S-3D", "embed_dims": 64, "heads": 4, "volume": [8, 6, 4],
                                 "view_shape": [12, 16], "feature_shapes": [[6, 10], [3, 5]], "levels": 2,
                                 "pc_range": [0, -1, -2, 3, 4, 5], "image_size": [96, 160]})"),
      "test");
  EXPECT_EQ(c.variant, "S-3D");
  EXPECT_EQ(c.self_attention, self_attention_kind::volumetric);
  EXPECT_EQ(c.cameras, 1);
  EXPECT_EQ(c.embed_dims, 64);
  EXPECT_EQ(c.levels(), 2);
  EXPECT_EQ(c.feature_rows(), 75);
  EXPECT_DOUBLE_EQ(c.range.min[1], -1.0);
  EXPECT_EQ(c.image.width, 160);
  EXPECT_EQ(error_of([] { voxformer::config_from_json(nlohmann::json::parse(R"({"head": 4})"), "cfg.json"); }),
            "cfg.json: unknown configuration key 'head'");
  EXPECT_EQ(error_of([] { voxformer::config_from_json(nlohmann::json::parse(R"({"heads": 5})"), "cfg.json"); }),
            "cfg.json: voxformer::model_config: heads (5) must divide embed_dims (128)");
  EXPECT_EQ(error_of([] { voxformer::config_from_json(nlohmann::json::parse(R"({"variant": "XL"})"), "cfg.json"); }),
            "cfg.json: voxformer::model_config: unknown variant 'XL' (expected T, S, T-3D or S-3D)");
  EXPECT_EQ(error_of([] { voxformer::config_from_json(nlohmann::json::parse(R"({"variant": 5})"), "cfg.json"); }),
            "cfg.json: variant must be a string, got 5");
  EXPECT_EQ(error_of([] { voxformer::config_from_json(nlohmann::json::parse("[1, 2]"), "cfg.json"); }),
            "cfg.json: a model configuration is a JSON object, got array");
  EXPECT_EQ(error_of([] {
              voxformer::config_from_json(nlohmann::json::parse(R"({"levels": 2})"), "cfg.json");
            }),
            "cfg.json: levels is 2 but feature_shapes lists 1");
}

// What the PyTorch reference writes is read as it is.
TEST(ModelConfig, JsonOfTheReferenceIsRead) {
  const auto c = voxformer::read_config_json(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "pipeline" /
                                             "t3d_small" / "config.json");
  EXPECT_EQ(c.variant, "T-3D");
  EXPECT_EQ(c.volume, (std::array<index_t, 3>{8, 6, 4}));
  EXPECT_EQ(c.cameras, 2);
  EXPECT_DOUBLE_EQ(c.range.max[1], 25.6);
  EXPECT_EQ(c.feature_shapes, (std::vector<voxformer::feature_shape>{{6, 10}}));
}

std::string json_error(const std::string& text) {
  return error_of([&] { voxformer::parse_config_json(text, "cfg.json"); });
}

// Was: 128.9 read as 128, 1e300 cast to an integer, true as 1; an array's extra elements dropped.
TEST(ModelConfig, JsonValuesMustHaveTheirFieldsTypeExactly) {
  const std::string where = "voxformer::parse_config_json('cfg.json'): ";
  for (const std::string value : {"128.9", "1e300", "-0.5", "128.0", "true", "null", "\"128\"", "[128]", "{}",
                                  "9223372036854775808", "18446744073709551615", "1e400000"}) {
    SCOPED_TRACE(value);
    const std::string error = json_error(R"({"embed_dims": )" + value + "}");
    if (value == "1e400000") {  // beyond double: nlohmann's parser refuses it
      EXPECT_CONTAINS(error, where + "not valid JSON: ");
      continue;
    }
    const std::string shown = value == "1e300" ? "1e+300" : value;
    EXPECT_EQ(error, where + "embed_dims must be an integer within 64 bits, got " + shown);
  }
  // An integer within 64 bits goes on to the field's range.
  EXPECT_EQ(json_error(R"({"embed_dims": -9223372036854775808})"),
            where + "voxformer::model_config: embed_dims (-9223372036854775808) must be in [2, 1024]: the fused head "
                    "holds at most that many per voxel");
  EXPECT_EQ(json_error(R"({"points_cross": 1152921504606846976})"),
            where + "voxformer::model_config: points_cross (1152921504606846976) must be in [1, 65536]");
  EXPECT_EQ(json_error(R"({"volume": [8, 6.5, 4]})"), where + "volume[1] must be an integer within 64 bits, got 6.5");
  EXPECT_EQ(json_error(R"({"volume": [8, 6]})"), where + "volume must be an array of 3 values, got [8,6]");
  EXPECT_EQ(json_error(R"({"volume": [8, 6, 4, 2]})"), where + "volume must be an array of 3 values, got [8,6,4,2]");
  EXPECT_EQ(json_error(R"({"view_shape": "512x512"})"),
            where + "view_shape must be an array of 2 values, got \"512x512\"");
  EXPECT_EQ(json_error(R"({"feature_shapes": [[24, 77], [12, true]]})"),
            where + "feature_shapes[1][1] must be an integer within 64 bits, got true");
  EXPECT_EQ(json_error(R"({"feature_shapes": {"0": [24, 77]}})"),
            where + "feature_shapes must be an array of [height, width] pairs, got {\"0\":[24,77]}");
  EXPECT_EQ(json_error(R"({"image_size": [370, 1220.5]})"),
            where + "image_size[1] must be an integer within 64 bits, got 1220.5");
  EXPECT_EQ(json_error(R"({"levels": 1.0})"), where + "levels must be an integer within 64 bits, got 1.0");
  EXPECT_EQ(json_error(R"({"self_attention": 1})"), where + "self_attention must be a string, got 1");
  EXPECT_EQ(json_error(R"({"pc_range": [0, -25.6, -2, 51.2, "25.6", 4.4]})"),
            where + "pc_range[4] must be a finite number, got \"25.6\"");
  EXPECT_EQ(json_error(R"({"pc_range": [0, -25.6, -2, 51.2, 25.6, false]})"),
            where + "pc_range[5] must be a finite number, got false");
  EXPECT_CONTAINS(json_error(R"({"pc_range": [0, -25.6, -2, 1e300, 25.6, 4.4]})"),
                  where + "voxformer::model_config: point-cloud range axis 0 is [0, 1e+300]");
  // A number that is not finite (only a DOM built in code can hold one).
  nlohmann::json infinite = {{"pc_range", {0, 0, 0, std::numeric_limits<double>::infinity(), 1, 1}}};
  EXPECT_EQ(error_of([&] { voxformer::config_from_json(infinite, "cfg.json"); }),
            "cfg.json: pc_range[3] must be a finite number, got null");
}

// Was: the last of two equal keys silently won.
TEST(ModelConfig, JsonKeysAreUniqueAtEveryLevel) {
  const std::string where = "voxformer::parse_config_json('cfg.json'): ";
  EXPECT_EQ(json_error(R"({"heads": 4, "embed_dims": 64, "heads": 8})"), where + "duplicate key 'heads'");
  EXPECT_EQ(json_error(R"({"volume": {"x": 1, "x": 2}})"), where + "volume: duplicate key 'x'");
  EXPECT_EQ(json_error(R"({"feature_shapes": [{"h": 1, "h": 2}]})"), where + "feature_shapes: duplicate key 'h'");
  EXPECT_EQ(json_error(R"({"heads": 4, "heads": 4})"), where + "duplicate key 'heads'");  // even with one value
  // Deeper than any configuration: refused while parsing (a hostile nesting would overflow the stack later).
  EXPECT_EQ(json_error(R"({"feature_shapes": [[[24, 77]]]})"),
            where + "feature_shapes: JSON nested deeper than a model configuration allows (an array at depth 3)");
  EXPECT_CONTAINS(json_error(std::string(100000, '[') + std::string(100000, ']')), "nested deeper");
  EXPECT_CONTAINS(json_error(std::string(R"({"heads": 4})") + '\0' + R"(, "heads": 8})"),
                  where + "not valid JSON: a NUL byte at offset 12");
  EXPECT_CONTAINS(json_error(R"({"heads": 4,})"), where + "not valid JSON: [json.exception.parse_error");
  EXPECT_CONTAINS(json_error(""), where + "not valid JSON: ");
}

// Was: a directory gave std::ios_base::failure, a FIFO blocked the reader in open().
TEST(ModelConfig, JsonFilesMustBeRegularFiles) {
  const auto directory = std::filesystem::temp_directory_path();
  EXPECT_EQ(error_of([&] { voxformer::read_config_json(directory); }),
            "voxformer::read_config_json('" + directory.string() + "'): is a directory, not a file");
  const auto missing = test::temp_file("missing_config.json");
  EXPECT_EQ(error_of([&] { voxformer::read_config_json(missing); }),
            "voxformer::read_config_json('" + missing.string() + "'): cannot open: no such file");
  const auto fifo = test::temp_file("config_fifo.json");
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(error_of([&] { voxformer::read_config_json(fifo); }),
            "voxformer::read_config_json('" + fifo.string() + "'): is not a regular file");
  std::filesystem::remove(fifo);
  const auto big = test::temp_file("big_config.json");
  {
    std::ofstream out(big);
    out << "{}" << std::string(voxformer::config_json_max_bytes, ' ');
  }
  EXPECT_EQ(error_of([&] { voxformer::read_config_json(big); }),
            "voxformer::read_config_json('" + big.string() + "'): 1048578 bytes, more than the 1048576 a model "
            "configuration may have");
  const auto broken = test::temp_file("broken_config.json");
  {
    std::ofstream out(broken);
    out << R"({"heads": 4, "heads": 8})";
  }
  EXPECT_EQ(error_of([&] { voxformer::read_config_json(broken); }),
            "voxformer::read_config_json('" + broken.string() + "'): duplicate key 'heads'");
  std::filesystem::remove(big);
  std::filesystem::remove(broken);
}

}  // namespace
