//! @file Stage 1, the query proposal network (LMSCNet_SS with out_scale "1_2", spec §2.5), in PyTorch's own
//! channels-first layouts: the occupancy grid [X][Y][Z] becomes the 2-D image [Z, 1, X, Y] (channels = the Z height
//! slices, rows x, columns y); a 2-D encoder (four blocks of two 3×3 convolutions, max-pooling between them) and
//! decoder (transposed convolutions, skip concatenations) bring it to f/2 channels at half resolution, which the
//! 3-D segmentation head reads as a one-channel volume [1, Z/2, X/2, Y/2] (its (D, H, W) = (z, x, y)) and
//! classifies into empty / occupied.
//!
//! Weights are packed once at construction (BatchNorm folded into the ASPP convolutions); a concatenation is
//! never materialised (the convolution after it sums one term per part), nor are the three ASPP branches summed
//! separately (one GEMM over their concatenated columns, with the residual and ReLU in its epilogue).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <string_view>

#include "voxformer/core/workspace.hpp"
#include "voxformer/model/qpn_config.hpp"
#include "voxformer/model/qpn_parameters.hpp"
#include "voxformer/nn/conv_transpose.hpp"
#include "voxformer/nn/convolution.hpp"
#include "voxformer/nn/max_pool.hpp"
#include "voxformer/ops/common/copy.hpp"
#include "voxformer/ops/common/validate_and_run.hpp"

namespace voxformer {

namespace detail {

//! Input channels [first, first + count) of a weight [out, in, k…]: one term of a convolution over a concatenation.
template <class T>
tensor_view<const T, 5> input_channels(const tensor_view<const T, 5>& weight, index_t first, index_t count) {
  return tensor_view<const T, 5>(
      weight.data() + first * weight.stride(1),
      {weight.extent(0), count, weight.extent(2), weight.extent(3), weight.extent(4)},
      {weight.stride(0), weight.stride(1), weight.stride(2), weight.stride(3), weight.stride(4)}, weight.space());
}

}  // namespace detail

template <class T>
class query_proposal_network {
 public:
  //! The names `run` reports its stages by, in order; each is the stage's output (the fixture names of the
  //! PyTorch reference, tests/reference/qpn_reference.py).
  static constexpr std::array<std::string_view, 10> stage_names = {
      "skip_1_1", "skip_1_2", "skip_1_4", "skip_1_8", "out_1_8", "out_1_4", "out_1_2", "seg_a", "seg_h", "logits"};

  //! Packs every layer into `persistent` (or, when it only sizes, counts the bytes that takes).
  template <class Executor>
  query_proposal_network(const Executor& executor, const qpn_config& config, const qpn_parameters<T>& p,
                         workspace& persistent)
      : config_(config) {
    config_.validate();
    const conv_window planar = conv_window::planar(3);
    auto conv2d = [&](const qpn_conv_parameters<T>& c) {
      return prepare_conv(executor, {conv_term_source<T>{c.weight, planar, {}, c.bias}}, persistent);
    };
    for (int b = 0; b < 4; ++b)
      for (int c = 0; c < 2; ++c) encoder_[b][c] = conv2d(p.encoder[b][c]);
    out_1_8_ = conv2d(p.conv_out_scale_1_8);
    out_1_4_ = conv2d(p.conv_out_scale_1_4);
    out_1_2_ = conv2d(p.conv_out_scale_1_2);
    const index_t o8 = config_.out_1_8(), o4 = config_.out_1_4(), e2 = config_.encoder_channels(2),
                  e3 = config_.encoder_channels(3);
    // The decoder's concatenations [deconv1_8(o8) ; skip_1_4] and [deconv1_4(o4) ; skip_1_2 ; deconv_1_8__1_2(o8)].
    const auto& w14 = p.conv1_4.weight;
    conv1_4_ = prepare_conv(executor,
                            {conv_term_source<T>{detail::input_channels(w14, 0, o8), planar, {}, p.conv1_4.bias},
                             conv_term_source<T>{detail::input_channels(w14, o8, e3), planar}},
                            persistent);
    const auto& w12 = p.conv1_2.weight;
    conv1_2_ = prepare_conv(executor,
                            {conv_term_source<T>{detail::input_channels(w12, 0, o4), planar, {}, p.conv1_2.bias},
                             conv_term_source<T>{detail::input_channels(w12, o4, e2), planar},
                             conv_term_source<T>{detail::input_channels(w12, o4 + e2, o8), planar}},
                            persistent);
    deconv1_8_ = owned_transposed(executor, p.deconv1_8, persistent);
    deconv1_4_ = owned_transposed(executor, p.deconv1_4, persistent);
    deconv_1_8__1_2_ = owned_transposed(executor, p.deconv_1_8__1_2, persistent);

    const auto& head = p.seg_head;
    const conv_window cube = conv_window::cubic(3);
    head_conv0_ =
        prepare_conv(executor, {conv_term_source<T>{head.conv0.weight, cube, {}, head.conv0.bias}}, persistent);
    head_classes_ = prepare_conv(
        executor, {conv_term_source<T>{head.conv_classes.weight, cube, {}, head.conv_classes.bias}}, persistent);
    std::array<conv_term_source<T>, 3> second;
    for (int i = 0; i < 3; ++i) {
      const conv_window dilated = conv_window::cubic(3, qpn_config::dilations[i]);
      const auto [scale1, shift1] = fold_batch_norm(executor, head.bn1[i], {}, persistent);
      head_first_[i] =
          prepare_conv(executor, {conv_term_source<T>{head.conv1[i], dilated, scale1, shift1}}, persistent);
      const auto [scale2, shift2] = fold_batch_norm(executor, head.bn2[i], {}, persistent);
      second[static_cast<std::size_t>(i)] = {head.conv2[i], dilated, scale2, shift2};
    }
    head_second_ = prepare_conv(executor, {second[0], second[1], second[2]}, persistent);
  }

