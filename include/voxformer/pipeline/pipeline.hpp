//! @file VoxFormer stage 2 + head as one object a user instantiates with an executor and a scalar type and
//! runs frame after frame on their own tensors (spec §3.3). One frame's journey, one call per stage:
//!
//!   proposal → query lists          ops/voxel/proposal.hpp
//!   projection → camera batches     model/camera_rebatch.hpp (+ the image values, model/image_values.hpp)
//!   cross-attention layers          model/cross_attention.hpp
//!   mask-token completion           ops/scatter/mask_token_scatter.hpp
//!   self-attention layers           model/self_attention.hpp
//!   fused head → labels (+ logits)  model/head.hpp
//!
//! All memory is sized at construction (from the configuration and the largest proposal the caller allows,
//! pipeline/stage2_memory.hpp) and allocated once; a frame allocates nothing. The user's tensors become checked
//! views in pipeline/scene_batch.hpp. Every stage's output can be observed as it is produced.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "voxformer/core/execution_context.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/core/workspace.hpp"
#include "voxformer/model/camera_rebatch.hpp"
#include "voxformer/model/config.hpp"
#include "voxformer/model/cross_attention.hpp"
#include "voxformer/model/head.hpp"
#include "voxformer/model/image_values.hpp"
#include "voxformer/model/parameter_checks.hpp"
#include "voxformer/model/parameters.hpp"
#include "voxformer/model/self_attention.hpp"
#include "voxformer/ops/common/compaction.hpp"
#include "voxformer/ops/common/validate_and_run.hpp"
#include "voxformer/ops/scatter/gather_rows.hpp"
#include "voxformer/ops/scatter/mask_token_scatter.hpp"
#include "voxformer/ops/voxel/proposal.hpp"
#include "voxformer/pipeline/scene_batch.hpp"
#include "voxformer/pipeline/stage2_memory.hpp"
#include "voxformer/pipeline/stage_report.hpp"

namespace voxformer {

struct pipeline_options {
  index_t max_proposals = 0;  //!< the largest proposal a frame may have, in [0, voxels]; 0 = every voxel
  rebatch_layout layout = rebatch_layout::csr;
  //! Rows per chunk of the chunked stages (camera rows, layer tails, self-attention voxels): small enough that
  //! a chunk's intermediates stay in cache (4096 measured fastest of 1024–16384 on 2 cores, docs/benchmarks.md).
  index_t chunk_rows = 4096;
  //! Wait for each stage's work to time it (the report's stage times). Off, a frame synchronises only for the counts
  //! it reads (on a GPU, two small copies) and every stage reports 0 ms: for a stream that should not stall.
  bool time_stages = true;
};

//! W: the storage type of the layers' projection and FFN weights — T, or bfloat16 or float16 with T = float (the
//! backends' `gemm_narrow.hpp`: the layers keep 16-bit copies of those weights and their products round the
//! activations to W and sum in fp32; everything else, the sampling included, stays in T).
template <class Executor, class T = float, class W = T>
class pipeline {
  using I = std::int32_t;
  using buffer_type = decltype(allocate_buffer(std::declval<const Executor&>(), std::size_t{}));

 public:
  //! Called after each stage with its output, valid during the call: `cross_layer<i>` [Nq, C], `volume`
  //! [N, C] (after mask-token completion), `self_layer<i>` [N, C].
  using observer = std::function<void(std::string_view stage, tensor_view<const T, 2> output)>;

  //! Validates the configuration and the parameters (shapes, data, memory space), precomputes the derived
  //! weights and allocates all frame memory. `parameters` are views: what they point into must outlive the
  //! pipeline.
  pipeline(const Executor& executor, model_config config, const model_parameters<T>& parameters,
           pipeline_options options = {});

  void observe(observer callback) { observer_ = std::move(callback); }

  //! One frame: `features` one tensor per level — [1, K, C, h, w] or [K, C, h, w], any strides, finite (a single
  //! tensor when the configuration has one level, else a range of them); `lidar2img` [K, 4, 4] float, finite;
  //! `proposal` [X, Y, Z] or [X·Y·Z] of any arithmetic type (> 0 = proposed); `labels` [2X, 2Y, 2Z] uint8.
  //! Every argument is checked before anything is written; outputs may not overlap inputs.
  template <class ProposalElement = deduce, class Features, class Matrices, class Proposal, class Labels>
  const run_report& run(Features&& features, Matrices&& lidar2img, Proposal&& proposal, Labels&& labels) {
    return run_one<ProposalElement>(features, lidar2img, proposal, labels, tensor_view<T, 4>{}, false);
  }

