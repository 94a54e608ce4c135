//! @file Labelled points → a semantic voxel grid: each voxel takes the class most of its points carry (ties to the
//! smaller class), the way SemanticKITTI's voxel labels are the majority label of the points in a voxel. A point
//! may vote "ignore" (raw labels the learning map sends to class 0, such as outliers): a voxel whose majority
//! votes so is `ignore`; voxels no point reaches are `empty`. Used to make a ground truth from a single scan.
//!
//! Memory stays proportional to the occupied voxels, not to voxels × classes: occupied voxels are compacted
//! (executor `compact`) into slots, votes are counted per slot (one atomic add per point), then each slot's
//! majority is written back. Every step is independent of the thread count.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>

#include "voxformer/core/atomic_store.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/core/workspace.hpp"
#include "voxformer/ops/common/compaction.hpp"
#include "voxformer/ops/common/fill.hpp"
#include "voxformer/ops/voxel/voxelize.hpp"

namespace voxformer {

//! One call of `voxelize_semantic`: points [N, ≥3], their classes [N] (in [0, class_count), or `ignore`), the
//! grid geometry and z convention, and the output labels [X, Y, Z].
template <class C>
struct semantic_voxel_arguments {
  tensor_view<const float, 2> points;
  tensor_view<const C, 1> classes;
  volume_geometry geometry;
  z_convention convention = z_convention::voxformer;
  index_t class_count = 20;
  tensor_view<std::uint8_t, 3> labels;
  std::uint8_t empty = 0;
  std::uint8_t ignore = 255;
};

namespace kernels {

//! slot_of[v] = 0 for every voxel a point lands in (−1 stays for the others).
template <class Points>
struct mark_point_slots {
  Points points;
  std::int32_t* slot_of;
  volume_geometry geometry;
  z_convention convention;
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    const index_t v = voxel_of_point(geometry, convention, points(i, 0), points(i, 1), points(i, 2));
    if (v >= 0) detail::store_relaxed(slot_of + v, std::int32_t{0});
  }
};

struct occupied_slot {
  const std::int32_t* slot_of;
  VOXFORMER_HOST_DEVICE bool operator()(index_t v) const { return slot_of[v] >= 0; }
};

//! The compaction's emit: voxel v is slot `rank`.
struct assign_slot {
  std::int32_t* slot_of;
  std::int32_t* voxel_of_slot;
  VOXFORMER_HOST_DEVICE void operator()(index_t v, index_t rank) const {
    slot_of[v] = static_cast<std::int32_t>(rank);
    voxel_of_slot[rank] = static_cast<std::int32_t>(v);
  }
};

//! One vote per point: votes[slot][class], the last bucket being "ignore".
template <class Points, class C>
struct count_point_vote {
  Points points;
  tensor_view<const C, 1> classes;
  const std::int32_t* slot_of;
  std::uint32_t* votes;
  volume_geometry geometry;
  z_convention convention;
  index_t class_count;
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    const index_t v = voxel_of_point(geometry, convention, points(i, 0), points(i, 1), points(i, 2));
    if (v < 0) return;
    const index_t c = static_cast<index_t>(classes(i));
    const index_t bucket = c < class_count ? c : class_count;
    detail::add_relaxed(votes + static_cast<index_t>(slot_of[v]) * (class_count + 1) + bucket, 1u);
  }
};

//! labels[voxel of slot s] = the class with the most votes (the first of equals; "ignore" is the last bucket).
struct write_majority {
  const std::uint32_t* votes;
  const std::int32_t* voxel_of_slot;
  std::uint8_t* labels;  // contiguous [X·Y·Z]
  index_t class_count;
  std::uint8_t ignore;
  VOXFORMER_HOST_DEVICE void operator()(index_t s) const {
    const std::uint32_t* v = votes + s * (class_count + 1);
    index_t best = 0;
    for (index_t c = 1; c <= class_count; ++c)
      if (v[c] > v[best]) best = c;
    labels[voxel_of_slot[s]] = best == class_count ? ignore : static_cast<std::uint8_t>(best);
  }
};

}  // namespace kernels

namespace detail {

//! The most voxels the points can occupy: one per point, at most every voxel.
template <class C>
index_t most_occupied(const semantic_voxel_arguments<C>& args) {
  return std::min(args.points.extent(0), args.geometry.voxel_count());
}

//! The carving shared by `workspace_bytes` and `run`.
struct semantic_voxel_scratch {
  std::int32_t* slot_of;
  std::int32_t* voxel_of_slot;
  std::uint32_t* votes;
};

template <class Executor, class C>
semantic_voxel_scratch carve_semantic_voxel_scratch(const Executor& executor, const semantic_voxel_arguments<C>& args,
                                                    workspace& scratch, workspace& compaction) {
  const index_t most = most_occupied(args);
  semantic_voxel_scratch s{scratch.take<std::int32_t>(args.geometry.voxel_count()), scratch.take<std::int32_t>(most),
                           scratch.take<std::uint32_t>(most * (args.class_count + 1))};
  const std::size_t bytes = counted_compaction_bytes(executor, args.geometry.voxel_count());
  std::byte* base = scratch.take<std::byte>(static_cast<index_t>(bytes));
  compaction = scratch.sizing() ? workspace() : workspace(base, bytes, scratch.space());
  return s;
}

}  // namespace detail

