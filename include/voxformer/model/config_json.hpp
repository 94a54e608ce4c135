//! @file A model configuration as JSON (the keys of `model_config`, as the PyTorch reference writes them in
//! its `config.json`), read with Debian's nlohmann-json. Keys that are absent keep the preset's value;
//! unknown keys are errors (a typo must not silently fall back to a default).
#pragma once

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "voxformer/core/error.hpp"
#include "voxformer/model/config.hpp"

namespace voxformer {

//! `json` applied over `base` (by default the preset named by its "variant", else VoxFormer-T), validated.
inline model_config config_from_json(const nlohmann::json& json, const std::string& where) {
  detail::require(json.is_object(), where, ": a model configuration is a JSON object");
  static const std::set<std::string> keys = {"variant", "self_attention", "volume", "embed_dims", "heads",
                                             "points_cross", "points_self", "levels", "level_embed_rows",
                                             "layers_cross", "layers_self", "ffn_hidden", "cameras", "classes",
                                             "view_shape", "pc_range", "image_size", "feature_shapes"};
  for (const auto& [key, value] : json.items())
    detail::require(keys.contains(key), where, ": unknown configuration key '", key, "'");
  model_config c = model_config::voxformer_t();
  try {
    if (json.contains("variant")) c = model_config::preset(json.at("variant").get<std::string>());
    auto number = [&](const char* key, index_t& field) {
      if (json.contains(key)) field = json.at(key).get<index_t>();
    };
    if (json.contains("self_attention")) {
      const auto kind = json.at("self_attention").get<std::string>();
      detail::require(kind == "planar" || kind == "volumetric", where, ": self_attention is '", kind,
                      "', expected 'planar' or 'volumetric'");
      c.self_attention = kind == "planar" ? self_attention_kind::planar : self_attention_kind::volumetric;
    }
    if (json.contains("volume")) c.volume = json.at("volume").get<std::array<index_t, 3>>();
    number("embed_dims", c.embed_dims);
    number("heads", c.heads);
    number("points_cross", c.points_cross);
    number("points_self", c.points_self);
    number("level_embed_rows", c.level_embed_rows);
    number("layers_cross", c.layers_cross);
    number("layers_self", c.layers_self);
    number("ffn_hidden", c.ffn_hidden);
    number("cameras", c.cameras);
    number("classes", c.classes);
    if (json.contains("view_shape")) c.view_shape = json.at("view_shape").get<std::array<index_t, 2>>();
    if (json.contains("pc_range")) {
      const auto r = json.at("pc_range").get<std::array<double, 6>>();
      c.range = {{r[0], r[1], r[2]}, {r[3], r[4], r[5]}};
    }
    if (json.contains("image_size")) {
      const auto s = json.at("image_size").get<std::array<index_t, 2>>();
      c.image = {s[0], s[1]};
    }
    if (json.contains("feature_shapes")) {
      c.feature_shapes.clear();
      for (const auto& s : json.at("feature_shapes").get<std::vector<std::array<index_t, 2>>>())
        c.feature_shapes.push_back({s[0], s[1]});
    }
    if (json.contains("levels"))
      detail::require(json.at("levels").get<index_t>() == c.levels(), where, ": levels is ",
                      json.at("levels").get<index_t>(), " but feature_shapes lists ", c.levels());
  } catch (const nlohmann::json::exception& e) {
    detail::fail(where, ": ", e.what());
  }
  c.variant = json.value("variant", c.variant);
  try {
    c.validate();
  } catch (const error& e) {
    detail::fail(where, ": ", e.what());
  }
  return c;
}

inline model_config read_config_json(const std::filesystem::path& path) {
  const std::string where = "voxformer::read_config_json('" + path.string() + "')";
  std::ifstream in(path);
  detail::require(in.good(), where, ": cannot open file");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    detail::fail(where, ": ", e.what());
  }
  return config_from_json(json, where);
}

}  // namespace voxformer
