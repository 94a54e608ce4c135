//! @file Where the parameters live: a `.safetensors` weights file checked against the configuration tensor by
//! tensor (zero-copy views where dtype and alignment already fit, fp16/bf16/fp64 converted once), or seeded
//! random weights in the same layout (benchmarks, examples without a checkpoint).
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <memory>
#include <numbers>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "voxformer/core/shape_check.hpp"
#include "voxformer/io/safetensors.hpp"
#include "voxformer/model/parameters.hpp"

namespace voxformer {

//! What loading found besides errors: tensors it ignored with a warning, and where the bytes went.
struct weights_report {
  std::vector<std::string> warnings;  //!< one per unknown tensor (it is ignored)
  index_t tensors_read = 0;           //!< tensors inference reads
  index_t tensors_ignored = 0;        //!< known but unused: the image network, the self stack's embeddings
  std::size_t bytes_in_place = 0;     //!< read from the file's mapping without a copy
  std::size_t bytes_converted = 0;    //!< converted (fp16/bf16/fp64 → T, or misaligned) into owned memory
};

template <class T>
class parameter_store {
 public:
  //! Checks every tensor `config` expects in `file`: present (with or without the `pts_bbox_head.` prefix),
  //! floating point, of the expected shape, finite. The first problem is an error naming the tensor with
  //! expected vs actual; unknown tensors are warnings. The file stays open (mapped) as long as the store.
  static parameter_store from_file(const model_config& config, io::safetensors_file file,
                                   weights_report* report = nullptr) {
    parameter_store store;
    store.file_ = std::make_unique<io::safetensors_file>(std::move(file));
    weights_report local;
    weights_report& r = report != nullptr ? *report : local;
    const io::safetensors_file& f = *store.file_;
    const std::string where = "voxformer::parameter_store('" + f.source() + "')";
    const auto specs = parameter_specs(config);
    std::map<std::string, const T*, std::less<>> bound;
    std::set<std::string, std::less<>> known;
    for (const auto& spec : specs) {
      const io::safetensors_entry* entry = find(f, spec.name, where);
      known.insert(spec.name);
      if (entry == nullptr) {
        detail::require(!spec.used, where, ": missing tensor '", official_prefix, spec.name, "' ",
                        detail::format_shape(spec.shape), " (", describe(config), ")");
        continue;
      }
      if (!spec.used) {
        ++r.tensors_ignored;
        continue;
      }
      check_entry(*entry, spec, config, where);
      bound[spec.name] = store.read(f, *entry, where, r);
      ++r.tensors_read;
    }
    for (const auto& entry : f.entries()) {
      const std::string_view bare = strip_prefix(entry.name);
      if (known.contains(bare)) continue;
      if (is_image_network_key(bare)) {
        ++r.tensors_ignored;
        continue;
      }
      r.warnings.push_back("unknown tensor '" + entry.name + "' " + detail::format_shape(entry.shape) +
                           " is not part of this configuration and is ignored");
    }
    store.bind(config, bound);
    return store;
  }

  //! Seeded random weights in the official layout, scaled like a trained model's (unit embeddings, LayerNorm
  //! weights near 1, linear weights ~ 1/sqrt(fan_in), sampling-offset biases on the original's grid init), so
  //! that every stage computes something non-trivial. For benchmarks and demos, never for predictions.
  static parameter_store random(const model_config& config, std::uint64_t seed) {
    parameter_store store;
    std::mt19937_64 generator(seed);
    std::normal_distribution<double> normal;
    std::map<std::string, const T*, std::less<>> bound;
    for (const auto& spec : parameter_specs(config)) {
      if (!spec.used) continue;
      auto& values = store.owned_.emplace_back(static_cast<std::size_t>(spec.elements()));
      const std::string leaf = spec.name.substr(spec.name.rfind('.') + 1);
      const bool norm = spec.name.find("norms.") != std::string::npos || spec.name.find("mlp_head.0") != std::string::npos;
      const bool matrix = spec.shape.size() == 2 && leaf == "weight" && spec.name.find("_embed") == std::string::npos;
      const double scale = norm ? 0.1 : matrix ? 1.0 / std::sqrt(static_cast<double>(spec.shape[1])) : leaf == "bias" ? 0.1 : 1.0;
      for (auto& v : values) v = static_cast<T>((norm && leaf == "weight" ? 1.0 : 0.0) + scale * normal(generator));
      if (spec.name.ends_with("sampling_offsets.bias")) add_grid_offsets(values, config, spec);
      if (spec.name.ends_with("sampling_offsets.weight"))
        for (auto& v : values) v = static_cast<T>(0.5 * v);  // offsets of a few cells
      bound[spec.name] = values.data();
    }
    store.bind(config, bound);
    return store;
  }

  //! Writes every tensor inference reads as F32 (or F64) under its official name, with the prefix: a converted
  //! checkpoint, or random weights, in the layout `from_file` and the original read.
  void write_safetensors(const std::filesystem::path& path) const {
    std::vector<io::safetensors_tensor_bytes> tensors;
    for (const auto& spec : parameter_specs(config_)) {
      if (!spec.used) continue;
      tensors.push_back({std::string(official_prefix) + spec.name, io::safetensors_dtype_of<T>(),
                         std::vector<std::int64_t>(spec.shape.begin(), spec.shape.end()),
                         std::as_bytes(std::span(tensors_.at(spec.name), static_cast<std::size_t>(spec.elements())))});
    }
    io::write_safetensors(path, tensors, {{"format", "pt"}, {"writer", "voxformer-cpp"}});
  }

