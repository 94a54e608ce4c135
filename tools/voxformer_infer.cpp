// voxformer_infer: VoxFormer stage 2 + head on tensors saved from PyTorch (.npy), with a .safetensors
// checkpoint, writing the labels (and, on request, the logits and every stage's output) as .npy files — all of them
// or none: they move into --out only once every one was written (support/staged_output.hpp).
//
//   voxformer_infer --variant T --weights W.safetensors --features F.npy --lidar2img M.npy --proposal P.npy
//                   --out DIR [--threads N] [--logits] [--stages]
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
#include <voxformer/model/parameter_store.hpp>
#include <voxformer/pipeline/pipeline.hpp>

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

  model_config resolve(const io::npy_array& features) const {
    model_config c = config_file.empty() ? model_config::preset(variant) : read_config_json(config_file);
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
    // The features file fixes cameras, width and the feature map's size (one level).
    const auto& s = features.shape;
    const std::size_t offset = s.size() == 5 ? 1 : 0;
    c.cameras = cameras.value_or(s[offset]);
    c.feature_shapes = {{s[offset + 2], s[offset + 3]}};
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

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"VoxFormer stage 2 + head (cross-attention, mask-token completion, self-attention, fused header) on "
               "image features saved from PyTorch; writes labels.npy [2X, 2Y, 2Z] uint8 into --out."};
  config_flags flags;
  std::string weights, features_path, matrices_path, proposal_path, out_dir, layout = "csr";
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
  auto* weights_option = app.add_option("--weights", weights, "checkpoint .safetensors (official state-dict names, 'pts_bbox_head.' prefix optional)")
                             ->check(CLI::ExistingFile);
  app.add_option("--random-weights", random_seed, "instead of --weights: seeded random weights (timing and demos only)")
      ->excludes(weights_option);
  app.add_option("--features", features_path, "image features float32 [1, cams, C, h, w] or [cams, C, h, w]")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--lidar2img", matrices_path, "projection matrices float32/float64 [cams, 4, 4]")->required()->check(CLI::ExistingFile);
  app.add_option("--proposal", proposal_path,
                 "proposal mask, any numeric dtype, X*Y*Z elements, positive (> 0) = proposed")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--out", out_dir,
                 "output folder (created once every output was written: a failed run leaves it as it was)")
      ->required();
  app.add_option("--threads", threads, "CPU threads")->check(CLI::Range(1, 1024))->capture_default_str();
  app.add_flag("--logits", write_logits, "also write logits.npy float32 [classes, 2X, 2Y, 2Z]");
  app.add_flag("--stages", write_stages, "also write cross_layer<i>.npy, volume.npy, self_layer<i>.npy");
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
  app.add_option("--cameras", flags.cameras, "cameras (default: from the features)")->check(positive);
  app.add_option("--classes", flags.classes, "semantic classes")->check(CLI::Range(1, 256));
  app.add_option("--volume", flags.volume, "query grid X Y Z")->expected(3)->check(positive);
  app.add_option("--view", flags.view, "2-D self-attention view rows cols (rows*cols = X*Y*Z)")->expected(2)->check(positive);
  app.add_option("--image-size", flags.image_size, "image height width the pixel coordinates are normalised by")
      ->expected(2)
      ->check(positive);
  app.add_option("--pc-range", flags.pc_range, "point-cloud range xmin ymin zmin xmax ymax zmax (m)")->expected(6);
  CLI11_PARSE(app, argc, argv);
  if (weights.empty() && !random_seed) throw CLI::RequiredError("--weights or --random-weights");

  const io::npy_array features = io::read_npy(features_path);
  detail::require(features.type == dtype_of<float>(), "features '", features_path, "' are ", to_string(features.type),
                  ", expected float32");
  detail::require(features.shape.size() == 4 || features.shape.size() == 5, "features '", features_path, "' have shape ",
                  detail::format_shape(features.shape), ", expected [1, cams, C, h, w] or [cams, C, h, w]");
  const model_config config = flags.resolve(features);
  const std::vector<float> matrices = read_matrices(matrices_path, config.cameras);
  const std::vector<std::uint8_t> proposal = read_proposal(proposal_path, config.voxels());

  weights_report loaded;
  const auto store = random_seed ? parameter_store<float>::random(config, *random_seed)
                                 : parameter_store<float>::from_file(config, io::safetensors_file::open(weights), &loaded);
  for (const auto& warning : loaded.warnings) std::fprintf(stderr, "voxformer_infer: warning: %s\n", warning.c_str());
  if (random_seed) std::fprintf(stderr, "voxformer_infer: RANDOM WEIGHTS (seed %llu): the labels mean nothing\n",
                                static_cast<unsigned long long>(*random_seed));

  pipeline_options options;
  options.max_proposals = max_proposals;
  options.layout = layout == "csr" ? rebatch_layout::csr : rebatch_layout::padded;
  options.chunk_rows = chunk;
  pipeline<cpu_executor, float> pipe(cpu_executor{threads}, config, store.parameters(), options);
  tools::staged_output outputs(out_dir);  // the stages' files are written during the run
  if (write_stages)
    pipe.observe([&](std::string_view stage, tensor_view<const float, 2> output) {
      outputs.write(std::string(stage) + ".npy", [&](const std::filesystem::path& path) {
        io::write_npy(path, output.data(), {output.extent(0), output.extent(1)});
      });
    });

  const auto grid = config.output_volume();
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(config.output_voxels()));
  const auto label_view = make_view<3>(labels.data(), {grid[0], grid[1], grid[2]});
  std::vector<float> logits;
  const auto matrix_view = make_view<3>(matrices.data(), {config.cameras, 4, 4});
  const auto proposal_view = make_view<1>(proposal.data(), {config.voxels()});
  const run_report report = tools::median_of_runs(repeat, [&](int r) {
    run_report frame;
    if (write_logits) {
      logits.resize(static_cast<std::size_t>(config.output_voxels() * config.classes));
      frame = pipe.run(features, matrix_view, proposal_view, label_view,
                       make_view<4>(logits.data(), {config.classes, grid[0], grid[1], grid[2]}));
    } else {
      frame = pipe.run(features, matrix_view, proposal_view, label_view);
    }
    if (r == 0) pipe.observe({});  // stage files are written once
    return frame;
  });
  if (write_logits)
    outputs.write("logits.npy", [&](const std::filesystem::path& path) {
      io::write_npy(path, logits.data(), {config.classes, grid[0], grid[1], grid[2]});
    });
  outputs.write("labels.npy", [&](const std::filesystem::path& path) {
    io::write_npy(path, labels.data(), {grid[0], grid[1], grid[2]});
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
