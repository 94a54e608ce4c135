// voxformer_infer: VoxFormer from camera images (PNG) — or stage 2 + head from image features saved from PyTorch
// (.npy) — with a .safetensors checkpoint, on a proposal, or on an occupancy grid through stage 1; writes the labels
// (and, on request, the logits and every stage's output) as .npy files — all of them or none: they move into --out
// only once every one was written (support/staged_output.hpp).
//
//   voxformer_infer --variant T --weights W.safetensors --images I0.png ... I4.png --lidar2img M.npy
//                   (--proposal P.npy | --occupancy G --qpn-weights Q.safetensors) --out DIR [--logits] [--stages]
//   voxformer_infer --variant T --weights W.safetensors --features F.npy --lidar2img M.npy --proposal P.npy --out DIR
//
// Every configuration value has a flag (they default to the variant's); `--help` lists them.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>
#include <voxformer/backend/cpu/cpu_executor.hpp>
#include <voxformer/io/npy.hpp>
#include <voxformer/io/safetensors.hpp>
#include <voxformer/model/config_json.hpp>
#include <voxformer/io/png.hpp>
#include <voxformer/model/parameter_store.hpp>
#include <voxformer/pipeline/pipeline.hpp>
#include <voxformer/pipeline/proposal_pipeline.hpp>
#include <voxformer/pipeline/voxformer_model.hpp>

#include "support/camera_images.hpp"
#include "support/occupancy_grid.hpp"
#include "support/repeated_runs.hpp"
#include "support/report_output.hpp"
#include "support/staged_output.hpp"

namespace {

using namespace voxformer;

//! Configuration values given on the command line; unset ones keep the variant's.
struct config_flags {
  std::string variant = "T", config_file;
  std::optional<index_t> dims, heads, points_cross, points_self, ffn, layers_cross, layers_self, cameras, classes;
  std::vector<index_t> volume, view, image_size;
  std::vector<double> pc_range;

  //! The preset or the --config file, before the flags that override it.
  model_config base() const { return config_file.empty() ? model_config::preset(variant) : read_config_json(config_file); }

  //! The cameras the configuration names (--cameras, else the preset or the file).
  index_t configured_cameras() const { return cameras.value_or(base().cameras); }

  //! The configuration for `given_cameras` cameras whose one feature level is `features` (h, w).
  model_config resolve(index_t given_cameras, feature_shape features) const {
    model_config c = base();
    auto set = [](index_t& field, const std::optional<index_t>& value) {
      if (value) field = *value;
    };
    set(c.embed_dims, dims);
    set(c.heads, heads);
    set(c.points_cross, points_cross);
    set(c.points_self, points_self);
    set(c.ffn_hidden, ffn);
    set(c.layers_cross, layers_cross);
    set(c.layers_self, layers_self);
    set(c.classes, classes);
    if (!volume.empty()) {
      c.volume = {volume[0], volume[1], volume[2]};
      if (view.empty()) {  // the official view is the square one (512² = 128·128·16)
        const auto side = static_cast<index_t>(std::llround(std::sqrt(static_cast<double>(c.voxels()))));
        detail::require(side * side == c.voxels(), "--volume ", volume[0], " ", volume[1], " ", volume[2], " has ",
                        c.voxels(), " voxels, not a square number: give the self-attention view with --view ROWS COLS");
        c.view_shape = {side, side};
      }
    }
    if (!view.empty()) c.view_shape = {view[0], view[1]};
    if (!image_size.empty()) c.image = {image_size[0], image_size[1]};
    if (!pc_range.empty()) c.range = {{pc_range[0], pc_range[1], pc_range[2]}, {pc_range[3], pc_range[4], pc_range[5]}};
    // The input fixes the cameras and the feature map's size (one level).
    c.cameras = cameras.value_or(given_cameras);
    c.feature_shapes = {features};
    c.validate();
    return c;
  }
};

//! A proposal of any numeric dtype as uint8 0/1: positive (> 0) = proposed, VoxFormer's rule (`p > 0`, spec §2.6);
//! NaN is an error.
std::vector<std::uint8_t> read_proposal(const std::filesystem::path& path, index_t voxels) {
  const io::npy_array a = io::read_npy(path);
  const std::string where = "proposal '" + path.string() + "'";
  detail::require(a.size() == voxels, where, " has ", a.size(), " elements, the volume ", voxels);
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(voxels));
  io::visit_elements(a, where, [&](const auto* values) {
    using E = std::remove_cvref_t<decltype(*values)>;
    for (index_t i = 0; i < voxels; ++i) {
      if constexpr (std::is_floating_point_v<E>)
        detail::require(!std::isnan(values[i]), where, " holds NaN at element ", i);
      mask[static_cast<std::size_t>(i)] = values[i] > E(0) ? 1 : 0;
    }
  });
  return mask;
}

