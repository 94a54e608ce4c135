//! @file The header (spec §3.13), fused: ×2 trilinear upsampling with align_corners = True → LayerNorm →
//! Linear → argmax, one output column (ox, oy) per kernel element, so neither the upsampled volume (1 GiB
//! at the official size) nor the logits (160 MiB) exist unless the caller asks for logits in its own buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "voxformer/core/channel_vector.hpp"
#include "voxformer/core/lanes.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/workspace.hpp"
#include "voxformer/model/config.hpp"
#include "voxformer/model/parameters.hpp"
#include "voxformer/nn/layer_norm.hpp"
#include "voxformer/ops/common/copy.hpp"
#include "voxformer/ops/common/fill.hpp"

namespace voxformer {

namespace detail {
//! Batches of SIMD lanes of classes the fused head accumulates at once (3 × 8 = 24 ≥ VoxFormer's 20; the
//! kernel's inner loop is written for exactly 3).
inline constexpr int head_class_blocks = 3;
}  // namespace detail

namespace detail {

//! PyTorch's linear interpolation source index with align_corners = True: s = o·(n − 1)/(2n − 1) in fp32,
//! lower = min(⌊s⌋, n − 1), upper = lower + 1 unless at the end, weight of upper = clamp(s − lower, 0, 1).
struct upsample_tap {
  index_t lower, upper;
  float upper_weight;
};

VOXFORMER_HOST_DEVICE inline upsample_tap align_corners_tap(index_t output, index_t input_size) {
  const index_t output_size = 2 * input_size;
  const float scale = output_size > 1 ? static_cast<float>(input_size - 1) / static_cast<float>(output_size - 1) : 0.f;
  const float source = scale * static_cast<float>(output);
  index_t lower = static_cast<index_t>(source);  // source ≥ 0: truncation is the floor
  if (lower > input_size - 1) lower = input_size - 1;
  float weight = source - static_cast<float>(lower);
  weight = weight < 0.f ? 0.f : weight > 1.f ? 1.f : weight;
  return {lower, lower < input_size - 1 ? lower + 1 : lower, weight};
}

}  // namespace detail

namespace kernels {

//! One element = one output column (ox, oy): for each oz, the 8-tap trilinear sample of `volume` (rows
//! k = (x·Y + y)·Z + z, C channels) → LayerNorm → logits = W·y + b → argmax (first maximum), written to
//! `labels` [2X, 2Y, 2Z] and, when `logits` has data, to logits [classes, 2X, 2Y, 2Z]. `classifier` is the
//! Linear's weight transposed and padded: [C, padded classes], zero past `classes`, padded to whole groups of
//! `class_blocks` SIMD batches. The column's voxels go `voxels_per_step` at a time through the classifier, so
//! each weight load serves several voxels and the FMA chains are independent.
template <class T, int MaxChannels, class Labels, class Logits>
struct fused_head_column {
  static constexpr int voxels_per_step = 3, class_blocks = detail::head_class_blocks;
  tensor_view<const T, 2> volume;      // [X·Y·Z, C]
  index_t extent[3];                   // X, Y, Z
  layer_norm_weights<T> norm;
  tensor_view<const T, 2> classifier;  // [C, padded]
  tensor_view<const T, 1> bias;        // [classes]
  index_t classes;
  Labels labels;  // [2X, 2Y, 2Z] uint8
  Logits logits;  // [classes, 2X, 2Y, 2Z] or empty

  VOXFORMER_HOST_DEVICE void operator()(index_t e) const {
    using A = detail::norm_accumulate_t<T>;
    constexpr int lanes = detail::point_lanes<A>, step = voxels_per_step;
    using F = detail::lanes_t<A, lanes>;
    const index_t oy_count = 2 * extent[1], oz_count = 2 * extent[2], channels = volume.extent(1);
    const index_t ox = e / oy_count, oy = e % oy_count, padded = classifier.extent(1);
    const auto tx = detail::align_corners_tap(ox, extent[0]), ty = detail::align_corners_tap(oy, extent[1]);
    const A wx[2] = {A(1) - A(tx.upper_weight), A(tx.upper_weight)};
    const A wy[2] = {A(1) - A(ty.upper_weight), A(ty.upper_weight)};
    const index_t xs[2] = {tx.lower, tx.upper}, ys[2] = {ty.lower, ty.upper};
    constexpr index_t group = class_blocks * lanes, max_padded = (head_max_classes + group - 1) / group * group;
    A u[step][MaxChannels];
    A logit[step][max_padded];
    for (index_t oz0 = 0; oz0 < oz_count; oz0 += step) {
      // The last step of a column repeats its last voxel (computed, not stored).
      for (int v = 0; v < step; ++v) {
        const index_t oz = oz0 + v < oz_count ? oz0 + v : oz_count - 1;
        sample(oz, wx, wy, xs, ys, u[v]);
        detail::normalize_row<A>([&](index_t c) { return u[v][c]; }, channels, norm.weight, norm.bias,
                                 A(layer_norm_eps), [&](index_t c, A value) { u[v][c] = value; });
      }
      for (index_t block = 0; block < padded; block += class_blocks * lanes) {
        F acc[step][class_blocks] = {};
        const T* weights = &classifier(0, block);
        const index_t row_stride = classifier.stride(0);
        // One vector load per weight batch, returned by value so it stays in a register (a copy into an
        // array would go through the stack and stall on store forwarding).
        const auto load = [](const T* p) {
          F w;
          std::memcpy(&w, p, sizeof(F));
          return w;
        };
        for (index_t c = 0; c < channels; ++c) {
          const T* row = weights + c * row_stride;
          const F w0 = load(row), w1 = load(row + lanes), w2 = load(row + 2 * lanes);
          for (int v = 0; v < step; ++v) {
            const A x = u[v][c];
            acc[v][0] += x * w0;
            acc[v][1] += x * w1;
            acc[v][2] += x * w2;
          }
        }
        for (int v = 0; v < step; ++v)
          for (int b = 0; b < class_blocks; ++b) detail::store_lanes(&logit[v][block + b * lanes], acc[v][b]);
      }
      for (int v = 0; v < step && oz0 + v < oz_count; ++v) {
        const index_t oz = oz0 + v;
        index_t best = 0;
        A best_value = A(0);
        for (index_t k = 0; k < classes; ++k) {
          const A value = logit[v][k] + static_cast<A>(bias(k));
          if (k == 0 || value > best_value) best = k, best_value = value;
          if (logits.data() != nullptr) logits(k, ox, oy, oz) = static_cast<typename Logits::value_type>(value);
        }
        labels(ox, oy, oz) = static_cast<std::uint8_t>(best);
      }
    }
  }

