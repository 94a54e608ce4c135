//! @file One self-attention layer over the completed volume (VoxFormerLayer with DeformSelfAttention on the
//! 2-D view, spec §3.11, or DeformSelfAttention3DCustom on the 3-D volume, spec §3.12), post-norm, in place.
//!
//! What differs from the original, exactly in real arithmetic (fp32 rounding apart):
//! - The two queue slots hold the same volume: one value projection and one MSDA pass with 2·P points per
//!   head, weighted 0.5·softmax on each half (spec §3.11: "a port may fuse them").
//! - The offsets and weights read z = [q ; q + pos]: W·z = (W₁ + W₂)·q + W₂·pos, and W₂·pos is a row of a
//!   table over the view's columns plus one over its rows (pos = [col_embed[c] ; row_embed[r]]), computed once
//!   per model. The GEMM then has C inputs instead of 2C, and the 128 MiB positional tensor never exists.
//! - In the first layer every voxel that is not proposed holds the mask token m (spec §7, constant folding):
//!   its value row is value_proj(m) and its offsets/weights row (W₁ + W₂)·m plus the position terms, so only
//!   the proposed rows go through the value and offset GEMMs.
//! The volume is processed in chunks of voxels; each chunk's output replaces its input rows (the value map of
//! the layer was computed from the whole input first), so the layer needs no second volume.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "voxformer/core/executor_hints.hpp"
#include "voxformer/core/workspace.hpp"
#include "voxformer/model/config.hpp"
#include "voxformer/model/cross_attention.hpp"
#include "voxformer/model/parameters.hpp"
#include "voxformer/nn/linear.hpp"
#include "voxformer/nn/softmax.hpp"
#include "voxformer/ops/common/copy.hpp"
#include "voxformer/ops/common/fill.hpp"
#include "voxformer/ops/msda/msda_arguments.hpp"
#include "voxformer/ops/common/validate_and_run.hpp"
#include "voxformer/ops/scatter/mask_token_scatter.hpp"

