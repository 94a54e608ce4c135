//! @file A dataset's label configuration (SemanticKITTI's `semantic-kitti.yaml`, read with yaml-cpp): raw label ids
//! with their names and colours, the learning map raw id → class and its inverse, `learning_ignore`, and the
//! conversions of spec §2.4 (ground truth) and §5.2 (submissions) over whole volumes (docs/conventions.md, "Files").
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "voxformer/core/config.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/io/binary_file.hpp"

namespace voxformer::io {

//! A colour as red, green, blue (the yaml stores blue, green, red).
struct rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  friend bool operator==(const rgb&, const rgb&) = default;
};

class label_map;

namespace detail {
inline label_map parse_label_map(std::string_view text, std::string source, std::string_view where);
}  // namespace detail

//! Raw label ids (uint16, the semantic part of a label) ↔ classes 0..classes()−1 (at most 255, so that a class
//! fits a byte beside 255 = ignore). A value type: read once, then convert any number of volumes.
class label_map {
 public:
  //! The class id of a ground-truth voxel that is not evaluated.
  static constexpr std::uint8_t ignore = 255;

  //! Reads a yaml file with the sections `labels`, `color_map`, `learning_map`, `learning_map_inv` and
  //! `learning_ignore` (others, e.g. `content` and `split`, are skipped). Every problem is one voxformer::error
  //! naming the file and the section.
  static label_map read(const std::filesystem::path& path) {
    const std::string where = "voxformer::io::label_map::read('" + path.string() + "')";
    const auto text = detail::read_file_as<char>(path, where);
    return detail::parse_label_map({text.data(), text.size()}, path.string(), where);
  }

  //! The same from yaml text in memory; `name` identifies it in messages.
  static label_map parse(std::string_view yaml_text, std::string_view name) {
    return detail::parse_label_map(yaml_text, std::string(name),
                                   "voxformer::io::label_map::parse('" + std::string(name) + "')");
  }

  //! The number of classes: the entries of `learning_map_inv`.
  index_t classes() const { return static_cast<index_t>(raw_of_class_.size()); }

  //! The class of a raw id, or of a point label (uint32, instance id in the high 16 bits: only the low 16 count).
  //! A raw id absent from `learning_map` throws.
  std::uint8_t to_class(std::uint32_t label) const {
    const auto raw = static_cast<std::uint16_t>(label & 0xFFFFu);
    const auto c = class_of_raw_[raw];
    voxformer::detail::require(c != no_class, "voxformer::io::label_map::to_class: raw label ", raw,
                               " is not in the learning_map of '", source_, "'");
    return c;
  }

  //! The raw id a class is written as (`learning_map_inv`); a class ≥ classes() throws.
  std::uint16_t to_raw(index_t class_id) const {
    return raw_of_class_[checked_class(class_id, "voxformer::io::label_map::to_raw")];
  }

  //! `labels[learning_map_inv[c]]`, e.g. "car" for class 1.
  const std::string& class_name(index_t class_id) const {
    return names_.at(to_raw(class_id));
  }

  //! `color_map[learning_map_inv[c]]`, as RGB.
  rgb class_colour(index_t class_id) const { return colours_.at(to_raw(class_id)); }

  //! `learning_ignore[c]`.
  bool ignored(index_t class_id) const {
    return ignored_[checked_class(class_id, "voxformer::io::label_map::ignored")];
  }

  //! The name and the RGB colour of any raw id the yaml lists in `labels` / `color_map` (which include every id
  //! of `learning_map`); another id throws.
  const std::string& raw_name(std::uint16_t raw) const {
    return find_raw(names_, raw, "raw_name", "labels");
  }
  rgb raw_colour(std::uint16_t raw) const { return find_raw(colours_, raw, "raw_colour", "color_map"); }

  //! The raw ids of `learning_map`, ascending.
  const std::vector<std::uint16_t>& raw_ids() const { return raw_ids_; }

  //! The file (or name) the map was read from, as its messages name it.
  const std::string& source() const { return source_; }

  //! Predictions in raw ids → classes through `learning_map` (a raw id that maps to 0 gives 0, empty). A raw id
  //! absent from the map throws, naming the first such voxel; nothing is written then.
  void to_classes(std::span<const std::uint16_t> raw, std::span<std::uint8_t> classes) const {
    constexpr std::string_view op = "voxformer::io::label_map::to_classes";
    require_sizes(op, raw.size(), classes.size());
    require_known(op, raw, {});
    std::transform(raw.begin(), raw.end(), classes.begin(), [&](std::uint16_t r) { return class_of_raw_[r]; });
  }

