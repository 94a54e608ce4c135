//! @file Where a sampling point reads a level of the value map: the cells and weights of bilinear (2-D) and
//! trilinear (3-D) interpolation, written once as lane-generic math for host SIMD and device scalars.
#pragma once

#include "voxformer/core/lanes.hpp"
#include "voxformer/core/tensor_view.hpp"

namespace voxformer::kernels {

//! Multilinear interpolation on a level of extent (h, w, z), cell (ih, iw, iz) at row (ih·w + iw)·z + iz
//! (z = 1 for 2-D maps). A point (x along w, y along h[, z along z]) ∈ [0, 1] is sampled at
//! (y·h − 0.5, x·w − 0.5, z·z − 0.5) with zero padding; the range test is the CUDA kernels'
//! (−1 < position < extent on every axis), which NaN fails, and a point outside it gets weight 0.
//!
//! Every point reads the 2^Dims cells at fixed row offsets (`corner_offsets`) from one base cell. Along each
//! axis the pair of taps is shifted into the level, and a tap that is not one of the point's two neighbours
//! gets weight 0: every read is in bounds, no lane branches, and a point needs one row number, not 2^Dims.
//! Such a read is not a sample, so each corner also gets a `valid` mask (all ones for a neighbour of a point
//! inside the range test, else 0). The fast loop ignores it (a NaN/Inf there then shows as a non-finite
//! output); the exact recomputation of such outputs (`msda_kernel::store_exact`) adds only valid corners, so a
//! NaN/Inf cell reaches exactly the outputs whose point has it as a neighbour — as in the original, where
//! 0 · NaN is NaN too.
//! Corner n takes the upper tap along h if bit Dims−1 of n is set, along w if bit Dims−2, along z if bit 0.
template <int Dims>
struct multilinear_corners {
  static_assert(Dims == 2 || Dims == 3, "multilinear_corners: 2-D or 3-D levels");
  static constexpr int dims = Dims, corners = 1 << Dims;

  //! Row offsets of the corners from the base cell. Along an axis of extent 1 the upper tap is the lower
  //! cell again (with weight 0), so that it stays inside the level.
  VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE static void corner_offsets(const index_t (&extent)[3],
                                                                         index_t (&offset)[corners]) {
    const index_t row_stride[3] = {extent[1] * extent[2], extent[2], 1};
    for (int n = 0; n < corners; ++n) {
      offset[n] = 0;
      for (int axis = 0; axis < Dims; ++axis)
        if ((n >> (Dims - 1 - axis)) & 1 && extent[axis] >= 2) offset[n] += row_stride[axis];
    }
  }

  //! coord = (x, y[, z]) per lane → the base cell's row, the corners' weights (times `attn`) and their
  //! validity masks (−1 or 0 per lane).
  template <class A, class F, class I>
  VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE static void locate(const F (&coord)[Dims], const F& attn,
                                                                 const index_t (&extent)[3], I& base,
                                                                 F (&weight)[corners], I (&valid)[corners]) {
    constexpr int coordinate_of_axis[3] = {1, 0, 2};  // h ← y, w ← x, z ← z
    int size[Dims];
    F position[Dims];
    for (int axis = 0; axis < Dims; ++axis) {
      size[axis] = static_cast<int>(extent[axis]);
      position[axis] = coord[coordinate_of_axis[axis]] * static_cast<A>(size[axis]) - A(0.5);
    }
    auto inside = (position[0] > A(-1)) & (position[0] < static_cast<A>(size[0]));
    for (int axis = 1; axis < Dims; ++axis)
      inside = inside & (position[axis] > A(-1)) & (position[axis] < static_cast<A>(size[axis]));
    const F zero{}, outside = zero - A(0.5);
    F tap[Dims][2];
    I neighbour[Dims][2];
    base = I{};
    for (int axis = 0; axis < Dims; ++axis) {
      I lower;
      axis_taps<A>(detail::select(inside, position[axis], outside), size[axis], lower, tap[axis], neighbour[axis]);
      base = base * size[axis] + lower;
    }
    const F a = detail::select(inside, attn, zero);
    tap[0][0] = tap[0][0] * a;
    tap[0][1] = tap[0][1] * a;
    const I none{};
    for (int n = 0; n < corners; ++n) {
      weight[n] = tap[0][(n >> (Dims - 1)) & 1];
      valid[n] = detail::select(inside, neighbour[0][(n >> (Dims - 1)) & 1], none);
      for (int axis = 1; axis < Dims; ++axis) {
        weight[n] = weight[n] * tap[axis][(n >> (Dims - 1 - axis)) & 1];
        valid[n] = valid[n] & neighbour[axis][(n >> (Dims - 1 - axis)) & 1];
      }
    }
  }

 private:
  //! The two taps along one axis for positions p ∈ [−1, size): lower = ⌊p⌋ moved into [0, max(size − 2, 0)],
  //! and lower + 1. A tap weighs 1 − f if it is ⌊p⌋, f if it is ⌊p⌋ + 1 < size, and 0 otherwise; `neighbour`
  //! is −1 in the first two cases, 0 in the third.
  template <class A, class F, class I>
  VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE static void axis_taps(const F& p, int size, I& lower, F (&w)[2],
                                                                    I (&neighbour)[2]) {
    const I below = detail::floor_to_int<I>(p);
    const F f = p - detail::convert_lanes<F>(below), g = A(1) - f, zero{};
    const I last = I{} + (size >= 2 ? size - 2 : 0);
    const I clamped = detail::select(below > 0, below, I{});
    lower = detail::select(clamped < last, clamped, last);
    const I shift = lower - below;  // 1: ⌊p⌋ = −1; −1: ⌊p⌋ = size − 1 ≥ 1; else 0
    w[0] = detail::select(shift == 0, g, detail::select(shift == 1, f, zero));
    w[1] = detail::select(shift == 0, size >= 2 ? f : zero, detail::select(shift == -1, g, zero));
    const I none{}, all = none - 1;
    neighbour[0] = detail::select((shift == 0) | (shift == 1), all, none);
    neighbour[1] = size >= 2 ? detail::select((shift == 0) | (shift == -1), all, none) : none;
  }
};

}  // namespace voxformer::kernels
