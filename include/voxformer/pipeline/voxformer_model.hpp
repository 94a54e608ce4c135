//! @file The whole VoxFormer as one object a user instantiates once and runs frame after frame, from what the sensors
//! give to a labelled scene:
//!
//!   K camera images → image features     pipeline/image_pipeline.hpp (ResNet-50 to layer3 + FPN)
//!   occupancy → proposal (optional)      pipeline/proposal_pipeline.hpp (stage 1)
//!   proposal + features → labels         pipeline/pipeline.hpp (stage 2 + head)
//!
//! A frame is either K images, one per camera (`run`), or — VoxFormer-T's cameras being one camera at several
//! frames of a sequence — the current frame's image alone (`run_stream`): each frame's features are kept by frame
//! index, so a sequence fed frame by frame costs one backbone pass per frame instead of K, with the same results.
//! All memory is sized at construction; a frame allocates nothing. Each part is reachable (`images()`, `stage1()`,
//! `head()`) to observe its stages; `report()` holds every stage's time, the image path's and stage 1's prefixed.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/model/voxformer_model_config.hpp"
#include "voxformer/ops/common/copy.hpp"
#include "voxformer/pipeline/frame_inputs.hpp"
#include "voxformer/pipeline/image_pipeline.hpp"
#include "voxformer/pipeline/pipeline.hpp"
#include "voxformer/pipeline/proposal_pipeline.hpp"

namespace voxformer {

//! The views a whole model is built from (each part's own parameters; one checkpoint holds the first two).
template <class T>
struct voxformer_model_parameters {
  image_backbone_parameters<T> image;
  model_parameters<T> head;
  std::optional<qpn_parameters<T>> stage1{};  //!< needed exactly when the configuration has stage 1
};

struct voxformer_model_options {
  pipeline_options head{};
  image_options image{};
  proposal_options stage1{};
};

template <class Executor, class T = float>
class voxformer_model {
  using buffer_type = decltype(allocate_buffer(std::declval<const Executor&>(), std::size_t{}));

 public:
  voxformer_model(const Executor& executor, voxformer_model_config config, const voxformer_model_parameters<T>& p,
                  voxformer_model_options options = {})
      : config_((config.validate(), std::move(config))), context_(executor),
        images_(context_.executor(), config_.image, p.image, options.image),
        head_(context_.executor(), config_.head, p.head, options.head) {
    constexpr const char* op = "voxformer::voxformer_model";
    detail::require(config_.stage1.has_value() == p.stage1.has_value(), op, ": the configuration ",
                    config_.stage1 ? "has" : "has no", " stage 1, but its parameters are ",
                    p.stage1 ? "given" : "missing");
    if (config_.stage1) stage1_.emplace(context_.executor(), *config_.stage1, *p.stage1, options.stage1);
    // The parts run one after the other and keep nothing in their frame memory between frames: one region serves
    // them all. The image path and stage 1 take the part of it where the head's self-attention scratch lies,
    // which every frame fills — not its query rows beyond a frame's proposals, which stay untouched — so that
    // their memory (the image path's 90 MiB) costs no resident memory beside the head's.
    const std::size_t at = head_.scratch_offset();
    std::size_t shared = std::max(head_.frame_memory_bytes(), at + images_.frame_memory_bytes());
    if (stage1_) shared = std::max(shared, at + stage1_->frame_memory_bytes());
    shared_memory_ = allocate_buffer(context_.executor(), shared);
    const auto space = shared_memory_.space();
    head_.use_frame_memory(workspace(shared_memory_.data(), shared, space));
    images_.use_frame_memory(workspace(shared_memory_.data() + at, shared - at, space));
    if (stage1_) stage1_->use_frame_memory(workspace(shared_memory_.data() + at, shared - at, space));
    const auto [h, w] = config_.image.feature_shape();
    const index_t c = config_.head.embed_dims, cameras = config_.head.cameras;
    const index_t slots = config_.history();
    const auto& grid = config_.head.volume;
    workspace sizing;
    carve(sizing, cameras, slots, c, h, w, grid);
    memory_ = allocate_buffer(context_.executor(), sizing.used());
    workspace memory(memory_.data(), memory_.size(), memory_.space());
    carve(memory, cameras, slots, c, h, w, grid);
    stream_frames_.assign(static_cast<std::size_t>(slots), -1);
    name_stages();
  }

