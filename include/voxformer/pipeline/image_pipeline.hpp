//! @file The image path as one object a user instantiates with an executor and a scalar type and runs frame after
//! frame: K camera images in — 8-bit RGB [K, H, W, 3] as a camera driver gives them (top-left crop, /255, per-channel
//! mean and stddev: spec §3.1), or float [K, 3, h, w] already normalised — and the image features [K, C, h', w'] out
//! (VoxFormer: 370 × 1220 → [K, 128, 24, 77]), which `pipeline::run` takes. Every stage of the backbone is observable
//! and timed (summed over the images). Weights are packed at construction and all memory allocated once: a frame
//! allocates nothing, and the images go through the network one after the other in the same buffers.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "voxformer/core/execution_context.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/core/workspace.hpp"
#include "voxformer/model/image_backbone.hpp"
#include "voxformer/model/parameter_checks.hpp"
#include "voxformer/pipeline/frame_inputs.hpp"
#include "voxformer/pipeline/stage_report.hpp"

namespace voxformer {

struct image_options {
  //! Output pixels per im2col chunk of the convolutions.
  index_t chunk_pixels = 1024;
  //! Wait for each stage's work to time it, as `pipeline_options::time_stages`: off, a frame does not synchronise at
  //! all and every stage reports 0 ms.
  bool time_stages = true;
};

namespace kernels {

//! input(c, 0, r, x) = (u / 255 − mean[c]) / stddev[c] for the 8-bit value u of pixel (r, x), channel c, of an image
//! [H, W, 3] (its top-left crop): the original's float32 operations in its order (spec §3.1). One element per input
//! element, so that the writes are the contiguous ones.
template <class T>
struct normalise_rgb8 {
  tensor_view<const std::uint8_t, 3> image;  // [H, W, 3]
  tensor_view<T, 4> input;                   // [3, 1, h, w]
  float mean[3], stddev[3];
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    const index_t h = input.extent(2), w = input.extent(3), c = i / (h * w), r = (i / w) % h, x = i % w;
    const float value = static_cast<float>(image(r, x, c)) / 255.f;
    input(c, 0, r, x) = static_cast<T>((value - mean[c]) / stddev[c]);
  }
};

}  // namespace kernels

template <class Executor, class T = float>
class image_pipeline {
  using buffer_type = decltype(allocate_buffer(std::declval<const Executor&>(), std::size_t{}));

 public:
  //! Called after each stage of each image with its output [C, 1, h, w], valid during the call (stage names:
  //! `image_backbone<T>::stage_names`).
  using observer = std::function<void(std::string_view stage, index_t image, tensor_view<const T, 4> output)>;

  //! Validates the configuration and the parameters, packs the weights into memory of its own (the parameters may be
  //! released once it is constructed) and allocates all frame memory.
  image_pipeline(const Executor& executor, image_backbone_config config, const image_backbone_parameters<T>& parameters,
                 image_options options = {});

  void observe(observer callback) { observer_ = std::move(callback); }

  //! K images — uint8 [K, H, W, 3] (H ≥ crop rows, W ≥ crop columns; any strides) or T [K, 3, h, w] with (h, w) the
  //! crop, normalised and finite — to `features` [K, C, h', w'] or [1, K, C, h', w'] (the caller's; each channel's
  //! pixels at one stride, with the pixels or the channels at unit stride: what the last convolution writes).
  template <class ImageElement = deduce, class Images, class Features>
  const run_report& run(Images&& images, Features&& features) {
    constexpr const char* op = "voxformer::image_pipeline::run";
    using M = resolve_element_t<ImageElement, Images, std::uint8_t>;
    static_assert(std::is_same_v<M, std::uint8_t> || std::is_same_v<M, T>,
                  "voxformer::image_pipeline::run: images are uint8 [K, H, W, 3] or normalised T [K, 3, h, w]");
    const auto out = detail::as_batched_view<T, 5>(features, op, "features");
    const auto [c, one, fh, fw] = network_->feature_extents();
    expect_shape(op, "features", "[1, K, C, h', w']", out, {1, any_extent, c, fh, fw});
    expect_accessible(op, "features", executor_, out);
    const auto [h, w] = config_.crop;
    if constexpr (std::is_same_v<M, std::uint8_t>) {
      const auto in = as_view<const std::uint8_t, 4>(images, op, "images");
      if (in.extent(3) != 3 || in.extent(1) < h || in.extent(2) < w)  // the message is made on failure only
        detail::fail(op, ": argument 'images' [K, H, W, 3] must be RGB images of at least the crop, ", h, "x", w,
                     ", got ", detail::format_shape(in.extents()));
      expect_image_count(op, in.extent(0), out);
      expect_accessible(op, "images", executor_, in);
      expect_disjoint(op, "features", out, "images", in);
      return run_images(in.extent(0), out, [&](index_t k) {
        const tensor_view<const std::uint8_t, 3> image(in.data() + k * in.stride(0), {h, w, 3},
                                                       {in.stride(1), in.stride(2), in.stride(3)}, in.space());
        const auto input = network_->input();
        parallel_for(executor_, input.size(),
                     kernels::normalise_rgb8<T>{image, input, {config_.mean[0], config_.mean[1], config_.mean[2]},
                                                {config_.stddev[0], config_.stddev[1], config_.stddev[2]}});
        return tensor_view<const T, 4>(input);
      });
    } else {
      const auto in = as_view<const T, 4>(images, op, "images");
      expect_shape(op, "images", "[K, 3, h, w] (normalised)", in, {any_extent, 3, h, w});
      expect_image_count(op, in.extent(0), out);
      expect_accessible(op, "images", executor_, in);
      expect_finite_values<T>(executor_, check_scratch_, op, "images", in);
      expect_disjoint(op, "features", out, "images", in);
      return run_images(in.extent(0), out, [&](index_t k) {
        return tensor_view<const T, 4>(in.data() + k * in.stride(0), {3, 1, h, w},
                                       {in.stride(1), 0, in.stride(2), in.stride(3)}, in.space());
      });
    }
  }