namespace voxformer {

namespace kernels {

//! out[c][o] = w[o][c] + w[o][C + c]: the weight that multiplies q once the two halves of z = [q ; q + pos]
//! are gathered (W₁ + W₂), transposed for the GEMM.
template <class T>
struct fold_query_halves {
  tensor_view<const T, 2> weight;  // [O, 2C]
  tensor_view<T, 2> out;           // [C, O]
  VOXFORMER_HOST_DEVICE void operator()(index_t e) const {
    const index_t c = out.extent(0), o = e / c, i = e % c;
    out(i, o) = weight(o, i) + weight(o, c + i);
  }
};

//! One element = one voxel row of a chunk: sampling(r) = (g + bias) + by_column[col] + by_row[row], where
//! g is row r's product (W₁ + W₂)·q or, in the first layer, the mask token's when the voxel is not proposed.
template <class T, class I, bool FirstLayer>
struct add_position_terms {
  tensor_view<T, 2> sampling;           // [rows, O]: in: the products of every row (FirstLayer: unused)
  tensor_view<const T, 2> seed_rows;    // FirstLayer: [proposed rows of the chunk, O]
  tensor_view<const I, 1> seed_row_of;  // FirstLayer: [N], voxel → seed row, −1 where not proposed
  tensor_view<const T, 1> mask_row;     // FirstLayer: [O]
  index_t first_seed;                   // FirstLayer: the seed row of the chunk's first proposed voxel
  tensor_view<const T, 1> bias;         // [O]
  tensor_view<const T, 2> by_column;    // [view columns, O]
  tensor_view<const T, 2> by_row;       // [view rows, O]
  index_t first_voxel, view_columns;
  VOXFORMER_HOST_DEVICE void operator()(index_t r) const {
    const index_t k = first_voxel + r, col = k % view_columns, row = k / view_columns;
    const T* g = nullptr;
    index_t g_stride = 1;
    if constexpr (FirstLayer) {
      const auto seed = static_cast<index_t>(seed_row_of(k));
      g = seed >= 0 ? &seed_rows(seed - first_seed, 0) : &mask_row(0);
      g_stride = seed >= 0 ? seed_rows.stride(1) : mask_row.stride(0);
    } else {
      g = &sampling(r, 0);
      g_stride = sampling.stride(1);
    }
    for (index_t o = 0; o < sampling.extent(1); ++o)
      sampling(r, o) = ((g[o * g_stride] + bias(o)) + by_column(col, o)) + by_row(row, o);
  }
};

//! One element = one voxel row: offsets → locations in place, loc = ref + Δ/normaliser (the original's order).
//! Planar: ref = ((col + 0.5)/W, (row + 0.5)/H) on the view, normaliser (W, H). Volumetric: voxel (x, y, z)
//! has ref = ((y + 0.5)/Y, (x + 0.5)/X, (z + 0.5)/Z), normaliser (Y, X, Z) — component 0 runs along y.
template <class T, int Dims>
struct self_sampling_locations {
  tensor_view<T, 2> sampling;  // [rows, heads·2P·Dims | …]
  index_t first_voxel, samples;  // samples = heads·2·P
  index_t extent[3];             // planar: view (H, W); volumetric: (X, Y, Z)
  VOXFORMER_HOST_DEVICE void operator()(index_t r) const {
    const index_t k = first_voxel + r;
    T ref[Dims], normaliser[Dims];
    if constexpr (Dims == 2) {
      const index_t row = k / extent[1], col = k % extent[1];
      normaliser[0] = static_cast<T>(extent[1]), normaliser[1] = static_cast<T>(extent[0]);
      ref[0] = (static_cast<T>(col) + T(0.5)) / normaliser[0];
      ref[1] = (static_cast<T>(row) + T(0.5)) / normaliser[1];
    } else {
      const index_t x = k / (extent[1] * extent[2]), y = (k / extent[2]) % extent[1], z = k % extent[2];
      normaliser[0] = static_cast<T>(extent[1]), normaliser[1] = static_cast<T>(extent[0]);
      normaliser[2] = static_cast<T>(extent[2]);
      ref[0] = (static_cast<T>(y) + T(0.5)) / normaliser[0];
      ref[1] = (static_cast<T>(x) + T(0.5)) / normaliser[1];
      ref[2] = (static_cast<T>(z) + T(0.5)) / normaliser[2];
    }
    for (index_t i = 0; i < samples; ++i)
      for (int d = 0; d < Dims; ++d) sampling(r, i * Dims + d) = ref[d] + sampling(r, i * Dims + d) / normaliser[d];
  }
};

//! seed_row_of[unmasked[i]] = i (the rest is −1, filled before).
template <class I>
struct mark_seed_rows {
  tensor_view<const I, 1> unmasked;
  tensor_view<I, 1> seed_row_of;
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const { seed_row_of(static_cast<index_t>(unmasked(i))) = static_cast<I>(i); }
};

//! bounds[c] = the number of proposed voxels before voxel c·chunk_rows (a binary search of the ascending `unmasked`):
//! where chunk c's seeds begin, for c in [0, chunks], computed where the lists are.
template <class I>
struct seed_chunk_bounds {
  tensor_view<const I, 1> unmasked;
  index_t chunk_rows, voxels;
  tensor_view<index_t, 1> bounds;
  VOXFORMER_HOST_DEVICE void operator()(index_t chunk) const {
    const index_t voxel = chunk * chunk_rows < voxels ? chunk * chunk_rows : voxels;
    index_t low = 0, high = unmasked.extent(0);
    while (low < high) {
      const index_t middle = low + (high - low) / 2;
      if (static_cast<index_t>(unmasked(middle)) < voxel) low = middle + 1;
      else high = middle;
    }
    bounds(chunk) = low;
  }
};

}  // namespace kernels

//! seed_row_of [N] = the row of voxel k in the seed list, or −1: the inverse of `unmasked`.
template <class Executor, class I>
void seed_rows_of_voxels(const Executor& executor, const tensor_view<const I, 1>& unmasked,
                         const tensor_view<I, 1>& seed_row_of) {
  fill(executor, seed_row_of, I(-1));
  parallel_for(executor, unmasked.extent(0), kernels::mark_seed_rows<I>{unmasked, seed_row_of});
}

//! W: the storage type of the layer's projection and FFN weights (`self_layer_parameters`).
template <class T, class W = T>
class self_attention_layer {
 public:
  template <class Executor>
  static std::size_t derived_bytes(const Executor& executor, const model_config& config,
                                   const self_layer_parameters<T>& p) {
    workspace sizing;
    carve_derived(executor, config, p, sizing);
    return sizing.used();
  }

