//! @file The image path's parameters by their official state-dict names (spec §1.5): `img_backbone.*` — torchvision's
//! ResNet-50 layout (`conv1`, `bn1`, `layer1.0.conv2`, `layer1.0.downsample.0`, …) — and `img_neck.*` (the FPN's
//! `lateral_convs.0.conv` and `fpn_convs.0.conv`); the struct the network reads; and the checkpoint description
//! `image_backbone_store` reads files and makes random weights with. A full checkpoint's `layer4.*` (computed by the
//! original and thrown away), `fc.*`, BatchNorm counters and the head's `pts_bbox_head.*` are accepted and ignored.
#pragma once

#include <cmath>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "voxformer/core/error.hpp"
#include "voxformer/core/tensor_view.hpp"
#include "voxformer/model/image_backbone_config.hpp"
#include "voxformer/model/parameters.hpp"
#include "voxformer/model/qpn_parameters.hpp"
#include "voxformer/nn/convolution.hpp"

namespace voxformer {

//! A convolution without bias followed by its BatchNorm (eval mode): every convolution of the ResNet.
template <class T>
struct conv_norm_parameters {
  tensor_view<const T, 5> weight;  //!< [out, in, 1, kh, kw]: a Conv2d weight seen as a volume of depth 1
  batch_norm_weights<T> norm;
};

//! One bottleneck; `downsample.weight` is empty where the shortcut is the block's input itself.
template <class T>
struct bottleneck_parameters {
  conv_norm_parameters<T> conv1, conv2, conv3, downsample;
};

template <class T>
struct image_backbone_parameters {
  conv_norm_parameters<T> stem;                      //!< img_backbone.conv1 + bn1
  std::vector<bottleneck_parameters<T>> layers[3];   //!< img_backbone.layer1 … layer3
  qpn_conv_parameters<T> lateral, output;            //!< img_neck.lateral_convs.0.conv, img_neck.fpn_convs.0.conv
};

namespace detail {
inline std::string backbone_block_name(int layer, index_t block) {
  return "img_backbone.layer" + std::to_string(layer + 1) + "." + std::to_string(block) + ".";
}
}  // namespace detail

//! Every tensor of the image path for `config`, in the modules' registration order (with each BatchNorm's counter,
//! which a checkpoint has and inference never reads).
inline std::vector<parameter_spec> image_backbone_specs(const image_backbone_config& config) {
  config.validate();
  std::vector<parameter_spec> specs;
  auto conv = [&](const std::string& name, index_t out, index_t in, index_t k) {
    specs.push_back({name + ".weight", {out, in, k, k}});
  };
  auto norm = [&](const std::string& name, index_t channels) {
    for (const char* leaf : {".weight", ".bias", ".running_mean", ".running_var"})
      specs.push_back({name + leaf, {channels}});
    specs.push_back({name + ".num_batches_tracked", {}, false});
  };
  const index_t b = config.base_width, e = image_backbone_config::expansion;
  conv("img_backbone.conv1", b, 3, 7);
  norm("img_backbone.bn1", b);
  index_t in = b;
  for (int l = 0; l < 3; ++l) {
    const index_t planes = config.planes(l);
    for (index_t k = 0; k < config.blocks[static_cast<std::size_t>(l)]; ++k) {
      const std::string block = detail::backbone_block_name(l, k);
      conv(block + "conv1", planes, in, 1);
      norm(block + "bn1", planes);
      conv(block + "conv2", planes, planes, 3);
      norm(block + "bn2", planes);
      conv(block + "conv3", e * planes, planes, 1);
      norm(block + "bn3", e * planes);
      if (k == 0) {  // every layer's first block changes the width (and from layer2 on, the resolution)
        conv(block + "downsample.0", e * planes, in, 1);
        norm(block + "downsample.1", e * planes);
      }
      in = e * planes;
    }
  }
  const index_t c = config.neck_channels;
  conv("img_neck.lateral_convs.0.conv", c, in, 1);
  specs.push_back({"img_neck.lateral_convs.0.conv.bias", {c}});
  conv("img_neck.fpn_convs.0.conv", c, c, 3);
  specs.push_back({"img_neck.fpn_convs.0.conv.bias", {c}});
  return specs;
}

//! Calls `f(spec, view)` for every tensor inference reads — the views of `p` (an `image_backbone_parameters<T>`,
//! const or not, its layers sized for `config`) paired with their entries of `image_backbone_specs(config)` — so that
//! binding and checking walk the tensors in one place.
template <class Parameters, class F>
void for_each_image_backbone_tensor(const image_backbone_config& config, Parameters& p, F&& f) {
  const std::vector<parameter_spec> specs = image_backbone_specs(config);
  std::size_t next = 0;
  auto visit = [&](auto& view) {
    while (!specs.at(next).used) ++next;
    f(specs[next++], view);
  };
  auto conv_norm = [&](auto& c) {
    visit(c.weight);
    for (auto* v : {&c.norm.weight, &c.norm.bias, &c.norm.running_mean, &c.norm.running_var}) visit(*v);
  };
  conv_norm(p.stem);
  for (int l = 0; l < 3; ++l) {
    detail::require(p.layers[l].size() == static_cast<std::size_t>(config.blocks[static_cast<std::size_t>(l)]),
                    "voxformer::image_backbone_parameters: layer", l + 1, " has ", p.layers[l].size(),
                    " blocks, the configuration ", config.blocks[static_cast<std::size_t>(l)]);
    for (std::size_t k = 0; k < p.layers[l].size(); ++k) {
      auto& block = p.layers[l][k];
      conv_norm(block.conv1);
      conv_norm(block.conv2);
      conv_norm(block.conv3);
      if (k == 0) conv_norm(block.downsample);
    }
  }
  for (auto* c : {&p.lateral, &p.output}) {
    visit(c->weight);
    visit(c->bias);
  }
  while (next < specs.size() && !specs[next].used) ++next;
  detail::require(next == specs.size(), "voxformer::image_backbone_parameters: visited ", next, " of ", specs.size(),
                  " tensors");
}

//! The image path as a weights file holds it (the full names, as a VoxFormer checkpoint has them), for
//! `basic_parameter_store` (model/parameter_store.hpp).
struct image_backbone_checkpoint {
  using config_type = image_backbone_config;
  template <class T>
  using parameters_type = image_backbone_parameters<T>;