  //! The same, also writing the logits [classes, 2X, 2Y, 2Z] into the caller's buffer.
  template <class ProposalElement = deduce, class Features, class Matrices, class Proposal, class Labels, class Logits>
  const run_report& run(Features&& features, Matrices&& lidar2img, Proposal&& proposal, Labels&& labels,
                        Logits&& logits) {
    return run_one<ProposalElement>(features, lidar2img, proposal, labels,
                                    as_view<T, 4>(logits, "voxformer::pipeline::run", "logits"), true);
  }

  //! B frames in one call, each with its own proposal (any count up to max_proposals, none included): every tensor
  //! as for `run` with a leading batch axis — `features` [B, K, C, h, w] per level, `lidar2img` [B, K, 4, 4],
  //! `proposal` [B, X, Y, Z] or [B, X·Y·Z], `labels` [B, 2X, 2Y, 2Z], B from the labels. The whole batch is checked
  //! (every frame's proposal counted) before any frame is written; the frames then run one after another in the
  //! pipeline's one frame memory, so a batch needs no more memory than a frame. One report per frame, valid until
  //! the pipeline's next run.
  template <class ProposalElement = deduce, class Features, class Matrices, class Proposal, class Labels>
  std::span<const run_report> run_batch(Features&& features, Matrices&& lidar2img, Proposal&& proposal,
                                        Labels&& labels) {
    return run_many<ProposalElement>(features, lidar2img, proposal, labels, tensor_view<T, 5>{}, false);
  }

  //! The same, also writing the logits [B, classes, 2X, 2Y, 2Z] into the caller's buffer.
  template <class ProposalElement = deduce, class Features, class Matrices, class Proposal, class Labels, class Logits>
  std::span<const run_report> run_batch(Features&& features, Matrices&& lidar2img, Proposal&& proposal,
                                        Labels&& labels, Logits&& logits) {
    return run_many<ProposalElement>(features, lidar2img, proposal, labels,
                                     as_view<T, 5>(logits, "voxformer::pipeline::run_batch", "logits"), true);
  }

  //! The report of the last frame run (by `run`, or the last of `run_batch`).
  const run_report& report() const { return report_; }
  const model_config& config() const { return config_; }
  const pipeline_options& options() const { return options_; }

  //! The bytes of memory a frame works in, and working in the caller's instead: as `image_pipeline`'s.
  std::size_t frame_memory_bytes() const { return report_.workspace_bytes; }
  void use_frame_memory(const workspace& memory);
  //! Where in its frame memory the stages' scratch begins: from there on, the self-attention's scratch (the
  //! volume's values and more) is filled every frame, whatever the proposal.
  std::size_t scratch_offset() const { return memory_.scratch_offset(); }

 private:
  //! One frame of the batch: its matrices and outputs (its features are `frame_levels_`).
  struct frame_views {
    tensor_view<const float, 3> lidar2img;
    tensor_view<std::uint8_t, 3> labels;
    tensor_view<T, 4> logits;  //!< empty when the caller wants labels only
  };

  template <class ProposalElement, class Features, class Matrices, class Proposal, class Labels>
  const run_report& run_one(Features& features, Matrices& lidar2img, Proposal& proposal, Labels& labels,
                            const tensor_view<T, 4>& logits, bool with_logits) {
    constexpr const char* op = "voxformer::pipeline::run";
    using M = resolve_element_t<ProposalElement, Proposal, std::uint8_t>;
    detail::adapt_frame(batch_, op, executor_, memory_.scratch, config_, features, lidar2img, labels, logits,
                        with_logits);
    run_checked(op, as_batch_of_one(detail::as_flat_mask<M>(proposal, op, config_.volume)));
    return report_;
  }

  template <class ProposalElement, class Features, class Matrices, class Proposal, class Labels>
  std::span<const run_report> run_many(Features& features, Matrices& lidar2img, Proposal& proposal, Labels& labels,
                                       const tensor_view<T, 5>& logits, bool with_logits) {
    constexpr const char* op = "voxformer::pipeline::run_batch";
    using M = resolve_element_t<ProposalElement, Proposal, std::uint8_t>;
    detail::adapt_batch(batch_, op, executor_, memory_.scratch, config_, features, lidar2img, labels, logits,
                        with_logits);
    run_checked(op, detail::as_flat_masks<M>(proposal, op, config_.volume, batch_.frames()));
    return {reports_.data(), static_cast<std::size_t>(batch_.frames())};
  }

