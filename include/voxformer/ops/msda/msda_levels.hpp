//! @file Feature-level metadata of multi-scale deformable attention (spatial shapes + start rows), validated
//! on the host and passed by value into kernels, and the channel-chunk dispatch shared by the 2-D and 3-D ops.
#pragma once

#include <algorithm>
#include <concepts>
#include <type_traits>

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

inline constexpr int msda_max_levels = 16;
//! Sampling coordinates may be fp32 and cell numbers within a level 32-bit (the value rows stay 64-bit), so a
//! level extent must be exact in fp32 and a level's cell count must fit in int32.
inline constexpr index_t msda_max_extent = index_t{1} << 24;
inline constexpr index_t msda_max_level_size = (index_t{1} << 31) - 1;

//! Per level: extents (height, width[, depth]) and first row in the value tensor. Levels are small host
//! metadata (as in every public MSDA kernel's launch), so they travel by value, not through device memory.
struct msda_levels {
  int count = 0;
  index_t extent[msda_max_levels][3] = {};  //!< (h, w, z); z = 1 for 2-D maps
  index_t start[msda_max_levels] = {};
};

namespace detail {

//! Checks level metadata: 1 to `msda_max_levels` levels, extents in [1, msda_max_extent] (1 on the axes a
//! `Dims`-dimensional level lacks), at most msda_max_level_size cells per level, and levels that tile the
//! value rows exactly: start[l] = Σ_{j<l} size_j and Σ size = `value_rows`.
template <int Dims>
void check_levels(const char* op, const msda_levels& levels, index_t value_rows) {
  require(levels.count >= 1 && levels.count <= msda_max_levels, op, ": ", levels.count,
          " levels given; between 1 and ", msda_max_levels, " are supported");
  index_t expected_start = 0;
  for (int l = 0; l < levels.count; ++l) {
    index_t size = 1;
    for (int a = 0; a < 3; ++a) {
      const index_t bound = a < Dims ? msda_max_extent : 1;
      require(levels.extent[l][a] > 0 && levels.extent[l][a] <= bound, op, ": level ", l, " has extent ",
              levels.extent[l][a], "; extents must be in [1, ", bound, "]");
      size *= levels.extent[l][a];
    }
    require(size <= msda_max_level_size, op, ": level ", l, " has ", size, " cells; at most ", msda_max_level_size,
            " are supported per level");
    require(levels.start[l] == expected_start, op, ": level_start[", l, "] is ", levels.start[l],
            " but the levels before it cover ", expected_start, " rows");
    expected_start += size;
  }
  require(expected_start == value_rows, op, ": the levels cover ", expected_start,
          " value rows, but 'value' has S = ", value_rows);
}

//! Reads `spatial_shapes` [L, Dims] and `level_start` [L] (host memory, any signed integer type) and checks
//! them against `value_rows` (`check_levels`).
template <int Dims, class Shapes, class Starts>
msda_levels read_levels(const char* op, Shapes&& spatial_shapes, Starts&& level_start, index_t value_rows) {
  using I = resolve_element_t<deduce, Shapes, std::int64_t>;
  using J = resolve_element_t<deduce, Starts, std::int64_t>;
  static_assert(std::signed_integral<I> && std::signed_integral<J>,
                "voxformer: spatial_shapes and level_start must be signed integers");
  const auto shapes = as_view<const I, 2>(spatial_shapes, op, "spatial_shapes");
  const auto starts = as_view<const J, 1>(level_start, op, "level_start");
  const char* layout = Dims == 2 ? "[L, 2] (h, w)" : "[L, 3] (h, w, z)";
  expect_shape(op, "spatial_shapes", layout, shapes, {any_extent, Dims});
  expect_shape(op, "level_start", "[L]", starts, {shapes.extent(0)});
  require(host_accessible(shapes.space()) && host_accessible(starts.space()), op,
          ": spatial_shapes and level_start are launch metadata and must be in host memory");
  require(shapes.extent(0) >= 1 && shapes.extent(0) <= msda_max_levels, op, ": ", shapes.extent(0),
          " levels given; between 1 and ", msda_max_levels, " are supported");
  msda_levels levels;
  levels.count = static_cast<int>(shapes.extent(0));
  for (int l = 0; l < levels.count; ++l) {
    for (int a = 0; a < 3; ++a) levels.extent[l][a] = a < Dims ? static_cast<index_t>(shapes(l, a)) : 1;
    levels.start[l] = static_cast<index_t>(starts(l));
  }
  check_levels<Dims>(op, levels, value_rows);
  return levels;
}

//! Calls `launch(chunk, packed)` with the widest compile-time channel chunk, at most `MaxChunk`, that divides
//! `head_dim` (so the inner loop has a fixed trip count and vectorises) and whether the inner strides are the
//! packed ones.
template <int MaxChunk, class Launch>
void dispatch_channel_chunk(index_t head_dim, bool packed, const Launch& launch) {
  auto with_chunk = [&](auto chunk) {
    if (packed) launch(chunk, std::true_type{});
    else launch(chunk, std::false_type{});
  };
  // The clamp keeps dead branches from instantiating chunks wider than MaxChunk.
  if (MaxChunk >= 16 && head_dim % 16 == 0) with_chunk(std::integral_constant<int, std::min(MaxChunk, 16)>{});
  else if (MaxChunk >= 8 && head_dim % 8 == 0) with_chunk(std::integral_constant<int, std::min(MaxChunk, 8)>{});
  else if (MaxChunk >= 4 && head_dim % 4 == 0) with_chunk(std::integral_constant<int, std::min(MaxChunk, 4)>{});
  else with_chunk(std::integral_constant<int, 1>{});
}

//! Accumulation type: at least float (half/bfloat16 storage accumulates in fp32).
template <class T>
using accumulate_t = std::conditional_t<(sizeof(T) < sizeof(float)), float, T>;

}  // namespace detail
}  // namespace voxformer
