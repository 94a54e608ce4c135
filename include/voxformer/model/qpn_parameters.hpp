//! @file The query proposal network's parameters by their official state-dict names (LMSCNet_SS, no prefix, spec
//! §1.5): the tensors a configuration expects with their shapes, the struct the network reads, and the checkpoint
//! description `qpn_parameter_store` reads files and makes random weights with.
#pragma once

#include <array>
#include <cmath>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "voxformer/core/error.hpp"
#include "voxformer/core/tensor_view.hpp"
#include "voxformer/model/parameters.hpp"
#include "voxformer/model/qpn_config.hpp"
#include "voxformer/nn/convolution.hpp"

namespace voxformer {

//! A convolution's tensors as the checkpoint holds them: weight [out, in, kd, kh, kw] for 3-D, [out, in, kh, kw]
//! for 2-D seen as [out, in, 1, kh, kw] (an image is a volume of depth 1), [in, out, 1, kh, kw] for a transposed
//! one; the bias [out], empty where the layer has none.
template <class T>
struct qpn_conv_parameters {
  tensor_view<const T, 5> weight;
  tensor_view<const T, 1> bias;
};

template <class T>
struct qpn_parameters {
  qpn_conv_parameters<T> encoder[4][2];  //!< Encoder_block1.{0,2}, Encoder_block{2,3,4}.{1,3}
  qpn_conv_parameters<T> conv_out_scale_1_8, deconv_1_8__1_2, deconv1_8, conv1_4, conv_out_scale_1_4, deconv1_4,
      conv1_2, conv_out_scale_1_2;
  //! seg_head_1_2: conv0, three ASPP branches conv1[i] → bn1[i] → ReLU → conv2[i] → bn2[i], conv_classes.
  struct segmentation_head {
    qpn_conv_parameters<T> conv0, conv_classes;
    tensor_view<const T, 5> conv1[3], conv2[3];
    batch_norm_weights<T> bn1[3], bn2[3];
  } seg_head;
};

namespace detail {

//! The rank-5 view of a weight of `shape`: a 2-D kernel [a, b, kh, kw] gains a depth axis of 1, [a, b, 1, kh, kw].
inline std::array<index_t, 5> conv_weight_extents(const std::vector<index_t>& shape) {
  if (shape.size() == 4) return {shape[0], shape[1], 1, shape[2], shape[3]};
  require(shape.size() == 5, "voxformer::qpn_parameters: a convolution weight of rank ", shape.size());
  return {shape[0], shape[1], shape[2], shape[3], shape[4]};
}

//! Random values for a tensor of a convolutional network like a trained one's: convolution weights He-scaled by
//! their fan-in (activations keep their size through the depth), small biases and BatchNorm shifts and means, BatchNorm
//! scales near 1 and running variances around 1 (away from the identity, so that folding them is exercised).
template <class T>
void initialise_convolutional(std::span<T> values, const parameter_spec& spec, std::mt19937_64& generator) {
  std::normal_distribution<double> normal;
  const std::string leaf = spec.name.substr(spec.name.rfind('.') + 1);
  index_t fan_in = 1;
  for (std::size_t d = 1; d < spec.shape.size(); ++d) fan_in *= spec.shape[d];
  for (auto& v : values) {
    const double n = normal(generator);
    double value = 0.1 * n;  // biases, BatchNorm shifts and means
    if (leaf == "weight" && spec.shape.size() > 1) value = n * std::sqrt(2.0 / static_cast<double>(fan_in));
    else if (leaf == "weight") value = 1.0 + 0.1 * n;  // BatchNorm scale
    else if (leaf == "running_var") value = std::exp(0.2 * n);
    v = static_cast<T>(value);
  }
}

inline std::string qpn_encoder_name(int block, int conv) {
  // Block 1 has no pooling in front: its convolutions are entries 0 and 2, the others' 1 and 3.
  return "Encoder_block" + std::to_string(block + 1) + "." + std::to_string(2 * conv + (block == 0 ? 0 : 1));
}

}  // namespace detail

//! Every tensor of LMSCNet_SS (out_scale "1_2") for `config`, in the module's registration order. The two
//! full-resolution decoders (`deconv_1_8__1_1`, `deconv_1_4__1_1`) and the BatchNorm counters exist in a
//! checkpoint but are never read.
inline std::vector<parameter_spec> qpn_parameter_specs(const qpn_config& config) {
  config.validate();
  const index_t f = config.height(), o8 = config.out_1_8(), o4 = config.out_1_4(), o2 = config.out_1_2();
  const index_t planes = qpn_config::head_planes;
  std::vector<parameter_spec> specs;
  auto conv2d = [&](const std::string& name, index_t out, index_t in, index_t k, bool used = true) {
    specs.push_back({name + ".weight", {out, in, k, k}, used});
    specs.push_back({name + ".bias", {out}, used});
  };
  auto conv3d = [&](const std::string& name, index_t out, index_t in, bool bias) {
    specs.push_back({name + ".weight", {out, in, 3, 3, 3}});
    if (bias) specs.push_back({name + ".bias", {out}});
  };
  auto norm = [&](const std::string& name) {
    for (const char* leaf : {".weight", ".bias", ".running_mean", ".running_var"})
      specs.push_back({name + leaf, {planes}});
    specs.push_back({name + ".num_batches_tracked", {}, false});
  };
  for (int b = 0; b < 4; ++b) {
    const index_t in = b == 0 ? f : config.encoder_channels(b), out = config.encoder_channels(b + 1);
    conv2d(detail::qpn_encoder_name(b, 0), out, in, 3);
    conv2d(detail::qpn_encoder_name(b, 1), out, out, 3);
  }
  // Transposed convolutions hold their weight as [in, out, kh, kw]; in = out for all of them.
  conv2d("conv_out_scale_1_8", o8, config.encoder_channels(4), 3);
  conv2d("deconv_1_8__1_2", o8, o8, 4);
  conv2d("deconv_1_8__1_1", o8, o8, 8, false);
  conv2d("deconv1_8", o8, o8, 6);
  conv2d("conv1_4", config.encoder_channels(3), config.encoder_channels(3) + o8, 3);
  conv2d("conv_out_scale_1_4", o4, config.encoder_channels(3), 3);
  conv2d("deconv_1_4__1_1", o4, o4, 4, false);
  conv2d("deconv1_4", o4, o4, 6);
  conv2d("conv1_2", config.encoder_channels(2), config.encoder_channels(2) + o4 + o8, 3);
  conv2d("conv_out_scale_1_2", o2, config.encoder_channels(2), 3);
  conv3d("seg_head_1_2.conv0", planes, 1, true);
  for (int i = 0; i < 3; ++i) conv3d("seg_head_1_2.conv1." + std::to_string(i), planes, planes, false);
  for (int i = 0; i < 3; ++i) norm("seg_head_1_2.bn1." + std::to_string(i));
  for (int i = 0; i < 3; ++i) conv3d("seg_head_1_2.conv2." + std::to_string(i), planes, planes, false);
  for (int i = 0; i < 3; ++i) norm("seg_head_1_2.bn2." + std::to_string(i));
  conv3d("seg_head_1_2.conv_classes", qpn_config::classes, planes, true);
  return specs;
}

//! Calls `f(spec, view)` for every tensor inference reads — the views of `p` (a `qpn_parameters<T>`, const or not)
//! paired with their entries of `qpn_parameter_specs(config)`, in that order — so that binding and checking walk
//! the tensors in one place.
template <class Parameters, class F>
void for_each_qpn_tensor(const qpn_config& config, Parameters& p, F&& f) {
  const std::vector<parameter_spec> specs = qpn_parameter_specs(config);
  std::size_t next = 0;
  auto visit = [&](auto& view) {
    while (!specs.at(next).used) ++next;
    f(specs[next++], view);
  };
  auto conv = [&](auto& c) {
    visit(c.weight);
    visit(c.bias);
  };
  auto norm = [&](auto& n) {
    for (auto* v : {&n.weight, &n.bias, &n.running_mean, &n.running_var}) visit(*v);
  };
  for (auto& block : p.encoder)
    for (auto& c : block) conv(c);
  for (auto* c : {&p.conv_out_scale_1_8, &p.deconv_1_8__1_2, &p.deconv1_8, &p.conv1_4, &p.conv_out_scale_1_4,
                  &p.deconv1_4, &p.conv1_2, &p.conv_out_scale_1_2})
    conv(*c);
  auto& head = p.seg_head;
  conv(head.conv0);
  for (auto& w : head.conv1) visit(w);
  for (auto& n : head.bn1) norm(n);
  for (auto& w : head.conv2) visit(w);
  for (auto& n : head.bn2) norm(n);
  conv(head.conv_classes);
  while (next < specs.size() && !specs[next].used) ++next;
  detail::require(next == specs.size(), "voxformer::qpn_parameters: visited ", next, " of ", specs.size(), " tensors");
}

//! LMSCNet_SS as a weights file holds it, for `basic_parameter_store` (model/parameter_store.hpp).
struct qpn_checkpoint {
  using config_type = qpn_config;
  template <class T>
  using parameters_type = qpn_parameters<T>;

