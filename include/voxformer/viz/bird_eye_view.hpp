//! @file Bird's-eye pictures of a voxel volume [X, Y, Z] (x forward, y left, z up): an RGB image [X, Y, 3] seen
//! from above with the car at the bottom looking up — voxel column (x, y) is pixel (row X−1−x, column Y−1−y) —
//! each pixel the colour of the column's topmost drawn voxel, darkened with decreasing height
//! (docs/conventions.md, "Pictures").
#pragma once

#include <array>
#include <cstdint>
#include <type_traits>

#include "voxformer/core/config.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

namespace kernels {

//! `value`·(0.55 + 0.45·(z + 1)/Z), rounded to nearest (halves up): the top layer keeps its colour, the bottom one
//! gets 55 % and a bit. Integer arithmetic, so that every executor writes the same bytes.
VOXFORMER_HOST_DEVICE inline std::uint8_t shade_by_height(std::uint8_t value, index_t z, index_t depth) {
  const index_t factor = 55 * depth + 45 * (z + 1);  // the factor times 100·Z
  return static_cast<std::uint8_t>((value * factor + 50 * depth) / (100 * depth));
}

//! Draws the voxels of a class volume that are neither empty nor ignored, in their palette colour.
template <class Labels, class Palette>
struct class_colours {
  Labels labels;    // [X, Y, Z]
  Palette palette;  // [classes, 3]
  std::uint8_t empty_class, ignore;
  VOXFORMER_HOST_DEVICE index_t depth() const { return labels.extent(2); }
  VOXFORMER_HOST_DEVICE bool colour(index_t x, index_t y, index_t z, std::uint8_t (&rgb)[3]) const {
    const std::uint8_t c = labels(x, y, z);
    // A class beyond the palette is an error for labels in host memory; in device memory it is not drawn.
    if (c == empty_class || c == ignore || c >= palette.extent(0)) return false;
    for (int channel = 0; channel < 3; ++channel) rgb[channel] = palette(c, channel);
    return true;
  }
};

//! Draws the non-zero voxels of a grid in one colour.
template <class Grid>
struct occupancy_colour {
  Grid grid;  // [X, Y, Z]
  std::uint8_t occupied[3];
  VOXFORMER_HOST_DEVICE index_t depth() const { return grid.extent(2); }
  VOXFORMER_HOST_DEVICE bool colour(index_t x, index_t y, index_t z, std::uint8_t (&rgb)[3]) const {
    if (grid(x, y, z) == typename Grid::value_type(0)) return false;
    for (int channel = 0; channel < 3; ++channel) rgb[channel] = occupied[channel];
    return true;
  }
};

//! One element = one column (x, y) = one pixel: the topmost voxel `Colours` draws, shaded by its height, else the
//! background.
template <class Colours, class Image>
struct bird_eye_pixel {
  Colours colours;
  Image image;  // [X, Y, 3]
  std::uint8_t background[3];
  VOXFORMER_HOST_DEVICE void operator()(index_t k) const {
    const index_t columns = image.extent(1), x = k / columns, y = k % columns, depth = colours.depth();
    const index_t row = image.extent(0) - 1 - x, column = columns - 1 - y;
    std::uint8_t rgb[3];
    for (index_t z = depth - 1; z >= 0; --z) {
      if (colours.colour(x, y, z, rgb)) {
        for (int channel = 0; channel < 3; ++channel)
          image(row, column, channel) = shade_by_height(rgb[channel], z, depth);
        return;
      }
    }
    for (int channel = 0; channel < 3; ++channel) image(row, column, channel) = background[channel];
  }
};

}  // namespace kernels