//! lidar2img as float32 [cams, 4, 4] (float64 files are rounded, as the original uses them in fp32).
std::vector<float> read_matrices(const std::filesystem::path& path, index_t cameras) {
  const io::npy_array a = io::read_npy(path);
  const std::string where = "lidar2img '" + path.string() + "'";
  detail::require(a.shape == std::vector<std::int64_t>{cameras, 4, 4}, where, " has shape ", detail::format_shape(a.shape),
                  ", expected [", cameras, ", 4, 4]");
  std::vector<float> m(static_cast<std::size_t>(a.size()));
  if (a.type == dtype_of<float>()) std::copy_n(a.data<float>(), m.size(), m.begin());
  else if (a.type == dtype_of<double>()) std::transform(a.data<double>(), a.data<double>() + m.size(), m.begin(), [](double v) { return static_cast<float>(v); });
  else detail::fail(where, " is ", to_string(a.type), ", expected float32 or float64");
  for (std::size_t i = 0; i < m.size(); ++i) detail::require(std::isfinite(m[i]), where, " holds a non-finite value at element ", i);
  return m;
}

//! Where a frame's outputs go: the labels and, when asked for, the logits, in buffers a frame writes into.
struct frame_outputs {
  model_config config;
  bool with_logits;
  std::vector<std::uint8_t> labels = std::vector<std::uint8_t>(static_cast<std::size_t>(config.output_voxels()));
  std::vector<float> logits =
      std::vector<float>(with_logits ? static_cast<std::size_t>(config.output_voxels() * config.classes) : 0);

