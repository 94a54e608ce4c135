//! @file One cross-attention layer of VoxFormer (VoxFormerLayer with DeformCrossAttention over
//! MSDeformableAttention3D, spec §3.7–§3.9), post-norm: q ← LN1(FFN(LN0(q + W_o · mean_cameras MSDA(q)))).
//!
//! Sampling offsets and attention weights depend on the query only, so they are computed once per query
//! (one GEMM for both), not once per (camera, query) row as the original does; each camera then samples its
//! own rows — the ragged CSR lists, or the original's padded layout, whose padding rows are the original's zero
//! queries (offsets = bias, reference (0, 0)): computed and discarded, with identical results for the real rows.
//! Camera rows are processed in chunks, so memory does not grow with the number of cameras.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "voxformer/core/workspace.hpp"
#include "voxformer/model/config.hpp"
#include "voxformer/model/parameters.hpp"
#include "voxformer/nn/ffn.hpp"
#include "voxformer/nn/layer_norm.hpp"
#include "voxformer/nn/linear.hpp"
#include "voxformer/nn/softmax.hpp"
#include "voxformer/ops/common/copy.hpp"
#include "voxformer/ops/common/fill.hpp"
#include "voxformer/ops/common/validate_and_run.hpp"
#include "voxformer/ops/msda/msda_arguments.hpp"