  const model_parameters<T>& parameters() const { return parameters_; }
  //! Bytes this store owns (converted or generated tensors); the file's mapping is not counted.
  std::size_t owned_bytes() const {
    std::size_t bytes = 0;
    for (const auto& v : owned_) bytes += v.size() * sizeof(T);
    return bytes;
  }

 private:
  parameter_store() = default;

  void bind(const model_config& config, std::map<std::string, const T*, std::less<>> tensors) {
    config_ = config;
    tensors_ = std::move(tensors);
    parameters_ = model_parameters<T>::bind(config, [&](const parameter_spec& spec) { return tensors_.at(spec.name); });
  }

  static std::string_view strip_prefix(std::string_view name) {
    return name.starts_with(official_prefix) ? name.substr(official_prefix.size()) : name;
  }

  static const io::safetensors_entry* find(const io::safetensors_file& f, const std::string& name,
                                           const std::string& where) {
    const io::safetensors_entry* prefixed = f.find(std::string(official_prefix) + name);
    const io::safetensors_entry* bare = f.find(name);
    detail::require(prefixed == nullptr || bare == nullptr, where, ": tensor '", name, "' is present both with and without the '",
                    official_prefix, "' prefix");
    return prefixed != nullptr ? prefixed : bare;
  }

  static std::string describe(const model_config& c) {
    std::ostringstream out;
    out << "variant " << c.variant << ": volume " << c.volume[0] << "x" << c.volume[1] << "x" << c.volume[2]
        << ", embed_dims " << c.embed_dims << ", heads " << c.heads << ", points " << c.points_cross << "/"
        << c.points_self << ", layers " << c.layers_cross << "/" << c.layers_self << ", ffn " << c.ffn_hidden
        << ", cameras " << c.cameras << ", levels " << c.levels() << ", classes " << c.classes;
    return out.str();
  }

  static void check_entry(const io::safetensors_entry& entry, const parameter_spec& spec, const model_config& config,
                          const std::string& where) {
    detail::require(io::is_floating(entry.dtype), where, ": tensor '", entry.name, "' is ", io::to_string(entry.dtype),
                    ", expected a floating-point tensor (F32, F16, BF16 or F64)");
    const std::vector<index_t> actual(entry.shape.begin(), entry.shape.end());
    detail::require(actual == spec.shape, where, ": tensor '", entry.name, "' has shape ", detail::format_shape(actual),
                    ", expected ", detail::format_shape(spec.shape), " (", describe(config), ")");
  }

  //! The tensor's values as T: in place when the file already holds T at an aligned address, else converted
  //! into owned memory; either way checked to be finite.
  const T* read(const io::safetensors_file& f, const io::safetensors_entry& entry, const std::string& where,
                weights_report& report) {
    const T* values = nullptr;
    if (io::readable_in_place<T>(entry)) {
      values = io::view_in_place<T>(entry).data();
      report.bytes_in_place += entry.bytes();
    } else {
      auto& copy = owned_.emplace_back(static_cast<std::size_t>(entry.elements()));
      io::convert_elements(entry, copy.data());
      values = copy.data();
      report.bytes_converted += copy.size() * sizeof(T);
    }
    const auto n = static_cast<std::size_t>(entry.elements());
    for (std::size_t i = 0; i < n; ++i)
      detail::require(std::isfinite(values[i]), where, ": tensor '", entry.name, "' holds a non-finite value (",
                      values[i], ") at element ", i);
    // The scan touched every page of a large in-place tensor (bev_embed: 128 MiB), of which a frame reads a
    // few percent: give them back; they are re-read from the page cache when a frame needs them.
    if (io::readable_in_place<T>(entry)) f.release_pages(entry);
    return values;
  }

  //! The original's sampling-offset bias init (Deformable-DETR): per head the direction (cos θ, sin θ[, 0])
  //! scaled so its larger component is 1, times (p + 1) for point p; [heads][groups][points][dims].
  static void add_grid_offsets(std::vector<T>& bias, const model_config& config, const parameter_spec& spec) {
    const bool cross = spec.name.starts_with("cross_");
    const index_t dims = cross ? 2 : config.self_dims(), points = cross ? config.points_cross : config.points_self;
    const index_t groups = static_cast<index_t>(bias.size()) / (config.heads * points * dims);
    for (index_t h = 0; h < config.heads; ++h) {
      const double theta = 2.0 * std::numbers::pi * static_cast<double>(h) / static_cast<double>(config.heads);
      const double c = std::cos(theta), s = std::sin(theta), top = std::max(std::abs(c), std::abs(s));
      const double direction[3] = {c / top, s / top, 0.0};
      for (index_t g = 0; g < groups; ++g)
        for (index_t p = 0; p < points; ++p)
          for (index_t d = 0; d < dims; ++d)
            bias[static_cast<std::size_t>(((h * groups + g) * points + p) * dims + d)] +=
                static_cast<T>(direction[d] * static_cast<double>(p + 1));
    }
  }

  std::unique_ptr<io::safetensors_file> file_;
  std::vector<std::vector<T>> owned_;
  model_config config_;
  std::map<std::string, const T*, std::less<>> tensors_;  //!< official name (no prefix) → values
  model_parameters<T> parameters_;
};

}  // namespace voxformer