  //! One frame of K images, one per camera in the configuration's order — uint8 [K, H, W, 3] or normalised T
  //! [K, 3, h, w] (`image_pipeline::run`) — with `lidar2img` [K, 4, 4], the scene input — the occupancy [X, Y, Z]
  //! when the model has stage 1, else the proposal [X·Y·Z] or [X, Y, Z] (> 0 = proposed) — and `labels`
  //! [2X, 2Y, 2Z] uint8 (and `logits` [classes, 2X, 2Y, 2Z] when given). A runtime-typed tensor (DLPack) whose
  //! element type is not uint8 names it: `run<float>(…)` for normalised images, `run<deduce, float>(…)` for a float
  //! proposal or occupancy.
  template <class ImageElement = deduce, class SceneElement = deduce, class Images, class Matrices, class Scene,
            class Labels>
  const run_report& run(Images&& images, Matrices&& lidar2img, Scene&& scene, Labels&& labels) {
    expect_scene_kind(scene);
    images_.template run<ImageElement>(images, camera_features_);
    return finish_frame<SceneElement>(lidar2img, scene, labels, tensor_view<T, 4>{});
  }
  template <class ImageElement = deduce, class SceneElement = deduce, class Images, class Matrices, class Scene,
            class Labels, class Logits>
  const run_report& run(Images&& images, Matrices&& lidar2img, Scene&& scene, Labels&& labels, Logits&& logits) {
    expect_scene_kind(scene);
    images_.template run<ImageElement>(images, camera_features_);
    return finish_frame<SceneElement>(lidar2img, scene, labels, logits_view(logits));
  }

  //! Frame `frame` of a sequence given by its own image alone — uint8 [1, H, W, 3] or T [1, 3, h, w] — the other
  //! cameras' features being those of earlier frames of the same stream (`temporal_offsets`); a frame before the
  //! sequence's start is replaced by this one. The frames a camera needs must have been given before (in order,
  //! without gaps back to the oldest offset): otherwise an error, with nothing computed or written.
  template <class ImageElement = deduce, class SceneElement = deduce, class Image, class Matrices, class Scene,
            class Labels>
  const run_report& run_stream(index_t frame, Image&& image, Matrices&& lidar2img, Scene&& scene, Labels&& labels) {
    expect_scene_kind(scene);
    stream_images<ImageElement>(frame, image);
    return finish_frame<SceneElement>(lidar2img, scene, labels, tensor_view<T, 4>{});
  }
  template <class ImageElement = deduce, class SceneElement = deduce, class Image, class Matrices, class Scene,
            class Labels, class Logits>
  const run_report& run_stream(index_t frame, Image&& image, Matrices&& lidar2img, Scene&& scene, Labels&& labels,
                               Logits&& logits) {
    expect_scene_kind(scene);
    stream_images<ImageElement>(frame, image);
    return finish_frame<SceneElement>(lidar2img, scene, labels, logits_view(logits));
  }

  //! Runs the image path on frame `frame`'s image and keeps its features for the frames after it, without running
  //! the rest: how a stream that starts in the middle of a sequence is given the frames its cameras look back to
  //! (VoxFormer-T labelling from frame f on: frames f−12 … f−1 first).
  template <class ImageElement = deduce, class Image>
  void keep_frame(index_t frame, Image&& image) {
    detail::require(frame >= 0, "voxformer::voxformer_model::keep_frame: frame ", frame,
                    " is negative; a sequence's frames are 0, 1, 2, …");
    images_.template run<ImageElement>(image, slot(frame));
    stream_frames_[static_cast<std::size_t>(frame % slots())] = frame;
  }

  //! Forgets the stream's frames (a new sequence follows).
  void reset_stream() { std::fill(stream_frames_.begin(), stream_frames_.end(), index_t{-1}); }

  image_pipeline<Executor, T>& images() { return images_; }
  proposal_pipeline<Executor, T>* stage1() { return stage1_ ? &*stage1_ : nullptr; }
  pipeline<Executor, T>& head() { return head_; }
  //! The last frame's image features [K, C, h, w], camera by camera.
  tensor_view<const T, 4> features() const { return camera_features_; }
  const run_report& report() const { return report_; }
  const voxformer_model_config& config() const { return config_; }

 private:
  //! A scene input stage 1 can read is a grid [X, Y, Z]: a proposal given flat to a model with stage 1 is refused
  //! before anything runs (its rank is known at compile time, or read from a runtime-typed tensor).
  template <class Scene>
  static constexpr bool may_be_grid = [] {
    if constexpr (static_tensor<Scene>) return view_type_of<Scene>::rank == 3;
    else return true;  // a dynamic tensor's rank is known at run time only
  }();

  template <class Scene>
  void expect_scene_kind(const Scene& scene) const {
    bool grid = may_be_grid<Scene>;
    if constexpr (dynamic_tensor_source<Scene>) grid = traits_of<Scene>::describe(scene).rank == 3;
    detail::require(!stage1_ || grid, "voxformer::voxformer_model::run: this model has stage 1: a frame's scene input "
                    "is the occupancy grid [X, Y, Z] it proposes from");
  }

  template <class Logits>
  tensor_view<T, 4> logits_view(Logits& logits) {
    return as_view<T, 4>(logits, "voxformer::voxformer_model::run", "logits");  // its shape: the head checks it
  }