  //! Scratch of `run` for up to `max_seeds` proposals, voxels in chunks of `chunk_rows`.
  static std::size_t workspace_bytes(const model_config& config, index_t max_seeds, index_t chunk_rows) {
    workspace sizing;
    carve_frame(config, max_seeds, chunk_rows, sizing);
    return sizing.used();
  }

  //! Precomputes the folded weights and position tables (and, for the first layer, the mask token's rows)
  //! into `persistent`.
  template <class Executor>
  self_attention_layer(const Executor& executor, const model_config& config, const self_layer_parameters<T>& p,
                       const model_parameters<T>& model, workspace& persistent)
      : config_(config) {
    derived_ = carve_derived(executor, config, p, persistent);
    params_ = derived_.layer;
    const index_t c = config.embed_dims, half = c / 2, offsets = p.sampling_offsets.out_features();
    const index_t weights = p.attention_weights.out_features();
    const linear_weights<T>* parts[2] = {&p.sampling_offsets, &p.attention_weights};
    const index_t first_row[2] = {0, offsets}, rows[2] = {offsets, weights};
    for (int part = 0; part < 2; ++part) {
      const auto& w = parts[part]->weight;  // [rows, 2C]
      const auto table_columns = [&](const tensor_view<T, 2>& table) {  // this part's columns of a [*, O] table
        return tensor_view<T, 2>(table.data() + first_row[part], {table.extent(0), rows[part]}, {table.stride(0), 1},
                                 table.space());
      };
      parallel_for(executor, rows[part] * c, kernels::fold_query_halves<T>{w, table_columns(derived_.weight)});
      copy(executor, parts[part]->bias, leading_slice(derived_.bias, first_row[part], rows[part]));
      // W₂ = w[:, C:2C]; its first half multiplies col_embed, its second half row_embed (spec §1.4).
      const auto w2_columns = [&](index_t from) {
        return tensor_view<const T, 2>(w.data() + (c + from) * w.stride(1), {half, rows[part]}, {w.stride(1), w.stride(0)},
                                       w.space());
      };
      gemm(executor, model.col_embed, w2_columns(0), table_columns(derived_.by_column), false);
      gemm(executor, model.row_embed, w2_columns(half), table_columns(derived_.by_row), false);
    }
    const tensor_view<const T, 2> token(model.mask_embed.data(), {1, c}, {0, model.mask_embed.stride(0)},
                                        model.mask_embed.space());
    gemm(executor, token, tensor_view<const T, 2>(derived_.weight),
         tensor_view<T, 2>(derived_.mask_sampling.data(), {1, offsets + weights}, derived_.mask_sampling.space()), false);
    linear(executor, token, p.value_proj, tensor_view<T, 2>(derived_.mask_value.data(), {1, c}, derived_.mask_value.space()));
  }

  //! How many chunk boundaries `find_seed_bounds` writes for chunks of `chunk_rows` voxels.
  static index_t seed_bound_count(const model_config& config, index_t chunk_rows) {
    return (config.voxels() + chunk_rows - 1) / chunk_rows + 1;
  }

  //! bounds [seed_bound_count] = where each chunk of `chunk_rows` of the `voxels` voxels begins in the seed list
  //! `unmasked` (ascending): the proposed voxels of a chunk are consecutive seeds, one GEMM each, whose size the
  //! host needs — found on the device by binary search, for the caller to read with the frame's other counts.
  template <class Executor, class I>
  static void find_seed_bounds(const Executor& executor, const tensor_view<const I, 1>& unmasked, index_t chunk_rows,
                               index_t voxels, const tensor_view<index_t, 1>& bounds) {
    parallel_for(executor, bounds.extent(0), kernels::seed_chunk_bounds<I>{unmasked, chunk_rows, voxels, bounds}, 1);
  }

