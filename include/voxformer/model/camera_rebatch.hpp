//! @file Stage 2's projection and camera rebatching (spec §3.4, §3.8): the proposed voxels' reference points
//! projected into every camera, and the queries each camera sees laid out per camera — ragged (CSR) or padded as the
//! original — for the cross-attention layers. One object owns the stage's buffers (carved from the pipeline's frame
//! memory) and runs it in two calls a frame: `project` on the device, then — once the host has read the list
//! offsets with the frame's other counts, the frame's one read — `batches`.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
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

//! Whether no camera sees query q (`visible` [K, Nq, 1] is 0 for every camera).
struct seen_by_no_camera {
  tensor_view<const std::uint8_t, 3> visible;
  VOXFORMER_HOST_DEVICE bool operator()(index_t q) const {
    for (index_t k = 0; k < visible.extent(0); ++k)
      if (visible(k, q, 0) != 0) return false;
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
        camera_row_count_(static_cast<std::size_t>(config.cameras), 0) {}

  //! The stage's buffers, in order (the same call sizes them on a sizing workspace) — all but the list offsets,
  //! which the host reads with the frame's other counts and so live where the caller keeps those (`carve_offsets`).
  template <class Memory>
  void carve(Memory& m) {
    const index_t q = max_queries_, k = config_.cameras;
    reference_ = m.template take_view<double, 1>({3 * q});
    reference_cam_ = m.template take_view<float, 1>({2 * k * q});
    visible_ = m.template take_view<std::uint8_t, 1>({k * q});
    lengths_ = m.template take_view<I, 1>({k});
    camera_queries_ = m.template take_view<I, 1>({k * q});
    row_of_ = m.template take_view<I, 1>({k * q});
  }
  //! The K + 1 list offsets (camera k's queries are rows [offsets[k], offsets[k + 1]) of the ragged lists).
  template <class Memory>
  void carve_offsets(Memory& m) {
    offsets_ = m.template take_view<I, 1>({config_.cameras + 1});
  }

  //! Where `project` writes the list offsets (in the executor's memory), for the caller's read.
  const I* offsets() const { return offsets_.data(); }

  //! Scratch of `project` and `batches` at the largest proposal.
  template <class Executor>
  std::size_t scratch_bytes(const Executor& executor) const {
    const tensor_view<const std::uint8_t, 3> no_visibility(nullptr, {config_.cameras, max_queries_, 1});
    return std::max(detail::camera_batch_scratch_bytes(executor, no_visibility),
                    detail::counted_compaction_bytes(executor, max_queries_));
  }

  //! The stage's work on the device, before the host reads anything: the `unmasked` queries projected with
  //! `matrices` [K, 4, 4], the cameras' list offsets, and — in `unseen` [1] — how many queries no camera sees. The
  //! ragged lists are written too; the padded rows need the longest list's length, so `batches` writes them.
  template <class Executor>
  void project(const Executor& executor, const tensor_view<const float, 3>& matrices,
               const tensor_view<const I, 1>& unmasked, const tensor_view<index_t, 1>& unseen, workspace scratch) {
    detail::require(offsets_.extent(0) == config_.cameras + 1,
                    "voxformer::camera_rebatch::project: no list offsets carved (carve_offsets)");
    nq_ = unmasked.extent(0);
    const index_t cameras = config_.cameras;
    const auto reference = tensor_view<double, 3>(reference_.data(), {nq_, 1, 3}, reference_.space());
    const auto visible = visibility();
    const volume_geometry grid{{0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}, {config_.volume[0], config_.volume[1], config_.volume[2]}};
    parallel_for(executor, nq_, kernels::voxel_reference_point<I>{unmasked, reference, grid});
    validate_and_run(executor, projection_arguments<double>{reference, config_.range, matrices, config_.image,
                                                            reference_cam(), visible});
    if (layout_ == rebatch_layout::csr) {
      validate_and_run(executor, camera_batch_arguments<I>{visible, offsets_, camera_queries_, row_of()}, scratch);
    } else {
      workspace ranking = scratch;
      const auto ranks = detail::rank_camera_pairs(executor, tensor_view<const std::uint8_t, 3>(visible), ranking);
      parallel_for(executor, cameras + 1, kernels::csr_offsets<I>{ranks, offsets_, cameras * nq_}, 1);
    }
    detail::count_flagged_into(executor, nq_, kernels::seen_by_no_camera{visible}, unseen, scratch);
  }

  //! After the host has read the offsets (`offsets` [K + 1], host memory): the cross-attention's view of the cameras,
  //! with `image_values` (written by the caller) riding along, and each camera's count of visible queries into
  //! `per_camera` (resized to K: no allocation once it has room) for the report.
  template <class Executor>
  cross_frame<T, I> batches(const Executor& executor, const I* offsets, const tensor_view<const T, 2>& image_values,
                            std::vector<index_t>& per_camera, workspace scratch) {
    const index_t cameras = config_.cameras;
    per_camera.resize(static_cast<std::size_t>(cameras));
    for (index_t k = 0; k < cameras; ++k) per_camera[k] = offsets[k + 1] - offsets[k];
    tensor_view<const I, 1> camera_queries = camera_queries_;
    if (layout_ == rebatch_layout::csr) {
      for (index_t k = 0; k < cameras; ++k) camera_first_row_[k] = offsets[k], camera_row_count_[k] = per_camera[k];
    } else {
      // The original pads every camera to the longest list: [K, max_len].
      const index_t max_len = cameras > 0 ? *std::max_element(per_camera.begin(), per_camera.end()) : 0;
      const auto padded = tensor_view<I, 2>(camera_queries_.data(), {cameras, max_len}, camera_queries_.space());
      validate_and_run(executor, padded_camera_batch_arguments<I>{visibility(), padded, lengths_, row_of()}, scratch);
      for (index_t k = 0; k < cameras; ++k) camera_first_row_[k] = k * max_len, camera_row_count_[k] = max_len;
      camera_queries = tensor_view<const I, 1>(camera_queries_.data(), {cameras * max_len}, camera_queries_.space());
    }
    return {reference_cam(), row_of(), camera_queries, camera_first_row_.data(), camera_row_count_.data(),
            image_values};
  }

 private:
  tensor_view<std::uint8_t, 3> visibility() const {
    return tensor_view<std::uint8_t, 3>(visible_.data(), {config_.cameras, nq_, 1}, visible_.space());
  }
  tensor_view<float, 4> reference_cam() const {
    return tensor_view<float, 4>(reference_cam_.data(), {config_.cameras, nq_, 1, 2}, reference_cam_.space());
  }
  tensor_view<I, 2> row_of() const {
    return tensor_view<I, 2>(row_of_.data(), {config_.cameras, nq_}, row_of_.space());
  }

  model_config config_;
  index_t max_queries_;
  rebatch_layout layout_;
  index_t nq_ = 0;  // the running frame's queries
  tensor_view<double, 1> reference_;
  tensor_view<float, 1> reference_cam_;
  tensor_view<std::uint8_t, 1> visible_;
  tensor_view<I, 1> offsets_, lengths_, camera_queries_, row_of_;
  std::vector<index_t> camera_first_row_, camera_row_count_;  // host copies the cross-attention loops over
};

}  // namespace voxformer
