// voxformer.Model: the whole VoxFormer from camera images (image path, optional stage 1, stage 2 + head).
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include <voxformer/model/parameter_store.hpp>
#include <voxformer/ops/common/copy.hpp>
#include <voxformer/pipeline/voxformer_model.hpp>

#include "bindings.hpp"
#include "pipeline_inputs.hpp"
#include "scene_outputs.hpp"

namespace voxformer::python {
namespace {

struct model_settings {
  bool with_stage1;
  std::optional<std::array<index_t, 2>> crop;
  std::optional<std::vector<index_t>> temporal_offsets;
};

//! The whole model's configuration: the head's, an image path of the checkpoint's widths whose crop is the head's
//! image size (which a given crop replaces), and the cameras' frames (VoxFormer-T's t, t−12, t−9, t−6, t−3 for
//! five cameras, else one frame back per camera).
voxformer_model_config model_config_of(model_config head, const std::optional<std::filesystem::path>& weights,
                                       const model_settings& s) {
  voxformer_model_config c;
  if (s.crop) head.image = {(*s.crop)[0], (*s.crop)[1]};  // pixel coordinates are normalised by the crop
  c.image.crop = {head.image.height, head.image.width};
  if (weights) c.image = image_backbone_config_of(open_checkpoint(*weights, "weights"), c.image);
  c.image.validate();
  const auto [h, w] = c.image.feature_shape();
  head.feature_shapes = {{h, w}};
  c.head = std::move(head);
  if (s.temporal_offsets) {
    c.temporal_offsets = *s.temporal_offsets;
  } else if (c.head.cameras != 5) {
    c.temporal_offsets.resize(static_cast<std::size_t>(c.head.cameras));
    for (index_t k = 0; k < c.head.cameras; ++k) c.temporal_offsets[static_cast<std::size_t>(k)] = -k;
  }
  if (s.with_stage1) {
    c.stage1.emplace();
    c.stage1->grid = c.head.output_volume();
  }
  c.validate();
  return c;
}

class whole_model {
 public:
  whole_model(model_config head, const std::optional<std::filesystem::path>& weights,
              const std::optional<std::filesystem::path>& qpn_weights, int threads, std::optional<std::uint64_t> seed,
              const pipeline_settings& settings, const model_settings& model)
      : config_(model_config_of(std::move(head), weights, model)),
        image_store_(load_store<image_backbone_store<float>>(config_.image, weights, seed, "weights")),
        head_store_(load_store<parameter_store<float>>(config_.head, weights, seed, "weights")),
        stage1_store_(stage1_store(qpn_weights, seed)),
        model_(checked_executor("voxformer.Model", threads), config_, parameters(), {settings.options(), {}, {}}) {}

  nb::dict run(const input_array& images, const input_array& lidar2img, const std::optional<input_array>& proposal,
               const std::optional<input_array>& occupancy, bool with_logits) {
    constexpr const char* op = "voxformer::voxformer_model::run";
    const input_array& scene = scene_input(op, proposal, occupancy);
    return frame(op, "images", images, scene, with_logits,
                 [&](auto image_element, auto scene_element, const auto&... out) {
                   using E = decltype(image_element);
                   using M = decltype(scene_element);
                   return model_.template run<E, M>(images, lidar2img, scene, out...);
                 });
  }

  nb::dict run_stream(index_t frame_index, const input_array& image, const input_array& lidar2img,
                      const std::optional<input_array>& proposal, const std::optional<input_array>& occupancy,
                      bool with_logits) {
    constexpr const char* op = "voxformer::voxformer_model::run_stream";
    const input_array& scene = scene_input(op, proposal, occupancy);
    return frame(op, "image", image, scene, with_logits,
                 [&](auto image_element, auto scene_element, const auto&... out) {
                   using E = decltype(image_element);
                   using M = decltype(scene_element);
                   return model_.template run_stream<E, M>(frame_index, image, lidar2img, scene, out...);
                 });
  }

  void keep_frame(index_t frame_index, const input_array& image) {
    without_gil(lock_, [&] {
      visit_image_element(image, "voxformer::voxformer_model::keep_frame", "image", [&](auto element) {
        model_.template keep_frame<decltype(element)>(frame_index, image);
      });
    });
  }

