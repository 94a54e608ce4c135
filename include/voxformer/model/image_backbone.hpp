//! @file The image path of VoxFormer (spec §3.1) for one image: the crop normalised to [3, 1, h, w], ResNet-50's stem
//! (7×7/2 convolution, BatchNorm, ReLU, 3×3/2 max-pool), layer1 … layer3 of bottlenecks, and the FPN neck (a 1×1
//! lateral and a 3×3 output convolution, with biases) — 370 × 1220 pixels to features [128, 24, 77]. Layer4, which
//! the original computes and throws away, is not computed.
//!
//! Weights are packed once at construction, every BatchNorm folded into its convolution (scale into the weights,
//! shift into the bias). A bottleneck is three convolution layers: 1×1 (+ReLU), 3×3 with the block's stride (+ReLU),
//! and 1×1 whose epilogue adds the shortcut and applies the ReLU — the block's input as the residual, or, where the
//! block downsamples, the strided 1×1 downsampling convolution as a second term of the same GEMM (so the shortcut is
//! never written out). Activations live in four buffers sized once for the largest stage.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "voxformer/core/workspace.hpp"
#include "voxformer/model/image_backbone_config.hpp"
#include "voxformer/model/image_backbone_parameters.hpp"
#include "voxformer/nn/convolution.hpp"
#include "voxformer/nn/max_pool.hpp"
#include "voxformer/ops/common/validate_and_run.hpp"

namespace voxformer {

template <class T>
class image_backbone {
 public:
  //! The names `run` reports its stages by, in order; each is the stage's output [C, 1, h, w] (the fixture names of the
  //! PyTorch reference, tests/reference/image_backbone_reference.py).
  static constexpr std::array<std::string_view, 7> stage_names = {"stem",   "pool",    "layer1",  "layer2",
                                                                  "layer3", "lateral", "features"};

  //! Packs every layer into `persistent` (or, when it only sizes, counts the bytes that takes).
  template <class Executor>
  image_backbone(const Executor& executor, const image_backbone_config& config, const image_backbone_parameters<T>& p,
                 workspace& persistent)
      : config_(config) {
    config_.validate();
    auto folded = [&](const conv_norm_parameters<T>& c, conv_window window) {
      const auto [scale, shift] = fold_batch_norm(executor, c.norm, {}, persistent);
      return conv_term_source<T>{c.weight, window, scale, shift};
    };
    stem_ = prepare_conv(executor, {folded(p.stem, conv_window::planar(7, 2, 3))}, persistent);
    for (int l = 0; l < 3; ++l) {
      const index_t stride = l == 0 ? 1 : 2;
      for (std::size_t k = 0; k < p.layers[l].size(); ++k) {
        const auto& b = p.layers[l][k];
        auto& block = blocks_[l].emplace_back();
        block.reduce = prepare_conv(executor, {folded(b.conv1, conv_window::planar(1))}, persistent);
        block.spatial =
            prepare_conv(executor, {folded(b.conv2, conv_window::planar(3, k == 0 ? stride : 1, 1))}, persistent);
        if (k == 0)
          block.expand = prepare_conv(executor,
                                      {folded(b.conv3, conv_window::planar(1)),
                                       folded(b.downsample, conv_window::planar(1, stride, 0))},
                                      persistent);
        else block.expand = prepare_conv(executor, {folded(b.conv3, conv_window::planar(1))}, persistent);
      }
    }
    lateral_ = prepare_conv(executor, {conv_term_source<T>{p.lateral.weight, conv_window::planar(1), {}, p.lateral.bias}},
                            persistent);
    output_ = prepare_conv(executor, {conv_term_source<T>{p.output.weight, conv_window::planar(3), {}, p.output.bias}},
                           persistent);
  }

  template <class Executor>
  static std::size_t derived_bytes(const Executor& executor, const image_backbone_config& config,
                                   const image_backbone_parameters<T>& p) {
    workspace sizing;
    image_backbone(executor, config, p, sizing);
    return sizing.used();
  }

  //! Bytes of one image's buffers.
  std::size_t frame_bytes() const {
    workspace sizing;
    buffers b;
    carve(sizing, b);
    return sizing.used();
  }

  //! Bytes of the convolutions' scratch for `chunk_voxels` output pixels per chunk.
  std::size_t scratch_bytes(index_t chunk_voxels) const {
    std::size_t bytes = conv_workspace_bytes(stem_, chunk_voxels);
    for (const auto& layer : blocks_)
      for (const auto& b : layer)
        for (const auto* w : {&b.reduce, &b.spatial, &b.expand}) bytes = std::max(bytes, conv_workspace_bytes(*w, chunk_voxels));
    for (const auto* w : {&lateral_, &output_}) bytes = std::max(bytes, conv_workspace_bytes(*w, chunk_voxels));
    return bytes;
  }

  //! Takes one image's buffers from `frame` (`frame_bytes`) and the scratch from `scratch` (`scratch_bytes`).
  void attach(workspace frame, workspace scratch, index_t chunk_voxels) {
    carve(frame, buffers_);
    scratch_ = scratch;
    chunk_voxels_ = chunk_voxels;
  }

