//! @file The model's configuration: every size of VoxFormer stage 2 + head as a plain settable struct, the
//! four published variants as presets (spec §1.1, §1.2), and the checks that make a configuration usable.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "voxformer/core/error.hpp"
#include "voxformer/ops/msda/msda_levels.hpp"
#include "voxformer/ops/rebatch/camera_projection.hpp"

namespace voxformer {

//! The self-attention stack: `planar` = DeformSelfAttention on the 2-D view of the volume (VoxFormer-S/-T),
//! `volumetric` = DeformSelfAttention3DCustom, trilinear on the 3-D volume (VoxFormer-S/-T_deform3D).
enum class self_attention_kind { planar, volumetric };

//! The widest channel count and class count one fused head element holds in registers / on its stack
//! (model/head.hpp); `model_config::validate` enforces them.
inline constexpr index_t head_max_channels = 1024;
inline constexpr index_t head_max_classes = 256;

//! Height × width of one image feature level.
struct feature_shape {
  index_t height;
  index_t width;
  friend constexpr bool operator==(const feature_shape&, const feature_shape&) = default;
};

struct model_config {
  std::string variant = "T";  //!< informational: "T", "S", "T-3D", "S-3D", or anything for custom sizes
  self_attention_kind self_attention = self_attention_kind::planar;
  std::array<index_t, 3> volume{128, 128, 16};  //!< query grid X, Y, Z; voxel k = (x·Y + y)·Z + z
  index_t embed_dims = 128;
  index_t heads = 8;
  index_t points_cross = 8;
  index_t points_self = 8;  //!< per queue slot; the fused self-attention samples twice as many
  index_t layers_cross = 3;
  index_t layers_self = 2;
  index_t ffn_hidden = 256;  //!< the FFN width actually built (the configs' 1024 is overridden, spec §3.7)
  index_t cameras = 5;
  index_t classes = 20;
  index_t level_embed_rows = 4;  //!< rows of `level_embeds` (module default 4; only the first `levels()` used)
  //! The 2-D view of the volume that the planar self-attention samples and the positional encoding tiles:
  //! rows × columns = X·Y·Z, voxel k at (k / columns, k mod columns). Official: 512 × 512.
  std::array<index_t, 2> view_shape{512, 512};
  point_cloud_range range = point_cloud_range::voxformer();
  image_size image{370, 1220};  //!< what pixel coordinates are normalised by (the crop, not the feature map)
  std::vector<feature_shape> feature_shapes{{24, 77}};  //!< one per image feature level

  index_t levels() const { return static_cast<index_t>(feature_shapes.size()); }
  index_t voxels() const { return volume[0] * volume[1] * volume[2]; }
  index_t head_dim() const { return embed_dims / heads; }
  //! The header's output grid: the volume upsampled ×2 (256 × 256 × 32 officially).
  std::array<index_t, 3> output_volume() const { return {2 * volume[0], 2 * volume[1], 2 * volume[2]}; }
  index_t output_voxels() const { return 8 * voxels(); }
  //! Coordinates per sampling point of the self-attention: 2 on the view, 3 in the volume.
  index_t self_dims() const { return self_attention == self_attention_kind::planar ? 2 : 3; }
  //! Rows of all image features of one camera (Σ h·w over the levels).
  index_t feature_rows() const {
    index_t rows = 0;
    for (const auto& s : feature_shapes) rows += s.height * s.width;
    return rows;
  }

  //! The published variants (spec §1.2): T = 5 cameras (the current frame and 4 past ones), S = 1;
  //! "-3D" = the volumetric self-attention.
  static model_config voxformer_t() { return {}; }
  static model_config voxformer_s() {
    model_config c;
    c.variant = "S";
    c.cameras = 1;
    return c;
  }
  static model_config voxformer_t_3d() {
    model_config c;
    c.variant = "T-3D";
    c.self_attention = self_attention_kind::volumetric;
    return c;
  }
  static model_config voxformer_s_3d() {
    model_config c = voxformer_s();
    c.variant = "S-3D";
    c.self_attention = self_attention_kind::volumetric;
    return c;
  }
  //! "T", "S", "T-3D" or "S-3D".
  static model_config preset(std::string_view name) {
    if (name == "T") return voxformer_t();
    if (name == "S") return voxformer_s();
    if (name == "T-3D") return voxformer_t_3d();
    if (name == "S-3D") return voxformer_s_3d();
    detail::fail("voxformer::model_config: unknown variant '", name, "' (expected T, S, T-3D or S-3D)");
  }