 private:
  //! u = the trilinear sample at output (ox, oy, oz): Σ over the 8 corners of weight · row.
  template <class A>
  VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE void sample(index_t oz, const A (&wx)[2], const A (&wy)[2],
                                                          const index_t (&xs)[2], const index_t (&ys)[2], A* u) const {
    const index_t channels = volume.extent(1);
    const auto tz = detail::align_corners_tap(oz, extent[2]);
    const A wz[2] = {A(1) - A(tz.upper_weight), A(tz.upper_weight)};
    const index_t zs[2] = {tz.lower, tz.upper};
    const T* rows[8];
    A weights[8];
    for (int corner = 0; corner < 8; ++corner) {
      const int a = corner >> 2, b = (corner >> 1) & 1, d = corner & 1;
      weights[corner] = wx[a] * wy[b] * wz[d];
      rows[corner] = &volume((xs[a] * extent[1] + ys[b]) * extent[2] + zs[d], 0);
    }
    constexpr int chunk = 16;
    if (volume.stride(1) == 1 && channels % chunk == 0) {  // the usual layout: 16 channels in registers
      for (index_t c = 0; c < channels; c += chunk) {
        detail::channel_vector<A, chunk> acc;
        for (int corner = 0; corner < 8; ++corner) acc.template add_scaled<true>(weights[corner], rows[corner] + c, 1);
        acc.template store<true>(u + c, 1);
      }
    } else {
      for (index_t c = 0; c < channels; ++c) {
        A acc = 0;
        for (int corner = 0; corner < 8; ++corner) acc += weights[corner] * static_cast<A>(rows[corner][c * volume.stride(1)]);
        u[c] = acc;
      }
    }
  }
};

}  // namespace kernels

template <class T>
class fused_head {
 public:
  //! Classes padded to whole groups of SIMD batches (the classifier's rows are read a group at a time).
  static index_t padded_classes(const model_config& config) {
    constexpr index_t group = detail::head_class_blocks * detail::point_lanes<detail::norm_accumulate_t<T>>;
    return (config.classes + group - 1) / group * group;
  }

  static std::size_t derived_bytes(const model_config& config) {
    workspace sizing;
    sizing.take<T>(config.embed_dims * padded_classes(config));
    return sizing.used();
  }

  //! Lays the classifier out transposed and padded in `persistent`.
  template <class Executor>
  fused_head(const Executor& executor, const model_config& config, const model_parameters<T>& p, workspace& persistent)
      : config_(config), norm_(p.head_norm), bias_(p.head_classifier.bias) {
    detail::require(config.embed_dims <= head_max_channels, "voxformer::fused_head: ", config.embed_dims,
                    " channels; the fused head holds at most ", head_max_channels);
    const auto table = persistent.take_view<T, 2>({config.embed_dims, padded_classes(config)});
    fill(executor, table, T(0));
    copy(executor, p.head_classifier.product_operand(),
         tensor_view<T, 2>(table.data(), {config.embed_dims, config.classes}, {table.stride(0), 1}, table.space()));
    classifier_ = table;
  }

  //! labels [2X, 2Y, 2Z] (and logits [classes, 2X, 2Y, 2Z] when `logits` has data) from `volume` [N, C].
  template <class Executor, class L>
  void run(const Executor& executor, const tensor_view<const T, 2>& volume, const tensor_view<std::uint8_t, 3>& labels,
           const tensor_view<L, 4>& logits) const {
    const index_t columns = 4 * config_.volume[0] * config_.volume[1];
    auto launch = [&](auto max_channels) {
      using kernel = kernels::fused_head_column<T, decltype(max_channels)::value, tensor_view<std::uint8_t, 3>,
                                                tensor_view<L, 4>>;
      parallel_for(executor, columns,
                   kernel{volume, {config_.volume[0], config_.volume[1], config_.volume[2]}, norm_, classifier_, bias_,
                          config_.classes, labels, logits},
                   1);
    };
    // The element's channel buffer sized for the configuration (stack use, not speed).
    if (config_.embed_dims <= 128) launch(std::integral_constant<int, 128>{});
    else if (config_.embed_dims <= 256) launch(std::integral_constant<int, 256>{});
    else launch(std::integral_constant<int, static_cast<int>(head_max_channels)>{});
  }

 private:
  model_config config_;
  layer_norm_weights<T> norm_;
  tensor_view<const T, 1> bias_;
  tensor_view<const T, 2> classifier_;
};

}  // namespace voxformer
