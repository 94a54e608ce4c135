//! @file An occupancy grid file as the runners read it: a .npy of any numeric dtype with X·Y·Z elements in [x][y][z]
//! order (its shape otherwise free), or a bit-packed SemanticKITTI grid (.bin, .pseudo).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>
#include <voxformer/core/shape_check.hpp>
#include <voxformer/io/npy.hpp>
#include <voxformer/io/voxel_grid.hpp>

namespace voxformer::tools {

//! Calls `f(grid)` with the file at `path` as a [X, Y, Z] view of its own element type (`extents`): a .npy (bool,
//! integer, float32, float64), or else a bit-packed grid (one byte per voxel once unpacked); returns what `f` does.
template <class F>
auto with_grid(const std::filesystem::path& path, const std::array<index_t, 3>& extents, F&& f) {
  const auto& g = extents;
  const index_t voxels = g[0] * g[1] * g[2];
  if (path.extension() == ".npy") {
    const io::npy_array a = io::read_npy(path);
    const std::string where = "grid '" + path.string() + "'";
    detail::require(a.size() == voxels, where, " has ", a.size(), " elements (shape ", detail::format_shape(a.shape),
                    "), a ", g[0], "x", g[1], "x", g[2], " grid has ", voxels);
    return io::visit_elements(a, where, [&](const auto* values) { return f(make_view<3>(values, {g[0], g[1], g[2]})); });
  }
  const std::vector<std::uint8_t> grid = io::read_packed_grid(path, {g[0], g[1], g[2]});
  return f(make_view<3>(grid.data(), {g[0], g[1], g[2]}));
}

}  // namespace voxformer::tools
