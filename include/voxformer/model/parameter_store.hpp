//! @file Where the parameters live: a `.safetensors` weights file checked against the configuration tensor by
//! tensor (zero-copy views where dtype and alignment already fit, fp16/bf16/fp64 converted once), or seeded
//! random weights in the same layout (benchmarks, examples without a checkpoint) — for stage 2 + head, the query
//! proposal network and the image backbone alike, each described by its checkpoint type.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/workspace.hpp"
#include "voxformer/io/safetensors.hpp"
#include "voxformer/model/image_backbone_parameters.hpp"
#include "voxformer/model/parameters.hpp"
#include "voxformer/model/qpn_parameters.hpp"

namespace voxformer {

//! What loading found besides errors: tensors it ignored with a warning, and where the bytes went.
struct weights_report {
  std::vector<std::string> warnings;  //!< one per unknown tensor (it is ignored)
  index_t tensors_read = 0;           //!< tensors inference reads
  index_t tensors_ignored = 0;        //!< known but unused: the image network, the self stack's embeddings, the
                                      //!< QPN's full-resolution decoders and BatchNorm counters
  std::size_t bytes_in_place = 0;     //!< read from the file's mapping without a copy
  std::size_t bytes_converted = 0;    //!< converted (fp16/bf16/fp64 → T, or misaligned) into owned memory
};

//! A network's parameters in an executor's memory: every tensor inference reads, uploaded once into one buffer (each
//! at the workspace alignment), and the parameter structs bound to it — views in the buffer's memory space, which a
//! pipeline on that executor reads as it reads host weights. Made by `basic_parameter_store::upload`; it must outlive
//! the pipelines that read it.
template <class T, class Checkpoint, class Buffer>
class uploaded_parameters {
 public:
  using parameters_type = typename Checkpoint::template parameters_type<T>;

  uploaded_parameters(Buffer buffer, std::map<std::string, tensor_view<const T, 1>, std::less<>> tensors,
                      parameters_type parameters)
      : buffer_(std::move(buffer)), tensors_(std::move(tensors)), parameters_(std::move(parameters)) {}

  const parameters_type& parameters() const { return parameters_; }
  //! The uploaded values of the tensor of this official name (without the checkpoint's prefix).
  tensor_view<const T, 1> tensor(std::string_view name) const {
    const auto found = tensors_.find(name);
    detail::require(found != tensors_.end(), "voxformer::uploaded_parameters: no tensor '", name, "'");
    return found->second;
  }
  //! The one buffer's bytes and memory space.
  std::size_t bytes() const { return buffer_.size(); }
  memory_space space() const { return buffer_.space(); }

 private:
  Buffer buffer_;
  std::map<std::string, tensor_view<const T, 1>, std::less<>> tensors_;
  parameters_type parameters_;
};

//! The parameters of a network described by `Checkpoint` (`voxformer_checkpoint`, `qpn_checkpoint`): read from a
//! weights file and checked, or made at random, and bound to the structs its layers read.
template <class T, class Checkpoint>
class basic_parameter_store {
 public:
  using config_type = typename Checkpoint::config_type;
  using parameters_type = typename Checkpoint::template parameters_type<T>;

