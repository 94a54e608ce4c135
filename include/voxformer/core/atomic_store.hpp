//! @file Race-free updates of one address from many threads: stores of one constant value (scatter of flags into a
//! grid), counts, and the nearest depth per pixel. Every result is independent of the order the threads arrive in.
#pragma once

#include <atomic>
#include <cstdint>

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

//! *address += value, atomically (relaxed: only the final sum is read, after the loop).
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE void add_relaxed(std::uint32_t* address, std::uint32_t value) {
#if defined(__CUDA_ARCH__)
  atomicAdd(reinterpret_cast<unsigned int*>(address), value);
#else
  std::atomic_ref<std::uint32_t>(*address).fetch_add(value, std::memory_order_relaxed);
#endif
}

//! *address = min(*address, value) for non-negative finite floats, whose bit patterns order as the integers do.
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE void min_relaxed(float* address, float value) {
#if defined(__CUDA_ARCH__)
  atomicMin(reinterpret_cast<int*>(address), __float_as_int(value));
#else
  std::atomic_ref<float> target(*address);
  for (float current = target.load(std::memory_order_relaxed); value < current;)
    if (target.compare_exchange_weak(current, value, std::memory_order_relaxed)) break;
#endif
}

//! *address = min(*address, value) for an index (the first of several positions found in parallel).
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE void min_relaxed(index_t* address, index_t value) {
#if defined(__CUDA_ARCH__)
  static_assert(sizeof(index_t) == sizeof(long long));
  atomicMin(reinterpret_cast<long long*>(address), static_cast<long long>(value));
#else
  std::atomic_ref<index_t> target(*address);
  for (index_t current = target.load(std::memory_order_relaxed); value < current;)
    if (target.compare_exchange_weak(current, value, std::memory_order_relaxed)) break;
#endif
}

}  // namespace voxformer::detail
