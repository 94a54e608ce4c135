//! @file The model's parameters by their official state-dict names (spec §1.5): the list of names and shapes
//! a configuration expects, the structs the layers read, binding a name → memory lookup to them, and the
//! checkpoint description `parameter_store` reads files and makes random weights with.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numbers>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "voxformer/core/error.hpp"
#include "voxformer/core/tensor_view.hpp"
#include "voxformer/model/config.hpp"
#include "voxformer/nn/ffn.hpp"
#include "voxformer/nn/layer_norm.hpp"
#include "voxformer/nn/linear.hpp"

namespace voxformer {

//! A checkpoint's keys of the head start with this (a full VoxFormer checkpoint); bare keys are accepted too.
inline constexpr std::string_view official_prefix = "pts_bbox_head.";

//! One expected tensor: its official name without the prefix and its shape for a configuration.
struct parameter_spec {
  std::string name;
  std::vector<index_t> shape;
  bool used = true;  //!< false: the original has it, inference never reads it (accepted, not required)

  index_t elements() const {
    index_t n = 1;
    for (const index_t e : shape) n *= e;
    return n;
  }
};

namespace detail {
inline std::string cross_layer_name(index_t layer) {
  return "cross_transformer.encoder.layers." + std::to_string(layer) + ".";
}
inline std::string self_layer_name(index_t layer) {
  return "self_transformer.encoder.layers." + std::to_string(layer) + ".";
}
}  // namespace detail

//! Every tensor of the stage-2 head for `config`, in the original's module order.
inline std::vector<parameter_spec> parameter_specs(const model_config& config) {
  config.validate();
  const index_t c = config.embed_dims, heads = config.heads, levels = config.levels();
  std::vector<parameter_spec> specs;
  auto add = [&](std::string name, std::vector<index_t> shape, bool used = true) {
    specs.push_back({std::move(name), std::move(shape), used});
  };
  auto add_linear = [&](const std::string& name, index_t out, index_t in) {
    add(name + ".weight", {out, in});
    add(name + ".bias", {out});
  };
  auto add_norm = [&](const std::string& name) {
    add(name + ".weight", {c});
    add(name + ".bias", {c});
  };
  auto add_ffn_and_norms = [&](const std::string& layer) {
    add_linear(layer + "ffns.0.layers.0.0", config.ffn_hidden, c);
    add_linear(layer + "ffns.0.layers.1", c, config.ffn_hidden);
    add_norm(layer + "norms.0");
    add_norm(layer + "norms.1");
  };
  add("bev_embed.weight", {config.voxels(), c});
  add("mask_embed.weight", {1, c});
  add("positional_encoding.row_embed.weight", {config.view_shape[0], c / 2});
  add("positional_encoding.col_embed.weight", {config.view_shape[1], c / 2});
  add("cross_transformer.level_embeds", {config.level_embed_rows, c});
  add("cross_transformer.cams_embeds", {config.cameras, c});
  for (index_t l = 0; l < config.layers_cross; ++l) {
    const std::string layer = detail::cross_layer_name(l), attention = layer + "attentions.0.";
    add_linear(attention + "deformable_attention.sampling_offsets", heads * levels * config.points_cross * 2, c);
    add_linear(attention + "deformable_attention.attention_weights", heads * levels * config.points_cross, c);
    add_linear(attention + "deformable_attention.value_proj", c, c);
    add_linear(attention + "output_proj", c, c);
    add_ffn_and_norms(layer);
  }
  add("self_transformer.level_embeds", {config.level_embed_rows, c}, false);
  add("self_transformer.cams_embeds", {config.cameras, c}, false);
  for (index_t l = 0; l < config.layers_self; ++l) {
    const std::string layer = detail::self_layer_name(l), attention = layer + "attentions.0.";
    // Two queue slots, one level (spec §3.11, §3.12).
    add_linear(attention + "sampling_offsets", heads * 2 * config.points_self * config.self_dims(), 2 * c);
    add_linear(attention + "attention_weights", heads * 2 * config.points_self, 2 * c);
    add_linear(attention + "value_proj", c, c);
    add_linear(attention + "output_proj", c, c);
    add_ffn_and_norms(layer);
  }
  add_norm("header.mlp_head.0");
  add_linear("header.mlp_head.1", config.classes, c);
  return specs;
}

//! Tensors a full checkpoint holds that stage 2 never reads: the image backbone and neck (they produce the
//! features the caller passes in). Accepted without a warning.
inline bool is_image_network_key(std::string_view name) {
  return name.starts_with("img_backbone.") || name.starts_with("img_neck.");
}

//! What a cross-attention layer reads (DeformCrossAttention + MSDeformableAttention3D, FFN, two norms). W stores
//! the value and output projections' and the FFN's weights (the layers' own copies may be bfloat16 or float16); the
//! offsets' and weights' projections, which place the samples, stay in T.
template <class T, class W = T>
struct cross_layer_parameters {
  linear_weights<T> sampling_offsets, attention_weights;
  linear_weights<T, W> value_proj, output_proj;
  ffn_weights<T, W> ffn;
  layer_norm_weights<T> norm_attention, norm_ffn;  //!< norms.0, norms.1
};

//! What a self-attention layer reads (DeformSelfAttention / DeformSelfAttention3DCustom, FFN, two norms); W as
//! for the cross layer.
template <class T, class W = T>
struct self_layer_parameters {
  linear_weights<T> sampling_offsets, attention_weights;  //!< input 2C
  linear_weights<T, W> value_proj, output_proj;
  ffn_weights<T, W> ffn;
  layer_norm_weights<T> norm_attention, norm_ffn;
};

//! Every tensor inference reads, as views (into a weights file, a converted copy, or the caller's memory).
template <class T>
struct model_parameters {
  tensor_view<const T, 2> bev_embed;    //!< [N, C]: one learned query per voxel; only proposed rows are read
  tensor_view<const T, 1> mask_embed;   //!< [C]: the token of every voxel that is not proposed
  tensor_view<const T, 2> row_embed;    //!< [view rows, C/2]
  tensor_view<const T, 2> col_embed;    //!< [view columns, C/2]
  tensor_view<const T, 2> level_embeds;  //!< [level_embed_rows, C]
  tensor_view<const T, 2> cams_embeds;   //!< [cameras, C]
  std::vector<cross_layer_parameters<T>> cross;
  std::vector<self_layer_parameters<T>> self;
  layer_norm_weights<T> head_norm;   //!< header.mlp_head.0
  linear_weights<T> head_classifier;  //!< header.mlp_head.1: [classes, C]

