//! @file Stage 2 + head's frame memory: the buffers a frame's stages hand one another, sized once from the
//! configuration and the largest proposal allowed, then one scratch region that the stages take in turn (the
//! proposal op's, the camera batching's, the cross and the self layers' scratch never live at the same time). The
//! counts the host needs of a frame lie together at its start, so that one copy reads them all.
#pragma once

#include <algorithm>
#include <cstddef>

#include "voxformer/core/tensor_view.hpp"
#include "voxformer/core/workspace.hpp"
#include "voxformer/model/camera_rebatch.hpp"
#include "voxformer/model/config.hpp"
#include "voxformer/model/cross_attention.hpp"
#include "voxformer/model/self_attention.hpp"
#include "voxformer/ops/common/compaction.hpp"

namespace voxformer {

template <class T, class W, class I>
class stage2_memory {
 public:
  //! The scratch each stage works in at the largest proposal (a stage's memory, for the report, is the frame's
  //! buffers plus its scratch).
  struct scratch_sizes {
    std::size_t proposal = 0, batch = 0, cross = 0, self = 0;
  };

  stage2_memory() = default;

  //! Sizes the plan (the sizing replays `attach`'s carving): `max_proposals` and `chunk_rows` already resolved.
  template <class Executor>
  stage2_memory(const Executor& executor, const model_config& config, index_t max_proposals, index_t chunk_rows,
                camera_rebatch<T, I>& rebatch)
      : voxels_(config.voxels()), max_proposals_(max_proposals), image_rows_(config.cameras * config.feature_rows()),
        channels_(config.embed_dims),
        seed_bound_count_(self_attention_layer<T, W>::seed_bound_count(config, chunk_rows)) {
    workspace sizing;
    carve(sizing, rebatch);
    frame_bytes_ = sizing.used();
    scratch_.proposal = detail::counted_compaction_bytes(executor, voxels_);
    scratch_.batch = rebatch.scratch_bytes(executor);
    scratch_.cross = cross_attention_layer<T, W>::workspace_bytes(config, max_proposals, chunk_rows);
    scratch_.self = self_attention_layer<T, W>::workspace_bytes(config, max_proposals, chunk_rows);
  }

  //! Where the scratch begins: the frame's buffers before it, rounded up.
  std::size_t scratch_offset() const { return workspace::round_up(frame_bytes_); }
  std::size_t bytes() const {
    return scratch_offset() + std::max({scratch_.proposal, scratch_.batch, scratch_.cross, scratch_.self});
  }
  std::size_t frame_bytes() const { return frame_bytes_; }
  const scratch_sizes& scratch_bytes() const { return scratch_; }

  //! Carves the buffers (the rebatch stage's too) from `memory`, which holds at least `bytes()`.
  void attach(const workspace& memory, camera_rebatch<T, I>& rebatch) {
    workspace buffers(memory.data(), scratch_offset(), memory.space());
    carve(buffers, rebatch);
    scratch = workspace(memory.data() + scratch_offset(), bytes() - scratch_offset(), memory.space());
  }

  //! What the host reads of a frame, in one copy of `counts_bytes()` from `counts_begin()`: the proposals no camera
  //! sees ([1], for the report), the self-attention chunks' seed bounds, and the rebatch stage's list offsets.
  tensor_view<index_t, 1> unseen, seed_bounds;
  const std::byte* counts_begin() const { return reinterpret_cast<const std::byte*>(unseen.data()); }
  std::size_t counts_bytes() const { return counts_bytes_; }
  //! Where `view`, one of the counts, lies in a host copy of them that begins at `host`.
  template <class V>
  const V* on_host(const std::byte* host, const V* view) const {
    return reinterpret_cast<const V*>(host + (reinterpret_cast<const std::byte*>(view) - counts_begin()));
  }

  tensor_view<index_t, 1> proposal_counts;  //!< [2], where the proposal op counts
  tensor_view<I, 1> unmasked, masked, seed_row_of;
  tensor_view<T, 2> queries, image_values, volume;
  workspace scratch;  //!< the stages' scratch, taken by each in turn

 private:
  void carve(workspace& m, camera_rebatch<T, I>& rebatch) {
    unseen = m.take_view<index_t, 1>({1});
    seed_bounds = m.take_view<index_t, 1>({seed_bound_count_});
    rebatch.carve_offsets(m);
    counts_bytes_ = m.used();  // the counts begin the memory
    proposal_counts = m.take_view<index_t, 1>({2});
    unmasked = m.take_view<I, 1>({max_proposals_});
    masked = m.take_view<I, 1>({voxels_});
    seed_row_of = m.take_view<I, 1>({voxels_});
    rebatch.carve(m);
    queries = m.take_view<T, 2>({max_proposals_, channels_});
    image_values = m.take_view<T, 2>({image_rows_, channels_});
    volume = m.take_view<T, 2>({voxels_, channels_});
  }

  index_t voxels_ = 0, max_proposals_ = 0, image_rows_ = 0, channels_ = 0, seed_bound_count_ = 0;
  std::size_t frame_bytes_ = 0, counts_bytes_ = 0;
  scratch_sizes scratch_;
};

}  // namespace voxformer