  //! Ground truth (spec §2.4): raw ids → classes, except that a raw id mapping to class 0, other than raw 0
  //! itself (unlabeled, outlier, other-structure, other-object), becomes `ignore`, and so does every voxel whose
  //! `invalid` entry is non-zero. `invalid` is empty (no mask) or one entry per voxel (an unpacked `.invalid`
  //! grid). Raw ids of valid voxels must be in the learning map (else the first is named and nothing is written);
  //! those of invalid voxels are not read.
  void ground_truth_classes(std::span<const std::uint16_t> raw, std::span<const std::uint8_t> invalid,
                            std::span<std::uint8_t> classes) const {
    constexpr std::string_view op = "voxformer::io::label_map::ground_truth_classes";
    require_sizes(op, raw.size(), classes.size());
    voxformer::detail::require(invalid.empty() || invalid.size() == raw.size(), op, ": 'invalid' has ",
                               invalid.size(), " entries for ", raw.size(), " voxels (give none or one per voxel)");
    require_known(op, raw, invalid);
    // Arithmetic, not `?:` over `&&` / `||`: the conditions alternate at random along a volume, and GCC branches on
    // those (3× slower). One loop per case, so that a missing mask is not tested per voxel.
    const auto convert = [&](auto is_invalid) {
      for (std::size_t v = 0; v < raw.size(); ++v) {
        const auto c = class_of_raw_[raw[v]];
        const unsigned drop = (unsigned{c == 0} & unsigned{raw[v] != 0}) | unsigned{is_invalid(v)};
        classes[v] = static_cast<std::uint8_t>(c | (0u - drop));  // drop ? 255 (ignore) : c
      }
    };
    if (invalid.empty()) convert([](std::size_t) { return false; });
    else convert([&](std::size_t v) { return invalid[v] != 0; });
  }

  //! Classes → raw ids (`learning_map_inv`), for writing submissions. A value ≥ classes() (255 included) throws,
  //! naming the first such voxel; nothing is written then.
  void to_raw(std::span<const std::uint8_t> classes, std::span<std::uint16_t> raw) const {
    constexpr std::string_view op = "voxformer::io::label_map::to_raw";
    require_sizes(op, classes.size(), raw.size());
    const auto count = raw_of_class_.size();
    const auto bad = std::find_if(classes.begin(), classes.end(), [&](std::uint8_t c) { return c >= count; });
    voxformer::detail::require(bad == classes.end(), op, ": value ", static_cast<int>(bad == classes.end() ? 0 : *bad),
                               " at voxel ", bad - classes.begin(), " is not a class of '", source_, "' (0..",
                               count - 1, ")");
    std::transform(classes.begin(), classes.end(), raw.begin(), [&](std::uint8_t c) { return raw_of_class_[c]; });
  }

 private:
  friend label_map detail::parse_label_map(std::string_view, std::string, std::string_view);

  //! Marks a raw id without a class in `class_of_raw_` (classes are at most 254).
  static constexpr std::uint8_t no_class = 255;

  std::size_t checked_class(index_t class_id, std::string_view op) const {
    voxformer::detail::require(class_id >= 0 && class_id < classes(), op, ": class ", class_id, " is not a class of '",
                               source_, "' (0..", classes() - 1, ")");
    return static_cast<std::size_t>(class_id);
  }

  template <class Value>
  const Value& find_raw(const std::map<std::uint16_t, Value>& section, std::uint16_t raw, std::string_view function,
                        std::string_view key) const {
    const auto it = section.find(raw);
    voxformer::detail::require(it != section.end(), "voxformer::io::label_map::", function, ": raw label ", raw,
                               " is not in the ", key, " of '", source_, "'");
    return it->second;
  }

  static void require_sizes(std::string_view op, std::size_t in, std::size_t out) {
    voxformer::detail::require(in == out, op, ": the output has ", out, " entries for ", in, " input voxels");
  }

  //! The first voxel (not marked invalid) whose raw id is not in the learning map is an error.
  void require_known(std::string_view op, std::span<const std::uint16_t> raw,
                     std::span<const std::uint8_t> invalid) const {
    for (std::size_t v = 0; v < raw.size(); ++v)
      if (class_of_raw_[raw[v]] == no_class && (invalid.empty() || invalid[v] == 0))
        voxformer::detail::fail(op, ": raw label ", raw[v], " at voxel ", v, " is not in the learning_map of '",
                                source_, "'");
  }

