//! @file A model configuration as JSON (the keys of `model_config`, as the PyTorch reference writes them in
//! its `config.json`), read with Debian's nlohmann-json. Keys that are absent keep the preset's value;
//! unknown keys are errors (a typo must not silently fall back to a default), and so is anything nlohmann would
//! otherwise convert or drop: a value of another JSON type (128.9, 1e300, true or "128" for an integer), an
//! integer beyond 64 bits, a non-finite number, an array of the wrong length, a key given twice.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "voxformer/core/error.hpp"
#include "voxformer/io/binary_file.hpp"
#include "voxformer/io/json.hpp"
#include "voxformer/model/config.hpp"

namespace voxformer {

//! The largest configuration file read: a configuration is a few hundred bytes, and a wrong path (a weights
//! file, say) is refused before it is read whole.
inline constexpr std::uintmax_t config_json_max_bytes = std::uintmax_t{1} << 20;

namespace detail {

//! Values of a configuration read strictly, each error naming the key (`key[i]` for an element).
class config_json_reader {
 public:
  explicit config_json_reader(const std::string& where) : where_(where) {}

  //! A JSON integer within 64 bits: nothing is rounded, cast or converted.
  index_t integer(const nlohmann::json& j, const std::string& key) const {
    const bool fits = j.is_number_integer() &&
                      !(j.is_number_unsigned() &&
                        j.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<index_t>::max()));
    if (!fits) fail(where_, ": ", key, " must be an integer within 64 bits, got ", io::detail::json_excerpt(j));
    return j.get<index_t>();
  }

  //! A finite JSON number, integer or not.
  double number(const nlohmann::json& j, const std::string& key) const {
    if (!j.is_number() || !std::isfinite(j.get<double>()))
      fail(where_, ": ", key, " must be a finite number, got ", io::detail::json_excerpt(j));
    return j.get<double>();
  }

  std::string text(const nlohmann::json& j, const std::string& key) const {
    if (!j.is_string()) fail(where_, ": ", key, " must be a string, got ", io::detail::json_excerpt(j));
    return j.get<std::string>();
  }

  template <std::size_t N>
  std::array<index_t, N> integers(const nlohmann::json& j, const std::string& key) const {
    return elements<N>(j, key, [&](const nlohmann::json& e, const std::string& k) { return integer(e, k); });
  }
  template <std::size_t N>
  std::array<double, N> numbers(const nlohmann::json& j, const std::string& key) const {
    return elements<N>(j, key, [&](const nlohmann::json& e, const std::string& k) { return number(e, k); });
  }

 private:
  //! An array of exactly N values, each read by `read(value, "key[i]")`.
  template <std::size_t N, class Read>
  auto elements(const nlohmann::json& j, const std::string& key, const Read& read) const {
    if (!j.is_array() || j.size() != N)
      fail(where_, ": ", key, " must be an array of ", N, " values, got ", io::detail::json_excerpt(j));
    std::array<decltype(read(j, key)), N> values{};
    for (std::size_t i = 0; i < N; ++i) values[i] = read(j[i], key + "[" + std::to_string(i) + "]");
    return values;
  }

  const std::string& where_;
};

}  // namespace detail

