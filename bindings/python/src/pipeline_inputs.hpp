//! @file The arguments the pipeline objects share: weights or a seed, the thread count, the stage-2 options, and
//! image features given as one array or a list of them.
#pragma once

#include <nanobind/stl/array.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>
#include <voxformer/backend/cpu/cpu_executor.hpp>
#include <voxformer/pipeline/pipeline.hpp>

#include "arrays.hpp"

namespace voxformer::python {

//! Exactly one of a checkpoint and a seed for random weights.
inline void require_weights(const char* op, const std::optional<std::filesystem::path>& weights,
                            const std::optional<std::uint64_t>& seed) {
  detail::require(weights.has_value() != seed.has_value(), op, ": give weights=PATH (a .safetensors checkpoint) or ",
                  "seed=N (random weights, for timing and tests), ", weights ? "not both" : "neither was given");
}

//! A CPU executor of `threads` threads (0 = one per hardware thread), checked now rather than at the first frame.
inline cpu_executor checked_executor(const char* op, int threads) {
  detail::require(threads >= 0 && threads <= cpu_executor::max_threads(), op, ": argument 'threads' must be in [0, ",
                  cpu_executor::max_threads(), "] (0 = one per hardware thread), got ", threads);
  return cpu_executor{threads};
}

struct pipeline_settings {
  index_t max_proposals;
  std::string layout;
  index_t chunk_rows;

  pipeline_options options() const {
    detail::require(layout == "csr" || layout == "padded", "voxformer: layout '", layout,
                    "' must be 'csr' or 'padded'");
    pipeline_options o;
    o.max_proposals = max_proposals;
    o.layout = layout == "csr" ? rebatch_layout::csr : rebatch_layout::padded;
    o.chunk_rows = chunk_rows;
    return o;
  }
};

//! One array (one feature level) or a list / tuple of them, as the list of levels the pipeline takes.
inline std::vector<input_array> feature_levels(nb::handle features, const char* op) {
  std::vector<input_array> levels;
  auto add = [&](nb::handle level) {
    input_array a;
    if (!nb::try_cast(level, a))
      throw nb::type_error((std::string(op) + ": argument 'features' must be an array or tensor (NumPy, PyTorch, any "
                            "DLPack or buffer-protocol array), or a list of them, one per level")
                               .c_str());
    levels.push_back(std::move(a));
  };
  if (nb::isinstance<nb::list>(features) || nb::isinstance<nb::tuple>(features))
    for (nb::handle level : features) add(level);
  else
    add(features);
  return levels;
}

//! B, the leading extent of a batched input, once its rank is one of `ranks` (the bindings size their outputs by it
//! before the library checks the rest).
inline index_t batch_extent(const input_array& a, const char* op, const char* arg, const char* layout,
                            std::initializer_list<std::size_t> ranks) {
  const bool known = std::find(ranks.begin(), ranks.end(), a.ndim()) != ranks.end();
  detail::require(known, op, ": argument '", arg, "' ", layout, " has a leading batch axis; got rank ", a.ndim());
  return static_cast<index_t>(a.shape(0));
}

}  // namespace voxformer::python
