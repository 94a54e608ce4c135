//! @file Lane-generic arithmetic: one formula, evaluated on N lanes at once on the host, one lane on a device.
//!
//! `lanes_t<A, N>` is a GNU vector of N elements on the host (GCC/Clang) and plain `A` when N = 1, so a
//! per-point formula written with the helpers below runs unchanged as scalar device code and as SIMD host
//! code (8 float lanes = one AVX register). Comparisons yield masks (bool for one lane, all-ones integer
//! lanes for vectors); `select` is the only way masks are consumed, so both kinds behave the same.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "voxformer/core/config.hpp"

#if !defined(__CUDA_ARCH__) && defined(__GNUC__)
#define VOXFORMER_GNU_VECTORS 1
#endif

namespace voxformer::detail {

template <class A, int N>
struct lanes_of {
  static_assert(N == 1, "voxformer: multi-lane arithmetic needs GNU vector extensions (host GCC/Clang)");
  using type = A;
};

#if defined(VOXFORMER_GNU_VECTORS)
template <class A, int N>
  requires(N > 1)
struct lanes_of<A, N> {
  static_assert((N & (N - 1)) == 0, "voxformer: the lane count must be a power of two");
  typedef A type __attribute__((vector_size(N * sizeof(A))));
};
#endif

template <class A, int N>
using lanes_t = typename lanes_of<A, N>::type;

//! Lanes for per-point float math: one SIMD register on the host (8 with AVX, 4 with SSE), 1 in device code
//! and for other types (double keeps the exact scalar path; its masks would not match 32-bit index lanes).
template <class A>
inline constexpr int point_lanes =
#if defined(VOXFORMER_GNU_VECTORS) && defined(__AVX__)
    std::is_same_v<A, float> ? 8 : 1;
#elif defined(VOXFORMER_GNU_VECTORS)
    std::is_same_v<A, float> ? 4 : 1;
#else
    1;
#endif

//! mask ? a : b, lane by lane.
template <class M, class V>
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE V select(const M& mask, const V& a, const V& b) {
  return mask ? a : b;
}

//! Lane-wise conversion between float and 32-bit integer lanes (truncating toward zero). Callers replace
//! NaN and out-of-range values first: converting them is undefined in C++.
template <class To, class From>
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE To convert_lanes(const From& v) {
  if constexpr (std::is_arithmetic_v<From>) return static_cast<To>(v);
  else return __builtin_convertvector(v, To);
}

//! ⌊v⌋ as 32-bit integer lanes, for finite |v| < 2^31: truncation, then one down where it rounded up.
template <class I, class F>
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE I floor_to_int(const F& v) {
  const I truncated = convert_lanes<I>(v);
  return select(convert_lanes<F>(truncated) > v, truncated - 1, truncated);
}

//! e^x on every lane. Float lanes use Cephes' expf (x = n·ln 2 + r with ln 2 split in two parts, a degree-5
//! polynomial for e^r, 2^n built in the exponent bits): within 2 ulp of std::exp for x in [−87.3, 88.37]
//! (tested); 0 below, +inf above (std::exp overflows only at 88.72), NaN stays NaN. Softmax, its user, feeds it
//! x − max ≤ 0. A scalar is std::exp (in device code, the CUDA math library's).
template <class F>
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE F exp_lanes(const F& x) {
  if constexpr (std::is_arithmetic_v<F>) {
    using std::exp;
    return exp(x);
  } else {
    using A = std::remove_cvref_t<decltype(x[0])>;
    static_assert(std::is_same_v<A, float>, "exp_lanes: vector lanes must be float");
    constexpr int n = sizeof(F) / sizeof(float);
    using I = lanes_t<std::int32_t, n>;
    const F zero{}, one = zero + 1.f;
    const auto is_number = x == x;
    // Clamped (and NaN replaced) first: converting NaN or huge values to integers is undefined.
    F t = select(is_number, x, zero);
    t = select(t > 88.3762626647949f, zero + 88.3762626647949f, t);
    t = select(t < -87.3365447505531f, zero - 87.3365447505531f, t);
    const I k = floor_to_int<I>(t * 1.44269504088896341f + 0.5f);
    const F kf = convert_lanes<F>(k);
    const F r = (t - kf * 0.693359375f) - kf * -2.12194440e-4f;
    F p = zero + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const F er = p * (r * r) + r + one;
    F scale;
    const I bits = (k + 127) << 23;
    std::memcpy(&scale, &bits, sizeof(F));
    F y = er * scale;
    y = select(x < -87.3365447505531f, zero, y);
    y = select(x > 88.3762626647949f, zero + __builtin_huge_valf(), y);
    return select(is_number, y, x);
  }
}

//! The lanes (fn(0), fn(1), …, fn(N−1)), built as one vector (element-wise writes make GCC 12 warn).
template <class V, class Fn>
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE V make_lanes(const Fn& fn) {
  if constexpr (std::is_arithmetic_v<V>) {
    return static_cast<V>(fn(0));
  } else {
    constexpr int n = sizeof(V) / sizeof(fn(0));
    auto build = [&]<int... K>(std::integer_sequence<int, K...>) { return V{fn(K)...}; };
    return build(std::make_integer_sequence<int, n>{});
  }
}

//! Copies the lanes of `v` to `out[0 .. N)`.
template <class V, class E>
VOXFORMER_HOST_DEVICE VOXFORMER_FORCEINLINE void store_lanes(E* out, const V& v) {
  static_assert(sizeof(V) % sizeof(E) == 0, "store_lanes: lanes and element type do not match");
  std::memcpy(out, &v, sizeof(V));
}

}  // namespace voxformer::detail
