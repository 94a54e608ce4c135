// voxformer.Pipeline (stage 2 + head) and voxformer.ProposalNetwork (stage 1).
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include <voxformer/model/parameter_store.hpp>

#include "bindings.hpp"
#include "pipeline_inputs.hpp"
#include "scene_outputs.hpp"

namespace voxformer::python {
namespace {

class stage2_pipeline {
 public:
  stage2_pipeline(model_config config, const std::optional<std::filesystem::path>& weights, int threads,
                  std::optional<std::uint64_t> seed, const pipeline_settings& settings)
      : config_(std::move(config)),
        store_(load_store<parameter_store<float>>(config_, weights, seed, "weights")),
        head_(checked_executor("voxformer.Pipeline", threads), config_, store_.parameters(), settings.options()) {}

  nb::dict run(nb::handle features, const input_array& lidar2img, const input_array& proposal, bool with_logits,
               bool with_stages) {
    constexpr const char* op = "voxformer::pipeline::run";
    const std::vector<input_array> levels = feature_levels(features, op);
    scene_outputs outputs(config_, with_logits);
    without_gil(lock_, [&] {
      const observing stages(head_, with_stages ? outputs.stage_recorder() : decltype(head_)::observer{});
      visit_mask_element(proposal, op, "proposal", [&](auto element) {
        using M = decltype(element);
        outputs.run([&](const auto&... out) { return head_.template run<M>(levels, lidar2img, proposal, out...); });
      });
    });
    return outputs.release(with_stages);
  }

  nb::dict run_batch(nb::handle features, const input_array& lidar2img, const input_array& proposal, bool with_logits) {
    constexpr const char* op = "voxformer::pipeline::run_batch";
    const std::vector<input_array> levels = feature_levels(features, op);
    const index_t frames = batch_extent(proposal, op, "proposal", "[B, X, Y, Z] or [B, X*Y*Z]", {2, 4});
    const auto g = config_.output_volume();
    batch_outputs<4> outputs("labels", {frames, g[0], g[1], g[2]}, config_.classes, with_logits);
    without_gil(lock_, [&] {
      visit_mask_element(proposal, op, "proposal", [&](auto element) {
        using M = decltype(element);
        outputs.run(
            [&](const auto&... out) { return head_.template run_batch<M>(levels, lidar2img, proposal, out...); });
      });
    });
    return outputs.release();
  }

  nb::dict report() {
    return report_dict(without_gil(lock_, [&] { return head_.report(); }));
  }
  const model_config& config() const { return config_; }

 private:
  //! The stage observer of one run, removed however the run ends (it records into that run's outputs).
  class observing {
   public:
    observing(pipeline<cpu_executor, float>& head, pipeline<cpu_executor, float>::observer observer) : head_(head) {
      head_.observe(std::move(observer));
    }
    ~observing() { head_.observe({}); }
    observing(const observing&) = delete;
    observing& operator=(const observing&) = delete;

   private:
    pipeline<cpu_executor, float>& head_;
  };

  model_config config_;
  parameter_store<float> store_;  //!< the weights the pipeline's views point into
  pipeline<cpu_executor, float> head_;
  std::mutex lock_;
};

class stage1_pipeline {
 public:
  stage1_pipeline(const std::optional<std::filesystem::path>& weights, int threads, std::optional<std::uint64_t> seed,
                  const std::array<index_t, 3>& grid)
      : config_(qpn_config_of(grid)),
        store_(load_store<qpn_parameter_store<float>>(config_, weights, seed, "weights")),
        network_(checked_executor("voxformer.ProposalNetwork", threads), config_, store_.parameters()) {}

  nb::dict run(const input_array& occupancy, bool with_logits) {
    constexpr const char* op = "voxformer::proposal_pipeline::run";
    const auto half = config_.output_grid();
    result_array<std::uint8_t, 3> proposal(half);
    std::optional<result_array<float, 4>> logits;
    if (with_logits) logits.emplace(std::array<index_t, 4>{qpn_config::classes, half[0], half[1], half[2]});
    without_gil(lock_, [&] {
      visit_mask_element(occupancy, op, "occupancy", [&](auto element) {
        using M = decltype(element);
        if (logits) network_.template run<M>(occupancy, proposal.view(), logits->view());
        else network_.template run<M>(occupancy, proposal.view());
      });
    });
    nb::dict result;
    result["proposal"] = proposal.release();
    if (logits) result["logits"] = logits->release();
    return result;
  }

