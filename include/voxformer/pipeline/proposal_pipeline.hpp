//! @file Stage 1 as one object a user instantiates with an executor and a scalar type and runs frame after frame:
//! an occupancy grid [X, Y, Z] (official 256 × 256 × 32, e.g. pseudo-LiDAR voxelised by `voxelize`) in, the query
//! proposal [X/2, Y/2, Z/2] out — 1 where the network's occupied logit beats the empty one (a tie is empty,
//! spec §2.5) — ready for `proposal_indices` or `pipeline::run`, and optionally the logits.
//!
//! Weights are packed at construction and all frame memory allocated once; a frame allocates nothing.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
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
#include "voxformer/model/parameter_checks.hpp"
#include "voxformer/model/qpn_config.hpp"
#include "voxformer/model/qpn_parameters.hpp"
#include "voxformer/model/query_proposal_network.hpp"
#include "voxformer/ops/common/compaction.hpp"
#include "voxformer/pipeline/frame_inputs.hpp"
#include "voxformer/pipeline/stage_report.hpp"

namespace voxformer {

struct proposal_options {
  //! Output voxels per im2col chunk of the convolutions (docs/benchmarks.md measures the choice).
  index_t chunk_voxels = 1024;
  //! Wait for each stage's work to time it, as `pipeline_options::time_stages`: off, a frame synchronises only for
  //! its one read (the proposal count) and every stage reports 0 ms.
  bool time_stages = true;
};

namespace kernels {

//! image(z, 0, x, y) = grid(x, y, z) as T: the grid's height slices are the image's channels. One element per
//! image element, so that the writes are the contiguous ones.
template <class M, class T>
struct occupancy_to_image {
  tensor_view<const M, 3> grid;
  tensor_view<T, 4> image;
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    const index_t nx = grid.extent(0), ny = grid.extent(1);
    const index_t z = i / (nx * ny), x = (i / ny) % nx, y = i % ny;
    image(z, 0, x, y) = static_cast<T>(grid(x, y, z));
  }
};

//! proposal(x, y, z) = logit₁ > logit₀ (a tie, or a NaN, is empty), and the logits copied out as
//! [class][x][y][z] when wanted.
template <class T>
struct proposal_from_logits {
  tensor_view<const T, 4> logits;  // [2, Z, X, Y]
  tensor_view<std::uint8_t, 3> proposal;
  tensor_view<T, 4> logits_out;  // [2, X, Y, Z], or empty
  VOXFORMER_HOST_DEVICE void operator()(index_t v) const {
    const index_t ny = proposal.extent(1), nz = proposal.extent(2);
    const index_t x = v / (ny * nz), y = (v / nz) % ny, z = v % nz;
    const T empty = logits(0, z, x, y), occupied = logits(1, z, x, y);
    proposal(x, y, z) = occupied > empty ? 1 : 0;
    if (logits_out.data() != nullptr) {
      logits_out(0, x, y, z) = empty;
      logits_out(1, x, y, z) = occupied;
    }
  }
};

//! Whether voxel v's occupied logit beats its empty one (the proposal rule), on the network's [2, N] logits.
template <class T>
struct occupied_logit {
  tensor_view<const T, 2> logits;
  VOXFORMER_HOST_DEVICE bool operator()(index_t v) const { return logits(1, v) > logits(0, v); }
};

}  // namespace kernels

template <class Executor, class T = float>
class proposal_pipeline {
  using buffer_type = decltype(allocate_buffer(std::declval<const Executor&>(), std::size_t{}));

 public:
  //! Called after each stage with its output in PyTorch's layout — [C, 1, H, W] images, [C, D, H, W] volumes —
  //! valid during the call (stage names: `query_proposal_network<T>::stage_names`).
  using observer = std::function<void(std::string_view stage, tensor_view<const T, 4> output)>;

  //! Validates the configuration and the parameters (shapes, data, memory space), packs the weights into memory
  //! of its own (the parameters may be released once it is constructed) and allocates all frame memory.
  proposal_pipeline(const Executor& executor, qpn_config config, const qpn_parameters<T>& parameters,
                    proposal_options options = {});

  void observe(observer callback) { observer_ = std::move(callback); }

  //! One frame: `occupancy` [X, Y, Z] of any arithmetic type (values are used as given, as the original casts
  //! the unpacked grid to float; NaN/Inf are errors), `proposal` [X/2, Y/2, Z/2] uint8 (1 = proposed).
  template <class OccupancyElement = deduce, class Occupancy, class Proposal>
  const run_report& run(Occupancy&& occupancy, Proposal&& proposal) {
    return run_one<OccupancyElement>(occupancy, proposal, tensor_view<T, 4>{}, false);
  }

  //! The same, also writing the logits [2, X/2, Y/2, Z/2] (class 0 empty, 1 occupied) into the caller's buffer.
  template <class OccupancyElement = deduce, class Occupancy, class Proposal, class Logits>
  const run_report& run(Occupancy&& occupancy, Proposal&& proposal, Logits&& logits) {
    return run_one<OccupancyElement>(occupancy, proposal,
                                     as_view<T, 4>(logits, "voxformer::proposal_pipeline::run", "logits"), true);
  }