  //! Binds `lookup(spec)` — a pointer to the contiguous values of a tensor that the caller has checked to
  //! have `spec.shape`, in `space` — for every used tensor of `config`.
  template <class Lookup>
  static model_parameters bind(const model_config& config, const Lookup& lookup,
                               memory_space space = memory_space::host) {
    model_parameters p;
    std::vector<parameter_spec> specs = parameter_specs(config);
    std::size_t next = 0;
    auto take = [&]() -> const parameter_spec& { return specs.at(next++); };
    auto matrix = [&] {
      const auto& s = take();
      return tensor_view<const T, 2>(lookup(s), {s.shape[0], s.shape[1]}, space);
    };
    auto vector = [&] {
      const auto& s = take();
      return tensor_view<const T, 1>(lookup(s), {s.elements()}, space);
    };
    auto linear = [&] {
      const auto weight = matrix();
      return linear_weights<T>{weight, vector()};
    };
    auto norm = [&] {
      const auto weight = vector();
      return layer_norm_weights<T>{weight, vector()};
    };
    auto ffn_and_norms = [&](auto& layer) {
      layer.ffn.fc1 = linear();
      layer.ffn.fc2 = linear();
      layer.norm_attention = norm();
      layer.norm_ffn = norm();
    };
    // The same order as parameter_specs.
    p.bev_embed = matrix();
    p.mask_embed = vector();
    p.row_embed = matrix();
    p.col_embed = matrix();
    p.level_embeds = matrix();
    p.cams_embeds = matrix();
    for (index_t l = 0; l < config.layers_cross; ++l) {
      auto& layer = p.cross.emplace_back();
      layer.sampling_offsets = linear();
      layer.attention_weights = linear();
      layer.value_proj = linear();
      layer.output_proj = linear();
      ffn_and_norms(layer);
    }
    next += 2;  // self_transformer.level_embeds and .cams_embeds: never read
    for (index_t l = 0; l < config.layers_self; ++l) {
      auto& layer = p.self.emplace_back();
      layer.sampling_offsets = linear();
      layer.attention_weights = linear();
      layer.value_proj = linear();
      layer.output_proj = linear();
      ffn_and_norms(layer);
    }
    p.head_norm = norm();
    p.head_classifier = linear();
    detail::require(next == specs.size(), "voxformer::model_parameters: bound ", next, " of ", specs.size(), " tensors");
    return p;
  }
};

//! Stage 2 + head as a weights file holds it, for `basic_parameter_store` (model/parameter_store.hpp): the
//! configuration, the expected tensors, the names a full checkpoint adds, binding, and random initialisation.
struct voxformer_checkpoint {
  using config_type = model_config;
  template <class T>
  using parameters_type = model_parameters<T>;

