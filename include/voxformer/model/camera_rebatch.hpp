//! @file Stage 2's projection and camera rebatching (spec §3.4, §3.8): the proposed voxels' reference points
//! projected into every camera, and the queries each camera sees laid out per camera — ragged (CSR) or padded as the
//! original — for the cross-attention layers. One object owns the stage's buffers (carved from the pipeline's frame
//! memory) and runs it; the pipeline calls it once per frame.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "voxformer/core/tensor_view.hpp"
#include "voxformer/core/workspace.hpp"
#include "voxformer/model/config.hpp"
#include "voxformer/model/cross_attention.hpp"
#include "voxformer/ops/common/compaction.hpp"
#include "voxformer/ops/common/validate_and_run.hpp"
#include "voxformer/ops/rebatch/camera_batches.hpp"
#include "voxformer/ops/rebatch/camera_projection.hpp"
#include "voxformer/ops/voxel/volume_geometry.hpp"

namespace voxformer {

//! How the cross-attention lays out each camera's queries: ragged lists (no padding), or the original's
//! [cameras, max_len] rows padded with zero queries that are computed and discarded. Identical results.
enum class rebatch_layout { csr, padded };

namespace kernels {

//! reference[i] = the normalised centre of voxel unmasked[i], in float64 as the original (spec §3.4).
template <class I>
struct voxel_reference_point {
  tensor_view<const I, 1> unmasked;
  tensor_view<double, 3> reference;  // [Nq, 1, 3]
  volume_geometry grid;
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    const auto v = grid.coord_of(static_cast<index_t>(unmasked(i)));
    reference(i, 0, 0) = grid.normalised_centre<double>(v.x, 0);
    reference(i, 0, 1) = grid.normalised_centre<double>(v.y, 1);
    reference(i, 0, 2) = grid.normalised_centre<double>(v.z, 2);
  }
};

//! Whether no camera sees query q (`row_of` [K, Nq] holds −1 for every camera).
template <class I>
struct seen_by_no_camera {
  tensor_view<const I, 2> row_of;
  VOXFORMER_HOST_DEVICE bool operator()(index_t q) const {
    for (index_t k = 0; k < row_of.extent(0); ++k)
      if (row_of(k, q) >= 0) return false;
    return true;
  }
};

}  // namespace kernels

template <class T, class I>
class camera_rebatch {
 public:
  //! For up to `max_queries` proposed voxels of `config`'s volume, seen by its cameras.
  camera_rebatch(const model_config& config, index_t max_queries, rebatch_layout layout)
      : config_(config), max_queries_(max_queries), layout_(layout),
        camera_first_row_(static_cast<std::size_t>(config.cameras), 0),
        camera_row_count_(static_cast<std::size_t>(config.cameras), 0),
        host_offsets_(static_cast<std::size_t>(config.cameras + 1), 0) {}

  //! The stage's buffers, in order (the same call sizes them on a sizing workspace).
  template <class Memory>
  void carve(Memory& m) {
    const index_t q = max_queries_, k = config_.cameras;
    reference_ = m.template take_view<double, 1>({3 * q});
    reference_cam_ = m.template take_view<float, 1>({2 * k * q});
    visible_ = m.template take_view<std::uint8_t, 1>({k * q});
    offsets_ = m.template take_view<I, 1>({k + 1});
    lengths_ = m.template take_view<I, 1>({k});
    camera_queries_ = m.template take_view<I, 1>({k * q});
    row_of_ = m.template take_view<I, 1>({k * q});
  }

  //! Scratch of `run` and of `count_visible` at the largest proposal.
  template <class Executor>
  std::size_t scratch_bytes(const Executor& executor) const {
    const tensor_view<const std::uint8_t, 3> no_visibility(nullptr, {config_.cameras, max_queries_, 1});
    return std::max(detail::camera_batch_scratch_bytes(executor, no_visibility),
                    detail::counted_compaction_bytes(executor, max_queries_));
  }