  //! After the views of `batch_` and `masks` [B, X·Y·Z]: checks what is left, counts every frame's proposal, then
  //! runs the frames in turn — each one's proposal into the query lists (the one step that reads the proposal's own
  //! element type), then its journey.
  template <class M>
  void run_checked(const char* op, const tensor_view<const M, 2>& masks) {
    detail::check_scene_batch(op, executor_, batch_, masks, memory_.scratch);
    clock_.restart();  // the first frame's proposal stage includes counting the batch's proposals
    count_proposals(op, masks);
    for (index_t b = 0; b < masks.extent(0); ++b) {
      if (b > 0) clock_.restart();
      validate_and_run(executor_,
                       proposal_arguments<M, I>{leading_entry(masks, b), memory_.unmasked, memory_.masked,
                                                memory_.proposal_counts},
                       memory_.scratch);
      run_frame(b);
    }
  }

  //! Every frame's proposal count, each checked against max_proposals, before any frame is written: counted where
  //! the executor computes into the scratch, as many frames at a time as it holds (all of a batch, but for thousands
  //! of frames), and read in one copy each time.
  template <class M>
  void count_proposals(const char* op, const tensor_view<const M, 2>& masks) {
    const index_t frames = masks.extent(0), voxels = masks.extent(1);
    if (reports_.size() < static_cast<std::size_t>(frames)) reports_.resize(static_cast<std::size_t>(frames), report_);
    frame_proposals_.resize(std::max(frame_proposals_.size(), static_cast<std::size_t>(frames)));
    // The scratch holds one count and the compaction (stage2_memory): whatever more it holds, more counts.
    const std::size_t compaction = compact_workspace_bytes(executor_, voxels), capacity = memory_.scratch.capacity();
    const std::size_t spare = capacity > compaction ? capacity - compaction : 0;
    const auto per_read = std::max<index_t>(
        1, static_cast<index_t>(spare / workspace::alignment * (workspace::alignment / sizeof(index_t))));
    for (index_t first = 0; first < frames; first += per_read) {
      const index_t count = std::min(per_read, frames - first);
      workspace scratch = memory_.scratch;
      const auto counts = scratch.take_view<index_t, 1>({count});
      for (index_t b = 0; b < count; ++b) {
        const auto mask = leading_entry(masks, first + b);
        detail::count_flagged_into(executor_, voxels, kernels::proposal_flag<tensor_view<const M, 1>, true>{mask},
                                   leading_slice(counts, b, 1), scratch);
      }
      copy_to_host(executor_, frame_proposals_.data() + first, counts.data(), sizeof(index_t) * count);
    }
    for (index_t b = 0; b < frames; ++b)
      if (const index_t proposals = frame_proposals_[static_cast<std::size_t>(b)]; proposals > options_.max_proposals)
        detail::fail(op, ": the proposal", frames == 1 ? std::string() : " of frame " + std::to_string(b), " has ",
                     proposals, " voxels, more than the max_proposals (", options_.max_proposals,
                     ") this pipeline was built for");
  }

  // The journey and what it is made of: defined below the class, so that a program can compile them once
  // (voxformer/cpu_instances.hpp) and every other translation unit only adapts its tensors.
  void run_frame(index_t b);
  const run_report& run_stages(const frame_views& frame);
  void finish_stage(std::size_t& stage, std::size_t scratch_bytes);
  void notify(std::size_t stage, const tensor_view<const T, 2>& output);
  void build_derived();
  void build_frame_memory();
  void name_stages();

  execution_context<Executor> context_;
  Executor executor_;
  model_config config_;
  model_parameters<T> params_;
  pipeline_options options_;

  buffer_type derived_memory_;
  std::vector<cross_attention_layer<T, W>> cross_;
  std::vector<self_attention_layer<T, W>> self_;
  std::optional<fused_head<T>> head_;

  buffer_type frame_memory_;
  std::optional<camera_rebatch<T, I>> rebatch_;  // made once the options are checked
  stage2_memory<T, W, I> memory_;                 // the frame's buffers and scratch, within frame_memory_
  index_t proposals_ = 0;                    // the running frame's proposal count, on the host
  std::vector<std::byte> host_counts_;       // the host's copy of the frame's counts (stage2_memory)
  scene_batch<T> batch_;                            // the call's frames
  std::vector<tensor_view<const T, 5>> frame_levels_;  // the running frame's features, [1, K, C, h, w] per level
  std::vector<index_t> frame_proposals_;            // host: each frame's proposal count, counted before any runs
  std::vector<run_report> reports_;                 // one per frame of the call

