//! @file The checks a pipeline makes of the parameter views it is built from — a caller may bind them from
//! anywhere, so each must have its configuration's shape, data behind it (not a null pointer) and a layout the
//! executor can read — for stage 2 + head (`model_parameters`), stage 1 (`qpn_parameters`) and the image path
//! (`image_backbone_parameters`).
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <type_traits>

#include "voxformer/core/memory_space.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/model/config.hpp"
#include "voxformer/model/image_backbone_parameters.hpp"
#include "voxformer/model/parameters.hpp"
#include "voxformer/model/qpn_config.hpp"
#include "voxformer/model/qpn_parameters.hpp"

namespace voxformer {

//! One parameter view: a layout whose offsets fit (as `as_view` checks), data behind it, the expected shape, and
//! memory the executor can access.
template <class Executor, class T, int Rank>
void expect_parameter(std::string_view op, std::string_view name, const Executor& executor,
                      const tensor_view<T, Rank>& view, const std::type_identity_t<std::array<index_t, Rank>>& shape) {
  expect_shape(op, name, "(configuration)", view, shape);
  detail::checked_layout(view, op, name);
  expect_accessible(op, name, executor, view);
}

//! Every view of stage 2 + head against `config`.
template <class Executor, class T>
void check_model_parameters(const char* op, const Executor& executor, const model_config& config,
                            const model_parameters<T>& p) {
  const index_t c = config.embed_dims;
  expect_parameter(op, "bev_embed", executor, p.bev_embed, {config.voxels(), c});
  expect_parameter(op, "mask_embed", executor, p.mask_embed, {c});
  expect_parameter(op, "row_embed", executor, p.row_embed, {config.view_shape[0], c / 2});
  expect_parameter(op, "col_embed", executor, p.col_embed, {config.view_shape[1], c / 2});
  expect_parameter(op, "level_embeds", executor, p.level_embeds, {config.level_embed_rows, c});
  expect_parameter(op, "cams_embeds", executor, p.cams_embeds, {config.cameras, c});
  detail::require(static_cast<index_t>(p.cross.size()) == config.layers_cross &&
                      static_cast<index_t>(p.self.size()) == config.layers_self,
                  op, ": the parameters have ", p.cross.size(), " cross and ", p.self.size(),
                  " self layers, the configuration ", config.layers_cross, " and ", config.layers_self);
  const index_t cross_samples = config.heads * config.levels() * config.points_cross;
  const index_t self_samples = config.heads * 2 * config.points_self;
  auto expect_linear = [&](const std::string& name, const linear_weights<T>& w, index_t out, index_t in) {
    expect_parameter(op, name + ".weight", executor, w.weight, {out, in});
    expect_parameter(op, name + ".bias", executor, w.bias, {out});
  };
  auto expect_norm = [&](const std::string& name, const layer_norm_weights<T>& norm) {
    expect_parameter(op, name + ".weight", executor, norm.weight, {c});
    expect_parameter(op, name + ".bias", executor, norm.bias, {c});
  };
  auto expect_layer = [&](const std::string& layer, const auto& w, index_t offsets, index_t weights, index_t in) {
    expect_linear(layer + "sampling_offsets", w.sampling_offsets, offsets, in);
    expect_linear(layer + "attention_weights", w.attention_weights, weights, in);
    expect_linear(layer + "value_proj", w.value_proj, c, c);
    expect_linear(layer + "output_proj", w.output_proj, c, c);
    expect_linear(layer + "ffn.fc1", w.ffn.fc1, config.ffn_hidden, c);
    expect_linear(layer + "ffn.fc2", w.ffn.fc2, c, config.ffn_hidden);
    expect_norm(layer + "norm_attention", w.norm_attention);
    expect_norm(layer + "norm_ffn", w.norm_ffn);
  };
  for (std::size_t l = 0; l < p.cross.size(); ++l)
    expect_layer("cross[" + std::to_string(l) + "].", p.cross[l], 2 * cross_samples, cross_samples, c);
  for (std::size_t l = 0; l < p.self.size(); ++l)
    expect_layer("self[" + std::to_string(l) + "].", p.self[l], config.self_dims() * self_samples, self_samples, 2 * c);
  expect_norm("head_norm", p.head_norm);
  expect_linear("head_classifier", p.head_classifier, config.classes, c);
}

namespace detail {

//! Checks one view of a convolutional network against its spec (a weight of rank 5 is the spec's shape seen as a
//! volume), and that a BatchNorm's running variance is not negative (folding it would turn every output into NaN).
template <class Executor>
auto spec_checks(const char* op, const Executor& executor) {
  return [op, &executor](const parameter_spec& spec, const auto& view) {
    if constexpr (std::remove_cvref_t<decltype(view)>::rank == 5)
      expect_parameter(op, spec.name, executor, view, conv_weight_extents(spec.shape));
    else expect_parameter(op, spec.name, executor, view, {spec.elements()});
    if (spec.name.ends_with("running_var") && host_accessible(view.space()))
      for (index_t c = 0; c < view.size(); ++c)
        require(view.at_flat(c) >= 0, op, ": argument '", spec.name, "' holds the negative variance ", view.at_flat(c),
                " at element ", c);
  };
}

}  // namespace detail

//! Every view of stage 1 against `config`, by its official name.
template <class Executor, class T>
void check_qpn_parameters(const char* op, const Executor& executor, const qpn_config& config,
                          const qpn_parameters<T>& p) {
  for_each_qpn_tensor(config, p, detail::spec_checks(op, executor));
}

//! Every view of the image path against `config`, by its official name.
template <class Executor, class T>
void check_image_backbone_parameters(const char* op, const Executor& executor, const image_backbone_config& config,
                                     const image_backbone_parameters<T>& p) {
  for_each_image_backbone_tensor(config, p, detail::spec_checks(op, executor));
}

}  // namespace voxformer
