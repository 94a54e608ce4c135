//! @file A query-proposal-network fixture written by tests/reference/generate_qpn_fixtures.py (the PyTorch
//! reference): configuration, grid, weights and the reference's logits, proposal and intermediates (channels
//! last), and a run of our proposal pipeline on it that collects the same stages in the fixtures' layout.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/cpu_instances.hpp"  // compiled once per build flavour (tests/CMakeLists.txt)
#include "voxformer/io/npy.hpp"
#include "voxformer/io/safetensors.hpp"
#include "voxformer/model/parameter_store.hpp"
#include "voxformer/pipeline/proposal_pipeline.hpp"

namespace test {

struct qpn_fixture {
  std::filesystem::path dir;
  voxformer::qpn_config config;
  voxformer::io::npy_array grid;

  explicit qpn_fixture(std::filesystem::path folder) : dir(std::move(folder)) {
    std::ifstream in(dir / "config.json");
    const auto json = nlohmann::json::parse(in);
    config.grid = json.at("grid").get<std::array<voxformer::index_t, 3>>();
    EXPECT_EQ(json.at("height").get<voxformer::index_t>(), config.height());
    grid = voxformer::io::read_npy(dir / "grid.npy");
  }

  voxformer::io::npy_array expected(const std::string& name) const {
    return voxformer::io::read_npy(dir / (name + ".npy"));
  }
  voxformer::qpn_parameter_store<float> weights(voxformer::weights_report* report = nullptr) const {
    return voxformer::qpn_parameter_store<float>::from_file(
        config, voxformer::io::safetensors_file::open(dir / "weights.safetensors"), report);
  }
};

//! Our outputs: each stage in the fixtures' channels-last layout (images [X', Y', C], volumes [X', Y', Z', C]),
//! the logits [2, X/2, Y/2, Z/2] and the proposal [X/2, Y/2, Z/2].
struct qpn_outputs {
  std::map<std::string, std::vector<float>> stages;
  std::vector<float> logits;
  std::vector<std::uint8_t> proposal;
  voxformer::run_report report;
};

//! The observer's output — [C, 1, H, W] (an image, H = x, W = y) or [C, D, H, W] (the head's volume, D = z) —
//! rearranged channels last: [H][W][C], or [H][W][D][C].
inline std::vector<float> channels_last(const voxformer::tensor_view<const float, 4>& v) {
  std::vector<float> out;
  out.reserve(static_cast<std::size_t>(v.size()));
  for (voxformer::index_t h = 0; h < v.extent(2); ++h)
    for (voxformer::index_t w = 0; w < v.extent(3); ++w)
      for (voxformer::index_t d = 0; d < v.extent(1); ++d)
        for (voxformer::index_t c = 0; c < v.extent(0); ++c) out.push_back(v(c, d, h, w));
  return out;
}

template <class Element>
qpn_outputs run_qpn(const qpn_fixture& f, const voxformer::qpn_parameters<float>& params,
                    voxformer::cpu_executor executor, voxformer::proposal_options options = {}) {
  voxformer::proposal_pipeline<voxformer::cpu_executor, float> pipe(executor, f.config, params, options);
  qpn_outputs out;
  pipe.observe([&](std::string_view stage, voxformer::tensor_view<const float, 4> output) {
    out.stages[std::string(stage)] = channels_last(output);
  });
  const auto half = f.config.output_grid();
  out.logits.assign(static_cast<std::size_t>(2 * f.config.output_voxels()), NAN);
  out.proposal.assign(static_cast<std::size_t>(f.config.output_voxels()), 255);
  const auto& g = f.config.grid;
  out.report = pipe.run(voxformer::make_view<3>(f.grid.data<Element>(), {g[0], g[1], g[2]}),
                        voxformer::make_view<3>(out.proposal.data(), {half[0], half[1], half[2]}),
                        voxformer::make_view<4>(out.logits.data(), {2, half[0], half[1], half[2]}));
  return out;
}

//! Every element of `ours` within tolerance·max(1, |reference|) of `reference`; reports the worst.
inline void expect_close_relative(const std::vector<float>& ours, const voxformer::io::npy_array& reference,
                                  double tolerance, const std::string& what) {
  ASSERT_EQ(static_cast<voxformer::index_t>(ours.size()), reference.size()) << what;
  const float* ref = reference.data<float>();
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    const double error = std::abs(double(ours[i]) - ref[i]) / std::max(1.0, std::abs(double(ref[i])));
    if (std::isnan(error)) {
      worst = INFINITY, at = i;
      break;
    }
    if (error > worst) worst = error, at = i;
  }
  EXPECT_LE(worst, tolerance) << what << ": element " << at << " is " << ours[at] << ", the reference " << ref[at];
}

//! The proposal equals the reference's wherever the reference's two logits are further apart than `tolerance`
//! (nearer ties may go either way), and the report counts it.
inline void expect_proposal_matches(const qpn_fixture& f, const qpn_outputs& ours, double tolerance) {
  const auto reference = f.expected("proposal");
  const auto logits = f.expected("logits");
  const std::uint8_t* ref = reference.data<std::uint8_t>();
  const float* l = logits.data<float>();
  const auto n = static_cast<std::size_t>(reference.size());
  voxformer::index_t clear = 0, differing = 0;
  for (std::size_t v = 0; v < n; ++v) {
    if (std::abs(l[n + v] - l[v]) <= tolerance) continue;
    ++clear;
    differing += ours.proposal[v] != ref[v];
  }
  EXPECT_EQ(differing, 0) << "of " << clear << " voxels whose logits are clearly apart";
  EXPECT_GT(clear, voxformer::index_t(n) * 9 / 10);
  EXPECT_EQ(ours.report.proposals, std::count(ours.proposal.begin(), ours.proposal.end(), 1));
}

}  // namespace test
