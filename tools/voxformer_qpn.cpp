// voxformer_qpn: stage 1, the query proposal network (LMSCNet_SS, spec §2.5), on an occupancy grid — a .npy of
// bool, integer, float32 or float64 values with X·Y·Z elements in [x][y][z] order, or a bit-packed .bin / .pseudo grid
// — with a .safetensors checkpoint (the official LMSCNet_SS names), writing logits.npy (float32 [2, X/2, Y/2, Z/2]) and
// proposal.npy (uint8 [X/2, Y/2, Z/2], 1 = proposed), which voxformer_infer --proposal reads — both or neither: they
// move into --out only once both were written (support/staged_output.hpp).
//
//   voxformer_qpn --weights W.safetensors --grid G --out DIR [--threads N]
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>
#include <voxformer/backend/cpu/cpu_executor.hpp>
#include <voxformer/io/npy.hpp>
#include <voxformer/io/safetensors.hpp>
#include <voxformer/model/parameter_store.hpp>
#include <voxformer/pipeline/proposal_pipeline.hpp>

#include "support/occupancy_grid.hpp"
#include "support/repeated_runs.hpp"
#include "support/report_output.hpp"
#include "support/staged_output.hpp"

using namespace voxformer;

int main(int argc, char** argv) try {
  CLI::App app{
      "VoxFormer stage 1: the query proposal network (LMSCNet_SS) on an occupancy grid; writes logits.npy "
      "[2, X/2, Y/2, Z/2] float32 and proposal.npy [X/2, Y/2, Z/2] uint8 (1 = proposed) into --out."};
  std::string weights, grid_path, out_dir;
  std::optional<std::uint64_t> random_seed;
  std::vector<index_t> grid_size{256, 256, 32};
  int threads = 2, repeat = 1;
  index_t chunk = proposal_options{}.chunk_voxels;
  bool json = false;
  auto* weights_option = app.add_option("--weights", weights, "checkpoint .safetensors (LMSCNet_SS state-dict names)")
                             ->check(CLI::ExistingFile);
  app.add_option("--random-weights", random_seed, "instead of --weights: seeded random weights (timing only)")
      ->excludes(weights_option);
  app.add_option("--grid", grid_path,
                 "occupancy grid: .npy (bool, any integer, float32 or float64) with X*Y*Z elements in [x][y][z] order "
                 "(values used as given), or a bit-packed .bin/.pseudo grid")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--grid-size", grid_size, "grid extents X Y Z (multiples of 8; Z is the network's height f)")
      ->expected(3)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--out", out_dir,
                 "output folder (created once every output was written: a failed run leaves it as it was)")
      ->required();
  app.add_option("--threads", threads, "CPU threads")
      ->check(CLI::Range(1, cpu_executor::max_threads()))
      ->capture_default_str();
  app.add_option("--chunk", chunk, "output voxels per im2col chunk")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--repeat", repeat, "run the grid this many times and report each stage's median (benchmarks)")
      ->check(CLI::Range(1, 1000));
  app.add_flag("--json", json, "print the report as one JSON object instead of the table");
  CLI11_PARSE(app, argc, argv);
  if (weights.empty() && !random_seed) throw CLI::RequiredError("--weights or --random-weights");

  qpn_config config;
  config.grid = {grid_size[0], grid_size[1], grid_size[2]};
  config.validate();
  weights_report loaded;
  const auto store = random_seed
                         ? qpn_parameter_store<float>::random(config, *random_seed)
                         : qpn_parameter_store<float>::from_file(config, io::safetensors_file::open(weights), &loaded);
  for (const auto& warning : loaded.warnings) std::fprintf(stderr, "voxformer_qpn: warning: %s\n", warning.c_str());
  if (random_seed)
    std::fprintf(stderr, "voxformer_qpn: RANDOM WEIGHTS (seed %llu): the proposal means nothing\n",
                 static_cast<unsigned long long>(*random_seed));

  proposal_pipeline<cpu_executor, float> qpn(cpu_executor{threads}, config, store.parameters(), {chunk});
  const auto half = config.output_grid();
  std::vector<float> logits(static_cast<std::size_t>(2 * config.output_voxels()));
  std::vector<std::uint8_t> proposal(static_cast<std::size_t>(config.output_voxels()));
  const run_report report = tools::with_grid(grid_path, config.grid, [&](const auto& grid) {
    return tools::median_of_runs(repeat, [&](int) {
      return qpn.run(grid, make_view<3>(proposal.data(), {half[0], half[1], half[2]}),
                     make_view<4>(logits.data(), {2, half[0], half[1], half[2]}));
    });
  });
  tools::staged_output outputs(out_dir);
  outputs.write("logits.npy", [&](const std::filesystem::path& path) {
    io::write_npy(path, logits.data(), {2, half[0], half[1], half[2]});
  });
  outputs.write("proposal.npy", [&](const std::filesystem::path& path) {
    io::write_npy(path, proposal.data(), {half[0], half[1], half[2]});
  });
  outputs.commit();

  if (json) {
    nlohmann::json j = tools::report_json(report, threads, repeat);
    j["grid"] = config.grid;
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("voxformer_qpn: grid %lldx%lldx%lld, %d thread(s): %lld of %lld voxels proposed (%.2f %%)\n",
              static_cast<long long>(config.grid[0]), static_cast<long long>(config.grid[1]),
              static_cast<long long>(config.grid[2]), threads, static_cast<long long>(report.proposals),
              static_cast<long long>(config.output_voxels()),
              100.0 * static_cast<double>(report.proposals) / static_cast<double>(config.output_voxels()));
  tools::print_stage_table(report, repeat, out_dir);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "voxformer_qpn: %s\n", e.what());
  return 2;
}