namespace voxformer {

//! What every cross layer of one frame shares: the queries' camera geometry and the image values.
template <class T, class I = std::int32_t>
struct cross_frame {
  tensor_view<const float, 4> reference_cam;  //!< [K, Nq, 1, 2]: (un, vn) per camera
  tensor_view<const I, 2> row_of;             //!< [K, Nq]: rebatched row, or −1 where the camera does not see q
  tensor_view<const I, 1> camera_queries;     //!< the rebatched rows' queries (−1: padding), cameras one after the other
  const index_t* camera_first_row;            //!< [K], host: camera k's rows start here in `camera_queries`
  const index_t* camera_row_count;            //!< [K], host: and number this many
  tensor_view<const T, 2> image_values;       //!< [K·S, C]: features + camera and level embeddings
};

namespace kernels {

//! One element = one rebatched row of one camera: its sampling locations r + Δ/(w_l, h_l) (the original's
//! order of operations: normalise, then add) and its softmaxed weights, from its query's row of `sampling`
//! ([Nq, heads·L·P·2 | heads·L·P]) — or, for a padding row, from `zero_query` (a zero query's row: bias only)
//! with the reference point (0, 0).
template <class T, class I>
struct gather_camera_samples {
  tensor_view<const I, 1> queries;            // [rows] of this chunk
  tensor_view<const T, 2> sampling;           // [Nq, O]
  tensor_view<const T, 1> zero_query;         // [O]
  tensor_view<const float, 4> reference_cam;  // [K, Nq, 1, 2]
  index_t camera, levels, points, heads;
  T level_width[msda_max_levels], level_height[msda_max_levels];
  tensor_view<T, 2> locations;  // [rows, heads·L·P·2]
  tensor_view<T, 2> weights;    // [rows, heads·L·P]
  VOXFORMER_HOST_DEVICE void operator()(index_t r) const {
    const auto q = static_cast<index_t>(queries(r));
    const index_t samples = heads * levels * points;
    const T* source = q >= 0 ? &sampling(q, 0) : &zero_query(0);
    const index_t stride = q >= 0 ? sampling.stride(1) : zero_query.stride(0);
    const T ref_x = q >= 0 ? static_cast<T>(reference_cam(camera, q, 0, 0)) : T(0);
    const T ref_y = q >= 0 ? static_cast<T>(reference_cam(camera, q, 0, 1)) : T(0);
    for (index_t i = 0; i < samples; ++i) {
      const index_t l = (i / points) % levels;
      locations(r, 2 * i) = ref_x + source[(2 * i) * stride] / level_width[l];
      locations(r, 2 * i + 1) = ref_y + source[(2 * i + 1) * stride] / level_height[l];
      weights(r, i) = source[(2 * samples + i) * stride];
    }
  }
};

//! slots[q] += sampled[r] for the real rows of one camera chunk (a camera sees a query at most once, so no
//! two elements write the same slot row).
template <class T, class I>
struct accumulate_camera_rows {
  tensor_view<const I, 1> queries;  // [rows]
  tensor_view<const T, 2> sampled;  // [rows, C]
  tensor_view<T, 2> slots;          // [Nq, C]
  VOXFORMER_HOST_DEVICE void operator()(index_t r) const {
    const auto q = static_cast<index_t>(queries(r));
    if (q < 0) return;
    for (index_t c = 0; c < slots.extent(1); ++c) slots(q, c) += sampled(r, c);
  }
};

//! slots[q] /= max(number of cameras that see q, 1) (spec §3.8 step 7).
template <class T, class I>
struct mean_over_cameras {
  tensor_view<const I, 2> row_of;  // [K, Nq]
  tensor_view<T, 2> slots;         // [Nq, C]
  VOXFORMER_HOST_DEVICE void operator()(index_t q) const {
    index_t count = 0;
    for (index_t k = 0; k < row_of.extent(0); ++k) count += row_of(k, q) >= 0 ? 1 : 0;
    const T divisor = static_cast<T>(count > 0 ? count : 1);
    for (index_t c = 0; c < slots.extent(1); ++c) slots(q, c) = slots(q, c) / divisor;
  }
};

}  // namespace kernels

//! Finishes a transformer layer in place on `rows` of q, given the attention's pre-projection output `mixed`:
//! q ← LN1(FFN(LN0(q + output_proj(mixed)))) — post-norm (spec §3.7), shared by the cross and self layers.
template <class Executor, class T, class Layer>
void finish_layer_rows(const Executor& executor, const Layer& layer, const tensor_view<const T, 2>& mixed,
                       const tensor_view<T, 2>& q, workspace scratch) {
  const auto product = scratch.take_view<T, 2>({q.extent(0), q.extent(1)});
  linear_residual(executor, mixed, layer.output_proj, tensor_view<const T, 2>(q), product, q);
  layer_norm(executor, tensor_view<const T, 2>(q), layer.norm_attention, q);
  ffn(executor, tensor_view<const T, 2>(q), layer.ffn, q, scratch);
  layer_norm(executor, tensor_view<const T, 2>(q), layer.norm_ffn, q);
}

//! A layer's parameters with the weights of its four products (value and output projections, the FFN's two)
//! transposed once for the executor's GEMM into `memory`, stored as W; the rest viewed as given.
template <class W, template <class, class> class Layer, class Executor, class T>
Layer<T, W> prepare_layer_products(const Executor& executor, const Layer<T, T>& p, workspace& memory) {
  // Braced: evaluated in order, so that sizing and carving take the same places.
  return Layer<T, W>{p.sampling_offsets,
                     p.attention_weights,
                     prepare_linear<W>(executor, p.value_proj, memory),
                     prepare_linear<W>(executor, p.output_proj, memory),
                     {prepare_linear<W>(executor, p.ffn.fc1, memory), prepare_linear<W>(executor, p.ffn.fc2, memory)},
                     p.norm_attention,
                     p.norm_ffn};
}

template <class T>
std::size_t finish_layer_bytes(const model_config& config, index_t rows) {
  workspace sizing;
  sizing.take<T>(rows * config.embed_dims);
  sizing.take<T>(rows * config.ffn_hidden);
  sizing.take<T>(rows * config.embed_dims);
  return sizing.used();
}

//! W: the storage type of the layer's projection and FFN weights (`cross_layer_parameters`).
template <class T, class W = T>
class cross_attention_layer {
 public:
  //! Persistent memory the layer's derived weights take: offsets and weights as one linear, and a zero
  //! query's row (for padding).
  template <class Executor>
  static std::size_t derived_bytes(const Executor& executor, const model_config& config,
                                   const cross_layer_parameters<T>& p) {
    workspace sizing;
    carve_derived(executor, config, p, sizing);
    return sizing.used();
  }