  //! The `unmasked` queries projected with `matrices` [K, 4, 4] and rebatched: the cross-attention's view of the
  //! cameras, with `image_values` (written by the caller) riding along.
  template <class Executor>
  cross_frame<T, I> run(const Executor& executor, const tensor_view<const float, 3>& matrices,
                        const tensor_view<const I, 1>& unmasked, const tensor_view<const T, 2>& image_values,
                        workspace scratch) {
    const index_t cameras = config_.cameras, nq = unmasked.extent(0);
    const auto reference = tensor_view<double, 3>(reference_.data(), {nq, 1, 3}, reference_.space());
    const auto reference_cam = tensor_view<float, 4>(reference_cam_.data(), {cameras, nq, 1, 2}, reference_cam_.space());
    const auto visible = tensor_view<std::uint8_t, 3>(visible_.data(), {cameras, nq, 1}, visible_.space());
    const auto row_of = tensor_view<I, 2>(row_of_.data(), {cameras, nq}, row_of_.space());
    const volume_geometry grid{{0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}, {config_.volume[0], config_.volume[1], config_.volume[2]}};
    parallel_for(executor, nq, kernels::voxel_reference_point<I>{unmasked, reference, grid});
    validate_and_run(executor, projection_arguments<double>{reference, config_.range, matrices, config_.image, reference_cam, visible});
    tensor_view<const I, 1> camera_queries;
    if (layout_ == rebatch_layout::csr) {
      validate_and_run(executor, camera_batch_arguments<I>{visible, offsets_, camera_queries_, row_of}, scratch);
      read_offsets(executor);
      for (index_t k = 0; k < cameras; ++k) {
        camera_first_row_[k] = host_offsets_[k];
        camera_row_count_[k] = host_offsets_[k + 1] - host_offsets_[k];
      }
      camera_queries = camera_queries_;
    } else {
      // The original pads every camera to the longest list: rank first (the lists' offsets, read on the host, give
      // the longest), then lay out [K, max_len].
      workspace ranking = scratch;
      const auto ranks = detail::rank_camera_pairs(executor, tensor_view<const std::uint8_t, 3>(visible), ranking);
      parallel_for(executor, cameras + 1, kernels::csr_offsets<I>{ranks, offsets_, cameras * nq}, 1);
      read_offsets(executor);
      index_t max_len = 0;
      for (index_t k = 0; k < cameras; ++k) max_len = std::max<index_t>(max_len, host_offsets_[k + 1] - host_offsets_[k]);
      const auto padded = tensor_view<I, 2>(camera_queries_.data(), {cameras, max_len}, camera_queries_.space());
      validate_and_run(executor, padded_camera_batch_arguments<I>{visible, padded, lengths_, row_of}, scratch);
      for (index_t k = 0; k < cameras; ++k) camera_first_row_[k] = k * max_len, camera_row_count_[k] = max_len;
      camera_queries = tensor_view<const I, 1>(camera_queries_.data(), {cameras * max_len}, camera_queries_.space());
    }
    return {reference_cam, row_of, camera_queries, camera_first_row_.data(), camera_row_count_.data(), image_values};
  }

  //! After `run`: the visible queries of each camera into `per_camera` (resized to K: no allocation once it has room,
  //! from the offsets `run` read), and the number of the `nq` proposals no camera sees (counted where the executor
  //! computes, then read): the report's figures.
  template <class Executor>
  index_t count_visible(const Executor& executor, std::vector<index_t>& per_camera, index_t nq, workspace scratch) const {
    per_camera.resize(static_cast<std::size_t>(config_.cameras));
    for (index_t k = 0; k < config_.cameras; ++k) per_camera[k] = host_offsets_[k + 1] - host_offsets_[k];
    const auto row_of = tensor_view<const I, 2>(row_of_.data(), {config_.cameras, nq}, row_of_.space());
    return detail::count_flagged(executor, nq, kernels::seen_by_no_camera<I>{row_of}, scratch);
  }

 private:
  //! The K + 1 list offsets into `host_offsets_`: the host's one read of the stage, for the loops and the report.
  template <class Executor>
  void read_offsets(const Executor& executor) {
    copy_to_host(executor, host_offsets_.data(), offsets_.data(), host_offsets_.size() * sizeof(I));
  }

  model_config config_;
  index_t max_queries_;
  rebatch_layout layout_;
  tensor_view<double, 1> reference_;
  tensor_view<float, 1> reference_cam_;
  tensor_view<std::uint8_t, 1> visible_;
  tensor_view<I, 1> offsets_, lengths_, camera_queries_, row_of_;
  std::vector<index_t> camera_first_row_, camera_row_count_;  // host copies the cross-attention loops over
  std::vector<I> host_offsets_;                               // [K + 1], read once per frame
};

}  // namespace voxformer