  //! A buffer for the normalised crop [3, 1, h, w], for a caller that makes it from an 8-bit image.
  tensor_view<T, 4> input() const { return buffers_.input; }
  //! The features' shape [neck channels, 1, h', w']: the crop halved (rounding up) four times.
  std::array<index_t, 4> feature_extents() const {
    const auto [h, w] = config_.feature_shape();
    return {config_.neck_channels, 1, h, w};
  }

  //! One image from `input` [3, 1, h, w] (normalised: `input()`, or the caller's) to `features` [neck channels, 1,
  //! h', w'] (the caller's); `stage(name, output)` is called after each of `stage_names`.
  template <class Executor, class Stage>
  void run(const Executor& executor, const tensor_view<const T, 4>& input, const tensor_view<T, 4>& features,
           const Stage& stage) {
    detail::require(!scratch_.sizing(), "voxformer::image_backbone::run: no frame memory attached");
    auto conv = [&](const conv_weights<T>& w, std::initializer_list<tensor_view<const T, 4>> inputs,
                    const tensor_view<T, 4>& out, bool relu, const tensor_view<const T, 4>& residual = {}) {
      conv_arguments<T> args{w, {}, out, residual, relu, chunk_voxels_};
      std::size_t t = 0;
      for (const auto& in : inputs) args.inputs[t++] = in;
      validate_and_run(executor, args, scratch_);
    };
    std::size_t s = 0;
    auto done = [&](const tensor_view<T, 4>& output) { stage(stage_names[s++], tensor_view<const T, 4>(output)); };
    const auto& b = buffers_;
    auto [h, w] = std::array<index_t, 2>{config_.crop[0], config_.crop[1]};
    h = image_backbone_config::halve(h), w = image_backbone_config::halve(w);
    const auto stem = b.view(0, config_.base_width, h, w);
    conv(stem_, {input}, stem, true);
    done(stem);
    h = image_backbone_config::halve(h), w = image_backbone_config::halve(w);
    auto x = b.view(1, config_.base_width, h, w);
    max_pool<T>(executor, tensor_view<const T, 4>(stem), pool_window{{1, 3, 3}, {1, 2, 2}, {0, 1, 1}}, x);
    done(x);
    int current = 1;  // which of the two block buffers holds x
    for (int l = 0; l < 3; ++l) {
      for (std::size_t k = 0; k < blocks_[l].size(); ++k) {
        const auto& block = blocks_[l][k];
        const index_t planes = config_.planes(l);
        const auto reduced = b.view(2, planes, h, w);
        conv(block.reduce, {x}, reduced, true);
        if (k == 0 && l > 0) h = image_backbone_config::halve(h), w = image_backbone_config::halve(w);
        const auto spatial = b.view(3, planes, h, w);
        conv(block.spatial, {reduced}, spatial, true);
        const auto out = b.view(1 - current, config_.layer_channels(l), h, w);
        if (k == 0) conv(block.expand, {spatial, x}, out, true);
        else conv(block.expand, {spatial}, out, true, x);
        x = out;
        current = 1 - current;
      }
      done(x);
    }
    const auto lateral = b.view(2, config_.neck_channels, h, w);
    conv(lateral_, {x}, lateral, false);
    done(lateral);
    conv(output_, {lateral}, features, false);
    done(features);
  }

  const image_backbone_config& config() const { return config_; }

 private:
  struct bottleneck {
    conv_weights<T> reduce, spatial, expand;  // conv1, conv2, conv3 (+ the downsampling shortcut as a second term)
  };

  //! The normalised input, and four activation buffers reused stage after stage: 0 and 1 hold a block's input and
  //! output in turn (the stem's output and the pooled image first), 2 and 3 its two inner activations (and the
  //! neck's lateral output).
  struct buffers {
    tensor_view<T, 4> input;
    T* memory[4] = {};
    tensor_view<T, 4> view(int buffer, index_t channels, index_t h, index_t w) const {
      return tensor_view<T, 4>(memory[buffer], {channels, 1, h, w}, input.space());
    }
  };

  template <class Memory>
  void carve(Memory& m, buffers& b) const {
    b.input = m.template take_view<T, 4>({3, 1, config_.crop[0], config_.crop[1]});
    // The largest each buffer holds over the stages, by walking the network's shapes.
    index_t largest[4] = {};
    auto hold = [&](int buffer, index_t channels, index_t h, index_t w) {
      largest[buffer] = std::max(largest[buffer], channels * h * w);
    };
    index_t h = image_backbone_config::halve(config_.crop[0]), w = image_backbone_config::halve(config_.crop[1]);
    hold(0, config_.base_width, h, w);
    h = image_backbone_config::halve(h), w = image_backbone_config::halve(w);
    hold(1, config_.base_width, h, w);
    for (int l = 0; l < 3; ++l) {
      hold(2, config_.planes(l), h, w);
      if (l > 0) h = image_backbone_config::halve(h), w = image_backbone_config::halve(w);
      hold(3, config_.planes(l), h, w);
      for (int buffer : {0, 1}) hold(buffer, config_.layer_channels(l), h, w);
    }
    hold(2, config_.neck_channels, h, w);
    for (int buffer = 0; buffer < 4; ++buffer) b.memory[buffer] = m.template take<T>(largest[buffer]);
  }

  image_backbone_config config_;
  conv_weights<T> stem_, lateral_, output_;
  std::vector<bottleneck> blocks_[3];
  buffers buffers_;
  workspace scratch_{};
  index_t chunk_voxels_ = 0;
};

}  // namespace voxformer