  template <class Executor>
  static std::size_t derived_bytes(const Executor& executor, const qpn_config& config, const qpn_parameters<T>& p) {
    workspace sizing;
    query_proposal_network(executor, config, p, sizing);
    return sizing.used();
  }

  //! Bytes of one frame's buffers.
  std::size_t frame_bytes() const {
    workspace sizing;
    buffers b;
    carve(sizing, b);
    return sizing.used();
  }

  //! Bytes of the convolutions' scratch for `chunk_voxels` output voxels per chunk.
  std::size_t scratch_bytes(index_t chunk_voxels) const {
    std::size_t bytes = 0;
    auto widest = [&](const conv_weights<T>& w) { bytes = std::max(bytes, conv_workspace_bytes(w, chunk_voxels)); };
    for (const auto& block : encoder_)
      for (const auto& c : block) widest(c);
    for (const auto* w :
         {&out_1_8_, &conv1_4_, &out_1_4_, &conv1_2_, &out_1_2_, &head_conv0_, &head_second_, &head_classes_})
      widest(*w);
    for (const auto& w : head_first_) widest(w);
    return bytes;
  }

  //! Takes one frame's buffers from `frame` (`frame_bytes`) and the scratch from `scratch` (`scratch_bytes`).
  void attach(workspace frame, workspace scratch, index_t chunk_voxels) {
    carve(frame, buffers_);
    scratch_ = scratch;
    chunk_voxels_ = chunk_voxels;
  }

  //! The input the caller fills before `run`: the occupancy grid as the image [Z, 1, X, Y] (channels = Z).
  tensor_view<T, 4> input() const { return buffers_.input; }
  //! The logits after `run`: [2, Z/2, X/2, Y/2] (class 1 = occupied).
  tensor_view<const T, 4> logits() const { return buffers_.logits; }

  //! One frame from `input()` to `logits()`; `stage(name, output)` is called after each of `stage_names`.
  template <class Executor, class Stage>
  void run(const Executor& executor, const Stage& stage) {
    detail::require(!scratch_.sizing(), "voxformer::query_proposal_network::run: no frame memory attached");
    auto& b = buffers_;
    std::size_t s = 0;
    auto done = [&](const tensor_view<T, 4>& output) { stage(stage_names[s++], tensor_view<const T, 4>(output)); };
    auto conv = [&](const conv_weights<T>& w, std::initializer_list<tensor_view<T, 4>> inputs,
                    const tensor_view<T, 4>& out, bool relu, const tensor_view<T, 4>& residual = {}) {
      conv_arguments<T> args{w, {}, out, residual, relu, chunk_voxels_};
      std::size_t t = 0;
      for (const auto& in : inputs) args.inputs[t++] = in;
      validate_and_run(executor, args, scratch_);
    };
    // Encoder: (pool), conv + ReLU, conv + ReLU per block.
    const tensor_view<T, 4> block_inputs[4] = {b.input, b.pooled[0], b.pooled[1], b.pooled[2]};
    for (int k = 0; k < 4; ++k) {
      if (k > 0) max_pool<T>(executor, tensor_view<const T, 4>(b.skip[k - 1]), pool_window::blocks({1, 2, 2}),
                             b.pooled[k - 1]);
      conv(encoder_[k][0], {block_inputs[k]}, b.hidden[k], true);
      conv(encoder_[k][1], {b.hidden[k]}, b.skip[k], true);
      done(b.skip[k]);
    }
    // Decoder.
    conv(out_1_8_, {b.skip[3]}, b.out_1_8, false);
    done(b.out_1_8);
    conv_transpose(executor, tensor_view<const T, 4>(b.out_1_8), deconv1_8_, double_size, b.up_1_8);
    conv(conv1_4_, {b.up_1_8, b.skip[2]}, b.decoded_1_4, true);
    conv(out_1_4_, {b.decoded_1_4}, b.out_1_4, false);
    done(b.out_1_4);
    conv_transpose(executor, tensor_view<const T, 4>(b.out_1_4), deconv1_4_, double_size, b.up_1_4);
    conv_transpose(executor, tensor_view<const T, 4>(b.out_1_8), deconv_1_8__1_2_, quadruple_size, b.up_1_8_to_1_2);
    conv(conv1_2_, {b.up_1_4, b.skip[1], b.up_1_8_to_1_2}, b.decoded_1_2, true);
    conv(out_1_2_, {b.decoded_1_2}, b.out_1_2, false);
    done(b.out_1_2);
    // The 3-D head reads the f/2 channels of the 1:2 image [f/2, 1, X/2, Y/2] as the depth of a one-channel volume.
    const auto grid = config_.output_grid();
    const tensor_view<T, 4> volume(b.out_1_2.data(), {1, grid[2], grid[0], grid[1]}, b.out_1_2.space());
    conv(head_conv0_, {volume}, b.seg_a, true);
    done(b.seg_a);
    for (int i = 0; i < 3; ++i) conv(head_first_[i], {b.seg_a}, b.branch[i], true);
    conv(head_second_, {b.branch[0], b.branch[1], b.branch[2]}, b.seg_h, true, b.seg_a);
    done(b.seg_h);
    conv(head_classes_, {b.seg_h}, b.logits, false);
    done(b.logits);
  }