  std::string source_;
  std::vector<std::uint8_t> class_of_raw_ = std::vector<std::uint8_t>(std::size_t{1} << 16, no_class);
  std::vector<std::uint16_t> raw_of_class_;  // learning_map_inv
  std::vector<std::uint16_t> raw_ids_;       // learning_map's keys
  std::vector<bool> ignored_;                // learning_ignore
  std::map<std::uint16_t, std::string> names_;
  std::map<std::uint16_t, rgb> colours_;
};

namespace detail {

//! One `key: value` of a section; messages give the key's line (an empty value has no line of its own).
struct yaml_entry {
  YAML::Node key, value;
};

//! Reads the yaml sections as strictly typed maps: keys and numbers are plain (unquoted) decimal integers without
//! leading zeros (PyYAML, which the dataset's own tools use, reads 010 as octal 8), each key once.
class label_yaml {
 public:
  explicit label_yaml(std::string_view where) : where_(where) {}

  //! The map `root[key]`, which the file holds once (yaml-cpp would take the first of two; PyYAML the last).
  YAML::Node section(const YAML::Node& root, const char* key) const {
    int seen = 0;
    for (const auto& top : root)
      if (top.first.IsScalar() && top.first.Scalar() == key) ++seen;
    voxformer::detail::require(seen <= 1, where_, ": the '", key, "' section appears ", seen, " times");
    const YAML::Node node = root[key];
    voxformer::detail::require(node.IsDefined(), where_, ": no '", key, "' section");
    voxformer::detail::require(node.IsMap(), where_, ": '", key, "'", at(node), " is not a map of key: value pairs");
    return node;
  }

  //! The entries of section `key` by integer key (≤ `max_key`, each once).
  std::map<std::uint32_t, yaml_entry> entries(const YAML::Node& root, const char* key, std::uint32_t max_key,
                                              std::string_view key_kind) const {
    std::map<std::uint32_t, yaml_entry> out;
    for (const auto& entry : section(root, key)) {
      const auto k = integer(entry.first, entry.first, key, key_kind, max_key);
      voxformer::detail::require(out.emplace(k, yaml_entry{entry.first, entry.second}).second, where_, ": '", key, "'",
                                 at(entry.first), " lists ", key_kind, " ", k, " twice");
    }
    return out;
  }

  //! `node` as a plain decimal integer ≤ `max`; messages name `section`, `what` and the line of `located`.
  std::uint32_t integer(const YAML::Node& node, const YAML::Node& located, std::string_view section,
                        std::string_view what, std::uint32_t max) const {
    const bool plain = node.IsScalar() && node.Tag() == "?";
    const std::string text = plain ? node.Scalar() : std::string();
    std::uint32_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    const bool decimal = plain && !text.empty() && ec == std::errc{} && end == text.data() + text.size() &&
                         (text.size() == 1 || text[0] != '0');
    voxformer::detail::require(decimal, where_, ": '", section, "'", at(located), ": ", what, " ", shown(node),
                               " is not a decimal integer");
    voxformer::detail::require(value <= max, where_, ": '", section, "'", at(located), ": ", what, " ", value,
                               " is out of range (0..", max, ")");
    return value;
  }

  //! A scalar's text, for messages (cut short), or what kind of node it is.
  static std::string shown(const YAML::Node& node) {
    if (node.IsScalar()) return "'" + node.Scalar().substr(0, 40) + "'";
    return node.IsSequence() ? "(a list)" : node.IsMap() ? "(a map)" : "(empty)";
  }

  //! " (line N)" where the yaml says where the node is.
  static std::string at(const YAML::Node& node) {
    const auto mark = node.Mark();
    return mark.is_null() ? std::string() : " (line " + std::to_string(mark.line + 1) + ")";
  }

  const std::string& where() const { return where_; }

