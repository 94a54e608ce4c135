//! @file The model's configuration: every size of VoxFormer stage 2 + head as a plain settable struct, the
//! four published variants as presets (spec §1.1, §1.2), and the checks that make a configuration usable.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "voxformer/core/error.hpp"
#include "voxformer/core/layout_check.hpp"
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

//! The bounds `model_config::validate` holds a configuration to, besides the head's (`head_max_channels`,
//! `head_max_classes`) and MSDA's (`msda_max_levels`, `msda_max_extent`, `msda_max_level_size`). The generous
//! ones are far above any published VoxFormer: they keep every size computed from a configuration, and the sum
//! of all of them, within 64 bits.
struct model_limits {
  //! Voxels of the query grid: the ×2 output grid (8 voxels per voxel) and the query lists are indexed in int32.
  static constexpr index_t voxels = std::numeric_limits<std::int32_t>::max() / 8;
  //! Rows of the rebatched camera lists, at most cameras × voxels: indexed in int32.
  static constexpr index_t camera_rows = std::numeric_limits<std::int32_t>::max();
  //! An extent of the volume, the view or the image: the first two are sampled as MSDA levels, the image's
  //! normalise pixel coordinates in fp32, which holds every integer up to it.
  static constexpr index_t extent = msda_max_extent;
  //! Generous: sampling points per head and level (VoxFormer: 8), layers per stack (3, 2), the FFN's width
  //! (256), cameras (5, 1), rows of level_embeds (4).
  static constexpr index_t count = index_t{1} << 16;
  //! Generous: sampling points per query of a layer (VoxFormer: 64 cross, 128 self); keeps each layer's weights
  //! under 2^32 elements.
  static constexpr index_t samples = index_t{1} << 20;
  //! Elements of one buffer the model lays out (rows × width: sampling rows, position tables, FFN rows, image
  //! values): terabytes, beyond any machine, and a bound that keeps all the buffers' bytes together within 64 bits.
  static constexpr index_t buffer_elements = index_t{1} << 40;
};

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

  //! Throws `voxformer::error` naming the first value that cannot work, and why. Once it has passed, every size
  //! the model computes from the configuration — parameter shapes, workspace and memory plans — fits its type.
  void validate() const {
    constexpr const char* where = "voxformer::model_config";
    auto in_range = [&](std::string_view name, index_t value, index_t low, index_t high, std::string_view why = "") {
      if (value < low || value > high)
        detail::fail(where, ": ", name, " (", value, ") must be in [", low, ", ", high, "]", why);
    };
    // Π factors ≤ limit in checked arithmetic (a product that overflows is beyond the limit too).
    auto bounded_product = [&](std::string_view what, std::initializer_list<index_t> factors, index_t limit,
                              std::string_view why = "") {
      index_t product = 1;
      if (detail::product_within(factors, product) && product <= limit) return;
      std::ostringstream values;
      const char* separator = "";
      for (const index_t f : factors) values << std::exchange(separator, " x ") << f;
      detail::fail(where, ": ", what, " (", values.str(), ") must be at most ", limit, why);
    };
    auto indexed = [](std::string_view name, std::size_t i, std::string_view member = "") {
      return std::string(name) + "[" + std::to_string(i) + "]" + std::string(member);
    };

    // Each field on its own first: no product of fields below can then overflow.
    detail::require(self_attention == self_attention_kind::planar || self_attention == self_attention_kind::volumetric,
                    where, ": self_attention must be planar or volumetric, got ", static_cast<int>(self_attention));
    for (std::size_t a = 0; a < 3; ++a)
      in_range(indexed("volume", a), volume[a], 1, model_limits::extent,
               ": the volumetric self-attention samples the volume as an MSDA level");
    bounded_product("voxels X*Y*Z", {volume[0], volume[1], volume[2]}, model_limits::voxels,
                   ": the output grid, 8 voxels per voxel, is indexed in int32");
    for (std::size_t a = 0; a < 2; ++a)
      in_range(indexed("view_shape", a), view_shape[a], 1, model_limits::extent,
               ": the planar self-attention samples the view as an MSDA level");
    // Both extents at most 2^24: their product cannot overflow.
    detail::require(view_shape[0] * view_shape[1] == voxels(), where, ": the self-attention view ", view_shape[0], "x",
                    view_shape[1], " has ", view_shape[0] * view_shape[1], " cells, but the volume ", volume[0], "x",
                    volume[1], "x", volume[2], " has ", voxels(), " voxels");
    in_range("embed_dims", embed_dims, 2, head_max_channels, ": the fused head holds at most that many per voxel");
    detail::require(embed_dims % 2 == 0, where, ": embed_dims (", embed_dims,
                    ") must be even: the positional encoding gives half to rows, half to columns");
    in_range("heads", heads, 1, embed_dims, ": a head has at least one channel");
    detail::require(embed_dims % heads == 0, where, ": heads (", heads, ") must divide embed_dims (", embed_dims, ")");
    in_range("points_cross", points_cross, 1, model_limits::count);
    in_range("points_self", points_self, 1, model_limits::count);
    in_range("layers_cross", layers_cross, 0, model_limits::count);
    in_range("layers_self", layers_self, 0, model_limits::count);
    in_range("ffn_hidden", ffn_hidden, 1, model_limits::count);
    in_range("cameras", cameras, 1, model_limits::count);
    in_range("classes", classes, 1, head_max_classes, ": labels are uint8");
    in_range("feature levels", levels(), 1, msda_max_levels);
    for (std::size_t l = 0; l < feature_shapes.size(); ++l) {
      const auto& s = feature_shapes[l];
      in_range(indexed("feature_shapes", l, ".height"), s.height, 1, msda_max_extent);
      in_range(indexed("feature_shapes", l, ".width"), s.width, 1, msda_max_extent);
      bounded_product(indexed("the cells of feature_shapes", l), {s.height, s.width}, msda_max_level_size,
                     ": MSDA numbers the cells of a level in int32");
    }
    in_range("level_embed_rows", level_embed_rows, levels(), model_limits::count, ": a row per feature level at least");
    in_range("image.height", image.height, 1, model_limits::extent, ": pixel coordinates are normalised in fp32");
    in_range("image.width", image.width, 1, model_limits::extent, ": pixel coordinates are normalised in fp32");
    for (std::size_t a = 0; a < 3; ++a) {
      constexpr double largest = std::numeric_limits<float>::max();
      const double low = range.min[a], high = range.max[a];
      detail::require(std::abs(low) <= largest && std::abs(high) <= largest && low < high, where,
                      ": point-cloud range axis ", a, " is [", low, ", ", high,
                      "]; it must have min < max, both finite in fp32 (reference points are projected in fp32)");
    }

    // Then the products the implementation indexes in int32 or lays out as one buffer.
    bounded_product("cameras x voxels", {cameras, voxels()}, model_limits::camera_rows,
                   ": the rebatched camera rows are indexed in int32");
    bounded_product("the cross-attention's samples per query, heads x levels x points_cross",
                   {heads, levels(), points_cross}, model_limits::samples);
    bounded_product("the self-attention's samples per query, heads x 2 x points_self", {heads, 2, points_self},
                   model_limits::samples);
    // Rows of every voxel (the proposals, the chunks and the view's rows or columns are at most that many) times
    // each row's width: offsets (2 per sample) and weights (1) of the cross-attention; offsets (self_dims) and
    // weights of the self-attention, also its position tables; the FFN's hidden layer.
    bounded_product("the cross-attention's sampling rows, voxels x 3 x heads x levels x points_cross",
                   {voxels(), 3, heads, levels(), points_cross}, model_limits::buffer_elements);
    bounded_product("the self-attention's sampling rows, voxels x (self_dims + 1) x heads x 2 x points_self",
                   {voxels(), self_dims() + 1, heads, 2, points_self}, model_limits::buffer_elements);
    bounded_product("the FFN's hidden rows, voxels x ffn_hidden", {voxels(), ffn_hidden}, model_limits::buffer_elements);
    bounded_product("the image values, cameras x feature rows x embed_dims", {cameras, feature_rows(), embed_dims},
                   model_limits::buffer_elements);
  }
};

}  // namespace voxformer