  const qpn_config& config() const { return config_; }

 private:
  //! `view` copied into `persistent` (the network keeps nothing that points into the caller's parameters).
  template <class Executor, int Rank>
  static tensor_view<const T, Rank> owned_copy(const Executor& executor, const tensor_view<const T, Rank>& view,
                                               workspace& persistent) {
    const auto target = persistent.take_view<T, Rank>(view.extents());
    if (!persistent.sizing()) copy(executor, view, target);
    return target;
  }

  template <class Executor>
  static conv_transpose_weights<T> owned_transposed(const Executor& executor, const qpn_conv_parameters<T>& c,
                                                    workspace& persistent) {
    return {owned_copy(executor, c.weight, persistent), owned_copy(executor, c.bias, persistent)};
  }

  struct buffers {
    tensor_view<T, 4> input, pooled[3], hidden[4], skip[4], out_1_8, up_1_8, decoded_1_4, out_1_4, up_1_4,
        up_1_8_to_1_2, decoded_1_2, out_1_2, seg_a, branch[3], seg_h, logits;
  };

  template <class Memory>
  void carve(Memory& m, buffers& b) const {
    const auto& g = config_.grid;
    auto image = [&](int scale, index_t channels) {  // [channels, 1, X/2^s, Y/2^s]
      return m.template take_view<T, 4>({channels, 1, g[0] >> scale, g[1] >> scale});
    };
    const index_t f = config_.height();
    b.input = image(0, f);
    for (int k = 0; k < 4; ++k) {
      if (k > 0) b.pooled[k - 1] = image(k, config_.encoder_channels(k));
      b.hidden[k] = image(k, config_.encoder_channels(k + 1));
      b.skip[k] = image(k, config_.encoder_channels(k + 1));
    }
    b.out_1_8 = image(3, config_.out_1_8());
    b.up_1_8 = image(2, config_.out_1_8());
    b.decoded_1_4 = image(2, config_.encoder_channels(3));
    b.out_1_4 = image(2, config_.out_1_4());
    b.up_1_4 = image(1, config_.out_1_4());
    b.up_1_8_to_1_2 = image(1, config_.out_1_8());
    b.decoded_1_2 = image(1, config_.encoder_channels(2));
    b.out_1_2 = image(1, config_.out_1_2());
    const auto grid = config_.output_grid();
    auto volume = [&](index_t channels) {  // [channels, Z/2, X/2, Y/2]
      return m.template take_view<T, 4>({channels, grid[2], grid[0], grid[1]});
    };
    b.seg_a = volume(qpn_config::head_planes);
    for (auto& branch : b.branch) branch = volume(qpn_config::head_planes);
    b.seg_h = volume(qpn_config::head_planes);
    b.logits = volume(qpn_config::classes);
  }

  //! deconv1_8 and deconv1_4 (k 6, stride 2, padding 2), deconv_1_8__1_2 (k 4, stride 4).
  static constexpr transposed_window double_size = transposed_window::planar(6, 2, 2);
  static constexpr transposed_window quadruple_size = transposed_window::planar(4, 4, 0);

  qpn_config config_;
  conv_weights<T> encoder_[4][2], out_1_8_, conv1_4_, out_1_4_, conv1_2_, out_1_2_;
  conv_transpose_weights<T> deconv1_8_, deconv1_4_, deconv_1_8__1_2_;
  conv_weights<T> head_conv0_, head_first_[3], head_second_, head_classes_;
  buffers buffers_;
  workspace scratch_{};
  index_t chunk_voxels_ = 0;
};

}  // namespace voxformer