  //! The first layer: `volume` [N, C] holds the mask token except in the rows `unmasked` [Nq], which hold
  //! `seeds` [Nq, C]; `seed_row_of` [N] is `unmasked` inverted (`seed_rows_of_voxels`). `seed_bounds`: host memory,
  //! what `find_seed_bounds` wrote for this `unmasked` and `chunk_rows`.
  template <class Executor, class I>
  void run_first(const Executor& executor, const tensor_view<T, 2>& volume, const tensor_view<const T, 2>& seeds,
                 const tensor_view<const I, 1>& unmasked, const tensor_view<const I, 1>& seed_row_of,
                 index_t chunk_rows, std::span<const index_t> seed_bounds, workspace scratch) const {
    auto buffers = carve_frame(config_, seeds.extent(0), chunk_rows, scratch);
    const auto seed_values = leading_slice(buffers.seed_values, 0, seeds.extent(0));
    linear(executor, seeds, params_.value_proj, seed_values);
    const mask_token_scatter_arguments<T, I> values{seed_values, unmasked, derived_.mask_value, buffers.value_map};
    validate_and_run(executor, values);
    for_each_chunk(executor, volume, chunk_rows, buffers, [&](index_t first, index_t rows, const tensor_view<T, 2>& sampling) {
      const index_t seed_first = seed_bounds[static_cast<std::size_t>(first / chunk_rows)];
      const index_t seed_end = seed_bounds[static_cast<std::size_t>(first / chunk_rows + 1)];
      const auto seed_rows = leading_slice(buffers.seed_sampling, 0, seed_end - seed_first);
      gemm(executor, leading_slice(seeds, seed_first, seed_end - seed_first), tensor_view<const T, 2>(derived_.weight),
           seed_rows, false);
      parallel_for(executor, rows,
                   kernels::add_position_terms<T, I, true>{sampling, seed_rows, seed_row_of, derived_.mask_sampling,
                                                           seed_first, derived_.bias, derived_.by_column,
                                                           derived_.by_row, first, config_.view_shape[1]},
                   row_elements_per_thread);
    });
  }

  //! Any later layer: every voxel's own features.
  template <class Executor>
  void run(const Executor& executor, const tensor_view<T, 2>& volume, index_t chunk_rows, workspace scratch) const {
    auto buffers = carve_frame(config_, 0, chunk_rows, scratch);
    linear(executor, tensor_view<const T, 2>(volume), params_.value_proj, buffers.value_map);
    for_each_chunk(executor, volume, chunk_rows, buffers, [&](index_t first, index_t rows, const tensor_view<T, 2>& sampling) {
      gemm(executor, tensor_view<const T, 2>(leading_slice(volume, first, rows)), tensor_view<const T, 2>(derived_.weight),
           sampling, false,
           kernels::add_position_terms<T, std::int32_t, false>{sampling, {}, {}, {}, 0, derived_.bias,
                                                               derived_.by_column, derived_.by_row, first,
                                                               config_.view_shape[1]});
    });
  }

 private:
  index_t samples() const { return config_.heads * 2 * config_.points_self; }

  //! The shared chunk loop: `sampling_rows(first, rows, sampling)` fills the chunk's offsets|weights rows
  //! (bias and position terms included); then weights → 0.5·softmax per slot, offsets → locations, one MSDA
  //! pass over the value map, and the layer's tail, in place on the chunk's rows of `volume`.
  template <class Executor, class Buffers, class SamplingRows>
  void for_each_chunk(const Executor& executor, const tensor_view<T, 2>& volume, index_t chunk_rows,
                      const Buffers& buffers, const SamplingRows& sampling_rows) const {
    const index_t n = volume.extent(0), c = config_.embed_dims, heads = config_.heads, s = samples();
    const index_t dims = config_.self_dims(), offsets = s * dims, width = offsets + s;
    const tensor_view<const T, 4> value(buffers.value_map.data(), {1, n, heads, config_.head_dim()},
                                        buffers.value_map.space());
    msda_levels levels;
    levels.count = 1;
    const bool planar = dims == 2;
    index_t extent[3] = {planar ? config_.view_shape[0] : config_.volume[0],
                         planar ? config_.view_shape[1] : config_.volume[1], planar ? 1 : config_.volume[2]};
    for (int a = 0; a < 3; ++a) levels.extent[0][a] = extent[a];
    for (index_t first = 0; first < n; first += chunk_rows) {
      const index_t rows = std::min(chunk_rows, n - first);
      const auto sampling = leading_slice(buffers.sampling, 0, rows);
      sampling_rows(first, rows, sampling);
      softmax_groups(executor, column_slice(sampling, offsets, s),
                     config_.points_self, 0.5);
      const auto sampled = leading_slice(buffers.sampled, 0, rows);
      const tensor_view<const T, 5> attention(sampling.data() + offsets, {1, rows, heads, 1, 2 * config_.points_self},
                                              {rows * width, width, 2 * config_.points_self, 0, 1}, sampling.space());
      const tensor_view<T, 3> out(sampled.data(), {1, rows, c}, sampled.space());
      if (planar) {
        parallel_for(executor, rows, kernels::self_sampling_locations<T, 2>{sampling, first, s, {extent[0], extent[1], 1}},
                     row_elements_per_thread);
        validate_and_run(executor, msda_arguments<T, 2>{value, levels, locations<2>(sampling, rows), attention, out});
      } else {
        parallel_for(executor, rows,
                     kernels::self_sampling_locations<T, 3>{sampling, first, s, {extent[0], extent[1], extent[2]}},
                     row_elements_per_thread);
        validate_and_run(executor, msda_arguments<T, 3>{value, levels, locations<3>(sampling, rows), attention, out});
      }
      finish_layer_rows(executor, params_, tensor_view<const T, 2>(sampled), leading_slice(volume, first, rows),
                        buffers.tail);
    }
  }

