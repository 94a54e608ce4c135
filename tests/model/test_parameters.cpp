// The parameters by their official state-dict names (spec §1.5), and loading them from a .safetensors file:
// every expected name, dtype and shape checked with the first problem reported by name; unknown tensors
// warned about; the image network accepted silently; fp16/bf16 converted; fp32 read in place.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "support/small_model_config.hpp"
#include "voxformer/io/safetensors.hpp"
#include "voxformer/model/cross_attention.hpp"
#include "voxformer/model/head.hpp"
#include "voxformer/model/parameter_store.hpp"
#include "voxformer/model/parameters.hpp"
#include "voxformer/model/self_attention.hpp"

using test::error_of;

namespace {

using voxformer::index_t;
using voxformer::model_config;
using voxformer::parameter_spec;

std::map<std::string, std::vector<index_t>> shapes_of(const model_config& c) {
  std::map<std::string, std::vector<index_t>> out;
  for (const auto& spec : voxformer::parameter_specs(c)) out[spec.name] = spec.shape;
  return out;
}

TEST(ParameterSpecs, OfficialNamesAndShapesOfVoxFormerT) {
  const auto t = shapes_of(model_config::voxformer_t());
  const std::string cross = "cross_transformer.encoder.layers.0.attentions.0.";
  const std::string self = "self_transformer.encoder.layers.1.attentions.0.";
  const std::map<std::string, std::vector<index_t>> expected = {
      {"bev_embed.weight", {262144, 128}},
      {"mask_embed.weight", {1, 128}},
      {"positional_encoding.row_embed.weight", {512, 64}},
      {"positional_encoding.col_embed.weight", {512, 64}},
      {"cross_transformer.level_embeds", {4, 128}},
      {"cross_transformer.cams_embeds", {5, 128}},
      {cross + "deformable_attention.sampling_offsets.weight", {128, 128}},
      {cross + "deformable_attention.attention_weights.weight", {64, 128}},
      {cross + "deformable_attention.value_proj.bias", {128}},
      {cross + "output_proj.weight", {128, 128}},
      {"cross_transformer.encoder.layers.2.ffns.0.layers.0.0.weight", {256, 128}},
      {"cross_transformer.encoder.layers.2.ffns.0.layers.1.weight", {128, 256}},
      {"cross_transformer.encoder.layers.1.norms.1.bias", {128}},
      {self + "sampling_offsets.weight", {256, 256}},
      {self + "attention_weights.weight", {128, 256}},
      {self + "value_proj.weight", {128, 128}},
      {self + "output_proj.bias", {128}},
      {"self_transformer.level_embeds", {4, 128}},
      {"header.mlp_head.0.weight", {128}},
      {"header.mlp_head.1.weight", {20, 128}},
  };
  for (const auto& [name, shape] : expected) {
    ASSERT_TRUE(t.contains(name)) << name;
    EXPECT_EQ(t.at(name), shape) << name;
  }
  // 6 embeddings; 3 cross + 2 self layers of 4 linears, 2 FFN linears, 2 norms (16 tensors each); 2 unused self
  // embeddings; the header's norm and linear.
  EXPECT_EQ(t.size(), 6u + 5 * 16 + 2 + 4);
  EXPECT_FALSE(t.contains("self_transformer.encoder.layers.2.norms.0.weight"));
  // The 3-D self-attention samples 3 coordinates.
  EXPECT_EQ(shapes_of(model_config::voxformer_s_3d()).at(self + "sampling_offsets.weight"),
            (std::vector<index_t>{384, 256}));
  EXPECT_EQ(shapes_of(model_config::voxformer_s()).at("cross_transformer.cams_embeds"), (std::vector<index_t>{1, 128}));
}

// Was: the shapes were computed from unbounded fields (heads x levels x points_cross x 2 overflowed for
// points_cross = 2^60, ffn_hidden x embed_dims for ffn_hidden = 2^58).
TEST(ParameterSpecs, ValuesBeyondTheirBoundsAreErrorsNotOverflows) {
  const std::vector<std::pair<std::string, std::function<void(model_config&)>>> cases = {
      {"points_cross (1152921504606846976) must be in [1, 65536]",
       [](model_config& c) { c.points_cross = index_t{1} << 60; }},
      {"points_self (1152921504606846976) must be in [1, 65536]",
       [](model_config& c) { c.points_self = index_t{1} << 60; }},
      {"ffn_hidden (288230376151711744) must be in [1, 65536]",
       [](model_config& c) { c.ffn_hidden = index_t{1} << 58; }},
      {"cameras (4611686018427387904) must be in [1, 65536]", [](model_config& c) { c.cameras = index_t{1} << 62; }},
      {"level_embed_rows (1152921504606846976) must be in [1, 65536]",
       [](model_config& c) { c.level_embed_rows = index_t{1} << 60; }},
      {"voxels X*Y*Z (16777216 x 16777216 x 16777216) must be at most 268435455",  // 2^72
       [](model_config& c) { c.volume = {index_t{1} << 24, index_t{1} << 24, index_t{1} << 24}; }},
  };
  for (const auto& [message, change] : cases) {
    model_config c = test::small_model_config();
    change(c);
    EXPECT_CONTAINS(error_of([&] { (void)voxformer::parameter_specs(c); }), "voxformer::model_config: " + message);
  }
}

// Every size computed from a configuration at its bounds — the parameters' element counts, each layer's scratch,
// the head's table — fits its type (this test runs under UBSan too, where an overflow would stop it).
TEST(ParameterSpecs, SizesOfTheLargestConfigurationsFit) {
  model_config most_voxels = test::small_model_config();  // 2^28 - 1 voxels; each buffer under 2^40 elements
  most_voxels.volume = {16383, 16385, 1}, most_voxels.view_shape = {16383, 16385};
  most_voxels.embed_dims = 1024, most_voxels.heads = 512, most_voxels.points_cross = most_voxels.points_self = 1;
  most_voxels.ffn_hidden = 4096, most_voxels.cameras = 8, most_voxels.classes = 256;
  most_voxels.feature_shapes = {{4096, 4096}};
  model_config most_samples = model_config::voxformer_t_3d();  // 2^20 per query, every buffer up to 2^40 elements
  most_samples.embed_dims = 1024, most_samples.heads = 16, most_samples.level_embed_rows = 16;
  most_samples.feature_shapes.assign(16, {24, 77});
  most_samples.points_cross = 4096, most_samples.points_self = 32768, most_samples.ffn_hidden = 65536;
  model_config most_image_values = test::small_model_config();  // 2^16 cameras x 2^20 rows x 16 channels = 2^40
  most_image_values.cameras = 65536, most_image_values.embed_dims = 16;
  most_image_values.feature_shapes = {{1024, 1024}};
  for (const model_config* c : {&most_voxels, &most_samples, &most_image_values}) {
    ASSERT_EQ(error_of([&] { c->validate(); }), "no error");
    index_t elements = 0;
    for (const auto& spec : voxformer::parameter_specs(*c))
      ASSERT_FALSE(__builtin_add_overflow(elements, spec.elements(), &elements)) << spec.name;
    EXPECT_LE(elements, index_t{1} << 40);
    const index_t voxels = c->voxels();
    for (const std::size_t bytes : {voxformer::cross_attention_layer<double>::workspace_bytes(*c, voxels, voxels),
                                    voxformer::self_attention_layer<double>::workspace_bytes(*c, voxels, voxels),
                                    voxformer::fused_head<double>::derived_bytes(*c)})
      EXPECT_LT(bytes, std::size_t{1} << 48);  // a few buffers of at most 2^40 doubles
  }
}

//! A weights file for `config`: every expected tensor (float32, or the given dtype), plus `extra` tensors,
//! minus `skip`, with one tensor's shape or values optionally changed.
struct weights_writer {
  explicit weights_writer(model_config c) : config(std::move(c)) {}
  model_config config;
  std::string prefix = "pts_bbox_head.";
  voxformer::io::safetensors_dtype dtype = voxformer::io::safetensors_dtype::f32;
  std::string skip, wrong_shape, non_finite;
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> extra;

