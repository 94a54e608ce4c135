//! @file The per-element steps around the CUDA backend's device-wide scan (`compact.hpp`): what the scan reads, and
//! how compaction emits from its ranks. Plain host/device C++ (no CUDA header), so that the steps are tested on any
//! machine with a host scan in CUB's place (tests/backend/cuda/test_scan_kernels.cpp).
//!
//! A scan of n values covers n + 1 items — the last reads 0 — so that its last output is the total; compaction is
//! such a scan of its flags, whose total, the count, the emitting kernel reads itself: nothing is returned to the
//! host, and a frame needs no synchronisation to go on.
#pragma once

#include "voxformer/core/config.hpp"
#include "voxformer/core/tensor_view.hpp"

namespace voxformer {

namespace kernels {

//! Scan input i: value(i) in the output's type for i < n, and 0 for the extra item n, whose output is the total.
template <class Value, class Out>
struct scan_input {
  Value value;
  index_t n;
  VOXFORMER_HOST_DEVICE Out operator()(index_t i) const { return i < n ? static_cast<Out>(value(i)) : Out(0); }
};

//! Compaction's scan value: 1 for a flagged element.
template <class Flag>
struct flag_as_count {
  Flag flag;
  VOXFORMER_HOST_DEVICE index_t operator()(index_t i) const { return flag(i) ? 1 : 0; }
};

//! After the scan (ranks [n + 1], the last the count): element i is flagged where its rank steps (no second call
//! of the flag); it is emitted only when all of them fit `capacity`; item n writes the count.
template <class Emit>
struct emit_ranked {
  Emit emit;
  const index_t* ranks;
  index_t n, capacity;
  tensor_view<index_t, 1> count;
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    const index_t total = ranks[n];
    if (i == n) count(0) = total;
    else if (total <= capacity && ranks[i + 1] != ranks[i]) emit(i, ranks[i]);
  }
};

//! Position i of a strided view, for a scan's output iterator.
struct strided_position {
  index_t stride;
  VOXFORMER_HOST_DEVICE index_t operator()(index_t i) const { return i * stride; }
};

}  // namespace kernels
}  // namespace voxformer
