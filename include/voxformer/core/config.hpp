//! @file Host/device annotations and the index type shared by every header.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define VOXFORMER_HOST_DEVICE __host__ __device__
#define VOXFORMER_FORCEINLINE __forceinline__
#define VOXFORMER_NOINLINE __noinline__
#else
#define VOXFORMER_HOST_DEVICE
#define VOXFORMER_FORCEINLINE inline __attribute__((always_inline))
#define VOXFORMER_NOINLINE __attribute__((noinline))
#endif

namespace voxformer {

//! Extents, strides and element indices. 64-bit so that volumes and value maps with 2^31 or more
//! elements index correctly (the original MSDA kernels overflow there, spec §7 #20).
using index_t = std::int64_t;

}  // namespace voxformer