template <class Executor, class C>
void validate(const Executor& executor, const semantic_voxel_arguments<C>& args) {
  constexpr const char* op = "voxformer::voxelize_semantic";
  static_assert(std::integral<C>, "voxformer::voxelize_semantic: classes must be integers");
  const auto& g = args.geometry;
  expect_xyz_points(op, args.points);
  expect_shape(op, "classes", "[N]", args.classes, {args.points.extent(0)});
  expect_shape(op, "labels", "[X, Y, Z]", args.labels, {g.dims[0], g.dims[1], g.dims[2]});
  detail::require(args.labels.is_contiguous(), op,
                  ": argument 'labels' must be contiguous (it is written as a flat grid)");
  detail::require(args.class_count > 0 && args.class_count < 255 && args.empty < args.class_count &&
                      args.ignore >= args.class_count,
                  op, ": class_count must be in [1, 254], empty a class and ignore outside them; got class_count ",
                  args.class_count, ", empty ", int(args.empty), ", ignore ", int(args.ignore));
  detail::require(g.voxel_count() <= index_t{1} << 31, op, ": the grid has more voxels than 32-bit slots address");
  expect_accessible(op, "points", executor, args.points);
  expect_accessible(op, "classes", executor, args.classes);
  expect_accessible(op, "labels", executor, args.labels);
  expect_no_aliasing(op, {detail::memory_of("labels", args.labels)},
                     {detail::memory_of("points", args.points), detail::memory_of("classes", args.classes)});
  if (host_accessible(args.classes.space()))
    for (index_t i = 0; i < args.classes.extent(0); ++i) {
      const auto c = static_cast<long long>(args.classes(i));
      detail::require((c >= 0 && c < args.class_count) || c == args.ignore, op, ": point ", i, " has class ", c,
                      ", outside [0, ", args.class_count, ") and not the ignore value ", int(args.ignore));
    }
}

template <class Executor, class C>
std::size_t workspace_bytes(const Executor& executor, const semantic_voxel_arguments<C>& args) {
  workspace sizing, compaction;
  detail::carve_semantic_voxel_scratch(executor, args, sizing, compaction);
  return sizing.used();
}

template <class Executor, class C>
void run(const Executor& executor, const semantic_voxel_arguments<C>& args, workspace scratch) {
  workspace compaction;
  const auto s = detail::carve_semantic_voxel_scratch(executor, args, scratch, compaction);
  const index_t voxels = args.geometry.voxel_count(), most = detail::most_occupied(args),
                buckets = args.class_count + 1;
  const auto points = args.points;
  fill(executor, make_view<1>(s.slot_of, {voxels}, scratch.space()), std::int32_t{-1});
  parallel_for(executor, points.extent(0),
               kernels::mark_point_slots<decltype(points)>{points, s.slot_of, args.geometry, args.convention});
  // At most `most` voxels can be marked, so the compaction always fits.
  const tensor_view<index_t, 1> count(compaction.take<index_t>(1), {1}, compaction.space());
  compact(executor, voxels, kernels::occupied_slot{s.slot_of}, kernels::assign_slot{s.slot_of, s.voxel_of_slot}, most,
          count, compaction);
  const index_t occupied = count(0);
  fill(executor, make_view<1>(s.votes, {occupied * buckets}, scratch.space()), std::uint32_t{0});
  parallel_for(executor, points.extent(0),
               kernels::count_point_vote<decltype(points), C>{points, args.classes, s.slot_of, s.votes, args.geometry,
                                                              args.convention, args.class_count});
  fill(executor, args.labels, args.empty);
  parallel_for(executor, occupied,
               kernels::write_majority{s.votes, s.voxel_of_slot, args.labels.data(), args.class_count, args.ignore});
}

//! `labels` [X, Y, Z] (uint8, overwritten) = for each voxel the majority class of the `points` [N, ≥3] that fall in
//! it (`classes` [N], each in [0, class_count) or `ignore`; ties to the smaller class; a voxel whose points mostly
//! vote `ignore` is `ignore`), `empty` where no point falls. Points outside the grid or with NaN/Inf are ignored;
//! `convention` maps z as `voxelize` does. This one-call form allocates its scratch (`workspace_bytes`: a slot per
//! voxel and a vote row per occupied voxel); `validate` / `workspace_bytes` / `run` on `semantic_voxel_arguments`
//! take it from the caller instead.
template <class ClassElement = deduce, class Executor, class Points, class Classes, class Labels>
void voxelize_semantic(const Executor& executor, Points&& points, Classes&& classes, const volume_geometry& geometry,
                       Labels&& labels, index_t class_count, z_convention convention = z_convention::voxformer,
                       std::uint8_t empty = 0, std::uint8_t ignore = 255) {
  constexpr const char* op = "voxformer::voxelize_semantic";
  using C = resolve_element_t<ClassElement, Classes, std::uint8_t>;
  const semantic_voxel_arguments<C> args{as_view<const float, 2>(points, op, "points"),
                                         as_view<const C, 1>(classes, op, "classes"),
                                         geometry,
                                         convention,
                                         class_count,
                                         as_view<std::uint8_t, 3>(labels, op, "labels"),
                                         empty,
                                         ignore};
  validate(executor, args);
  const auto bytes = workspace_bytes(executor, args);
  const auto memory = allocate_buffer(executor, bytes);
  run(executor, args, workspace(memory.data(), memory.size(), memory.space()));
}

}  // namespace voxformer