  //! B frames in one call: `occupancy` [B, X, Y, Z], `proposal` [B, X/2, Y/2, Z/2] (B from the proposal), as for
  //! `run` frame by frame. The whole batch is checked before any frame is written; the frames then run one after
  //! another in the pipeline's one frame memory. One report per frame, valid until the pipeline's next run.
  template <class OccupancyElement = deduce, class Occupancy, class Proposal>
  std::span<const run_report> run_batch(Occupancy&& occupancy, Proposal&& proposal) {
    return run_many<OccupancyElement>(occupancy, proposal, tensor_view<T, 5>{}, false);
  }

  //! The same, also writing the logits [B, 2, X/2, Y/2, Z/2].
  template <class OccupancyElement = deduce, class Occupancy, class Proposal, class Logits>
  std::span<const run_report> run_batch(Occupancy&& occupancy, Proposal&& proposal, Logits&& logits) {
    return run_many<OccupancyElement>(occupancy, proposal,
                                      as_view<T, 5>(logits, "voxformer::proposal_pipeline::run_batch", "logits"), true);
  }

  //! The report of the last frame run (by `run`, or the last of `run_batch`).
  const run_report& report() const { return report_; }
  const qpn_config& config() const { return config_; }

  //! The bytes of memory a frame works in, and working in the caller's instead: as `image_pipeline`'s.
  std::size_t frame_memory_bytes() const { return report_.workspace_bytes; }
  void use_frame_memory(const workspace& memory);

 private:
  template <class OccupancyElement, class Occupancy, class Proposal>
  const run_report& run_one(Occupancy& occupancy, Proposal& proposal, const tensor_view<T, 4>& logits,
                            bool with_logits) {
    constexpr const char* op = "voxformer::proposal_pipeline::run";
    using M = resolve_element_t<OccupancyElement, Occupancy, std::uint8_t>;
    const auto grid = as_view<const M, 3>(occupancy, op, "occupancy");
    expect_shape(op, "occupancy", "[X, Y, Z]", grid, {config_.grid[0], config_.grid[1], config_.grid[2]});
    expect_accessible(op, "occupancy", executor_, grid);
    expect_finite_values<T>(executor_, count_scratch_, op, "occupancy", grid);
    const auto out = as_view<std::uint8_t, 3>(proposal, op, "proposal");
    const auto half = config_.output_grid();
    expect_shape(op, "proposal", "[X/2, Y/2, Z/2]", out, {half[0], half[1], half[2]});
    if (with_logits)
      expect_shape(op, "logits", "[2, X/2, Y/2, Z/2]", logits, {qpn_config::classes, half[0], half[1], half[2]});
    run_checked(op, as_batch_of_one(grid), as_batch_of_one(out),
                with_logits ? as_batch_of_one(logits) : tensor_view<T, 5>{}, with_logits);
    return report_;
  }

  template <class OccupancyElement, class Occupancy, class Proposal>
  std::span<const run_report> run_many(Occupancy& occupancy, Proposal& proposal, const tensor_view<T, 5>& logits,
                                       bool with_logits) {
    constexpr const char* op = "voxformer::proposal_pipeline::run_batch";
    using M = resolve_element_t<OccupancyElement, Occupancy, std::uint8_t>;
    const auto out = as_view<std::uint8_t, 4>(proposal, op, "proposal");
    const auto half = config_.output_grid();
    const index_t frames = out.extent(0);
    expect_shape(op, "proposal", "[B, X/2, Y/2, Z/2]", out, {frames, half[0], half[1], half[2]});
    const auto grids = as_view<const M, 4>(occupancy, op, "occupancy");
    expect_shape(op, "occupancy", "[B, X, Y, Z]", grids, {frames, config_.grid[0], config_.grid[1], config_.grid[2]});
    expect_accessible(op, "occupancy", executor_, grids);
    expect_finite_values<T>(executor_, count_scratch_, op, "occupancy", grids);
    if (with_logits)
      expect_shape(op, "logits", "[B, 2, X/2, Y/2, Z/2]", logits,
                   {frames, qpn_config::classes, half[0], half[1], half[2]});
    run_checked(op, grids, out, logits, with_logits);
    return {reports_.data(), static_cast<std::size_t>(frames)};
  }

  //! After the shapes: the outputs' memory checks for the whole batch, then the frames in turn.
  template <class M>
  void run_checked(const char* op, const tensor_view<const M, 4>& grids, const tensor_view<std::uint8_t, 4>& proposals,
                   const tensor_view<T, 5>& logits, bool with_logits) {
    static_assert(std::is_arithmetic_v<M>, "voxformer::proposal_pipeline: the occupancy must be arithmetic");
    expect_accessible(op, "proposal", executor_, proposals);
    if (with_logits) expect_accessible(op, "logits", executor_, logits);
    expect_no_aliasing(op, {detail::memory_of("proposal", proposals), detail::memory_of("logits", logits)},
                       {detail::memory_of("occupancy", grids)});
    const auto frames = static_cast<std::size_t>(proposals.extent(0));
    if (reports_.size() < frames) reports_.resize(frames, report_);
    for (std::size_t b = 0; b < frames; ++b) {
      const auto i = static_cast<index_t>(b);
      const auto grid = leading_entry(grids, i);
      clock_.restart();
      parallel_for(executor_, grid.size(), kernels::occupancy_to_image<M, T>{grid, network_->input()});
      run_network(leading_entry(proposals, i), with_logits ? leading_entry(logits, i) : tensor_view<T, 4>{});
      reports_[b] = report_;
    }
  }