  //! The current frame's features into its slot of the stream, then every camera's from its frame's slot — once
  //! every frame a camera needs is known to be there.
  template <class ImageElement, class Image>
  void stream_images(index_t frame, Image& image) {
    constexpr const char* op = "voxformer::voxformer_model::run_stream";
    detail::require(frame >= 0, op, ": frame ", frame, " is negative; a sequence's frames are 0, 1, 2, …");
    for (std::size_t k = 0; k < config_.temporal_offsets.size(); ++k) {
      const index_t offset = config_.temporal_offsets[k], wanted = source_frame(frame, offset);
      detail::require(offset == 0 || wanted == frame || kept(wanted), op, ": camera ", k, " is frame ", wanted,
                      " (offset ", offset, "), which this stream has not been given; give a sequence's frames in ",
                      "order (keep_frame for those before a stream's first frame, or reset_stream() to start a new one)");
    }
    keep_frame<ImageElement>(frame, image);
    for (std::size_t k = 0; k < config_.temporal_offsets.size(); ++k)
      copy(context_.executor(), tensor_view<const T, 4>(slot(source_frame(frame, config_.temporal_offsets[k]))),
           leading_slice(camera_features_, static_cast<index_t>(k), 1));
  }

  //! The frame a camera with `offset` sees at frame `frame`: before the sequence's start, the current one.
  static index_t source_frame(index_t frame, index_t offset) { return frame + offset >= 0 ? frame + offset : frame; }
  bool kept(index_t frame) const { return stream_frames_[static_cast<std::size_t>(frame % slots())] == frame; }
  index_t slots() const { return static_cast<index_t>(stream_frames_.size()); }
  tensor_view<T, 4> slot(index_t frame) const { return leading_slice(stream_features_, frame % slots(), 1); }

  template <class SceneElement, class Matrices, class Scene, class Labels>
  const run_report& finish_frame(Matrices& lidar2img, Scene& scene, Labels& labels, const tensor_view<T, 4>& logits) {
    const tensor_view<const T, 4> features(camera_features_);
    if constexpr (may_be_grid<Scene>) {
      if (stage1_) {
        stage1_->template run<SceneElement>(scene, proposal_);
        head_run<std::uint8_t>(features, lidar2img, tensor_view<const std::uint8_t, 3>(proposal_), labels, logits);
        collect_report();
        return report_;
      }
    }
    head_run<SceneElement>(features, lidar2img, scene, labels, logits);
    collect_report();
    return report_;
  }

  template <class ProposalElement, class Matrices, class Proposal, class Labels>
  void head_run(const tensor_view<const T, 4>& features, Matrices& lidar2img, Proposal&& proposal, Labels& labels,
                const tensor_view<T, 4>& logits) {
    if (logits.data() != nullptr) head_.template run<ProposalElement>(features, lidar2img, proposal, labels, logits);
    else head_.template run<ProposalElement>(features, lidar2img, proposal, labels);
  }

  template <class Memory>
  void carve(Memory& m, index_t cameras, index_t slots, index_t c, index_t h, index_t w,
             const std::array<index_t, 3>& grid) {
    camera_features_ = m.template take_view<T, 4>({cameras, c, h, w});
    stream_features_ = m.template take_view<T, 4>({slots, c, h, w});
    proposal_ = m.template take_view<std::uint8_t, 3>({config_.stage1 ? grid[0] : 0, grid[1], grid[2]});
  }

  //! Every part's stages, the image path's as "image.<stage>" and stage 1's as "stage1.<stage>", then the head's.
  void name_stages() {
    auto add = [&](const std::string& prefix, const run_report& part) {
      for (const auto& stage : part.stages) report_.stages.push_back({prefix + stage.name, 0, stage.bytes});
    };
    add("image.", images_.report());
    if (stage1_) add("stage1.", stage1_->report());
    add("", head_.report());
  }

  void collect_report() {
    std::size_t s = 0;
    auto take = [&](const run_report& part) {
      for (const auto& stage : part.stages) {
        report_.stages[s].milliseconds = stage.milliseconds;
        report_.stages[s++].bytes = stage.bytes;  // the head's and stage 1's are known once they ran
      }
    };
    take(images_.report());
    if (stage1_) take(stage1_->report());
    take(head_.report());
    const run_report& head = head_.report();
    report_.proposals = head.proposals;
    report_.visible_per_camera = head.visible_per_camera;
    report_.seen_by_no_camera = head.seen_by_no_camera;
    report_.workspace_bytes = shared_memory_.size() + memory_.size();
    report_.derived_bytes = head.derived_bytes + images_.report().derived_bytes +
                            (stage1_ ? stage1_->report().derived_bytes : 0);
  }

  voxformer_model_config config_;
  execution_context<Executor> context_;  //!< the parts run on its executor (the CPU's: one pool of threads)
  image_pipeline<Executor, T> images_;
  pipeline<Executor, T> head_;
  std::optional<proposal_pipeline<Executor, T>> stage1_;
  buffer_type memory_, shared_memory_;  // the camera features and the stream; the parts' frame memory
  tensor_view<T, 4> camera_features_, stream_features_;
  tensor_view<std::uint8_t, 3> proposal_;
  std::vector<index_t> stream_frames_;  //!< the frame each slot of `stream_features_` holds, or −1
  run_report report_;
};

}  // namespace voxformer
