//! @file The cross-attention's value input (spec §3.5 step 4): each camera's multi-level image features
//! flattened to rows s = row·w + col (levels concatenated), plus that camera's `cams_embeds` row and the
//! level's `level_embeds` row — [K·S, C], camera-major, the rows every cross layer projects.
#pragma once

#include <vector>

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_view.hpp"
#include "voxformer/model/config.hpp"

namespace voxformer {

namespace kernels {

//! One element = one (camera, pixel) row of one level: out[k·S + start + s] = feature[0, k, :, row, col]
//! + cams[k] + level (the original's order: camera embedding first).
template <class T>
struct flatten_image_level {
  tensor_view<const T, 5> features;  // [1, K, C, h, w], any strides
  tensor_view<const T, 2> cams;      // [K, C]
  tensor_view<const T, 1> level;     // [C]
  tensor_view<T, 2> out;             // [K·S, C]
  index_t rows_per_camera, level_start;
  VOXFORMER_HOST_DEVICE void operator()(index_t e) const {
    const index_t h = features.extent(3), w = features.extent(4), pixels = h * w;
    const index_t k = e / pixels, s = e % pixels, row = s / w, col = s % w;
    const index_t target = k * rows_per_camera + level_start + s;
    for (index_t c = 0; c < out.extent(1); ++c) out(target, c) = (features(0, k, c, row, col) + cams(k, c)) + level(c);
  }
};

}  // namespace kernels

//! Checks one level's features [B, K, C, h, w] (B = `frames`; `layout` as the caller names it) against the
//! configuration.
template <class T>
void check_image_level(const char* op, const model_config& config, index_t level,
                       const tensor_view<const T, 5>& features, const char* layout, index_t frames) {
  const auto& shape = config.feature_shapes[static_cast<std::size_t>(level)];
  const std::string arg = "features[" + std::to_string(level) + "]";
  expect_shape(op, arg, layout, features, {frames, config.cameras, config.embed_dims, shape.height, shape.width});
}

//! out [K·S, C] from the levels' features (each [1, K, C, h_l, w_l]) and the embeddings.
template <class Executor, class T>
void flatten_image_values(const Executor& executor, const std::vector<tensor_view<const T, 5>>& levels,
                          const tensor_view<const T, 2>& cams_embeds, const tensor_view<const T, 2>& level_embeds,
                          const tensor_view<T, 2>& out) {
  const index_t cameras = cams_embeds.extent(0), rows_per_camera = out.extent(0) / cameras;
  index_t start = 0;
  for (std::size_t l = 0; l < levels.size(); ++l) {
    const auto& f = levels[l];
    const tensor_view<const T, 1> level(level_embeds.data() + static_cast<index_t>(l) * level_embeds.stride(0),
                                        {level_embeds.extent(1)}, {level_embeds.stride(1)}, level_embeds.space());
    parallel_for(executor, cameras * f.extent(3) * f.extent(4),
                 kernels::flatten_image_level<T>{f, cams_embeds, level, out, rows_per_camera, start});
    start += f.extent(3) * f.extent(4);
  }
}

}  // namespace voxformer