  tensor_view<std::uint8_t, 3> label_view() {
    const auto g = config.output_volume();
    return make_view<3>(labels.data(), {g[0], g[1], g[2]});
  }
  tensor_view<float, 4> logit_view() {
    const auto g = config.output_volume();
    return make_view<4>(logits.data(), {config.classes, g[0], g[1], g[2]});
  }
  //! `run(labels)` or `run(labels, logits)`, as asked.
  template <class Run>
  run_report run(const Run& frame) {
    return with_logits ? frame(label_view(), logit_view()) : frame(label_view());
  }
};

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"VoxFormer from camera images (PNG) — or stage 2 + head from image features saved from PyTorch — on a "
               "proposal, or on an occupancy grid through stage 1; writes labels.npy [2X, 2Y, 2Z] uint8 into --out."};
  config_flags flags;
  std::string weights, qpn_weights, features_path, matrices_path, proposal_path, occupancy_path, out_dir,
      layout = "csr";
  std::vector<std::string> image_paths;
  std::vector<index_t> crop{370, 1220};
  std::optional<std::uint64_t> random_seed;
  int threads = 2;
  bool write_logits = false, write_stages = false, json = false;
  int repeat = 1;
  index_t max_proposals = 0, chunk = pipeline_options{}.chunk_rows;
  app.add_option("--variant", flags.variant, "VoxFormer variant the configuration starts from")
      ->check(CLI::IsMember({"T", "S", "T-3D", "S-3D"}))
      ->capture_default_str();
  app.add_option("--config", flags.config_file, "a configuration JSON (keys of voxformer::model_config) instead of --variant")
      ->check(CLI::ExistingFile);
  auto* weights_option =
      app.add_option("--weights", weights,
                     "checkpoint .safetensors by the official state-dict names: with --images the whole model "
                     "(img_backbone.*, img_neck.*, pts_bbox_head.*), with --features the head ('pts_bbox_head.' "
                     "prefix optional)")
          ->check(CLI::ExistingFile);
  app.add_option("--random-weights", random_seed,
                 "instead of --weights (and --qpn-weights): seeded random weights (timing and demos only)")
      ->excludes(weights_option);
  auto* images_option =
      app.add_option("--images", image_paths,
                     "camera images, 8-bit RGB PNG, one per camera in the configuration's order (VoxFormer-T: the "
                     "frames t, t-12, t-9, t-6, t-3), at least --crop in size")
          ->check(CLI::ExistingFile);
  app.add_option("--features", features_path, "instead of --images: image features float32 [1, cams, C, h, w] or [cams, C, h, w]")
      ->excludes(images_option)
      ->check(CLI::ExistingFile);
  app.add_option("--crop", crop, "with --images: rows and columns kept from each image's top-left corner")
      ->needs(images_option)
      ->expected(2)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--lidar2img", matrices_path, "projection matrices float32/float64 [cams, 4, 4]")->required()->check(CLI::ExistingFile);
  auto* proposal_option =
      app.add_option("--proposal", proposal_path, "proposal mask, any numeric dtype, X*Y*Z elements, positive (> 0) = proposed")
          ->check(CLI::ExistingFile);
  auto* occupancy_option =
      app.add_option("--occupancy", occupancy_path,
                     "instead of --proposal: the occupancy grid [2X, 2Y, 2Z] stage 1 proposes from (.npy of any "
                     "numeric dtype, or a bit-packed .bin/.pseudo)")
          ->excludes(proposal_option)
          ->check(CLI::ExistingFile);
  app.add_option("--qpn-weights", qpn_weights, "with --occupancy: stage 1's checkpoint .safetensors (LMSCNet_SS names)")
      ->needs(occupancy_option)
      ->excludes("--random-weights")
      ->check(CLI::ExistingFile);
  app.add_option("--out", out_dir,
                 "output folder (created once every output was written: a failed run leaves it as it was)")
      ->required();
  app.add_option("--threads", threads, "CPU threads")->check(CLI::Range(1, 1024))->capture_default_str();
  app.add_flag("--logits", write_logits, "also write logits.npy float32 [classes, 2X, 2Y, 2Z]");
  app.add_flag("--stages", write_stages,
               "also write cross_layer<i>.npy, volume.npy, self_layer<i>.npy (and with --images features.npy "
               "[1, cams, C, h, w])");
  app.add_option("--layout", layout, "camera rebatching: ragged csr, or the original's padded rows")
      ->check(CLI::IsMember({"csr", "padded"}))
      ->capture_default_str();
  app.add_option("--max-proposals", max_proposals, "largest proposal to size memory for (0 = every voxel)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--repeat", repeat, "run the frame this many times and report each stage's median (benchmarks)")
      ->check(CLI::Range(1, 1000));
  app.add_flag("--json", json, "print the report as one JSON object instead of the table");
  app.add_option("--chunk", chunk, "rows per chunk of the chunked stages")->check(CLI::PositiveNumber)->capture_default_str();
  const auto positive = CLI::PositiveNumber;
  app.add_option("--dims", flags.dims, "embedding width C")->check(positive);
  app.add_option("--heads", flags.heads, "attention heads")->check(positive);
  app.add_option("--points-cross", flags.points_cross, "sampling points per head, cross-attention")->check(positive);
  app.add_option("--points-self", flags.points_self, "sampling points per head and queue slot, self-attention")->check(positive);
  app.add_option("--ffn", flags.ffn, "FFN hidden width")->check(positive);
  app.add_option("--layers-cross", flags.layers_cross, "cross-attention layers")->check(CLI::NonNegativeNumber);
  app.add_option("--layers-self", flags.layers_self, "self-attention layers")->check(CLI::NonNegativeNumber);
  app.add_option("--cameras", flags.cameras, "cameras (default: the variant's or --config's, which --images must match; with --features, as many as feature maps are given)")->check(positive);
  app.add_option("--classes", flags.classes, "semantic classes")->check(CLI::Range(1, 256));
  app.add_option("--volume", flags.volume, "query grid X Y Z")->expected(3)->check(positive);
  app.add_option("--view", flags.view, "2-D self-attention view rows cols (rows*cols = X*Y*Z)")->expected(2)->check(positive);
  app.add_option("--image-size", flags.image_size, "image height width the pixel coordinates are normalised by")
      ->expected(2)
      ->check(positive);
  app.add_option("--pc-range", flags.pc_range, "point-cloud range xmin ymin zmin xmax ymax zmax (m)")->expected(6);
  CLI11_PARSE(app, argc, argv);
  if (weights.empty() && !random_seed) throw CLI::RequiredError("--weights or --random-weights");
  if (image_paths.empty() && features_path.empty()) throw CLI::RequiredError("--images or --features");
  if (proposal_path.empty() && occupancy_path.empty()) throw CLI::RequiredError("--proposal or --occupancy");
  if (!occupancy_path.empty() && qpn_weights.empty() && !random_seed)
    throw CLI::RequiredError("--qpn-weights (with --occupancy)");

  // Every input is read and checked, and the model built, before --out is touched.
  std::vector<std::uint8_t> pixels;
  io::npy_array features;
  image_backbone_config image;
  model_config config;
  std::array<index_t, 2> image_extent{};
  if (!image_paths.empty()) {
    image.crop = {crop[0], crop[1]};
    if (!weights.empty()) image = image_backbone_config_of(io::safetensors_file::open(weights), image);  // its widths
    image.validate();
    const auto given = static_cast<index_t>(image_paths.size());
    detail::require(given == flags.configured_cameras(), "--images: ", given, " image(s) given, the configuration has ",
                    flags.configured_cameras(), " camera(s)");
    image_extent = tools::read_camera_images(image_paths, pixels);
    const auto [h, w] = image.feature_shape();
    if (flags.image_size.empty()) flags.image_size = crop;  // pixel coordinates are those of the crop
    config = flags.resolve(given, {h, w});
  } else {
    features = io::read_npy(features_path);
    detail::require(features.type == dtype_of<float>(), "features '", features_path, "' are ", to_string(features.type),
                    ", expected float32");
    const auto& s = features.shape;
    detail::require(s.size() == 4 || s.size() == 5, "features '", features_path, "' have shape ", detail::format_shape(s),
                    ", expected [1, cams, C, h, w] or [cams, C, h, w]");
    const std::size_t first = s.size() == 5 ? 1 : 0;
    config = flags.resolve(s[first], {s[first + 2], s[first + 3]});
  }
  const std::vector<float> matrices = read_matrices(matrices_path, config.cameras);
  std::optional<qpn_config> stage1;
  if (!occupancy_path.empty()) {
    stage1.emplace();
    stage1->grid = {2 * config.volume[0], 2 * config.volume[1], 2 * config.volume[2]};
    stage1->validate();
  }
  const std::vector<std::uint8_t> proposal =
      proposal_path.empty() ? std::vector<std::uint8_t>() : read_proposal(proposal_path, config.voxels());

  weights_report loaded;
  auto warn = [&] {
    for (const auto& warning : loaded.warnings) std::fprintf(stderr, "voxformer_infer: warning: %s\n", warning.c_str());
  };
  const auto head_store = random_seed ? parameter_store<float>::random(config, *random_seed)
                                      : parameter_store<float>::from_file(config, io::safetensors_file::open(weights), &loaded);
  warn();
  std::optional<qpn_parameter_store<float>> qpn_store;
  if (stage1)
    qpn_store.emplace(random_seed ? qpn_parameter_store<float>::random(*stage1, *random_seed)
                                  : qpn_parameter_store<float>::from_file(*stage1, io::safetensors_file::open(qpn_weights)));
  std::optional<image_backbone_store<float>> image_store;
  if (!image_paths.empty())
    image_store.emplace(random_seed ? image_backbone_store<float>::random(image, *random_seed)
                                    : image_backbone_store<float>::from_file(image, io::safetensors_file::open(weights)));
  if (random_seed) std::fprintf(stderr, "voxformer_infer: RANDOM WEIGHTS (seed %llu): the labels mean nothing\n",
                                static_cast<unsigned long long>(*random_seed));

  pipeline_options options;
  options.max_proposals = max_proposals;
  options.layout = layout == "csr" ? rebatch_layout::csr : rebatch_layout::padded;
  options.chunk_rows = chunk;
  const cpu_executor executor{threads};
  tools::staged_output outputs(out_dir);  // the stages' files are written during the run
  auto observe_stages = [&](pipeline<cpu_executor, float>& head) {
    if (write_stages)
      head.observe([&](std::string_view stage, tensor_view<const float, 2> output) {
        outputs.write(std::string(stage) + ".npy", [&](const std::filesystem::path& path) {
          io::write_npy(path, output.data(), {output.extent(0), output.extent(1)});
        });
      });
  };
  const auto matrix_view = make_view<3>(matrices.data(), {config.cameras, 4, 4});
  const auto proposal_view = make_view<1>(proposal.data(), {static_cast<index_t>(proposal.size())});
  frame_outputs result{config, write_logits};
  run_report report;
  // `frame(scene, labels[, logits])` over --repeat runs, on the proposal or on the occupancy grid (of its own dtype).
  auto repeated = [&](const auto& frame, const auto& forget_observers) {
    auto on = [&](const auto& scene) {
      return tools::median_of_runs(repeat, [&](int r) {
        const run_report one = result.run([&](const auto&... out) { return frame(scene, out...); });
        if (r == 0) forget_observers();  // stage files are written once
        return one;
      });
    };
    return stage1 ? tools::with_grid(occupancy_path, stage1->grid, on) : on(proposal_view);
  };
  if (!image_paths.empty()) {
    voxformer_model_config model_config;
    model_config.head = config;
    model_config.image = image;
    model_config.stage1 = stage1;
    model_config.temporal_offsets.resize(static_cast<std::size_t>(config.cameras));  // one camera per image given
    for (index_t k = 0; k < config.cameras; ++k) model_config.temporal_offsets[static_cast<std::size_t>(k)] = -k;
    voxformer_model_parameters<float> parameters{image_store->parameters(), head_store.parameters()};
    if (qpn_store) parameters.stage1 = qpn_store->parameters();
    voxformer_model<cpu_executor, float> model(executor, model_config, parameters, {options, {}, {}});
    observe_stages(model.head());
    const auto images = make_view<4>(static_cast<const std::uint8_t*>(pixels.data()),
                                     {config.cameras, image_extent[0], image_extent[1], 3});
    report = repeated(
        [&](const auto& scene, const auto&... out) { return model.run(images, matrix_view, scene, out...); },
        [&] { model.head().observe({}); });
    if (write_stages) {
      const auto f = model.features();
      outputs.write("features.npy", [&](const std::filesystem::path& path) {
        io::write_npy(path, f.data(), {1, f.extent(0), f.extent(1), f.extent(2), f.extent(3)});
      });
    }
  } else {
    pipeline<cpu_executor, float> head(executor, config, head_store.parameters(), options);
    std::optional<proposal_pipeline<cpu_executor, float>> proposer;
    if (stage1) proposer.emplace(executor, *stage1, qpn_store->parameters());
    std::vector<std::uint8_t> proposed(static_cast<std::size_t>(stage1 ? config.voxels() : 0));
    const auto proposed_view = make_view<3>(proposed.data(), {config.volume[0], config.volume[1], config.volume[2]});
    observe_stages(head);
    report = repeated(
        [&](const auto& scene, const auto&... out) {
          if constexpr (std::remove_cvref_t<decltype(scene)>::rank == 3) {  // the occupancy: stage 1 proposes
            proposer->run(scene, proposed_view);
            return head.run(features, matrix_view, tensor_view<const std::uint8_t, 3>(proposed_view), out...);
          } else {
            return head.run(features, matrix_view, scene, out...);
          }
        },
        [&] { head.observe({}); });
  }
  const auto grid = config.output_volume();
  if (write_logits)
    outputs.write("logits.npy", [&](const std::filesystem::path& path) {
      io::write_npy(path, result.logits.data(), {config.classes, grid[0], grid[1], grid[2]});
    });
  outputs.write("labels.npy", [&](const std::filesystem::path& path) {
    io::write_npy(path, result.labels.data(), {grid[0], grid[1], grid[2]});
  });
  outputs.commit();

  if (json) {
    nlohmann::json j = tools::report_json(report, threads, repeat);
    j["variant"] = config.variant;
    j["visible_per_camera"] = report.visible_per_camera;
    j["seen_by_no_camera"] = report.seen_by_no_camera;
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("voxformer_infer: variant %s, %d thread(s), %lld proposals", config.variant.c_str(), threads,
              static_cast<long long>(report.proposals));
  for (std::size_t k = 0; k < report.visible_per_camera.size(); ++k)
    std::printf("%s%lld", k == 0 ? " (visible per camera: " : ", ", static_cast<long long>(report.visible_per_camera[k]));
  std::printf("; seen by no camera: %lld)\n", static_cast<long long>(report.seen_by_no_camera));
  tools::print_stage_table(report, repeat, out_dir);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "voxformer_infer: %s\n", e.what());
  return 2;
}