  observer observer_;
  run_report report_;
  detail::stage_clock clock_;
};

template <class Executor, class T, class W>
pipeline<Executor, T, W>::pipeline(const Executor& executor, model_config config,
                                   const model_parameters<T>& parameters, pipeline_options options)
    : context_(executor), executor_(context_.executor()), config_(std::move(config)), params_(parameters),
      options_(options), clock_(options.time_stages) {
  constexpr const char* op = "voxformer::pipeline";
  config_.validate();
  check_model_parameters(op, executor_, config_, params_);
  detail::require(options_.max_proposals >= 0 && options_.max_proposals <= config_.voxels(), op,
                  ": max_proposals must be in [0, ", config_.voxels(), "] (0 = every voxel), got ",
                  options_.max_proposals);
  if (options_.max_proposals == 0) options_.max_proposals = config_.voxels();
  detail::require(options_.chunk_rows > 0, op, ": chunk_rows must be positive, got ", options_.chunk_rows);
  // No chunk needs more rows than the volume has voxels (results do not depend on the chunk size).
  options_.chunk_rows = std::min(options_.chunk_rows, config_.voxels());
  rebatch_.emplace(config_, options_.max_proposals, options_.layout);
  build_derived();
  build_frame_memory();
  name_stages();
}

//! Frame `b` of the batch, after its proposal op: its views, its journey, its report.
template <class Executor, class T, class W>
void pipeline<Executor, T, W>::run_frame(index_t b) {
  proposals_ = frame_proposals_[static_cast<std::size_t>(b)];
  for (std::size_t l = 0; l < frame_levels_.size(); ++l) frame_levels_[l] = leading_slice(batch_.features[l], b, 1);
  run_stages({leading_entry(batch_.lidar2img, b), leading_entry(batch_.labels, b),
              batch_.logits.data() != nullptr ? leading_entry(batch_.logits, b) : tensor_view<T, 4>{}});
  reports_[static_cast<std::size_t>(b)] = report_;
}

//! After the proposal op: every stage from the query lists to the labels, each timed and observed.
template <class Executor, class T, class W>
const run_report& pipeline<Executor, T, W>::run_stages(const frame_views& frame) {
  std::size_t stage = 0;
  const index_t nq = proposals_;
  report_.proposals = nq;
  const auto queries = leading_slice(memory_.queries, 0, nq);
  const auto unmasked = tensor_view<const I, 1>(leading_slice(memory_.unmasked, 0, nq));
  seed_rows_of_voxels(executor_, unmasked, memory_.seed_row_of);
  self_attention_layer<T, W>::find_seed_bounds(executor_, unmasked, options_.chunk_rows, config_.voxels(),
                                               memory_.seed_bounds);
  finish_stage(stage, memory_.scratch_bytes().proposal);
  flatten_image_values(executor_, frame_levels_, params_.cams_embeds, params_.level_embeds, memory_.image_values);
  rebatch_->project(executor_, frame.lidar2img, unmasked, memory_.unseen, memory_.scratch);
  // The frame's one read: every count the host needs from here on (a synchronisation on a GPU).
  copy_to_host(executor_, host_counts_.data(), memory_.counts_begin(), memory_.counts_bytes());
  const cross_frame<T, I> cameras =
      rebatch_->batches(executor_, memory_.on_host(host_counts_.data(), rebatch_->offsets()), memory_.image_values,
                        report_.visible_per_camera, memory_.scratch);
  report_.seen_by_no_camera = *memory_.on_host(host_counts_.data(), memory_.unseen.data());
  const std::span<const index_t> seed_bounds(memory_.on_host(host_counts_.data(), memory_.seed_bounds.data()),
                                             static_cast<std::size_t>(memory_.seed_bounds.extent(0)));
  finish_stage(stage, memory_.scratch_bytes().batch);

  validate_and_run(executor_, gather_rows_arguments<T, I>{params_.bev_embed, unmasked, queries});
  for (std::size_t l = 0; l < cross_.size(); ++l) {
    cross_[l].run(executor_, cameras, queries, options_.chunk_rows, memory_.scratch);
    notify(stage, tensor_view<const T, 2>(queries));
    finish_stage(stage, memory_.scratch_bytes().cross);
  }
  validate_and_run(executor_,
                   mask_token_scatter_arguments<T, I>{queries, unmasked, params_.mask_embed, memory_.volume});
  notify(stage, tensor_view<const T, 2>(memory_.volume));
  finish_stage(stage, 0);
  for (std::size_t l = 0; l < self_.size(); ++l) {
    if (l == 0)
      self_[l].run_first(executor_, memory_.volume, tensor_view<const T, 2>(queries), unmasked,
                         tensor_view<const I, 1>(memory_.seed_row_of), options_.chunk_rows, seed_bounds,
                         memory_.scratch);
    else
      self_[l].run(executor_, memory_.volume, options_.chunk_rows, memory_.scratch);
    notify(stage, tensor_view<const T, 2>(memory_.volume));
    finish_stage(stage, memory_.scratch_bytes().self);
  }
  head_->run(executor_, tensor_view<const T, 2>(memory_.volume), frame.labels, frame.logits);
  finish_stage(stage, 0);
  return report_;
}

//! Closes the timing of stage `stage` (and moves on to the next): its time, and the memory it worked in.
template <class Executor, class T, class W>
void pipeline<Executor, T, W>::finish_stage(std::size_t& stage, std::size_t scratch_bytes) {
  report_.stages[stage].milliseconds = clock_.lap(executor_);
  report_.stages[stage].bytes = memory_.frame_bytes() + scratch_bytes;
  ++stage;
}

template <class Executor, class T, class W>
void pipeline<Executor, T, W>::notify(std::size_t stage, const tensor_view<const T, 2>& output) {
  if (observer_) {
    synchronize(executor_);
    observer_(report_.stages[stage].name, output);
  }
}

template <class Executor, class T, class W>
void pipeline<Executor, T, W>::build_derived() {
  std::size_t bytes = fused_head<T>::derived_bytes(config_);
  for (const auto& layer : params_.cross) bytes += cross_attention_layer<T, W>::derived_bytes(executor_, config_, layer);
  for (const auto& layer : params_.self) bytes += self_attention_layer<T, W>::derived_bytes(executor_, config_, layer);
  derived_memory_ = allocate_buffer(executor_, bytes);
  workspace persistent(derived_memory_.data(), derived_memory_.size(), derived_memory_.space());
  for (const auto& layer : params_.cross) cross_.emplace_back(executor_, config_, layer, persistent);
  for (const auto& layer : params_.self) self_.emplace_back(executor_, config_, layer, params_, persistent);
  head_.emplace(executor_, config_, params_, persistent);
  synchronize(executor_);
  report_.derived_bytes = bytes;
}

template <class Executor, class T, class W>
void pipeline<Executor, T, W>::build_frame_memory() {
  memory_ = stage2_memory<T, W, I>(executor_, config_, options_.max_proposals, options_.chunk_rows, *rebatch_);
  frame_memory_ = allocate_buffer(executor_, memory_.bytes());
  report_.workspace_bytes = memory_.bytes();
  batch_.features.resize(static_cast<std::size_t>(config_.levels()));
  frame_levels_.resize(batch_.features.size());
  host_counts_.resize(memory_.counts_bytes());
  use_frame_memory(workspace(frame_memory_.data(), frame_memory_.size(), frame_memory_.space()));
}

template <class Executor, class T, class W>
void pipeline<Executor, T, W>::use_frame_memory(const workspace& memory) {
  expect_frame_memory("voxformer::pipeline::use_frame_memory", executor_, memory, frame_memory_bytes());
  memory_.attach(memory, *rebatch_);
  if (frame_memory_.data() != memory.data()) frame_memory_ = buffer_type{};
}

template <class Executor, class T, class W>
void pipeline<Executor, T, W>::name_stages() {
  auto add = [&](std::string name) { report_.stages.push_back({std::move(name), 0, 0}); };
  add("proposal");
  add("projection");
  for (index_t l = 0; l < config_.layers_cross; ++l) add("cross_layer" + std::to_string(l));
  add("volume");
  for (index_t l = 0; l < config_.layers_self; ++l) add("self_layer" + std::to_string(l));
  add("head");
  report_.visible_per_camera.reserve(static_cast<std::size_t>(config_.cameras));
  reports_.assign(1, report_);
  reports_[0].visible_per_camera.reserve(static_cast<std::size_t>(config_.cameras));  // a copy keeps no spare room
  frame_proposals_.resize(1);
}

}  // namespace voxformer