 private:
  std::string where_;
};

inline label_map parse_label_map(std::string_view text, std::string source, std::string_view where_text) {
  using voxformer::detail::fail;
  using voxformer::detail::require;
  const label_yaml yaml(where_text);
  const std::string& where = yaml.where();
  label_map map;
  map.source_ = std::move(source);
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    require(root.IsMap(), where, ": not a yaml map of sections");
    constexpr std::uint32_t max_raw = 0xFFFF, max_class = 254;

    // learning_map_inv fixes the classes: exactly 0..N−1.
    const auto inverse = yaml.entries(root, "learning_map_inv", max_class, "class");
    require(!inverse.empty(), where, ": 'learning_map_inv' is empty");
    const auto classes = static_cast<std::uint32_t>(inverse.size());
    for (std::uint32_t c = 0; c < classes; ++c)
      require(inverse.contains(c), where, ": 'learning_map_inv' has ", classes, " entries but no class ", c,
              " (classes are 0..", classes - 1, ")");
    for (const auto& [c, e] : inverse)
      map.raw_of_class_.push_back(
          static_cast<std::uint16_t>(yaml.integer(e.value, e.key, "learning_map_inv", "raw label", max_raw)));

    for (const auto& [raw, e] : yaml.entries(root, "learning_map", max_raw, "raw label")) {
      const auto c = yaml.integer(e.value, e.key, "learning_map", "class", max_class);
      require(c < classes, where, ": 'learning_map'", label_yaml::at(e.key), " maps raw label ", raw, " to class ", c,
              ", which 'learning_map_inv' lacks (classes 0..", classes - 1, ")");
      map.class_of_raw_[raw] = static_cast<std::uint8_t>(c);
      map.raw_ids_.push_back(static_cast<std::uint16_t>(raw));
    }
    for (const auto& [c, e] : inverse) {
      const auto raw = map.raw_of_class_[c];
      const auto back = map.class_of_raw_[raw];
      if (back == label_map::no_class)
        fail(where, ": 'learning_map_inv'", label_yaml::at(e.key), " writes class ", c, " as raw label ", raw,
             ", which 'learning_map' lacks");
      require(back == c, where, ": 'learning_map_inv'", label_yaml::at(e.key), " writes class ", c, " as raw label ",
              raw, ", but 'learning_map' maps ", raw, " to class ", static_cast<int>(back));
    }

    for (const auto& [raw, e] : yaml.entries(root, "labels", max_raw, "raw label")) {
      require(e.value.IsScalar(), where, ": 'labels'", label_yaml::at(e.key), ": the name of raw label ", raw, " is ",
              label_yaml::shown(e.value), ", not text");
      map.names_.emplace(static_cast<std::uint16_t>(raw), e.value.Scalar());
    }
    for (const auto& [raw, e] : yaml.entries(root, "color_map", max_raw, "raw label")) {
      require(e.value.IsSequence() && e.value.size() == 3, where, ": 'color_map'", label_yaml::at(e.key),
              ": raw label ", raw, " has ", label_yaml::shown(e.value), ", not a list of 3 bytes [blue, green, red]");
      std::array<std::uint8_t, 3> bgr{};
      for (std::size_t i = 0; i < 3; ++i)
        bgr[i] = static_cast<std::uint8_t>(yaml.integer(e.value[i], e.key, "color_map", "colour byte", 255));
      map.colours_.emplace(static_cast<std::uint16_t>(raw), rgb{bgr[2], bgr[1], bgr[0]});
    }
    for (const auto raw : map.raw_ids_) {
      require(map.names_.contains(raw), where, ": 'labels' has no name for raw label ", raw, " of 'learning_map'");
      require(map.colours_.contains(raw), where, ": 'color_map' has no colour for raw label ", raw,
              " of 'learning_map'");
    }

    const auto ignore = yaml.entries(root, "learning_ignore", max_class, "class");
    for (const auto& [c, e] : ignore) {
      require(c < classes, where, ": 'learning_ignore'", label_yaml::at(e.key), " lists class ", c,
              ", which 'learning_map_inv' lacks (classes 0..", classes - 1, ")");
      bool value = false;
      require(e.value.IsScalar() && YAML::convert<bool>::decode(e.value, value), where, ": 'learning_ignore'",
              label_yaml::at(e.key), ": class ", c, " has ", label_yaml::shown(e.value), ", not true or false");
      map.ignored_.push_back(value);  // in class order: the keys are ascending, and checked to be 0..N−1 below
    }
    require(ignore.size() == classes, where, ": 'learning_ignore' has ", ignore.size(), " entries for ", classes,
            " classes");
  } catch (const YAML::Exception& e) {
    fail(where, ": not valid yaml: ", e.what());
  }
  return map;
}

}  // namespace detail
}  // namespace voxformer::io