  //! The locations part of a chunk's rows as MSDA's [1, rows, heads, L = 1, 2P, Dims].
  template <int Dims>
  tensor_view<const T, 6> locations(const tensor_view<T, 2>& sampling, index_t rows) const {
    const index_t points = 2 * config_.points_self, width = sampling.stride(0);
    return tensor_view<const T, 6>(sampling.data(), {1, rows, config_.heads, 1, points, Dims},
                                   {rows * width, width, points * Dims, 0, Dims, 1}, sampling.space());
  }

  struct derived_views {
    self_layer_parameters<T, W> layer;  // with the GEMM operands transposed
    tensor_view<T, 2> weight;     // [C, O]: (W₁ + W₂)ᵀ of the offsets, then of the weights
    tensor_view<T, 1> bias;       // [O]
    tensor_view<T, 2> by_column;  // [view columns, O]
    tensor_view<T, 2> by_row;     // [view rows, O]
    tensor_view<T, 1> mask_sampling;  // [O]: (W₁ + W₂)·m, no bias
    tensor_view<T, 1> mask_value;     // [C]: value_proj(m)
  };
  template <class Executor>
  static derived_views carve_derived(const Executor& executor, const model_config& config,
                                     const self_layer_parameters<T>& p, workspace& memory) {
    const index_t s = config.heads * 2 * config.points_self, width = s * config.self_dims() + s, c = config.embed_dims;
    derived_views d;
    d.layer = prepare_layer_products<W>(executor, p, memory);
    d.weight = memory.take_view<T, 2>({c, width});
    d.bias = memory.take_view<T, 1>({width});
    d.by_column = memory.take_view<T, 2>({config.view_shape[1], width});
    d.by_row = memory.take_view<T, 2>({config.view_shape[0], width});
    d.mask_sampling = memory.take_view<T, 1>({width});
    d.mask_value = memory.take_view<T, 1>({c});
    return d;
  }

  struct frame_views {
    tensor_view<T, 2> value_map, seed_values, sampling, seed_sampling, sampled;
    workspace tail;
  };
  static frame_views carve_frame(const model_config& config, index_t seeds, index_t chunk_rows, workspace& memory) {
    const index_t s = config.heads * 2 * config.points_self, width = s * config.self_dims() + s, c = config.embed_dims;
    const index_t rows = std::min(chunk_rows, config.voxels());
    frame_views f;
    f.value_map = memory.take_view<T, 2>({config.voxels(), c});
    f.seed_values = memory.take_view<T, 2>({seeds, c});
    f.sampling = memory.take_view<T, 2>({rows, width});
    f.seed_sampling = memory.take_view<T, 2>({seeds > 0 ? rows : 0, width});
    f.sampled = memory.take_view<T, 2>({rows, c});
    f.tail = memory;
    memory.take<std::byte>(static_cast<index_t>(finish_layer_bytes<T>(config, rows)));
    return f;
  }

  self_layer_parameters<T, W> params_;
  model_config config_;
  derived_views derived_;
};

}  // namespace voxformer
