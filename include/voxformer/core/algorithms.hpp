//! @file The algorithms an executor provides beside `parallel_for`, as ops and layers call them: unqualified,
//! so that argument-dependent lookup on the executor picks the backend's version (Thrust's habit). A backend
//! (`backend/cpu/`, later `backend/cuda/`) defines, for its executor type `E`:
//!
//!     void parallel_for(const E&, index_t n, const Kernel& kernel, index_t grain);  // kernel(i), i in [0, n);
//!                                                             // grain: fewest elements worth a thread (a hint)
//!     std::size_t compact_workspace_bytes(const E&, index_t n);
//!     void compact(const E&, index_t n, const Flag& flag, const Emit& emit, index_t capacity,
//!                  const tensor_view<index_t, 1>& count, workspace scratch);       // stable; emits only if count ≤ capacity
//!     void exclusive_scan(const E&, const tensor_view<const In, 1>& in, const tensor_view<Out, 1>& out);
//!     void gemm(const E&, const tensor_view<const T, 2>& a, const tensor_view<const T, 2>& b,
//!               const tensor_view<T, 2>& c, bool accumulate, const Epilogue& epilogue = {});  // then epilogue(row),
//!                              // or epilogue(row, first_column, end_column) per block of columns when it takes that
//!     Buffer allocate_buffer(const E&, std::size_t bytes);   // owning, workspace-aligned: data(), size(), space()
//!     void synchronize(const E&);                            // wait for the work issued so far
//!
//! Counts are written into views rather than returned, so a device backend can keep them on the device.
//! Results never depend on the number of threads.
#pragma once

#include "voxformer/core/config.hpp"

namespace voxformer {

//! The default GEMM epilogue: nothing after the product.
struct no_epilogue {
  VOXFORMER_HOST_DEVICE void operator()(index_t) const {}
};

}  // namespace voxformer
