// The primitives on arrays: ms_deform_attn(_3d), scatter_with_mask_token, proposal_indices, project_to_cameras.
// Each takes its outputs from `out=` (written in place and returned as given) or allocates them, and runs without
// the GIL; the library checks every argument and names it in its errors.
#include <nanobind/stl/array.h>
#include <nanobind/stl/optional.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <voxformer/backend/cpu/cpu_executor.hpp>
#include <voxformer/ops/msda/ms_deform_attn.hpp>
#include <voxformer/ops/msda/ms_deform_attn_3d.hpp>
#include <voxformer/ops/rebatch/camera_projection.hpp>
#include <voxformer/ops/scatter/mask_token_scatter.hpp>
#include <voxformer/ops/voxel/proposal.hpp>

#include "bindings.hpp"
#include "pipeline_inputs.hpp"

namespace voxformer::python {
namespace {

//! Two outputs given as `out=(a, b)`.
std::optional<std::array<output_array, 2>> out_pair(nb::handle out, const char* op, const char* first,
                                                    const char* second) {
  if (out.is_none()) return std::nullopt;
  detail::require(nb::isinstance<nb::tuple>(out) && nb::len(out) == 2, op, ": 'out' must be a tuple (", first, ", ",
                  second, ")");
  return std::array<output_array, 2>{*out_array(out[0], op, first), *out_array(out[1], op, second)};
}

//! Launch metadata (spatial shapes, level starts) of int32 or int64, read on the host into int64 memory of its own.
template <int Rank>
result_array<std::int64_t, Rank> levels_as_int64(const input_array& a, const char* op, const char* arg) {
  require_host(a, op, arg);
  std::optional<result_array<std::int64_t, Rank>> out;
  visit_element<std::int32_t, std::int64_t>(a, op, arg, "int32 or int64", [&](auto element) {
    const auto v = as_view<const decltype(element), Rank>(a, op, arg);
    auto o = out.emplace(v.extents()).view();
    detail::for_each_element(v, [&](index_t offset, const auto& index) {
      if constexpr (Rank == 1) o(index[0]) = v.data()[offset];
      else o(index[0], index[1]) = v.data()[offset];
    });
  });
  return std::move(*out);
}

template <int Dims>
nb::object deform_attn(const input_array& value, const input_array& spatial_shapes, const input_array& level_start,
                       const input_array& sampling_locations, const input_array& attention_weights, nb::handle out,
                       int threads) {
  const char* op = Dims == 2 ? "voxformer::ms_deform_attn" : "voxformer::ms_deform_attn_3d";
  auto shapes = levels_as_int64<2>(spatial_shapes, op, "spatial_shapes");
  auto starts = levels_as_int64<1>(level_start, op, "level_start_index");
  const auto v = as_view<const float, 4>(value, op, "value");
  const auto loc = as_view<const float, 6>(sampling_locations, op, "sampling_locations");
  const cpu_executor executor = checked_executor(op, threads);
  return into_out_or_new<float, 3>(
      out, op, [&] { return std::array<index_t, 3>{loc.extent(0), loc.extent(1), v.extent(2) * v.extent(3)}; },
      [&](auto&& result) {
        if constexpr (Dims == 2)
          ms_deform_attn(executor, v, shapes.view(), starts.view(), loc, attention_weights, result);
        else
          ms_deform_attn_3d(executor, v, shapes.view(), starts.view(), loc, attention_weights, result);
      });
}

nb::object scatter(const input_array& seed, const input_array& unmasked, const input_array& mask_token,
                   std::optional<index_t> voxels, nb::handle out, int threads) {
  constexpr const char* op = "voxformer::scatter_with_mask_token";
  detail::require(!out.is_none() || voxels, op, ": give voxels=N (the volume's rows) or out= (the volume [N, C])");
  detail::require(voxels.value_or(0) >= 0, op, ": argument 'voxels' must not be negative, got ", voxels.value_or(0));
  const auto s = as_view<const float, 2>(seed, op, "seed");
  const cpu_executor executor = checked_executor(op, threads);
  return into_out_or_new<float, 2>(
      out, op, [&] { return std::array<index_t, 2>{*voxels, s.extent(1)}; },
      [&](auto&& volume) {
        visit_element<std::int32_t, std::int64_t>(unmasked, op, "unmasked", "int32 or int64", [&](auto index) {
          scatter_with_mask_token<float, decltype(index)>(executor, s, unmasked, mask_token, volume);
        });
      });
}

nb::tuple proposal_lists(const input_array& mask, nb::handle out, int threads) {
  constexpr const char* op = "voxformer::proposal_indices";
  auto given = out_pair(out, op, "unmasked", "masked");
  const auto d = tensor_traits<input_array>::describe(mask);
  index_t voxels = 1;
  for (int i = 0; i < d.rank; ++i) voxels *= d.shape[i];
  std::optional<result_array<std::int64_t, 1>> unmasked, masked;
  if (!given) {
    unmasked.emplace(std::array<index_t, 1>{voxels});
    masked.emplace(std::array<index_t, 1>{voxels});
  }
  const cpu_executor executor = checked_executor(op, threads);
  proposal_counts counts;
  {
    nb::gil_scoped_release released;
    visit_mask_element(mask, op, "mask", [&](auto element) {
      using M = decltype(element);
      auto split = [&](auto index, auto&& a, auto&& b) {  // ranks other than 1 and 3 are refused by name
        using I = decltype(index);
        counts = d.rank == 1 ? proposal_indices<1, M, I>(executor, mask, a, b)
                             : proposal_indices<3, M, I>(executor, mask, a, b);
      };
      if (!given) return split(std::int64_t{}, unmasked->view(), masked->view());
      visit_element<std::int32_t, std::int64_t>((*given)[0], op, "unmasked", "int32 or int64",
                                                [&](auto index) { split(index, (*given)[0], (*given)[1]); });
    });
  }
  if (given) {
    nb::object a = nb::borrow(out[0]), b = nb::borrow(out[1]);
    return nb::make_tuple(a[nb::slice(counts.unmasked)], b[nb::slice(counts.masked)]);
  }
  unmasked->keep_rows(counts.unmasked);
  masked->keep_rows(counts.masked);
  return nb::make_tuple(unmasked->release(), masked->release());
}

nb::tuple projection(const input_array& reference, const input_array& lidar2img, const std::array<double, 6>& range,
                     const std::array<index_t, 2>& image, nb::handle out, int threads) {
  constexpr const char* op = "voxformer::project_to_cameras";
  auto given = out_pair(out, op, "reference_cam", "visible");
  const auto m = as_view<const float, 3>(lidar2img, op, "lidar2img");
  const auto d = tensor_traits<input_array>::describe(reference);
  std::optional<result_array<float, 4>> cam;
  std::optional<result_array<std::uint8_t, 3>> visible;
  if (!given) {
    detail::require(d.rank == 3, op, ": argument 'reference' has rank ", d.rank, ", expected rank 3");
    cam.emplace(std::array<index_t, 4>{m.extent(0), d.shape[0], d.shape[1], 2});
    visible.emplace(std::array<index_t, 3>{m.extent(0), d.shape[0], d.shape[1]});
  }
  const point_cloud_range box{{range[0], range[1], range[2]}, {range[3], range[4], range[5]}};
  const cpu_executor executor = checked_executor(op, threads);
  {
    nb::gil_scoped_release released;
    visit_element<float, double>(reference, op, "reference", "float32 or float64", [&](auto element) {
      const auto r = as_view<const decltype(element), 3>(reference, op, "reference");
      if (given) project_to_cameras(executor, r, box, m, image_size{image[0], image[1]}, (*given)[0], (*given)[1]);
      else project_to_cameras(executor, r, box, m, image_size{image[0], image[1]}, cam->view(), visible->view());
    });
  }
  if (given) return nb::make_tuple(nb::borrow(out[0]), nb::borrow(out[1]));
  return nb::make_tuple(cam->release(), visible->release());
}

}  // namespace

void bind_primitives(nb::module_& m) {
  constexpr const char* msda_doc =
      "Multi-scale deformable attention, bilinear (mmcv's MultiScaleDeformableAttnFunction, grid_sample with "
      "align_corners=False and zero padding). value: float32 [B, S, heads, head_dim], levels stacked along S; "
      "spatial_shapes: int [L, 2] (h, w); level_start_index: int [L]; sampling_locations: float32 "
      "[B, Q, heads, L, P, 2] (x, y) in [0, 1]; attention_weights: float32 [B, Q, heads, L, P]. Returns out "
      "float32 [B, Q, heads*head_dim] (written into `out` when given). Any strides.";
  m.def("ms_deform_attn", &deform_attn<2>, nb::arg("value"), nb::arg("spatial_shapes"), nb::arg("level_start_index"),
        nb::arg("sampling_locations"), nb::arg("attention_weights"), nb::kw_only(), nb::arg("out") = nb::none(),
        nb::arg("threads") = 2, msda_doc);
  m.def("ms_deform_attn_3d", &deform_attn<3>, nb::arg("value"), nb::arg("spatial_shapes"),
        nb::arg("level_start_index"), nb::arg("sampling_locations"), nb::arg("attention_weights"), nb::kw_only(),
        nb::arg("out") = nb::none(), nb::arg("threads") = 2,
        "Trilinear multi-scale deformable attention (VoxFormer's deform_attn_3d): spatial_shapes int [L, 3] "
        "(h, w, z), level l's volume at rows (ih*w + iw)*z + iz; sampling_locations float32 [B, Q, heads, L, P, 3] "
        "(x along w, y along h, z along z) in [0, 1]; otherwise as ms_deform_attn.");
  m.def("scatter_with_mask_token", &scatter, nb::arg("seed"), nb::arg("unmasked"), nb::arg("mask_token"),
        nb::kw_only(), nb::arg("voxels") = nb::none(), nb::arg("out") = nb::none(), nb::arg("threads") = 2,
        "The dense volume [N, C] (float32): mask_token [C] in every row, then seed [n, C] into rows unmasked [n] "
        "(int32 or int64, strictly ascending, below N). N is `voxels`, or out's rows.");
  m.def("proposal_indices", &proposal_lists, nb::arg("mask"), nb::kw_only(), nb::arg("out") = nb::none(),
        nb::arg("threads") = 2,
        "The proposal's flat indices: (unmasked, masked) int64, ascending — mask > 0 and the rest (NaN is masked). "
        "mask: [X, Y, Z] or [N], contiguous, uint8, bool, int or float. With out=(a, b) (int32 or int64, room for "
        "each count) the lists are written there and views of their used parts returned.");
  m.def("project_to_cameras", &projection, nb::arg("reference"), nb::arg("lidar2img"), nb::kw_only(),
        nb::arg("pc_range") = std::array<double, 6>{0.0, -25.6, -2.0, 51.2, 25.6, 4.4},
        nb::arg("image_size") = std::array<index_t, 2>{370, 1220}, nb::arg("out") = nb::none(),
        nb::arg("threads") = 2,
        "VoxFormer's point_sampling: reference [Q, D, 3] (float64 or float32, normalised over pc_range) projected "
        "by lidar2img float32 [K, 4, 4] into (reference_cam float32 [K, Q, D, 2] = (u/W, v/H), visible uint8 "
        "[K, Q, D]); visible = depth > 1e-5 and 0 < u/W, v/H < 1.");
}

}  // namespace voxformer::python
