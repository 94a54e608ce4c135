//! @file This machine's FMA peak, measured in the benchmark's own process: the yardstick of the compute-bound
//! benchmarks' `of_peak` counters (the machines' CPUs change from run to run, so a fixed figure would lie).
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>

namespace bench {

#ifdef __AVX512F__
constexpr int vector_floats = 16;
#elif defined(__AVX__)
constexpr int vector_floats = 8;
#else
constexpr int vector_floats = 4;
#endif

//! FLOP/s of one thread doing nothing but independent fused multiply-adds on the widest vector registers the
//! build targets (the kernels' lanes).
inline double fma_peak_per_thread() {
  static const double peak = [] {
    using vec = float __attribute__((vector_size(4 * vector_floats)));
    constexpr int chains = 12;  // with the two constants, within the 16 vector registers of AVX2
    vec acc[chains];
    for (int i = 0; i < chains; ++i) acc[i] = vec{} + 0.001f * static_cast<float>(i);
    const vec m = vec{} + 0.999999f, a = vec{} + 1e-7f;
    constexpr long iterations = 20'000'000;
    const auto start = std::chrono::steady_clock::now();
    for (long it = 0; it < iterations; ++it)
#pragma GCC unroll 12  // fully unrolled, the accumulators live in registers
      for (auto& x : acc) x = x * m + a;  // contracted to one FMA; not reassociated (no -ffast-math)
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    float sink = 0;
    for (auto& x : acc) sink += x[0];
    benchmark::DoNotOptimize(sink);
    return 2.0 * vector_floats * chains * static_cast<double>(iterations) / seconds;
  }();
  return peak;
}

}  // namespace bench