  //! Scratch of `run` for up to `max_queries` queries, camera rows in chunks of `chunk_rows`.
  static std::size_t workspace_bytes(const model_config& config, index_t max_queries, index_t chunk_rows) {
    workspace sizing;
    carve_frame(config, max_queries, chunk_rows, sizing);
    return sizing.used();
  }

  template <class Executor>
  cross_attention_layer(const Executor& executor, const model_config& config, const cross_layer_parameters<T>& p,
                        workspace& persistent)
      : config_(config) {
    const auto derived = carve_derived(executor, config, p, persistent);
    params_ = derived.layer;
    sampling_ = derived.sampling;
    zero_query_ = derived.zero_query;
    const index_t offsets = p.sampling_offsets.out_features(), weights = p.attention_weights.out_features();
    // [Wᵀ of the offsets | Wᵀ of the weights]: one GEMM computes both.
    copy(executor, p.sampling_offsets.product_operand(), column_slice(derived.weight, 0, offsets));
    copy(executor, p.attention_weights.product_operand(), column_slice(derived.weight, offsets, weights));
    copy(executor, p.sampling_offsets.bias, leading_slice(derived.bias, 0, offsets));
    copy(executor, p.attention_weights.bias, leading_slice(derived.bias, offsets, weights));
    copy(executor, tensor_view<const T, 1>(derived.bias), derived.zero_query);
    softmax_groups(executor, tensor_view<T, 2>(derived.zero_query.data() + offsets, {1, weights}, derived.zero_query.space()),
                   samples_per_head());
  }

  //! One layer on `queries` [Nq, C], in place.
  template <class Executor, class I>
  void run(const Executor& executor, const cross_frame<T, I>& frame, const tensor_view<T, 2>& queries,
           index_t chunk_rows, workspace scratch) const {
    const index_t nq = queries.extent(0), heads = config_.heads, offsets = params_.sampling_offsets.out_features();
    auto buffers = carve_frame(config_, nq, chunk_rows, scratch);
    const auto query_rows = tensor_view<const T, 2>(queries);
    linear(executor, frame.image_values, params_.value_proj, buffers.value);
    linear(executor, query_rows, sampling_, buffers.sampling);
    softmax_groups(executor, column_slice(buffers.sampling, offsets, heads * samples_per_head()),
                   samples_per_head());
    fill(executor, buffers.slots, T(0));

    kernels::gather_camera_samples<T, I> gather{};
    gather.sampling = buffers.sampling;
    gather.zero_query = zero_query_;
    gather.reference_cam = frame.reference_cam;
    gather.levels = config_.levels();
    gather.points = config_.points_cross;
    gather.heads = heads;
    msda_levels levels;
    levels.count = static_cast<int>(config_.levels());
    index_t start = 0;
    for (index_t l = 0; l < config_.levels(); ++l) {
      const auto& shape = config_.feature_shapes[static_cast<std::size_t>(l)];
      gather.level_width[l] = static_cast<T>(shape.width);
      gather.level_height[l] = static_cast<T>(shape.height);
      levels.extent[l][0] = shape.height, levels.extent[l][1] = shape.width, levels.extent[l][2] = 1;
      levels.start[l] = start;
      start += shape.height * shape.width;
    }
    const index_t rows_per_camera = start, head_dim = config_.head_dim();
    for (index_t k = 0; k < config_.cameras; ++k) {
      const tensor_view<const T, 4> value(buffers.value.data() + k * rows_per_camera * buffers.value.stride(0),
                                          {1, rows_per_camera, heads, head_dim}, buffers.value.space());
      for (index_t first = 0; first < frame.camera_row_count[k]; first += chunk_rows) {
        const index_t rows = std::min(chunk_rows, frame.camera_row_count[k] - first);
        const auto queries_of_rows = leading_slice(frame.camera_queries, frame.camera_first_row[k] + first, rows);
        gather.queries = queries_of_rows;
        gather.camera = k;
        gather.locations = leading_slice(buffers.locations, 0, rows);
        gather.weights = leading_slice(buffers.weights, 0, rows);
        parallel_for(executor, rows, gather, row_elements_per_thread);
        const auto sampled = leading_slice(buffers.sampled, 0, rows);
        const msda_arguments<T, 2> msda{
            value, levels,
            tensor_view<const T, 6>(gather.locations.data(), {1, rows, heads, config_.levels(), config_.points_cross, 2},
                                    gather.locations.space()),
            tensor_view<const T, 5>(gather.weights.data(), {1, rows, heads, config_.levels(), config_.points_cross},
                                    gather.weights.space()),
            tensor_view<T, 3>(sampled.data(), {1, rows, config_.embed_dims}, sampled.space())};
        validate_and_run(executor, msda);
        parallel_for(executor, rows,
                     kernels::accumulate_camera_rows<T, I>{queries_of_rows, sampled, buffers.slots},
                     row_elements_per_thread);
      }
    }
    parallel_for(executor, nq, kernels::mean_over_cameras<T, I>{frame.row_of, buffers.slots}, row_elements_per_thread);
    // The layer's tail is row-local: in chunks, so its scratch does not grow with the proposal.
    for (index_t first = 0; first < nq; first += chunk_rows) {
      const index_t rows = std::min(chunk_rows, nq - first);
      finish_layer_rows(executor, params_, tensor_view<const T, 2>(leading_slice(buffers.slots, first, rows)),
                        leading_slice(queries, first, rows), buffers.tail);
    }
  }

