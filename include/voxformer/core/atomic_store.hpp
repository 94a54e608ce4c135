//! @file Race-free stores of one constant value from many threads (scatter of flags into a grid).
#pragma once

#include <atomic>

#include "voxformer/core/config.hpp"

namespace voxformer::detail {

//! Several threads may store the same value to one address (points landing in one voxel). Relaxed atomic
//! stores make that well defined on the host; on the device a volatile byte store is what the hardware does.
template <class T>
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE void store_relaxed(T* address, T value) {
#if defined(__CUDA_ARCH__)
  *static_cast<volatile T*>(address) = value;
#else
  std::atomic_ref<T>(*address).store(value, std::memory_order_relaxed);
#endif
}

}  // namespace voxformer::detail
