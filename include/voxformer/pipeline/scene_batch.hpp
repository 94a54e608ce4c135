//! @file How stage 2 + head takes its frames: the user's tensors turned into checked views of a batch — one frame
//! is a batch of one — and every check that can be made before anything is written (shapes, memory spaces,
//! finite values, aliasing).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/core/tensor_view.hpp"
#include "voxformer/core/workspace.hpp"
#include "voxformer/model/config.hpp"
#include "voxformer/model/image_values.hpp"
#include "voxformer/pipeline/frame_inputs.hpp"

namespace voxformer {

//! B frames of stage 2 + head as views (the proposals apart: their element type is the caller's).
template <class T>
struct scene_batch {
  std::vector<tensor_view<const T, 5>> features;  //!< per level [B, K, C, h, w]
  tensor_view<const float, 4> lidar2img;          //!< [B, K, 4, 4]
  tensor_view<std::uint8_t, 4> labels;            //!< [B, 2X, 2Y, 2Z]
  tensor_view<T, 5> logits;                       //!< [B, classes, 2X, 2Y, 2Z], or empty (labels only)

  index_t frames() const { return labels.extent(0); }
};

namespace detail {

//! One frame's tensors, as `pipeline::run` takes them, into `batch` as a batch of one, each checked as it is adapted:
//! its shape, memory the executor reaches, finite matrices (scanned where they live, device memory with `scratch`).
//! `logits` counts only `with_logits`.
template <class Executor, class T, class Features, class Matrices, class Labels>
void adapt_frame(scene_batch<T>& batch, const char* op, const Executor& executor, const workspace& scratch,
                 const model_config& config, Features& features, Matrices& lidar2img, Labels& labels,
                 const tensor_view<T, 4>& logits, bool with_logits) {
  const auto grid = config.output_volume();
  const auto matrices = as_view<const float, 3>(lidar2img, op, "lidar2img");
  expect_shape(op, "lidar2img", "[cameras, 4, 4]", matrices, {config.cameras, 4, 4});
  expect_accessible(op, "lidar2img", executor, matrices);
  expect_finite_values<float>(executor, scratch, op, "lidar2img", matrices);
  const auto out = as_view<std::uint8_t, 3>(labels, op, "labels");
  expect_shape(op, "labels", "[2X, 2Y, 2Z]", out, {grid[0], grid[1], grid[2]});
  expect_accessible(op, "labels", executor, out);
  if (with_logits) {
    expect_shape(op, "logits", "[classes, 2X, 2Y, 2Z]", logits, {config.classes, grid[0], grid[1], grid[2]});
    expect_accessible(op, "logits", executor, logits);
  }
  batch.lidar2img = as_batch_of_one(matrices);
  batch.labels = as_batch_of_one(out);
  batch.logits = with_logits ? as_batch_of_one(logits) : tensor_view<T, 5>{};
  for_each_feature_level(features, batch.features.size(), op, [&](auto& level, std::size_t l) {
    const std::string arg = "features[" + std::to_string(l) + "]";
    batch.features[l] = as_batched_view<const T, 5>(level, op, arg);
    check_image_level(op, config, static_cast<index_t>(l), batch.features[l], "[1, cameras, C, h, w]", 1);
    expect_accessible(op, arg, executor, batch.features[l]);
  });
}

//! B frames' tensors, as `pipeline::run_batch` takes them (each with a leading batch axis, B taken from the
//! labels), into `batch`, checked as `adapt_frame`'s.
template <class Executor, class T, class Features, class Matrices, class Labels>
void adapt_batch(scene_batch<T>& batch, const char* op, const Executor& executor, const workspace& scratch,
                 const model_config& config, Features& features, Matrices& lidar2img, Labels& labels,
                 const tensor_view<T, 5>& logits, bool with_logits) {
  const auto grid = config.output_volume();
  batch.labels = as_view<std::uint8_t, 4>(labels, op, "labels");
  const index_t frames = batch.frames();
  expect_shape(op, "labels", "[B, 2X, 2Y, 2Z]", batch.labels, {frames, grid[0], grid[1], grid[2]});
  expect_accessible(op, "labels", executor, batch.labels);
  batch.lidar2img = as_view<const float, 4>(lidar2img, op, "lidar2img");
  expect_shape(op, "lidar2img", "[B, cameras, 4, 4]", batch.lidar2img, {frames, config.cameras, 4, 4});
  expect_accessible(op, "lidar2img", executor, batch.lidar2img);
  expect_finite_values<float>(executor, scratch, op, "lidar2img", batch.lidar2img);
  if (with_logits) {
    expect_shape(op, "logits", "[B, classes, 2X, 2Y, 2Z]", logits, {frames, config.classes, grid[0], grid[1], grid[2]});
    expect_accessible(op, "logits", executor, logits);
  }
  batch.logits = with_logits ? logits : tensor_view<T, 5>{};
  for_each_feature_level(features, batch.features.size(), op, [&](auto& level, std::size_t l) {
    const std::string arg = "features[" + std::to_string(l) + "]";
    batch.features[l] = as_view<const T, 5>(level, op, arg);
    check_image_level(op, config, static_cast<index_t>(l), batch.features[l], "[B, cameras, C, h, w]", frames);
    expect_accessible(op, arg, executor, batch.features[l]);
  });
}

//! What is left once the tensors are adapted, for every frame before any is written: the proposals' memory, finite
//! features (as the matrices), outputs apart from every input and from each other — whole batches, so one frame's
//! output overlapping another frame's input is caught too (`as_view` has already refused outputs whose frames
//! overlap one another).
template <class Executor, class T, class M>
void check_scene_batch(const char* op, const Executor& executor, const scene_batch<T>& batch,
                       const tensor_view<const M, 2>& proposals, const workspace& scratch) {
  expect_accessible(op, "proposal", executor, proposals);
  for (std::size_t l = 0; l < batch.features.size(); ++l)
    expect_finite_values<T>(executor, scratch, op, "features[" + std::to_string(l) + "]", batch.features[l]);
  for (const auto& output : {memory_of("labels", batch.labels), memory_of("logits", batch.logits)}) {
    expect_no_aliasing(op, {output}, {memory_of("proposal", proposals), memory_of("lidar2img", batch.lidar2img)});
    for (std::size_t l = 0; l < batch.features.size(); ++l)
      expect_no_aliasing(op, {output}, {memory_of("features[" + std::to_string(l) + "]", batch.features[l])});
  }
  expect_disjoint(op, "labels", batch.labels, "logits", batch.logits);
}

}  // namespace detail
}  // namespace voxformer