  void reset_stream() {
    without_gil(lock_, [&] { model_.reset_stream(); });
  }

  //! A copy of the last frame's image features [K, C, h, w].
  nb::ndarray<nb::numpy, float> features() {
    auto snapshot = without_gil(lock_, [&] {
      const auto f = model_.features();
      result_array<float, 4> kept(f.extents());
      copy(cpu_executor{1}, f, kept.view());
      return kept;
    });
    return snapshot.release();
  }

  nb::dict report() {
    return report_dict(without_gil(lock_, [&] { return model_.report(); }));
  }
  const model_config& config() const { return config_.head; }
  bool has_stage1() const { return config_.stage1.has_value(); }

 private:
  std::optional<qpn_parameter_store<float>> stage1_store(const std::optional<std::filesystem::path>& path,
                                                         const std::optional<std::uint64_t>& seed) const {
    if (!config_.stage1) return std::nullopt;
    return load_store<qpn_parameter_store<float>>(*config_.stage1, path, seed, "qpn_weights");
  }

  voxformer_model_parameters<float> parameters() const {
    voxformer_model_parameters<float> p{image_store_.parameters(), head_store_.parameters()};
    if (stage1_store_) p.stage1 = stage1_store_->parameters();
    return p;
  }

  //! The scene input the configuration takes: the occupancy with stage 1, else the proposal.
  const input_array& scene_input(const char* op, const std::optional<input_array>& proposal,
                                 const std::optional<input_array>& occupancy) const {
    const bool stage1 = has_stage1();
    detail::require(stage1 ? occupancy && !proposal : proposal && !occupancy, op, ": this model ",
                    stage1 ? "has stage 1: give occupancy=, not proposal="
                           : "has no stage 1: give proposal=, not occupancy=");
    return stage1 ? *occupancy : *proposal;
  }

  template <class Visit>
  static void visit_image_element(const input_array& images, const char* op, const char* arg, Visit&& visit) {
    visit_element<std::uint8_t, float>(images, op, arg, "uint8 [K, H, W, 3] (RGB) or float32 [K, 3, h, w] (normalised)",
                                       visit);
  }

  //! `run(image element, scene element, outputs...)` without the GIL, into fresh outputs.
  template <class Run>
  nb::dict frame(const char* op, const char* images_arg, const input_array& images, const input_array& scene,
                 bool with_logits, const Run& run) {
    scene_outputs outputs(config_.head, with_logits);
    without_gil(lock_, [&] {
      visit_image_element(images, op, images_arg, [&](auto image_element) {
        visit_mask_element(scene, op, has_stage1() ? "occupancy" : "proposal", [&](auto scene_element) {
          outputs.run([&](const auto&... out) { return run(image_element, scene_element, out...); });
        });
      });
    });
    return outputs.release(false);
  }