  const run_report& report() const { return report_; }
  const image_backbone_config& config() const { return config_; }

  //! The bytes of memory a frame works in (its activations and scratch), sized at construction.
  std::size_t frame_memory_bytes() const { return report_.workspace_bytes; }
  //! Works in `memory` (at least `frame_memory_bytes()`, in the executor's memory space) from now on, releasing its
  //! own: nothing lives there from one frame to the next, so parts that run one after the other can share one
  //! region (voxformer_model). The caller keeps it alive and lets nothing else write it during a frame.
  void use_frame_memory(const workspace& memory);

 private:
  static void expect_image_count(const char* op, index_t images, const tensor_view<T, 5>& features) {
    if (images != features.extent(1))  // the message is made on failure only: a frame allocates nothing
      detail::fail(op, ": ", images, " image(s) given, but 'features' ", detail::format_shape(features.extents()),
                   " holds ", features.extent(1));
  }

  //! Each image k: `input(k)` makes its normalised view (the "preprocess" stage), then the network writes its
  //! features into `features[0, k]`.
  template <class Input>
  const run_report& run_images(index_t images, const tensor_view<T, 5>& features, const Input& input) {
    for (auto& stage : report_.stages) stage.milliseconds = 0;
    for (index_t k = 0; k < images; ++k) {
      clock_.restart();
      const tensor_view<const T, 4> normalised = input(k);
      report_.stages[0].milliseconds += clock_.lap(executor_);
      run_network(k, normalised, features);
    }
    return report_;
  }

  // Defined below the class, so that a program can compile it once (voxformer/cpu_instances.hpp).
  void run_network(index_t image, const tensor_view<const T, 4>& input, const tensor_view<T, 5>& features);

  execution_context<Executor> context_;
  Executor executor_;
  image_backbone_config config_;
  image_options options_;
  buffer_type derived_memory_, frame_memory_;
  std::size_t frame_bytes_ = 0;  // of frame memory: the activations, then the scratch
  workspace check_scratch_;      // the scratch, also where the input check in device memory counts
  std::optional<image_backbone<T>> network_;
  observer observer_;
  run_report report_;
  detail::stage_clock clock_;
};

template <class Executor, class T>
image_pipeline<Executor, T>::image_pipeline(const Executor& executor, image_backbone_config config,
                                            const image_backbone_parameters<T>& parameters, image_options options)
    : context_(executor), executor_(context_.executor()), config_(config), options_(options),
      clock_(options.time_stages) {
  constexpr const char* op = "voxformer::image_pipeline";
  config_.validate();
  check_image_backbone_parameters(op, executor_, config_, parameters);
  detail::require(options_.chunk_pixels > 0, op, ": chunk_pixels must be positive, got ", options_.chunk_pixels);
  const std::size_t derived = image_backbone<T>::derived_bytes(executor_, config_, parameters);
  derived_memory_ = allocate_buffer(executor_, derived);
  workspace persistent(derived_memory_.data(), derived_memory_.size(), derived_memory_.space());
  network_.emplace(executor_, config_, parameters, persistent);
  const std::size_t frame = workspace::round_up(network_->frame_bytes());
  const std::size_t scratch =
      std::max(network_->scratch_bytes(options_.chunk_pixels), workspace::round_up(sizeof(index_t)));
  frame_memory_ = allocate_buffer(executor_, frame + scratch);
  frame_bytes_ = frame;
  report_.workspace_bytes = frame + scratch;
  use_frame_memory(workspace(frame_memory_.data(), frame_memory_.size(), frame_memory_.space()));
  synchronize(executor_);
  report_.stages.push_back({"preprocess", 0, 0});
  for (const auto name : image_backbone<T>::stage_names) report_.stages.push_back({std::string(name), 0, 0});
  for (auto& stage : report_.stages) stage.bytes = frame + scratch;
  report_.derived_bytes = derived;
}

template <class Executor, class T>
void image_pipeline<Executor, T>::use_frame_memory(const workspace& memory) {
  expect_frame_memory("voxformer::image_pipeline::use_frame_memory", executor_, memory, frame_memory_bytes());
  const std::size_t scratch = frame_memory_bytes() - frame_bytes_;
  network_->attach(workspace(memory.data(), frame_bytes_, memory.space()),
                   workspace(memory.data() + frame_bytes_, scratch, memory.space()), options_.chunk_pixels);
  check_scratch_ = workspace(memory.data() + frame_bytes_, scratch, memory.space());
  if (frame_memory_.data() != memory.data()) frame_memory_ = buffer_type{};
}

template <class Executor, class T>
void image_pipeline<Executor, T>::run_network(index_t image, const tensor_view<const T, 4>& input,
                                              const tensor_view<T, 5>& features) {
  const tensor_view<T, 4> out(features.data() + image * features.stride(1),
                              {features.extent(2), 1, features.extent(3), features.extent(4)},
                              {features.stride(2), 0, features.stride(3), features.stride(4)}, features.space());
  std::size_t stage = 1;
  network_->run(executor_, input, out, [&](std::string_view name, const tensor_view<const T, 4>& output) {
    report_.stages[stage++].milliseconds += clock_.lap(executor_);
    if (observer_) {
      synchronize(executor_);
      observer_(name, image, output);
      clock_.restart();
    }
  });
}

}  // namespace voxformer