 private:
  index_t samples_per_head() const { return config_.levels() * config_.points_cross; }

  struct derived_views {
    cross_layer_parameters<T, W> layer;  // with the GEMM operands transposed
    tensor_view<T, 2> weight;         // [C, O]: the offsets' and weights' Wᵀ side by side
    tensor_view<T, 1> bias;           // [O]
    linear_weights<T> sampling;
    tensor_view<T, 1> zero_query;  // [O]: a zero query's offsets and softmaxed weights (padding rows)
  };
  template <class Executor>
  static derived_views carve_derived(const Executor& executor, const model_config& config,
                                     const cross_layer_parameters<T>& p, workspace& memory) {
    const index_t samples = config.heads * config.levels() * config.points_cross, out = 3 * samples;
    derived_views d;
    d.layer = prepare_layer_products<W>(executor, p, memory);
    d.weight = memory.take_view<T, 2>({config.embed_dims, out});
    d.bias = memory.take_view<T, 1>({out});
    d.zero_query = memory.take_view<T, 1>({out});
    d.sampling = {{}, d.bias, d.weight};
    return d;
  }

  struct frame_views {
    tensor_view<T, 2> value, sampling, slots, locations, weights, sampled;
    workspace tail;
  };
  static frame_views carve_frame(const model_config& config, index_t queries, index_t chunk_rows, workspace& memory) {
    const index_t samples = config.heads * config.levels() * config.points_cross, c = config.embed_dims;
    frame_views f;
    f.value = memory.take_view<T, 2>({config.cameras * config.feature_rows(), c});
    f.sampling = memory.take_view<T, 2>({queries, 3 * samples});
    f.slots = memory.take_view<T, 2>({queries, c});
    f.locations = memory.take_view<T, 2>({chunk_rows, 2 * samples});
    f.weights = memory.take_view<T, 2>({chunk_rows, samples});
    f.sampled = memory.take_view<T, 2>({chunk_rows, c});
    f.tail = memory;  // what is left: finish_layer_rows carves from here
    memory.take<std::byte>(static_cast<index_t>(finish_layer_bytes<T>(config, std::min(queries, chunk_rows))));
    return f;
  }

  cross_layer_parameters<T, W> params_;
  model_config config_;
  linear_weights<T> sampling_;
  tensor_view<const T, 1> zero_query_;
};

}  // namespace voxformer