//! `json` applied over the preset its "variant" names (VoxFormer-T without one), validated; `where` names the
//! source in messages.
inline model_config config_from_json(const nlohmann::json& json, const std::string& where) {
  if (!json.is_object()) detail::fail(where, ": a model configuration is a JSON object, got ", json.type_name());
  static const std::set<std::string> keys = {"variant", "self_attention", "volume", "embed_dims", "heads",
                                             "points_cross", "points_self", "levels", "level_embed_rows",
                                             "layers_cross", "layers_self", "ffn_hidden", "cameras", "classes",
                                             "view_shape", "pc_range", "image_size", "feature_shapes"};
  for (const auto& [key, value] : json.items())
    detail::require(keys.contains(key), where, ": unknown configuration key '", key, "'");
  // The library's own checks (the preset's name, validate()) speak of model_config: prefixed with the source.
  auto in_source = [&](const auto& check) {
    try {
      return check();
    } catch (const error& e) {
      detail::fail(where, ": ", e.what());
    }
  };
  const detail::config_json_reader read(where);
  const auto given = [&](const char* key) { return json.contains(key); };
  model_config c = model_config::voxformer_t();
  if (given("variant")) {
    const auto variant = read.text(json.at("variant"), "variant");
    c = in_source([&] { return model_config::preset(variant); });
  }
  if (given("self_attention")) {
    const auto kind = read.text(json.at("self_attention"), "self_attention");
    detail::require(kind == "planar" || kind == "volumetric", where, ": self_attention is '", kind,
                    "', expected 'planar' or 'volumetric'");
    c.self_attention = kind == "planar" ? self_attention_kind::planar : self_attention_kind::volumetric;
  }
  auto integer = [&](const char* key, index_t& field) {
    if (given(key)) field = read.integer(json.at(key), key);
  };
  integer("embed_dims", c.embed_dims);
  integer("heads", c.heads);
  integer("points_cross", c.points_cross);
  integer("points_self", c.points_self);
  integer("level_embed_rows", c.level_embed_rows);
  integer("layers_cross", c.layers_cross);
  integer("layers_self", c.layers_self);
  integer("ffn_hidden", c.ffn_hidden);
  integer("cameras", c.cameras);
  integer("classes", c.classes);
  if (given("volume")) c.volume = read.integers<3>(json.at("volume"), "volume");
  if (given("view_shape")) c.view_shape = read.integers<2>(json.at("view_shape"), "view_shape");
  if (given("pc_range")) {
    const auto r = read.numbers<6>(json.at("pc_range"), "pc_range");
    c.range = {{r[0], r[1], r[2]}, {r[3], r[4], r[5]}};
  }
  if (given("image_size")) {
    const auto s = read.integers<2>(json.at("image_size"), "image_size");
    c.image = {s[0], s[1]};
  }
  if (given("feature_shapes")) {
    const auto& shapes = json.at("feature_shapes");
    if (!shapes.is_array())
      detail::fail(where, ": feature_shapes must be an array of [height, width] pairs, got ",
                   io::detail::json_excerpt(shapes));
    c.feature_shapes.clear();
    for (std::size_t l = 0; l < shapes.size(); ++l) {
      const auto s = read.integers<2>(shapes[l], "feature_shapes[" + std::to_string(l) + "]");
      c.feature_shapes.push_back({s[0], s[1]});
    }
  }
  if (given("levels")) {
    const index_t levels = read.integer(json.at("levels"), "levels");
    detail::require(levels == c.levels(), where, ": levels is ", levels, " but feature_shapes lists ", c.levels());
  }
  in_source([&] { c.validate(); });
  return c;
}

namespace detail {

inline model_config config_from_text(std::string_view text, const std::string& where) {
  // nlohmann's lexer takes a NUL byte for the end of the input, which would hide whatever follows it (no valid
  // JSON text holds one: control characters in strings are escaped).
  if (const void* nul = std::memchr(text.data(), 0, text.size()))
    fail(where, ": not valid JSON: a NUL byte at offset ", static_cast<const char*>(nul) - text.data());
  nlohmann::json json;
  try {
    // Root → feature_shapes → one shape is as deep as a configuration goes (io/json.hpp).
    json = nlohmann::json::parse(text.begin(), text.end(),
                                 io::detail::strict_json_guard(where, 3, "a model configuration",
                                                               [](const std::vector<std::string>& keys) {
                                                                 return keys.empty() ? std::string() : keys[0];
                                                               }));
  } catch (const nlohmann::json::exception& e) {
    fail(where, ": not valid JSON: ", e.what());
  }
  return config_from_json(json, where);
}

}  // namespace detail

//! A configuration from JSON text in memory (`read_config_json`'s rules); `name` identifies it in messages.
inline model_config parse_config_json(std::string_view text, std::string_view name) {
  return detail::config_from_text(text, "voxformer::parse_config_json('" + std::string(name) + "')");
}

//! A configuration from a file. A missing file, a directory or any other non-regular file (a FIFO is never
//! opened), a file over `config_json_max_bytes`, a read error and everything `parse_config_json` rejects is a
//! voxformer::error naming the file.
inline model_config read_config_json(const std::filesystem::path& path) {
  const std::string where = "voxformer::read_config_json('" + path.string() + "')";
  const auto bytes = io::detail::regular_file_size(path, where);
  detail::require(bytes <= config_json_max_bytes, where, ": ", bytes, " bytes, more than the ", config_json_max_bytes,
                  " a model configuration may have");
  const std::vector<char> text = io::detail::read_file_as<char>(path, where);
  return detail::config_from_text(std::string_view(text.data(), text.size()), where);
}

}  // namespace voxformer
