//! @file A pipeline fixture written by tests/reference/generate_pipeline_fixtures.py (the PyTorch reference):
//! its configuration, weights, inputs and every stage's output, and a run of our pipeline on it that
//! collects the same stages.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "support/fixtures.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/cpu_instances.hpp"  // compiled once per build flavour (tests/CMakeLists.txt)
#include "voxformer/io/npy.hpp"
#include "voxformer/io/safetensors.hpp"
#include "voxformer/model/config_json.hpp"
#include "voxformer/model/parameter_store.hpp"
#include "voxformer/pipeline/pipeline.hpp"

namespace test {

struct pipeline_fixture {
  std::filesystem::path dir;
  voxformer::model_config config;
  std::vector<voxformer::io::npy_array> features;
  voxformer::io::npy_array lidar2img, proposal;

  explicit pipeline_fixture(std::filesystem::path folder) : dir(std::move(folder)) {
    config = voxformer::read_config_json(dir / "config.json");
    for (voxformer::index_t l = 0; l < config.levels(); ++l)
      features.push_back(voxformer::io::read_npy(dir / ("features" + std::to_string(l) + ".npy")));
    lidar2img = voxformer::io::read_npy(dir / "lidar2img.npy");
    proposal = voxformer::io::read_npy(dir / "proposal.npy");
  }

  voxformer::io::npy_array expected(const std::string& name) const { return voxformer::io::read_npy(dir / (name + ".npy")); }

  //! The fixture's weights, fp32 as stored.
  voxformer::parameter_store<float> weights(voxformer::weights_report* report = nullptr) const {
    return voxformer::parameter_store<float>::from_file(
        config, voxformer::io::safetensors_file::open(dir / "weights.safetensors"), report);
  }
};

//! Every stage our pipeline produced, by the observer's stage names, plus labels and logits.
struct pipeline_outputs {
  std::map<std::string, std::vector<float>> stages;
  std::vector<std::uint8_t> labels;
  std::vector<float> logits;
  voxformer::run_report report;
};

//! W: the layers' weight type (bfloat16 needs the caller to include voxformer/backend/cpu/gemm_narrow.hpp).
template <class W = float>
pipeline_outputs run_pipeline(const pipeline_fixture& f, const voxformer::model_parameters<float>& params,
                              voxformer::cpu_executor executor, voxformer::pipeline_options options) {
  voxformer::pipeline<voxformer::cpu_executor, float, W> pipe(executor, f.config, params, options);
  pipeline_outputs out;
  pipe.observe([&](std::string_view stage, voxformer::tensor_view<const float, 2> output) {
    auto& values = out.stages[std::string(stage)];
    for (voxformer::index_t i = 0; i < output.size(); ++i) values.push_back(output.at_flat(i));
  });
  const auto grid = f.config.output_volume();
  out.labels.assign(static_cast<std::size_t>(f.config.output_voxels()), 255);
  out.logits.assign(static_cast<std::size_t>(f.config.output_voxels() * f.config.classes), NAN);
  const auto labels = voxformer::make_view<3>(out.labels.data(), {grid[0], grid[1], grid[2]});
  const auto logits = voxformer::make_view<4>(out.logits.data(), {f.config.classes, grid[0], grid[1], grid[2]});
  out.report = pipe.run(f.features, f.lidar2img, f.proposal, labels, logits);
  return out;
}

//! `check(options, cpu_outputs)` for each rebatching layout, with the CPU executor's outputs in that layout: the
//! reference for a pipeline on another executor.
template <class Check>
void for_each_layout(const pipeline_fixture& f, const voxformer::model_parameters<float>& params, const Check& check) {
  for (const auto layout : {voxformer::rebatch_layout::csr, voxformer::rebatch_layout::padded}) {
    SCOPED_TRACE(layout == voxformer::rebatch_layout::csr ? "csr" : "padded");
    voxformer::pipeline_options options;
    options.layout = layout;
    check(options, run_pipeline(f, params, voxformer::cpu_executor{2}, options));
  }
}

//! The parity tolerance: every stage output and logit within 1e-4 absolute (fp32).
inline constexpr double stage_tolerance = 1e-4;

inline void expect_stage(const std::string& stage, const std::vector<float>& actual, const voxformer::io::npy_array& expected) {
  const auto reference = fixture_values<float>(expected);
  ASSERT_EQ(actual.size(), reference.size()) << stage;
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double d = std::abs(static_cast<double>(actual[i]) - reference[i]);
    if (!(d <= worst)) worst = d, at = i;  // NaN counts as the worst
  }
  EXPECT_LE(worst, stage_tolerance) << stage << ": element " << at << " is " << actual[at] << ", reference "
                                    << reference[at];
}

//! Labels agree except where the reference's two best logits are within 2e-4 of each other. `f` is any fixture
//! with the head's `config` and `expected(stage)`.
template <class Fixture>
void expect_labels(const Fixture& f, const voxformer::model_config& config, const pipeline_outputs& out) {
  const auto logits = fixture_values<float>(f.expected("logits"));
  const auto labels = fixture_values<std::uint8_t>(f.expected("labels"));
  const auto voxels = static_cast<std::size_t>(config.output_voxels());
  std::size_t compared = 0;
  for (std::size_t v = 0; v < voxels; ++v) {
    float best = -INFINITY, second = -INFINITY;
    for (voxformer::index_t c = 0; c < config.classes; ++c) {
      const float value = logits[static_cast<std::size_t>(c) * voxels + v];
      if (value > best) second = best, best = value;
      else if (value > second) second = value;
    }
    if (best - second <= 2e-4f) continue;
    ++compared;
    ASSERT_EQ(out.labels[v], labels[v]) << "voxel " << v << " (top-2 gap " << best - second << ")";
  }
  EXPECT_GT(compared, voxels * 99 / 100);
}

//! Every stage the fixture holds — each cross layer, the completed volume, each self layer, the logits and
//! the labels — against our run (`f` as for expect_labels).
template <class Fixture>
void expect_all_stages(const Fixture& f, const voxformer::model_config& config, const pipeline_outputs& out) {
  EXPECT_EQ(out.report.proposals, static_cast<voxformer::index_t>(f.expected("unmasked").size()));
  for (voxformer::index_t l = 0; l < config.layers_cross; ++l) {
    const std::string stage = "cross_layer" + std::to_string(l);
    expect_stage(stage, out.stages.at(stage), f.expected(stage));
  }
  expect_stage("volume", out.stages.at("volume"), f.expected("volume"));
  for (voxformer::index_t l = 0; l < config.layers_self; ++l) {
    const std::string stage = "self_layer" + std::to_string(l);
    expect_stage(stage, out.stages.at(stage), f.expected(stage));
  }
  expect_stage("logits", out.logits, f.expected("logits"));
  expect_labels(f, config, out);
}
inline void expect_all_stages(const pipeline_fixture& f, const pipeline_outputs& out) {
  expect_all_stages(f, f.config, out);
}

}  // namespace test
