// The model configuration: the four published variants (spec §1.1, §1.2), every value settable, the checks
// that reject configurations that cannot work, and the JSON form the PyTorch reference writes.
#include <gtest/gtest.h>

#include <string>

#include "support/error_of.hpp"
#include "voxformer/model/config.hpp"
#include "voxformer/model/config_json.hpp"

using test::error_of;

namespace {

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
  // Extents are bounded one by one before their product is taken, so no product overflows.
  EXPECT_EQ(with([](model_config& c) { c.volume = {voxformer::index_t{1} << 40, 1, 1}; }),
            "voxformer::model_config: volume extent 1099511627776 is too large");
  EXPECT_EQ(with([](model_config& c) { c.volume = {134217728, 134217728, 134217728}; }),
            "voxformer::model_config: the volume 134217728x134217728x134217728 has too many voxels; voxel indices "
            "of the output grid must fit int32");
  EXPECT_EQ(with([](model_config& c) { c.view_shape = {voxformer::index_t{1} << 40, voxformer::index_t{1} << 40}; }),
            "voxformer::model_config: the self-attention view 1099511627776x1099511627776 cannot hold the 262144 "
            "voxels of the volume");
  EXPECT_EQ(with([](model_config& c) { c.embed_dims = 2048; }),
            "voxformer::model_config: embed_dims (2048) exceeds the 1024 channels the fused head holds per voxel");
  EXPECT_EQ(with([](model_config& c) { c.view_shape = {256, 512}; }),
            "voxformer::model_config: the self-attention view 256x512 has 131072 cells, but the volume 128x128x16 has "
            "262144 voxels");
  EXPECT_EQ(with([](model_config& c) { c.embed_dims = 0; }), "voxformer::model_config: embed_dims must be positive, got 0");
  EXPECT_EQ(with([](model_config& c) { c.embed_dims = 9, c.heads = 3; }),
            "voxformer::model_config: embed_dims (9) must be even: the positional encoding gives half to rows, half to "
            "columns");
  EXPECT_EQ(with([](model_config& c) { c.classes = 300; }),
            "voxformer::model_config: classes must be in [1, 256] (labels are uint8), got 300");
  EXPECT_EQ(with([](model_config& c) { c.feature_shapes = {{24, 77}, {12, 39}, {6, 20}, {3, 10}, {2, 5}}; }),
            "voxformer::model_config: level_embed_rows (4) must cover the 5 feature levels");
  EXPECT_EQ(with([](model_config& c) { c.feature_shapes.clear(); }),
            "voxformer::model_config: between 1 and 16 feature levels are supported, got 0");
  EXPECT_EQ(with([](model_config& c) { c.range.max[2] = -3; }),
            "voxformer::model_config: point-cloud range axis 2 is [-2, -3]");
  EXPECT_EQ(with([](model_config& c) { c.image = {0, 1220}; }),
            "voxformer::model_config: image size must be positive, got 0x1220");
  EXPECT_EQ(with([](model_config& c) { c.layers_self = -1; }),
            "voxformer::model_config: layer counts cannot be negative, got 3 cross and -1 self");
  // Every value is settable: a reduced configuration the tests run.
  EXPECT_EQ(with([](model_config& c) {
              c.volume = {8, 6, 4}, c.view_shape = {12, 16}, c.embed_dims = 32, c.heads = 4, c.points_cross = 4,
              c.points_self = 4, c.layers_cross = 2, c.ffn_hidden = 64, c.cameras = 2, c.classes = 5;
            }),
            "no error");
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
  EXPECT_NE(error_of([] { voxformer::config_from_json(nlohmann::json::parse(R"({"heads": "8"})"), "cfg.json"); })
                .find("cfg.json: [json.exception.type_error"),
            std::string::npos);
  EXPECT_NE(error_of([] { voxformer::config_from_json(nlohmann::json::parse(R"({"variant": 5})"), "cfg.json"); })
                .find("cfg.json: [json.exception.type_error"),
            std::string::npos);
  EXPECT_EQ(error_of([] {
              voxformer::config_from_json(nlohmann::json::parse(R"({"levels": 2})"), "cfg.json");
            }),
            "cfg.json: levels is 2 but feature_shapes lists 1");
}

}  // namespace