  voxformer_model_config config_;
  image_backbone_store<float> image_store_;
  parameter_store<float> head_store_;
  std::optional<qpn_parameter_store<float>> stage1_store_;
  voxformer_model<cpu_executor, float> model_;
  std::mutex lock_;
};

}  // namespace

void bind_model(nb::module_& m) {
  nb::class_<whole_model>(
      m, "Model",
      "The whole VoxFormer from camera images: the image path (ResNet-50 to layer3 + FPN), stage 1 when "
      "`qpn_weights` is given (or `stage1=True` with `seed`), and stage 2 + head. `weights` is one checkpoint "
      "holding img_backbone.*, img_neck.* and pts_bbox_head.*; `seed` gives random weights instead.")
      .def(
          "__init__",
          [](whole_model* self, const std::string& variant, const std::optional<std::filesystem::path>& weights,
             const std::optional<std::filesystem::path>& qpn_weights, int threads, nb::handle config,
             std::optional<std::uint64_t> seed, std::optional<bool> stage1,
             std::optional<std::array<index_t, 2>> crop, std::optional<std::vector<index_t>> temporal_offsets,
             index_t max_proposals, const std::string& layout, index_t chunk_rows) {
            constexpr const char* op = "voxformer.Model";
            require_weights(op, weights, seed);
            detail::require(!(qpn_weights && seed), op, ": qpn_weights and seed exclude each other");
            const bool with_stage1 = stage1.value_or(qpn_weights.has_value());
            detail::require(with_stage1 || !qpn_weights, op, ": qpn_weights given with stage1=False");
            detail::require(!with_stage1 || qpn_weights || seed, op,
                            ": stage1=True needs qpn_weights=PATH (or seed=N)");
            model_config head = config_argument(variant, config);
            nb::gil_scoped_release released;  // reading the weights and sizing the memory take a while
            new (self) whole_model(std::move(head), weights, qpn_weights, threads, seed,
                                   {max_proposals, layout, chunk_rows}, {with_stage1, crop, temporal_offsets});
          },
          nb::arg("variant") = "T", nb::arg("weights") = nb::none(), nb::arg("qpn_weights") = nb::none(),
          nb::arg("threads") = 2, nb::arg("config") = nb::none(), nb::kw_only(), nb::arg("seed") = nb::none(),
          nb::arg("stage1") = nb::none(), nb::arg("crop") = nb::none(), nb::arg("temporal_offsets") = nb::none(),
          nb::arg("max_proposals") = 0, nb::arg("layout") = "csr",
          nb::arg("chunk_rows") = pipeline_options{}.chunk_rows,
          "crop: (rows, cols) kept from each image's top-left corner, which pixel coordinates are normalised by "
          "(default: the configuration's image_size, 370 x 1220); temporal_offsets: each camera's frame relative "
          "to the current one (VoxFormer-T: 0, -12, -9, -6, -3); the other options as Pipeline's.")
      .def("run", &whole_model::run, nb::arg("images"), nb::arg("lidar2img"), nb::kw_only(),
           nb::arg("proposal") = nb::none(), nb::arg("occupancy") = nb::none(), nb::arg("logits") = false,
           nb::sig("def run(self, images: numpy.typing.ArrayLike, lidar2img: numpy.typing.ArrayLike, *, "
                   "proposal: numpy.typing.ArrayLike | None = None, occupancy: numpy.typing.ArrayLike | None = None, "
                   "logits: bool = False) -> dict[str, numpy.typing.NDArray]"),
           "One frame of K images, one per camera: uint8 [K, H, W, 3] RGB (at least the crop) or float32 "
           "[K, 3, h, w] normalised; lidar2img float32 [K, 4, 4]; the proposal [X, Y, Z] (without stage 1) or the "
           "occupancy [2X, 2Y, 2Z] (with it). Returns {'labels'} (+ 'logits'), as Pipeline.run.")
      .def("run_stream", &whole_model::run_stream, nb::arg("frame"), nb::arg("image"), nb::arg("lidar2img"),
           nb::kw_only(), nb::arg("proposal") = nb::none(), nb::arg("occupancy") = nb::none(),
           nb::arg("logits") = false,
           nb::sig("def run_stream(self, frame: int, image: numpy.typing.ArrayLike, lidar2img: numpy.typing.ArrayLike, "
                   "*, proposal: numpy.typing.ArrayLike | None = None, "
                   "occupancy: numpy.typing.ArrayLike | None = None, logits: bool = False) -> "
                   "dict[str, numpy.typing.NDArray]"),
           "Frame `frame` of a sequence from its own image alone ([1, H, W, 3] or [1, 3, h, w]); the other cameras "
           "use the features kept from earlier frames (one backbone pass per frame).")
      .def("keep_frame", &whole_model::keep_frame, nb::arg("frame"), nb::arg("image"),
           "Runs the image path on frame `frame` and keeps its features for later frames (a stream that starts "
           "in the middle of a sequence).")
      .def("reset_stream", &whole_model::reset_stream, "Forgets every kept frame (a new sequence).")
      .def_prop_ro("features", &whole_model::features, nb::rv_policy::move,
                   "A copy of the last frame's image features [K, C, h, w] (zeros before the first).")
      .def_prop_ro("report", &whole_model::report, "The last frame's per-stage times, as Pipeline.report.")
      .def_prop_ro("config", &whole_model::config, nb::rv_policy::copy, "A copy of the head's configuration.")
      .def_prop_ro("has_stage1", &whole_model::has_stage1);
}

}  // namespace voxformer::python