  //! Keys may carry this prefix (a full VoxFormer checkpoint) or not.
  static constexpr std::string_view prefix = official_prefix;

  static std::vector<parameter_spec> specs(const model_config& config) { return parameter_specs(config); }
  //! Tensors of the full checkpoint that stage 2 never reads (the image network): accepted without a warning.
  static bool is_foreign(std::string_view bare_name) { return is_image_network_key(bare_name); }
  template <class T, class Lookup>
  static model_parameters<T> bind(const model_config& config, const Lookup& lookup,
                                  memory_space space = memory_space::host) {
    return model_parameters<T>::bind(config, lookup, space);
  }

  static std::string describe(const model_config& c) {
    std::ostringstream out;
    out << "variant " << c.variant << ": volume " << c.volume[0] << "x" << c.volume[1] << "x" << c.volume[2]
        << ", embed_dims " << c.embed_dims << ", heads " << c.heads << ", points " << c.points_cross << "/"
        << c.points_self << ", layers " << c.layers_cross << "/" << c.layers_self << ", ffn " << c.ffn_hidden
        << ", cameras " << c.cameras << ", levels " << c.levels() << ", classes " << c.classes;
    return out.str();
  }

  //! Scaled like a trained model's: unit embeddings, LayerNorm weights near 1, linear weights ~ 1/sqrt(fan_in),
  //! sampling-offset biases on the original's grid init, so that every stage computes something non-trivial.
  template <class T>
  static void initialise(std::span<T> values, const parameter_spec& spec, const model_config& config,
                         std::mt19937_64& generator) {
    std::normal_distribution<double> normal;
    const std::string leaf = spec.name.substr(spec.name.rfind('.') + 1);
    const bool norm = spec.name.find("norms.") != std::string::npos || spec.name.find("mlp_head.0") != std::string::npos;
    const bool matrix = spec.shape.size() == 2 && leaf == "weight" && spec.name.find("_embed") == std::string::npos;
    const double scale = norm ? 0.1 : matrix ? 1.0 / std::sqrt(static_cast<double>(spec.shape[1])) : leaf == "bias" ? 0.1 : 1.0;
    for (auto& v : values) v = static_cast<T>((norm && leaf == "weight" ? 1.0 : 0.0) + scale * normal(generator));
    if (spec.name.ends_with("sampling_offsets.bias")) add_grid_offsets(values, config, spec);
    if (spec.name.ends_with("sampling_offsets.weight"))
      for (auto& v : values) v = static_cast<T>(0.5 * v);  // offsets of a few cells
  }

 private:
  //! The original's sampling-offset bias init (Deformable-DETR): per head the direction (cos θ, sin θ[, 0])
  //! scaled so its larger component is 1, times (p + 1) for point p; [heads][groups][points][dims].
  template <class T>
  static void add_grid_offsets(std::span<T> bias, const model_config& config, const parameter_spec& spec) {
    const bool cross = spec.name.starts_with("cross_");
    const index_t dims = cross ? 2 : config.self_dims(), points = cross ? config.points_cross : config.points_self;
    const index_t groups = static_cast<index_t>(bias.size()) / (config.heads * points * dims);
    for (index_t h = 0; h < config.heads; ++h) {
      const double theta = 2.0 * std::numbers::pi * static_cast<double>(h) / static_cast<double>(config.heads);
      const double c = std::cos(theta), s = std::sin(theta), top = std::max(std::abs(c), std::abs(s));
      const double direction[3] = {c / top, s / top, 0.0};
      for (index_t g = 0; g < groups; ++g)
        for (index_t p = 0; p < points; ++p)
          for (index_t d = 0; d < dims; ++d)
            bias[static_cast<std::size_t>(((h * groups + g) * points + p) * dims + d)] +=
                static_cast<T>(direction[d] * static_cast<double>(p + 1));
    }
  }
};

}  // namespace voxformer