  // Defined below the class, so that a program can compile them once (voxformer/cpu_instances.hpp) and every
  // other translation unit only adapts its tensors.
  const run_report& run_network(const tensor_view<std::uint8_t, 3>& proposal, const tensor_view<T, 4>& logits);

  execution_context<Executor> context_;
  Executor executor_;
  qpn_config config_;
  proposal_options options_;
  buffer_type derived_memory_, frame_memory_;
  std::size_t frame_bytes_ = 0;  // of frame memory: the activations, then the scratch
  std::optional<query_proposal_network<T>> network_;
  workspace count_scratch_;  // the scratch, where proposals are counted and inputs in device memory checked
  observer observer_;
  run_report report_;                // the running frame's
  std::vector<run_report> reports_;  // one per frame of the call
  detail::stage_clock clock_;
};

template <class Executor, class T>
proposal_pipeline<Executor, T>::proposal_pipeline(const Executor& executor, qpn_config config,
                                                  const qpn_parameters<T>& parameters, proposal_options options)
    : context_(executor), executor_(context_.executor()), config_(config), options_(options),
      clock_(options.time_stages) {
  constexpr const char* op = "voxformer::proposal_pipeline";
  config_.validate();
  check_qpn_parameters(op, executor_, config_, parameters);
  detail::require(options_.chunk_voxels > 0, op, ": chunk_voxels must be positive, got ", options_.chunk_voxels);
  options_.chunk_voxels = std::min(options_.chunk_voxels, config_.voxels());
  const std::size_t derived = query_proposal_network<T>::derived_bytes(executor_, config_, parameters);
  derived_memory_ = allocate_buffer(executor_, derived);
  workspace persistent(derived_memory_.data(), derived_memory_.size(), derived_memory_.space());
  network_.emplace(executor_, config_, parameters, persistent);
  const std::size_t frame = workspace::round_up(network_->frame_bytes());
  const std::size_t scratch = std::max(network_->scratch_bytes(options_.chunk_voxels),
                                       detail::counted_compaction_bytes(executor_, config_.output_voxels()));
  frame_memory_ = allocate_buffer(executor_, frame + scratch);
  frame_bytes_ = frame;
  report_.workspace_bytes = frame + scratch;
  use_frame_memory(workspace(frame_memory_.data(), frame_memory_.size(), frame_memory_.space()));
  synchronize(executor_);
  for (const auto name : query_proposal_network<T>::stage_names) report_.stages.push_back({std::string(name), 0, 0});
  report_.stages.push_back({"proposal", 0, 0});
  report_.derived_bytes = derived;
  reports_.assign(1, report_);
}

template <class Executor, class T>
void proposal_pipeline<Executor, T>::use_frame_memory(const workspace& memory) {
  expect_frame_memory("voxformer::proposal_pipeline::use_frame_memory", executor_, memory, frame_memory_bytes());
  const std::size_t scratch = frame_memory_bytes() - frame_bytes_;
  network_->attach(workspace(memory.data(), frame_bytes_, memory.space()),
                   workspace(memory.data() + frame_bytes_, scratch, memory.space()), options_.chunk_voxels);
  count_scratch_ = workspace(memory.data() + frame_bytes_, scratch, memory.space());
  if (frame_memory_.data() != memory.data()) frame_memory_ = buffer_type{};
}

//! From the network's input image (written by `run_checked`) to the proposal and, when wanted, the logits.
template <class Executor, class T>
const run_report& proposal_pipeline<Executor, T>::run_network(const tensor_view<std::uint8_t, 3>& proposal,
                                                              const tensor_view<T, 4>& logits) {
  std::size_t stage = 0;
  network_->run(executor_, [&](std::string_view name, const tensor_view<const T, 4>& output) {
    report_.stages[stage].milliseconds = clock_.lap(executor_);
    report_.stages[stage].bytes = report_.workspace_bytes;
    ++stage;
    if (observer_) {
      synchronize(executor_);
      observer_(name, output);
      clock_.restart();
    }
  });
  const auto rows = network_->logits();
  parallel_for(executor_, proposal.size(), kernels::proposal_from_logits<T>{rows, proposal, logits});
  report_.proposals = detail::count_flagged(
      executor_, proposal.size(),
      kernels::occupied_logit<T>{tensor_view<const T, 2>(rows.data(), {2, proposal.size()}, rows.space())},
      count_scratch_);
  report_.stages[stage].milliseconds = clock_.lap(executor_);
  return report_;
}

}  // namespace voxformer
