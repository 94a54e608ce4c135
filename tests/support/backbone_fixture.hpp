//! @file An image-backbone fixture written by tests/reference/generate_backbone_fixtures.py (the PyTorch reference):
//! its configuration, weights, images (or normalised input) and every stage's output [K, C, h, w]; and a run of our
//! image pipeline on it that collects the same stages.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/fixtures.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/cpu_instances.hpp"  // compiled once per build flavour (tests/CMakeLists.txt)
#include "voxformer/io/npy.hpp"
#include "voxformer/io/safetensors.hpp"
#include "voxformer/model/parameter_store.hpp"
#include "voxformer/pipeline/image_pipeline.hpp"

namespace test {

struct backbone_fixture {
  std::filesystem::path dir;
  voxformer::image_backbone_config config;
  bool normalised_input = false;  //!< the case gives float images already normalised (input.npy), not 8-bit ones
  voxformer::io::npy_array images;  //!< uint8 [K, H, W, 3], or float [K, 3, h, w] for a normalised case

  explicit backbone_fixture(std::filesystem::path folder) : dir(std::move(folder)) {
    std::ifstream in(dir / "config.json");
    const auto json = nlohmann::json::parse(in);
    normalised_input = json.at("input").get<std::string>() == "normalized";
    config.base_width = json.at("base_width").get<voxformer::index_t>();
    config.blocks = json.at("blocks").get<std::array<voxformer::index_t, 3>>();
    config.neck_channels = json.at("neck_channels").get<voxformer::index_t>();
    if (normalised_input) {
      images = voxformer::io::read_npy(dir / "input.npy");
      config.crop = {images.shape.at(2), images.shape.at(3)};
    } else {
      images = voxformer::io::read_npy(dir / "images.npy");
      config.crop = json.at("crop").get<std::array<voxformer::index_t, 2>>();
      config.mean = json.at("mean").get<std::array<float, 3>>();
      config.stddev = json.at("std").get<std::array<float, 3>>();
    }
  }

  voxformer::index_t image_count() const { return images.shape.at(0); }
  voxformer::io::npy_array expected(const std::string& name) const {
    return voxformer::io::read_npy(dir / (name + ".npy"));
  }
  voxformer::image_backbone_store<float> weights(voxformer::weights_report* report = nullptr) const {
    return voxformer::image_backbone_store<float>::from_file(
        config, voxformer::io::safetensors_file::open(dir / "weights.safetensors"), report);
  }
};

//! Our outputs: each stage as [K, C, h, w] (the reference's layout), and the report.
struct backbone_outputs {
  std::map<std::string, std::vector<float>> stages;
  voxformer::run_report report;
};

inline backbone_outputs run_backbone(const backbone_fixture& f, const voxformer::image_backbone_parameters<float>& params,
                                     voxformer::cpu_executor executor, voxformer::image_options options = {}) {
  voxformer::image_pipeline<voxformer::cpu_executor, float> pipe(executor, f.config, params, options);
  backbone_outputs out;
  pipe.observe([&](std::string_view stage, voxformer::index_t, voxformer::tensor_view<const float, 4> output) {
    auto& values = out.stages[std::string(stage)];  // images one after the other: [K, C, h, w]
    for (voxformer::index_t i = 0; i < output.size(); ++i) values.push_back(output.at_flat(i));
  });
  const auto [h, w] = f.config.feature_shape();
  const voxformer::index_t k = f.image_count();
  std::vector<float> features(static_cast<std::size_t>(k * f.config.neck_channels * h * w), NAN);
  const auto feature_view = voxformer::make_view<4>(features.data(), {k, f.config.neck_channels, h, w});
  if (f.normalised_input)
    out.report = pipe.run(voxformer::make_view<4>(f.images.data<float>(), test::fixture_shape<4>(f.images)), feature_view);
  else
    out.report = pipe.run(voxformer::make_view<4>(f.images.data<std::uint8_t>(), test::fixture_shape<4>(f.images)),
                          feature_view);
  EXPECT_EQ(out.stages.at("features"), features) << "the observed features are the ones written";
  return out;
}

//! The parity rule of the issue: every element within `tolerance` × the largest magnitude of the reference stage.
inline void expect_stage_close(const std::vector<float>& ours, const voxformer::io::npy_array& reference,
                               double tolerance, const std::string& what) {
  ASSERT_EQ(static_cast<voxformer::index_t>(ours.size()), reference.size()) << what;
  const float* ref = reference.data<float>();
  double largest = 0, worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < ours.size(); ++i) largest = std::max(largest, std::abs(double(ref[i])));
  for (std::size_t i = 0; i < ours.size(); ++i) {
    const double error = std::abs(double(ours[i]) - ref[i]);
    if (!(error <= worst)) worst = error, at = i;  // NaN is the worst
  }
  EXPECT_LE(worst, tolerance * largest) << what << ": element " << at << " is " << ours[at] << ", the reference "
                                        << ref[at] << " (largest |value| " << largest << ")";
}

}  // namespace test
