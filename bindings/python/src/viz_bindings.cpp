// Pictures: a label file's class colours, the bird's-eye view of a labelled volume, and PNG files.
#include <array>
#include <cstdint>
#include <span>
#include <voxformer/backend/cpu/cpu_executor.hpp>
#include <voxformer/io/label_map.hpp>
#include <voxformer/io/png.hpp>
#include <voxformer/viz/bird_eye_view.hpp>

#include "arrays.hpp"
#include "bindings.hpp"

namespace voxformer::python {
namespace {

nb::ndarray<nb::numpy, std::uint8_t> class_palette(const std::filesystem::path& path) {
  const io::label_map map = io::label_map::read(existing_file(path, "label map"));
  result_array<std::uint8_t, 2> palette(std::array<index_t, 2>{map.classes(), 3});
  auto p = palette.view();
  for (index_t c = 0; c < map.classes(); ++c) {
    const auto rgb = map.class_colour(c);
    p(c, 0) = rgb.r;
    p(c, 1) = rgb.g;
    p(c, 2) = rgb.b;
  }
  return palette.release();
}

nb::object bird_eye_view(const input_array& labels, const input_array& palette, nb::handle out) {
  constexpr const char* op = "voxformer::viz::render_bird_eye_classes";
  const auto l = as_view<const std::uint8_t, 3>(labels, op, "labels");
  return into_out_or_new<std::uint8_t, 3>(
      out, op, [&] { return std::array<index_t, 3>{l.extent(0), l.extent(1), 3}; },
      [&](auto&& image) { viz::render_bird_eye_classes(cpu_executor{1}, l, palette, image); });
}

void write_png(const std::filesystem::path& path, const input_array& image) {
  constexpr const char* op = "voxformer::io::write_png";
  require_host(image, op, "image");
  const auto rgb = as_view<const std::uint8_t, 3>(image, op, "image");
  expect_shape(op, "image", "[height, width, 3]", rgb, {any_extent, any_extent, 3});
  detail::require(rgb.extent(0) > 0 && rgb.extent(1) > 0, op, ": argument 'image' is empty (",
                  detail::format_shape(rgb.extents()), ")");
  const auto bytes = flat_contiguous(op, "image", rgb);
  nb::gil_scoped_release released;
  try {
    io::write_png(path, {bytes.data(), static_cast<std::size_t>(bytes.size())}, rgb.extent(1), rgb.extent(0));
  } catch (const error& e) {
    throw io_error(e.what());  // the file could not be written: nothing was left behind
  }
}

}  // namespace

void bind_viz(nb::module_& m) {
  m.def("class_palette", &class_palette, nb::arg("label_map"),
        "The RGB colour of every class [classes, 3] uint8 from a label file (SemanticKITTI's semantic-kitti.yaml: "
        "color_map[learning_map_inv[c]]).");
  m.def("bird_eye_view", &bird_eye_view, nb::arg("labels"), nb::arg("palette"), nb::kw_only(),
        nb::arg("out") = nb::none(),
        "labels uint8 [X, Y, Z] seen from above as RGB uint8 [X, Y, 3]: each pixel the palette colour of its "
        "column's topmost voxel that is neither empty (0) nor ignored (255), darker lower down; x forward (up the "
        "picture), y left.");
  m.def("write_png", &write_png, nb::arg("path"), nb::arg("image"),
        "Writes RGB uint8 [height, width, 3] as a PNG; the file is complete or absent (OSError when it cannot be "
        "written).");
}

}  // namespace voxformer::python
