// voxformer.Config (model_config), the presets and load_config.
#include <nanobind/stl/array.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <sstream>
#include <tuple>
#include <utility>
#include <vector>
#include <voxformer/model/config_json.hpp>

#include "bindings.hpp"

namespace voxformer::python {

model_config config_argument(const std::string& variant, const nb::handle& config) {
  if (config.is_none()) return model_config::preset(variant);
  if (nb::isinstance<model_config>(config)) {
    model_config c = nb::cast<model_config>(config);
    c.validate();
    return c;
  }
  std::filesystem::path path;
  if (!nb::try_cast(config, path))
    throw nb::type_error("voxformer: argument 'config' must be None, a voxformer.Config or the path of a JSON file");
  return read_config_json(existing_file(path, "config"));
}

namespace {

std::string describe(const model_config& c) {
  std::ostringstream s;
  s << "voxformer.Config(variant='" << c.variant << "', self_attention='"
    << (c.self_attention == self_attention_kind::planar ? "planar" : "volumetric") << "', volume=(" << c.volume[0]
    << ", " << c.volume[1] << ", " << c.volume[2] << "), embed_dims=" << c.embed_dims << ", heads=" << c.heads
    << ", cameras=" << c.cameras << ", classes=" << c.classes << ", layers_cross=" << c.layers_cross
    << ", layers_self=" << c.layers_self << ")";
  return s.str();
}

//! Sizes as tuples, not lists: an item assigned to a list would change a copy and be lost without a word.
template <class T, std::size_t N>
nb::tuple as_tuple(const std::array<T, N>& values) {
  nb::list items;
  for (const T& v : values) items.append(v);
  return nb::tuple(items);
}

}  // namespace

void bind_config(nb::module_& m) {
  using shape_pair = std::pair<index_t, index_t>;
  nb::class_<model_config>(m, "Config",
                           "Every size of VoxFormer stage 2 + head (the keys of the reference's config.json). Start "
                           "from a preset (Config.preset('T')) or load_config(path), change fields, pass it to "
                           "Pipeline(config=...): the pipeline validates it.")
      .def(nb::init<>(), "VoxFormer-T's configuration.")
      .def_static("preset", &model_config::preset, nb::arg("variant"),
                  "The configuration of a published variant: 'T', 'S', 'T-3D' or 'S-3D'.")
      .def("validate", &model_config::validate, "Raises ValueError naming the first field out of range.")
      .def_rw("variant", &model_config::variant, "informational name ('T', 'S', 'T-3D', 'S-3D' or anything)")
      .def_prop_rw(
          "self_attention",
          [](const model_config& c) {
            return c.self_attention == self_attention_kind::planar ? "planar" : "volumetric";
          },
          [](model_config& c, const std::string& kind) {
            detail::require(kind == "planar" || kind == "volumetric", "voxformer.Config: self_attention '", kind,
                            "' must be 'planar' or 'volumetric'");
            c.self_attention = kind == "planar" ? self_attention_kind::planar : self_attention_kind::volumetric;
          },
          "'planar' (VoxFormer-S/-T) or 'volumetric' (the -3D variants)")
      .def_prop_rw(
          "volume", [](const model_config& c) { return as_tuple(c.volume); },
          [](model_config& c, const std::array<index_t, 3>& v) { c.volume = v; },
          "query grid (X, Y, Z); the labels are (2X, 2Y, 2Z)")
      .def_rw("embed_dims", &model_config::embed_dims)
      .def_rw("heads", &model_config::heads)
      .def_rw("points_cross", &model_config::points_cross)
      .def_rw("points_self", &model_config::points_self)
      .def_rw("layers_cross", &model_config::layers_cross)
      .def_rw("layers_self", &model_config::layers_self)
      .def_rw("ffn_hidden", &model_config::ffn_hidden)
      .def_rw("cameras", &model_config::cameras)
      .def_rw("classes", &model_config::classes)
      .def_rw("level_embed_rows", &model_config::level_embed_rows)
      .def_prop_rw(
          "view_shape", [](const model_config& c) { return as_tuple(c.view_shape); },
          [](model_config& c, const std::array<index_t, 2>& v) { c.view_shape = v; },
          "the planar self-attention's 2-D view (rows, cols)")
      .def_prop_rw(
          "image_size", [](const model_config& c) { return shape_pair{c.image.height, c.image.width}; },
          [](model_config& c, const shape_pair& s) { c.image = {s.first, s.second}; },
          "(height, width) pixel coordinates are normalised by: the crop, (370, 1220)")
      .def_prop_rw(
          "pc_range",
          [](const model_config& c) {
            return as_tuple(std::array<double, 6>{c.range.min[0], c.range.min[1], c.range.min[2], c.range.max[0],
                                                  c.range.max[1], c.range.max[2]});
          },
          [](model_config& c, const std::array<double, 6>& r) { c.range = {{r[0], r[1], r[2]}, {r[3], r[4], r[5]}}; },
          "point-cloud range (xmin, ymin, zmin, xmax, ymax, zmax) in metres")
      .def_prop_rw(
          "feature_shapes",
          [](const model_config& c) {
            nb::list shapes;
            for (const auto& s : c.feature_shapes) shapes.append(nb::make_tuple(s.height, s.width));
            return nb::tuple(shapes);
          },
          [](model_config& c, const std::vector<shape_pair>& shapes) {
            c.feature_shapes.clear();
            for (const auto& [h, w] : shapes) c.feature_shapes.push_back({h, w});
          },
          "(h, w) of each image feature level: [(24, 77)] for the 370 x 1220 crop")
      .def_prop_ro("voxels", &model_config::voxels, "X * Y * Z")
      .def_prop_ro(
          "output_volume", [](const model_config& c) { return as_tuple(c.output_volume()); },
          "the labels' shape (2X, 2Y, 2Z)")
      .def("__copy__", [](const model_config& c) { return c; })
      .def("__deepcopy__", [](const model_config& c, nb::handle /*memo*/) { return c; }, nb::arg("memo"))
      .def("__repr__", &describe);

  m.attr("PRESETS") = nb::make_tuple("T", "S", "T-3D", "S-3D");
  m.def(
      "load_config",
      [](const std::filesystem::path& path) { return read_config_json(existing_file(path, "config")); },
      nb::arg("path"),
      "A configuration JSON (the keys of the reference's config.json; absent keys keep the preset its 'variant' "
      "names), validated.");
}

}  // namespace voxformer::python