  nb::dict run_batch(const input_array& occupancy, bool with_logits) {
    constexpr const char* op = "voxformer::proposal_pipeline::run_batch";
    const index_t frames = batch_extent(occupancy, op, "occupancy", "[B, X, Y, Z]", {4});
    const auto half = config_.output_grid();
    batch_outputs<4> outputs("proposal", {frames, half[0], half[1], half[2]}, qpn_config::classes, with_logits);
    without_gil(lock_, [&] {
      visit_mask_element(occupancy, op, "occupancy", [&](auto element) {
        using M = decltype(element);
        outputs.run([&](const auto&... out) { return network_.template run_batch<M>(occupancy, out...); });
      });
    });
    return outputs.release();
  }

  nb::dict report() {
    return report_dict(without_gil(lock_, [&] { return network_.report(); }));
  }

 private:
  static qpn_config qpn_config_of(const std::array<index_t, 3>& grid) {
    qpn_config c;
    c.grid = grid;
    c.validate();
    return c;
  }

  qpn_config config_;
  qpn_parameter_store<float> store_;
  proposal_pipeline<cpu_executor, float> network_;
  std::mutex lock_;
};

}  // namespace

void bind_pipelines(nb::module_& m) {
  nb::class_<stage2_pipeline>(
      m, "Pipeline",
      "VoxFormer stage 2 + head: image features, projection matrices and a proposal in, a labelled scene out. All "
      "memory is allocated here, once; each run allocates only the arrays it returns. Give `weights` (a "
      ".safetensors checkpoint by the official names, 'pts_bbox_head.' prefix optional) or `seed` (random "
      "weights: timing and tests only). `config` is None (the variant's preset), a Config or a JSON path.")
      .def(
          "__init__",
          [](stage2_pipeline* self, const std::string& variant, const std::optional<std::filesystem::path>& weights,
             int threads, nb::handle config, std::optional<std::uint64_t> seed, index_t max_proposals,
             const std::string& layout, index_t chunk_rows) {
            require_weights("voxformer.Pipeline", weights, seed);
            model_config resolved = config_argument(variant, config);
            nb::gil_scoped_release released;  // reading the weights and sizing the memory take a while
            new (self)
                stage2_pipeline(std::move(resolved), weights, threads, seed, {max_proposals, layout, chunk_rows});
          },
          nb::arg("variant") = "T", nb::arg("weights") = nb::none(), nb::arg("threads") = 2,
          nb::arg("config") = nb::none(), nb::kw_only(), nb::arg("seed") = nb::none(), nb::arg("max_proposals") = 0,
          nb::arg("layout") = "csr", nb::arg("chunk_rows") = pipeline_options{}.chunk_rows,
          "max_proposals: the largest proposal a frame may have (0 = every voxel; smaller saves memory); layout: "
          "'csr' (ragged camera lists) or 'padded' (the original's rows), identical results; chunk_rows: rows per "
          "chunk of the chunked stages.")
      .def("run", &stage2_pipeline::run, nb::arg("features"), nb::arg("lidar2img"), nb::arg("proposal"),
           nb::kw_only(), nb::arg("logits") = false, nb::arg("stages") = false,
           nb::sig("def run(self, features: numpy.typing.ArrayLike | collections.abc.Sequence[numpy.typing.ArrayLike], "
                   "lidar2img: numpy.typing.ArrayLike, proposal: numpy.typing.ArrayLike, *, logits: bool = False, "
                   "stages: bool = False) -> dict[str, typing.Any]"),
           "One frame. features: float32 [1, K, C, h, w] or [K, C, h, w], any strides (a list of them with several "
           "levels); lidar2img: float32 [K, 4, 4]; proposal: [X, Y, Z] or [X*Y*Z] of uint8, bool, int or float "
           "(> 0 = proposed), contiguous. Returns {'labels': uint8 [2X, 2Y, 2Z]} plus 'logits' (float32 "
           "[classes, 2X, 2Y, 2Z]) "
           "and 'stages' ({'cross_layer<i>': [Nq, C], 'volume': [N, C], 'self_layer<i>': [N, C]}) when asked. "
           "Runs without the GIL.")
      .def("run_batch", &stage2_pipeline::run_batch, nb::arg("features"), nb::arg("lidar2img"), nb::arg("proposal"),
           nb::kw_only(), nb::arg("logits") = false,
           nb::sig("def run_batch(self, features: numpy.typing.ArrayLike | "
                   "collections.abc.Sequence[numpy.typing.ArrayLike], lidar2img: numpy.typing.ArrayLike, "
                   "proposal: numpy.typing.ArrayLike, *, logits: bool = False) -> dict[str, typing.Any]"),
           "B frames, each with its own proposal: every argument as for run with a leading batch axis — features "
           "[B, K, C, h, w] per level, lidar2img [B, K, 4, 4], proposal [B, X, Y, Z] or [B, X*Y*Z] (contiguous "
           "within each frame). The whole batch is checked before any frame runs; the frames then run one after "
           "another in the pipeline's one frame memory. Returns {'labels': uint8 [B, 2X, 2Y, 2Z], 'reports': one "
           "report dict per frame} plus 'logits' (float32 [B, classes, 2X, 2Y, 2Z]) when asked. Runs without the GIL.")
      .def_prop_ro("report", &stage2_pipeline::report,
                   "The last run: per-stage times ({'stages': [{'name', 'ms', 'bytes'}], 'total_ms', 'proposals', "
                   "'visible_per_camera', 'seen_by_no_camera', 'workspace_bytes', 'derived_bytes'}).")
      .def_prop_ro("config", &stage2_pipeline::config, nb::rv_policy::copy, "A copy of the configuration.");

  nb::class_<stage1_pipeline>(
      m, "ProposalNetwork",
      "VoxFormer stage 1, the query proposal network (LMSCNet_SS): an occupancy grid in, the proposal out. Give "
      "`weights` (.safetensors by LMSCNet_SS names) or `seed` (random weights).")
      .def(
          "__init__",
          [](stage1_pipeline* self, const std::optional<std::filesystem::path>& weights, int threads,
             std::optional<std::uint64_t> seed, const std::array<index_t, 3>& grid) {
            require_weights("voxformer.ProposalNetwork", weights, seed);
            nb::gil_scoped_release released;
            new (self) stage1_pipeline(weights, threads, seed, grid);
          },
          nb::arg("weights") = nb::none(), nb::arg("threads") = 2, nb::kw_only(), nb::arg("seed") = nb::none(),
          nb::arg("grid") = std::array<index_t, 3>{256, 256, 32}, "grid: the occupancy grid's (X, Y, Z).")
      .def("run", &stage1_pipeline::run, nb::arg("occupancy"), nb::kw_only(), nb::arg("logits") = false,
           nb::sig("def run(self, occupancy: numpy.typing.ArrayLike, *, logits: bool = False) -> "
                   "dict[str, numpy.typing.NDArray]"),
           "occupancy: [X, Y, Z] of uint8, bool, int or float (finite). Returns {'proposal': uint8 [X/2, Y/2, Z/2]} "
           "plus 'logits' (float32 [2, X/2, Y/2, Z/2], empty then occupied) when asked. Runs without the GIL.")
      .def("run_batch", &stage1_pipeline::run_batch, nb::arg("occupancy"), nb::kw_only(), nb::arg("logits") = false,
           nb::sig("def run_batch(self, occupancy: numpy.typing.ArrayLike, *, logits: bool = False) -> "
                   "dict[str, typing.Any]"),
           "B grids: occupancy [B, X, Y, Z], checked whole before any frame runs. Returns {'proposal': uint8 "
           "[B, X/2, Y/2, Z/2], 'reports': one report dict per frame} plus 'logits' (float32 [B, 2, X/2, Y/2, Z/2]) "
           "when asked. Runs without the GIL.")
      .def_prop_ro("report", &stage1_pipeline::report, "The last run's per-stage times, as Pipeline.report.");
}

}  // namespace voxformer::python