  static constexpr std::string_view prefix = "";

  static std::vector<parameter_spec> specs(const qpn_config& config) { return qpn_parameter_specs(config); }
  static bool is_foreign(std::string_view) { return false; }

  static std::string describe(const qpn_config& c) {
    return "query proposal network: grid " + std::to_string(c.grid[0]) + "x" + std::to_string(c.grid[1]) + "x" +
           std::to_string(c.grid[2]);
  }

  //! Binds `lookup(spec)` (contiguous values of `spec.shape`) for every used tensor.
  template <class T, class Lookup>
  static qpn_parameters<T> bind(const qpn_config& config, const Lookup& lookup, memory_space space = memory_space::host) {
    qpn_parameters<T> p;
    for_each_qpn_tensor(config, p, [&](const parameter_spec& spec, auto& view) {
      using view_type = std::remove_cvref_t<decltype(view)>;
      if constexpr (view_type::rank == 5) view = view_type(lookup(spec), detail::conv_weight_extents(spec.shape), space);
      else view = view_type(lookup(spec), {spec.elements()}, space);
    });
    return p;
  }

  //! He-scaled convolution weights (so that activations keep their size through the depth), small biases, and
  //! BatchNorm statistics away from the identity (so that folding them is exercised).
  template <class T>
  static void initialise(std::span<T> values, const parameter_spec& spec, const qpn_config&,
                         std::mt19937_64& generator) {
    detail::initialise_convolutional(values, spec, generator);
  }
};

}  // namespace voxformer