  //! Checks every tensor `config` expects in `file`: present (with or without the checkpoint's prefix), floating
  //! point, of the expected shape, finite. The first problem is an error naming the tensor with expected vs
  //! actual; unknown tensors are warnings. The file stays open (mapped) as long as the store.
  static basic_parameter_store from_file(const config_type& config, io::safetensors_file file,
                                         weights_report* report = nullptr) {
    basic_parameter_store store;
    store.file_ = std::make_unique<io::safetensors_file>(std::move(file));
    weights_report local;
    weights_report& r = report != nullptr ? *report : local;
    const io::safetensors_file& f = *store.file_;
    const std::string where = "voxformer::parameter_store('" + f.source() + "')";
    const auto specs = Checkpoint::specs(config);
    std::map<std::string, const T*, std::less<>> bound;
    std::set<std::string, std::less<>> known;
    for (const auto& spec : specs) {
      const io::safetensors_entry* entry = find(f, spec.name, where);
      known.insert(spec.name);
      if (entry == nullptr) {
        detail::require(!spec.used, where, ": missing tensor '", Checkpoint::prefix, spec.name, "' ",
                        detail::format_shape(spec.shape), " (", Checkpoint::describe(config), ")");
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
      if (Checkpoint::is_foreign(bare)) {
        ++r.tensors_ignored;
        continue;
      }
      r.warnings.push_back("unknown tensor '" + entry.name + "' " + detail::format_shape(entry.shape) +
                           " is not part of this configuration and is ignored");
    }
    store.bind(config, bound);
    return store;
  }

  //! Seeded random weights in the official layout, scaled so that every layer computes something non-trivial
  //! (`Checkpoint::initialise`). For benchmarks and demos, never for predictions.
  static basic_parameter_store random(const config_type& config, std::uint64_t seed) {
    basic_parameter_store store;
    std::mt19937_64 generator(seed);
    std::map<std::string, const T*, std::less<>> bound;
    for (const auto& spec : Checkpoint::specs(config)) {
      if (!spec.used) continue;
      auto& values = store.owned_.emplace_back(static_cast<std::size_t>(spec.elements()));
      Checkpoint::initialise(std::span<T>(values), spec, config, generator);
      bound[spec.name] = values.data();
    }
    store.bind(config, bound);
    return store;
  }

  //! Every tensor inference reads as F32 (or F64) under its official name, with the prefix: what `write_safetensors`
  //! writes, or a part of a file with others' (one checkpoint holds the image path and the head). Views into this
  //! store.
  std::vector<io::safetensors_tensor_bytes> safetensors_tensors() const {
    std::vector<io::safetensors_tensor_bytes> tensors;
    for (const auto& spec : Checkpoint::specs(config_)) {
      if (!spec.used) continue;
      tensors.push_back({std::string(Checkpoint::prefix) + spec.name, io::safetensors_dtype_of<T>(),
                         std::vector<std::int64_t>(spec.shape.begin(), spec.shape.end()),
                         std::as_bytes(std::span(tensors_.at(spec.name), static_cast<std::size_t>(spec.elements())))});
    }
    return tensors;
  }

  //! Writes `safetensors_tensors()`: a converted checkpoint, or random weights, in the layout `from_file` and the
  //! original read.
  void write_safetensors(const std::filesystem::path& path) const {
    io::write_safetensors(path, safetensors_tensors(), {{"format", "pt"}, {"writer", "voxformer-cpp"}});
  }

  const parameters_type& parameters() const { return parameters_; }

  //! The parameters in `executor`'s memory (a GPU's, for a pipeline on it): sized on the host, one allocation, one
  //! copy per tensor from where this store holds it (the file's mapping or its own memory), then a synchronisation,
  //! after which this store may go. The values were checked when the store was made.
  template <class Executor>
  auto upload(const Executor& executor) const {
    using buffer_type = decltype(allocate_buffer(executor, std::size_t{}));
    const auto specs = Checkpoint::specs(config_);
    workspace sizing;
    for (const auto& spec : specs)
      if (spec.used) sizing.take<T>(spec.elements());
    buffer_type buffer = allocate_buffer(executor, sizing.used());
    workspace memory(buffer.data(), buffer.size(), buffer.space());
    std::map<std::string, tensor_view<const T, 1>, std::less<>> placed;
    for (const auto& spec : specs) {
      if (!spec.used) continue;
      const tensor_view<T, 1> values = memory.take_view<T, 1>({spec.elements()});
      copy_from_host(executor, values.data(), tensors_.at(spec.name), values.size() * sizeof(T));
      placed.emplace(spec.name, values);
    }
    synchronize(executor);
    auto parameters = Checkpoint::template bind<T>(
        config_, [&](const parameter_spec& spec) { return placed.at(spec.name).data(); }, buffer.space());
    return uploaded_parameters<T, Checkpoint, buffer_type>(std::move(buffer), std::move(placed), std::move(parameters));
  }

  //! Bytes this store owns (converted or generated tensors); the file's mapping is not counted.
  std::size_t owned_bytes() const {
    std::size_t bytes = 0;
    for (const auto& v : owned_) bytes += v.size() * sizeof(T);
    return bytes;
  }

 private:
  basic_parameter_store() = default;

  void bind(const config_type& config, std::map<std::string, const T*, std::less<>> tensors) {
    config_ = config;
    tensors_ = std::move(tensors);
    parameters_ =
        Checkpoint::template bind<T>(config, [&](const parameter_spec& spec) { return tensors_.at(spec.name); });
  }

  static std::string_view strip_prefix(std::string_view name) {
    return !Checkpoint::prefix.empty() && name.starts_with(Checkpoint::prefix) ? name.substr(Checkpoint::prefix.size())
                                                                                : name;
  }

  static const io::safetensors_entry* find(const io::safetensors_file& f, const std::string& name,
                                           const std::string& where) {
    if (Checkpoint::prefix.empty()) return f.find(name);
    const io::safetensors_entry* prefixed = f.find(std::string(Checkpoint::prefix) + name);
    const io::safetensors_entry* bare = f.find(name);
    detail::require(prefixed == nullptr || bare == nullptr, where, ": tensor '", name,
                    "' is present both with and without the '", Checkpoint::prefix, "' prefix");
    return prefixed != nullptr ? prefixed : bare;
  }

  static void check_entry(const io::safetensors_entry& entry, const parameter_spec& spec, const config_type& config,
                          const std::string& where) {
    detail::require(io::is_floating(entry.dtype), where, ": tensor '", entry.name, "' is ", io::to_string(entry.dtype),
                    ", expected a floating-point tensor (F32, F16, BF16 or F64)");
    const std::vector<index_t> actual(entry.shape.begin(), entry.shape.end());
    detail::require(actual == spec.shape, where, ": tensor '", entry.name, "' has shape ", detail::format_shape(actual),
                    ", expected ", detail::format_shape(spec.shape), " (", Checkpoint::describe(config), ")");
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

  std::unique_ptr<io::safetensors_file> file_;
  std::vector<std::vector<T>> owned_;
  config_type config_;
  std::map<std::string, const T*, std::less<>> tensors_;  //!< official name (no prefix) → values
  parameters_type parameters_;
};

//! VoxFormer stage 2 + head (official names with or without `pts_bbox_head.`).
template <class T>
using parameter_store = basic_parameter_store<T, voxformer_checkpoint>;
//! The query proposal network, stage 1 (LMSCNet_SS names, no prefix).
template <class T>
using qpn_parameter_store = basic_parameter_store<T, qpn_checkpoint>;
//! The image path: ResNet-50 to layer3 and the FPN (`img_backbone.*`, `img_neck.*`), from the same checkpoint as the
//! head.
template <class T>
using image_backbone_store = basic_parameter_store<T, image_backbone_checkpoint>;

//! `config` with the widths and block counts of the image path `file` holds — the stem's channels
//! (`img_backbone.conv1.weight` [b, 3, 7, 7]), the bottlenecks of each layer (`img_backbone.layer<i>.<j>.conv1.weight`)
//! and the neck's channels (`img_neck.lateral_convs.0.conv.weight` [c, …]) — so that a checkpoint of other widths (a
//! reduced network) loads as it is; the crop, mean and stddev stay `config`'s. A file without the image path throws.
inline image_backbone_config image_backbone_config_of(const io::safetensors_file& file, image_backbone_config config) {
  const std::string where = "voxformer::image_backbone_config_of('" + file.source() + "')";
  auto shape_of = [&](const std::string& name) -> const std::vector<std::int64_t>& {
    const io::safetensors_entry* entry = file.find(name);
    detail::require(entry != nullptr && !entry->shape.empty(), where, ": no tensor '", name, "' (the image path's)");
    return entry->shape;
  };
  config.base_width = shape_of("img_backbone.conv1.weight")[0];
  config.neck_channels = shape_of("img_neck.lateral_convs.0.conv.weight")[0];
  for (int l = 0; l < 3; ++l) {
    index_t blocks = 0;
    while (file.find(detail::backbone_block_name(l, blocks) + "conv1.weight") != nullptr) ++blocks;
    config.blocks[static_cast<std::size_t>(l)] = blocks;
  }
  config.validate();
  return config;
}

}  // namespace voxformer