namespace viz {

namespace detail {

template <class Executor, class Volume, class Image, class Colours>
void render_bird_eye(const Executor& executor, const char* op, const Volume& volume, const Image& image,
                     const Colours& colours, const std::array<std::uint8_t, 3>& background) {
  expect_shape(op, "image", "[X, Y, 3]", image, {volume.extent(0), volume.extent(1), 3});
  expect_accessible(op, "image", executor, image);
  parallel_for(executor, volume.extent(0) * volume.extent(1),
               kernels::bird_eye_pixel<Colours, Image>{colours, image, {background[0], background[1], background[2]}});
}

}  // namespace detail

//! Draws a class volume `labels` [X, Y, Z] (uint8) into `image` [X, Y, 3] (uint8 RGB) from above: each pixel gets
//! the colour `palette` [classes, 3] (uint8 RGB) gives the topmost voxel of its column whose class is neither
//! `empty_class` nor `ignore`, shaded by height (`kernels::shade_by_height`), or `background` where there is none.
//! A drawn class without a palette row is an error naming the voxel (checked for labels in host memory), and
//! nothing is written then.
template <class Executor, class Labels, class Palette, class Image>
void render_bird_eye_classes(const Executor& executor, Labels&& labels, Palette&& palette, Image&& image,
                             std::uint8_t empty_class = 0, std::uint8_t ignore = 255,
                             const std::array<std::uint8_t, 3>& background = {0, 0, 0}) {
  constexpr const char* op = "voxformer::viz::render_bird_eye_classes";
  const auto l = as_view<const std::uint8_t, 3>(labels, op, "labels");
  const auto p = as_view<const std::uint8_t, 2>(palette, op, "palette");
  const auto i = as_view<std::uint8_t, 3>(image, op, "image");
  expect_shape(op, "palette", "[classes, 3]", p, {any_extent, 3});
  expect_accessible(op, "labels", executor, l);
  expect_accessible(op, "palette", executor, p);
  expect_no_aliasing(op, {voxformer::detail::memory_of("image", i)},
                     {voxformer::detail::memory_of("labels", l), voxformer::detail::memory_of("palette", p)});
  if (host_accessible(l.space()))
    for (index_t x = 0; x < l.extent(0); ++x)
      for (index_t y = 0; y < l.extent(1); ++y)
        for (index_t z = 0; z < l.extent(2); ++z) {
          const std::uint8_t c = l(x, y, z);
          voxformer::detail::require(c == empty_class || c == ignore || c < p.extent(0), op, ": voxel (", x, ", ", y,
                                     ", ", z, ") of 'labels' holds class ", int{c}, ", but 'palette' has ",
                                     p.extent(0), " rows");
        }
  detail::render_bird_eye(executor, op, l, i,
                          kernels::class_colours<decltype(l), decltype(p)>{l, p, empty_class, ignore}, background);
}

//! Draws an occupancy grid [X, Y, Z] of any arithmetic element type (non-zero = occupied; given as `Element`, or
//! taken from the grid's type, uint8 for runtime-typed tensors) into `image` [X, Y, 3] from above: `colour` shaded
//! by the height of each column's topmost occupied voxel, or `background` where there is none.
template <class Element = deduce, class Executor, class Grid, class Image>
void render_bird_eye_occupancy(const Executor& executor, Grid&& grid, Image&& image,
                               const std::array<std::uint8_t, 3>& colour,
                               const std::array<std::uint8_t, 3>& background = {0, 0, 0}) {
  constexpr const char* op = "voxformer::viz::render_bird_eye_occupancy";
  using T = resolve_element_t<Element, Grid, std::uint8_t>;
  static_assert(std::is_arithmetic_v<T>, "voxformer::viz::render_bird_eye_occupancy: grid elements must be arithmetic");
  const auto g = as_view<const T, 3>(grid, op, "grid");
  const auto i = as_view<std::uint8_t, 3>(image, op, "image");
  expect_accessible(op, "grid", executor, g);
  expect_no_aliasing(op, {voxformer::detail::memory_of("image", i)}, {voxformer::detail::memory_of("grid", g)});
  detail::render_bird_eye(executor, op, g, i,
                          kernels::occupancy_colour<decltype(g)>{g, {colour[0], colour[1], colour[2]}}, background);
}

}  // namespace viz
}  // namespace voxformer
