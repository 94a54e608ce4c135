//! @file The algorithms an executor provides beside `parallel_for`, as ops and layers call them: unqualified,
//! so that argument-dependent lookup on the executor picks the backend's version (Thrust's habit). A backend
//! (`backend/cpu/`, later `backend/cuda/`) defines, for its executor type `E`:
//!
//!     void parallel_for(const E&, index_t n, const Kernel& kernel, index_t grain);  // kernel(i), i in [0, n);
//!                                                             // grain: fewest elements worth a thread (a hint)
//!     std::size_t compact_workspace_bytes(const E&, index_t n);
//!     void compact(const E&, index_t n, const Flag& flag, const Emit& emit, index_t capacity,
//!                  const tensor_view<index_t, 1>& count, workspace scratch);       // stable; emits only if count ≤ capacity
//!     std::size_t exclusive_scan_workspace_bytes<Out>(const E&, index_t n);
//!     void exclusive_scan(const E&, index_t n, const Value& value, const tensor_view<Out, 1>& out,
//!                         workspace scratch);                 // out[0] = 0, out[i + 1] = out[i] + value(i)
//!     void gemm(const E&, const tensor_view<const T, 2>& a, const tensor_view<const T, 2>& b,
//!               const tensor_view<T, 2>& c, bool accumulate, const Epilogue& epilogue = {});  // then epilogue(row),
//!                              // or epilogue(row, first_column, end_column) per block of columns when it takes that
//!     Buffer allocate_buffer(const E&, std::size_t bytes);   // owning, workspace-aligned: data(), size(), space()
//!     void copy_from_host(const E&, void* to, const void* from, std::size_t bytes);  // host → the executor's memory
//!     void copy_to_host(const E&, void* to, const void* from, std::size_t bytes);    // the executor's memory → host,
//!                                                             // waiting for the work before it (a frame's one read)
//!     void synchronize(const E&);                            // wait for the work issued so far
//!
//! Counts are written into views rather than returned, so a device backend can keep them on the device; scratch
//! comes from the caller's workspace (sized by the `_workspace_bytes` functions), never from a hidden allocation.
//! Results never depend on the number of threads.
#pragma once

#include "voxformer/core/config.hpp"
#include "voxformer/core/memory_space.hpp"

namespace voxformer {

//! Whether `executor` computes on the host (a CPU's): what it writes can be read as soon as its call returns, so ops
//! also check counts against capacities on the host and raise the shortfall as an error. Elsewhere they leave the
//! counts where the executor wrote them and their kernels, reading them, write nothing that does not fit.
template <class Executor>
constexpr bool computes_on_host(const Executor& executor) {
  return executor.can_access(memory_space::host);
}

//! The default GEMM epilogue: nothing after the product.
struct no_epilogue {
  VOXFORMER_HOST_DEVICE void operator()(index_t) const {}
};

}  // namespace voxformer