  //! Throws `voxformer::error` naming the first value that cannot work, and why.
  void validate() const {
    constexpr const char* where = "voxformer::model_config";
    auto positive = [&](const char* name, index_t value) {
      detail::require(value > 0, where, ": ", name, " must be positive, got ", value);
    };
    constexpr index_t max_voxels = std::numeric_limits<std::int32_t>::max() / 8;  // output-grid indices fit int32
    for (int a = 0; a < 3; ++a) {
      positive("volume extent", volume[a]);
      // Bounded one by one first, so that the product below cannot overflow.
      detail::require(volume[a] <= max_voxels, where, ": volume extent ", volume[a], " is too large");
    }
    detail::require(volume[0] <= max_voxels / volume[1] && volume[0] * volume[1] <= max_voxels / volume[2], where,
                    ": the volume ", volume[0], "x", volume[1], "x", volume[2],
                    " has too many voxels; voxel indices of the output grid must fit int32");
    positive("embed_dims", embed_dims);
    detail::require(embed_dims <= head_max_channels, where, ": embed_dims (", embed_dims,
                    ") exceeds the ", head_max_channels, " channels the fused head holds per voxel");
    positive("heads", heads);
    detail::require(embed_dims % heads == 0, where, ": heads (", heads, ") must divide embed_dims (", embed_dims, ")");
    detail::require(embed_dims % 2 == 0, where, ": embed_dims (", embed_dims,
                    ") must be even: the positional encoding gives half to rows, half to columns");
    positive("points_cross", points_cross);
    positive("points_self", points_self);
    detail::require(layers_cross >= 0 && layers_self >= 0, where, ": layer counts cannot be negative, got ",
                    layers_cross, " cross and ", layers_self, " self");
    positive("ffn_hidden", ffn_hidden);
    positive("cameras", cameras);
    detail::require(classes >= 1 && classes <= head_max_classes, where, ": classes must be in [1, ", head_max_classes,
                    "] (labels are uint8), got ", classes);
    detail::require(!feature_shapes.empty() && levels() <= msda_max_levels, where, ": between 1 and ", msda_max_levels,
                    " feature levels are supported, got ", levels());
    for (const auto& s : feature_shapes)
      detail::require(s.height > 0 && s.width > 0 && s.height <= msda_max_extent && s.width <= msda_max_extent, where,
                      ": a feature level of ", s.height, "x", s.width, " cannot be sampled");
    detail::require(level_embed_rows >= levels(), where, ": level_embed_rows (", level_embed_rows,
                    ") must cover the ", levels(), " feature levels");
    detail::require(view_shape[0] > 0 && view_shape[1] > 0 && view_shape[0] <= voxels() && view_shape[1] <= voxels(),
                    where, ": the self-attention view ", view_shape[0], "x", view_shape[1], " cannot hold the ", voxels(),
                    " voxels of the volume");  // bounded first: the product below cannot overflow
    detail::require(view_shape[0] * view_shape[1] == voxels(), where,
                    ": the self-attention view ", view_shape[0], "x", view_shape[1], " has ", view_shape[0] * view_shape[1],
                    " cells, but the volume ", volume[0], "x", volume[1], "x", volume[2], " has ", voxels(), " voxels");
    for (int a = 0; a < 3; ++a)
      detail::require(std::isfinite(range.min[a]) && std::isfinite(range.max[a]) && range.max[a] > range.min[a], where,
                      ": point-cloud range axis ", a, " is [", range.min[a], ", ", range.max[a], "]");
    detail::require(image.height > 0 && image.width > 0, where, ": image size must be positive, got ", image.height,
                    "x", image.width);
  }
};

}  // namespace voxformer
