//! @file A fixed-width run of channels accumulated as one vector: the inner loop of the sampling kernels.
//!
//! On the host (GCC/Clang) it is a GNU vector, so `acc += w · value[c .. c+N)` is a few SIMD instructions
//! for any target ISA (AVX-512: one FMA for 16 floats; SSE2: four) instead of a loop the optimiser may or may
//! not vectorise. In device code it is a plain array (each thread owns a few channels there), loaded 16 bytes
//! at a time where the caller knows the rows are aligned for it.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "voxformer/core/config.hpp"
#include "voxformer/core/lanes.hpp"

namespace voxformer::detail {

template <class A, int N>
struct channel_vector {
  static_assert(N >= 1 && (N & (N - 1)) == 0, "channel_vector: N must be a power of two");
#if defined(VOXFORMER_GNU_VECTORS)
  typedef A storage __attribute__((vector_size(N * sizeof(A))));
  storage lanes{};
#else
  A lanes[N] = {};
#endif

  //! lanes += w · src[0, s, 2s, …, (N−1)s], with s = 1 known at compile time when `Unit`. `Aligned16`: src is
  //! 16-byte aligned, so device code loads 4 floats at a time — the 4 threads that share a 16-channel head row
  //! then read it in one transaction.
  template <bool Unit, bool Aligned16 = false, class T>
  VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE void add_scaled(A w, const T* src, index_t stride) {
#if defined(VOXFORMER_GNU_VECTORS)
    if constexpr (Unit && std::is_same_v<T, A>) {
      storage x;
      std::memcpy(&x, src, sizeof(x));  // unaligned load
      lanes += w * x;
      return;
    }
#endif
#if defined(__CUDA_ARCH__)
    if constexpr (Unit && Aligned16 && std::is_same_v<T, float> && std::is_same_v<A, float> && N % 4 == 0) {
      for (int c = 0; c < N; c += 4) {
        const float4 x = *reinterpret_cast<const float4*>(src + c);
        lanes[c] += w * x.x, lanes[c + 1] += w * x.y, lanes[c + 2] += w * x.z, lanes[c + 3] += w * x.w;
      }
    } else  // not `return`: nvcc would warn that the loop below is unreachable
#endif
    {
      for (int c = 0; c < N; ++c) lanes[c] += w * static_cast<A>(src[Unit ? c : c * stride]);
    }
  }

  //! dst[0, s, 2s, …, (N−1)s] = lanes, converted to T; one vector store when `Unit` and T is A.
  template <bool Unit, class T>
  VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE void store(T* dst, index_t stride) const {
#if defined(VOXFORMER_GNU_VECTORS)
    if constexpr (Unit && std::is_same_v<T, A>) {
      std::memcpy(dst, &lanes, sizeof(lanes));  // unaligned store
      return;
    }
#endif
    for (int c = 0; c < N; ++c) dst[Unit ? c : c * stride] = static_cast<T>(lanes[c]);
  }

  VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE A operator[](int c) const { return lanes[c]; }

  //! No lane is NaN or ±Inf: x − x is +0 for every finite x and NaN otherwise, so the bits of the differences
  //! OR to zero exactly when all lanes are finite.
  VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE bool all_finite() const {
#if defined(VOXFORMER_GNU_VECTORS)
    if constexpr (sizeof(lanes) % 16 == 0) {
      typedef std::uint64_t words __attribute__((vector_size(16)));
      const storage difference = lanes - lanes;
      words any{};
      for (std::size_t at = 0; at < sizeof(lanes); at += 16) {
        words part;
        std::memcpy(&part, reinterpret_cast<const unsigned char*>(&difference) + at, sizeof(part));
        any |= part;
      }
      return (any[0] | any[1]) == 0;
    }
#endif
    bool finite = true;
    for (int c = 0; c < N; ++c) finite &= lanes[c] - lanes[c] == A(0);
    return finite;
  }

  VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE channel_vector& operator+=(const channel_vector& other) {
#if defined(VOXFORMER_GNU_VECTORS)
    lanes += other.lanes;
#else
    for (int c = 0; c < N; ++c) lanes[c] += other.lanes[c];
#endif
    return *this;
  }
};

}  // namespace voxformer::detail