  static constexpr std::string_view prefix = "";

  static std::vector<parameter_spec> specs(const image_backbone_config& config) { return image_backbone_specs(config); }
  //! Tensors of a full checkpoint the image path never reads: the head (stage 2), and what the original backbone
  //! has beyond layer3 (layer4, computed and thrown away; a torchvision classifier's fc).
  static bool is_foreign(std::string_view name) {
    return name.starts_with(official_prefix) || name.starts_with("img_backbone.layer4.") ||
           name.starts_with("img_backbone.fc.");
  }

  static std::string describe(const image_backbone_config& c) {
    return "image backbone: base width " + std::to_string(c.base_width) + ", blocks " + std::to_string(c.blocks[0]) +
           "/" + std::to_string(c.blocks[1]) + "/" + std::to_string(c.blocks[2]) + ", neck " +
           std::to_string(c.neck_channels);
  }

  template <class T, class Lookup>
  static image_backbone_parameters<T> bind(const image_backbone_config& config, const Lookup& lookup,
                                               memory_space space = memory_space::host) {
    image_backbone_parameters<T> p;
    for (int l = 0; l < 3; ++l) p.layers[l].resize(static_cast<std::size_t>(config.blocks[static_cast<std::size_t>(l)]));
    for_each_image_backbone_tensor(config, p, [&](const parameter_spec& spec, auto& view) {
      using view_type = std::remove_cvref_t<decltype(view)>;
      if constexpr (view_type::rank == 5) view = view_type(lookup(spec), detail::conv_weight_extents(spec.shape), space);
      else view = view_type(lookup(spec), {spec.elements()}, space);
    });
    return p;
  }

  //! As stage 1's: He-scaled convolutions, BatchNorm statistics away from the identity.
  template <class T>
  static void initialise(std::span<T> values, const parameter_spec& spec, const image_backbone_config&,
                         std::mt19937_64& generator) {
    detail::initialise_convolutional(values, spec, generator);
  }
};

}  // namespace voxformer
