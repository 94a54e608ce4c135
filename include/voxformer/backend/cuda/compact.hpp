//! @file The CUDA backend's exclusive scan and stream compaction (the contract: `core/algorithms.hpp`), through
//! CUB's DeviceScan with its temporary storage carved from the caller's workspace (CUB's two-phase habit, never an
//! allocation of its own). Counts stay on the device: compaction's emitting kernel reads the count itself.
#pragma once

#if !defined(__CUDACC__)
#error "voxformer/backend/cuda/compact.hpp must be compiled by nvcc"
#endif

#include <cstddef>

#include <cub/device/device_scan.cuh>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/permutation_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include "voxformer/backend/cuda/cuda_executor.hpp"
#include "voxformer/backend/cuda/scan_kernels.hpp"
#include "voxformer/core/tensor_view.hpp"
#include "voxformer/core/workspace.hpp"

namespace voxformer {

namespace detail {

//! Item i of a scan of n values: value(i), then 0 for item n.
template <class Out, class Value>
auto scan_items(index_t n, const Value& value) {
  return thrust::make_transform_iterator(thrust::counting_iterator<index_t>(0), kernels::scan_input<Value, Out>{value, n});
}

//! Writes to a view of any stride.
template <class Out>
auto scan_destination(const tensor_view<Out, 1>& out) {
  return thrust::make_permutation_iterator(
      out.data(), thrust::make_transform_iterator(thrust::counting_iterator<index_t>(0),
                                                  kernels::strided_position{out.stride(0)}));
}

//! CUB's temporary bytes for an exclusive sum of `items` items from `in` to `out` (a host query: no launch).
template <class In, class Out>
std::size_t cub_scan_bytes(const cuda_executor& executor, In in, Out out, index_t items) {
  std::size_t bytes = 0;
  const current_device_scope on(executor.device);  // the architecture CUB sizes for is the current device's
  VOXFORMER_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, bytes, in, out, items, executor.stream));
  return bytes;
}

}  // namespace detail

//! Scratch bytes `exclusive_scan` needs for `n` values summed in `Out`. CUB sizes its tile state by the items' type
//! and count, not by how they are read, so the query uses plain pointers; `exclusive_scan` asks again with its own
//! iterators and takes that many bytes from the workspace (a mismatch is the workspace's error, never an overrun).
//! The query needs a CUDA device (CUB reads the device's architecture): sizing happens where a GPU runs the frame.
template <class Out>
std::size_t exclusive_scan_workspace_bytes(const cuda_executor& executor, index_t n) {
  workspace sizing;
  sizing.take<std::byte>(static_cast<index_t>(
      detail::cub_scan_bytes(executor, static_cast<const Out*>(nullptr), static_cast<Out*>(nullptr), n + 1)));
  return sizing.used();
}

//! out[0] = 0, out[i + 1] = out[i] + value(i) for i in [0, n), summed in `Out` (`out` has n + 1 entries, any stride,
//! device-accessible): one DeviceScan over n + 1 items, asynchronous on the executor's stream.
template <class Value, class Out>
void exclusive_scan(const cuda_executor& executor, index_t n, const Value& value, const tensor_view<Out, 1>& out,
                    workspace scratch) {
  const auto in = detail::scan_items<Out>(n, value);
  const auto destination = detail::scan_destination(out);
  std::size_t bytes = detail::cub_scan_bytes(executor, in, destination, n + 1);
  void* temporary = scratch.take<std::byte>(static_cast<index_t>(bytes));
  const current_device_scope on(executor.device);
  VOXFORMER_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(temporary, bytes, in, destination, n + 1, executor.stream));
}

//! Scratch bytes `compact` needs for `n` elements: their ranks and the scan's storage.
inline std::size_t compact_workspace_bytes(const cuda_executor& executor, index_t n) {
  return workspace::round_up(static_cast<std::size_t>(n + 1) * sizeof(index_t)) +
         exclusive_scan_workspace_bytes<index_t>(executor, n);
}

//! Stable compaction of [0, n), as the CPU's: `count(0)` = the number of i with `flag(i)`; if that is at most
//! `capacity`, `emit(i, rank)` for each of them, else nothing. A scan of the flags, then one kernel that reads the
//! count on the device; `count` is device-accessible and is not read back.
template <class Flag, class Emit>
void compact(const cuda_executor& executor, index_t n, const Flag& flag, const Emit& emit, index_t capacity,
             const tensor_view<index_t, 1>& count, workspace scratch) {
  const tensor_view<index_t, 1> ranks(scratch.take<index_t>(n + 1), {n + 1}, scratch.space());
  exclusive_scan(executor, n, kernels::flag_as_count<Flag>{flag}, ranks, scratch);
  parallel_for(executor, n + 1, kernels::emit_ranked<Emit>{emit, ranks.data(), n, capacity, count});
}

}  // namespace voxformer