  std::filesystem::path write(const std::string& name) const {
    std::vector<std::vector<std::byte>> storage;
    std::vector<voxformer::io::safetensors_tensor_bytes> tensors;
    auto add = [&](const std::string& key, std::vector<std::int64_t> shape, voxformer::io::safetensors_dtype type,
                   float fill) {
      std::int64_t n = 1;
      for (auto e : shape) n *= e;
      auto& bytes = storage.emplace_back(static_cast<std::size_t>(n) * voxformer::io::element_size(type));
      for (std::int64_t i = 0; i < n; ++i) {
        const float v = fill + 0.001f * static_cast<float>(i);
        if (type == voxformer::io::safetensors_dtype::f32) std::memcpy(bytes.data() + 4 * i, &v, 4);
        else if (type == voxformer::io::safetensors_dtype::bf16) {
          const auto bits = std::bit_cast<std::uint32_t>(v) >> 16;
          const auto half = static_cast<std::uint16_t>(bits);
          std::memcpy(bytes.data() + 2 * i, &half, 2);
        }
      }
      tensors.push_back({key, type, std::move(shape), bytes});
    };
    for (const auto& spec : voxformer::parameter_specs(config)) {
      if (spec.name == skip) continue;
      std::vector<std::int64_t> shape(spec.shape.begin(), spec.shape.end());
      if (spec.name == wrong_shape) shape.back() += 1;
      add(prefix + spec.name, shape, dtype, spec.name == non_finite ? INFINITY : 0.5f);
    }
    for (const auto& [key, shape] : extra) add(key, shape, voxformer::io::safetensors_dtype::f32, 1.f);
    const auto path = std::filesystem::temp_directory_path() / (name + ".safetensors");
    voxformer::io::write_safetensors(path, tensors);
    return path;
  }
};

voxformer::parameter_store<float> load(const weights_writer& w, const std::string& name,
                                       voxformer::weights_report* report = nullptr) {
  return voxformer::parameter_store<float>::from_file(w.config, voxformer::io::safetensors_file::open(w.write(name)), report);
}

TEST(ParameterStore, ReadsFloat32InPlaceWithOrWithoutThePrefix) {
  for (const std::string prefix : {"pts_bbox_head.", ""}) {
    weights_writer w{test::small_model_config()};
    w.prefix = prefix;
    w.extra = {{"img_backbone.conv1.weight", {4, 3, 7, 7}}, {"img_neck.fpn_convs.0.conv.bias", {8}}};
    voxformer::weights_report report;
    const auto store = load(w, "voxformer_params_inplace", &report);
    EXPECT_TRUE(report.warnings.empty());
    EXPECT_EQ(report.tensors_read, 6 + 2 * 16 + 4);
    EXPECT_EQ(report.tensors_ignored, 2 + 2);  // the self stack's embeddings, the image network
    EXPECT_EQ(report.bytes_converted, 0u);
    EXPECT_EQ(store.owned_bytes(), 0u);
    const auto& p = store.parameters();
    EXPECT_EQ(p.bev_embed.extent(0), 16);
    EXPECT_EQ(p.mask_embed.extent(0), 8);
    EXPECT_FLOAT_EQ(p.cross[0].ffn.fc2.weight(0, 1), 0.501f);
    EXPECT_EQ(p.self[0].sampling_offsets.weight.extent(0), 2 * 2 * 2 * 2);
    EXPECT_EQ(p.head_classifier.out_features(), 3);
  }
}

TEST(ParameterStore, ConvertsBfloat16) {
  weights_writer w{test::small_model_config()};
  w.dtype = voxformer::io::safetensors_dtype::bf16;
  voxformer::weights_report report;
  const auto store = load(w, "voxformer_params_bf16", &report);
  EXPECT_EQ(report.bytes_in_place, 0u);
  EXPECT_GT(store.owned_bytes(), 0u);
  EXPECT_FLOAT_EQ(store.parameters().mask_embed(0), 0.5f);  // exactly representable
}

TEST(ParameterStore, TheFirstProblemIsAnErrorNamingTheTensor) {
  const std::string file = "voxformer::parameter_store('" +
                           (std::filesystem::temp_directory_path() / "voxformer_params_bad.safetensors").string() + "')";
  weights_writer missing{test::small_model_config()};
  missing.skip = "cross_transformer.encoder.layers.0.attentions.0.output_proj.weight";
  EXPECT_EQ(error_of([&] { load(missing, "voxformer_params_bad"); }),
            file + ": missing tensor 'pts_bbox_head.cross_transformer.encoder.layers.0.attentions.0.output_proj.weight' "
                   "[8, 8] (variant test: volume 4x2x2, embed_dims 8, heads 2, points 2/2, layers 1/1, ffn 16, "
                   "cameras 2, levels 1, classes 3)");
  weights_writer shape{test::small_model_config()};
  shape.wrong_shape = "header.mlp_head.1.weight";
  EXPECT_EQ(error_of([&] { load(shape, "voxformer_params_bad"); }),
            file + ": tensor 'pts_bbox_head.header.mlp_head.1.weight' has shape [3, 9], expected [3, 8] (variant test: "
                   "volume 4x2x2, embed_dims 8, heads 2, points 2/2, layers 1/1, ffn 16, cameras 2, levels 1, classes 3)");
  weights_writer infinite{test::small_model_config()};
  infinite.non_finite = "positional_encoding.col_embed.weight";
  EXPECT_EQ(error_of([&] { load(infinite, "voxformer_params_bad"); }),
            file + ": tensor 'pts_bbox_head.positional_encoding.col_embed.weight' holds a non-finite value (inf) at "
                   "element 0");
  weights_writer integers{test::small_model_config()};
  integers.dtype = voxformer::io::safetensors_dtype::i32;
  EXPECT_EQ(error_of([&] { load(integers, "voxformer_params_bad"); }),
            file + ": tensor 'pts_bbox_head.bev_embed.weight' is I32, expected a floating-point tensor (F32, F16, BF16 "
                   "or F64)");
  weights_writer both{test::small_model_config()};
  both.extra = {{"mask_embed.weight", {1, 8}}};
  EXPECT_EQ(error_of([&] { load(both, "voxformer_params_bad"); }),
            file + ": tensor 'mask_embed.weight' is present both with and without the 'pts_bbox_head.' prefix");
  // A configuration the file was not made for.
  weights_writer other{test::small_model_config()};
  auto bigger = test::small_model_config();
  bigger.layers_cross = 2;
  EXPECT_NE(error_of([&] {
              voxformer::parameter_store<float>::from_file(
                  bigger, voxformer::io::safetensors_file::open(other.write("voxformer_params_bad")));
            }).find("missing tensor 'pts_bbox_head.cross_transformer.encoder.layers.1."),
            std::string::npos);
}

TEST(ParameterStore, UnknownTensorsAreWarnedAboutAndIgnored) {
  weights_writer w{test::small_model_config()};
  w.extra = {{"pts_bbox_head.cross_transformer.encoder.layers.7.norms.0.weight", {8}}};
  voxformer::weights_report report;
  load(w, "voxformer_params_extra", &report);
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_EQ(report.warnings[0], "unknown tensor 'pts_bbox_head.cross_transformer.encoder.layers.7.norms.0.weight' [8] is "
                                "not part of this configuration and is ignored");
}

TEST(ParameterStore, RandomWeightsHaveTheOfficialLayoutAndAreFinite) {
  const auto store = voxformer::parameter_store<float>::random(test::small_model_config(), 7);
  const auto& p = store.parameters();
  for (index_t i = 0; i < p.bev_embed.size(); ++i) ASSERT_TRUE(std::isfinite(p.bev_embed.at_flat(i)));
  // LayerNorm weights near 1, the grid-initialised offset bias: head 0 points along +x at (p + 1) cells.
  EXPECT_NEAR(p.cross[0].norm_attention.weight(0), 1.0, 0.5);
  EXPECT_NEAR(p.cross[0].sampling_offsets.bias(2), 2.0, 0.5);  // head 0, level 0, point 1, x
  EXPECT_EQ(voxformer::parameter_store<float>::random(test::small_model_config(), 7).parameters().bev_embed(3, 1), p.bev_embed(3, 1));
}

}  // namespace
