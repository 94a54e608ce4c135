//! @file A whole-model fixture written by tests/reference/generate_model_fixtures.py (the PyTorch reference, images
//! to labels): the head's configuration and the image path's, one checkpoint holding both, the camera images, the
//! matrices and the proposal, and every stage's output; and the whole model built from it.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/fixtures.hpp"
#include "support/pipeline_fixture.hpp"
#include "voxformer/pipeline/voxformer_model.hpp"

namespace test {

struct model_fixture {
  std::filesystem::path dir;
  voxformer::voxformer_model_config config;
  voxformer::io::npy_array images, lidar2img, proposal;

  explicit model_fixture(std::filesystem::path folder) : dir(std::move(folder)) {
    std::ifstream in(dir / "config.json");
    auto json = nlohmann::json::parse(in);
    const auto image = json.at("image");
    json.erase("image");  // the head's keys are read by the library's reader, which knows no others
    config.head = voxformer::config_from_json(json, (dir / "config.json").string());
    config.image.crop = image.at("crop").get<std::array<voxformer::index_t, 2>>();
    config.image.mean = image.at("mean").get<std::array<float, 3>>();
    config.image.stddev = image.at("std").get<std::array<float, 3>>();
    config.image.base_width = image.at("base_width").get<voxformer::index_t>();
    config.image.blocks = image.at("blocks").get<std::array<voxformer::index_t, 3>>();
    config.image.neck_channels = image.at("neck_channels").get<voxformer::index_t>();
    config.temporal_offsets = config.head.cameras == 5 ? std::vector<voxformer::index_t>{0, -12, -9, -6, -3}
                                                       : std::vector<voxformer::index_t>(1, 0);
    images = voxformer::io::read_npy(dir / "images.npy");
    lidar2img = voxformer::io::read_npy(dir / "lidar2img.npy");
    proposal = voxformer::io::read_npy(dir / "proposal.npy");
  }

  voxformer::io::npy_array expected(const std::string& name) const {
    return voxformer::io::read_npy(dir / (name + ".npy"));
  }

  //! The checkpoint's two parts, read from the one file.
  struct weights {
    voxformer::image_backbone_store<float> image;
    voxformer::parameter_store<float> head;
    voxformer::voxformer_model_parameters<float> parameters() const { return {image.parameters(), head.parameters()}; }
  };
  weights load() const {
    const auto path = dir / "weights.safetensors";
    return {voxformer::image_backbone_store<float>::from_file(config.image, voxformer::io::safetensors_file::open(path)),
            voxformer::parameter_store<float>::from_file(config.head, voxformer::io::safetensors_file::open(path))};
  }
};

}  // namespace test
