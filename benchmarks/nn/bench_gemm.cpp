// The CPU GEMM at the shapes of VoxFormer's dense self-attention layer (a 4096-row chunk of activations times
// a transposed weight: value / output projection 128→128, offsets + weights 128→384, FFN 128→256 and 256→128),
// against Eigen's own product on the same row-major memory, and against this machine's FMA peak measured in the
// same process (a loop of independent multiply-adds); and the same products with the weight in bfloat16 or float16
// (`ours_narrow<W>`: fp32 activations rounded as they are packed, fp32 sums), by AVX512-BF16's dot products where
// the CPU has them (bfloat16, `dot` = 1) and by the fp32 kernel on widened operands (`dot` = 0). Counters: GFLOP/s, `of_peak` =
// GFLOP/s ÷ (fp32 FMA peak per thread × threads), and `rel_error` = max |c − c₆₄| ÷ max |c₆₄|, c₆₄ the float64
// product of the unrounded fp32 operands.
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <random>
#include <type_traits>
#include <vector>

#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/backend/cpu/gemm_narrow.hpp"
#include "voxformer/core/execution_context.hpp"
#include "fma_peak.hpp"

namespace {

using namespace voxformer;
constexpr index_t chunk_rows = 4096;

struct gemm_data {
  index_t k, n;
  std::vector<float> a, b, c;
  gemm_data(index_t k_, index_t n_) : k(k_), n(n_), a(chunk_rows * k_), b(k_ * n_), c(chunk_rows * n_) {
    std::mt19937 gen(3);
    std::normal_distribution<float> normal;
    for (auto& x : a) x = normal(gen);
    for (auto& x : b) x = normal(gen);
  }
};

//! max |c − c₆₄| ÷ max |c₆₄| over the chunk, c₆₄ from the unrounded fp32 operands in float64.
double relative_error(const gemm_data& d) {
  double largest = 0, error = 0;
  std::vector<double> row(static_cast<std::size_t>(d.n));
  for (index_t i = 0; i < chunk_rows; ++i) {
    std::fill(row.begin(), row.end(), 0.0);
    for (index_t q = 0; q < d.k; ++q)
      for (index_t j = 0; j < d.n; ++j) row[j] += static_cast<double>(d.a[i * d.k + q]) * d.b[q * d.n + j];
    for (index_t j = 0; j < d.n; ++j) {
      largest = std::max(largest, std::abs(row[j]));
      error = std::max(error, std::abs(d.c[i * d.n + j] - row[j]));
    }
  }
  return error / largest;
}

//! Times `product()` on `d` (the FMA peak measured first, outside the timing) and reports its rate.
template <class Product>
void time_product(benchmark::State& state, const gemm_data& d, int threads, const Product& product) {
  bench::fma_peak_per_thread();
  for (auto _ : state) {
    product();
    benchmark::ClobberMemory();
  }
  const double flop = 2.0 * static_cast<double>(chunk_rows * d.k * d.n) * static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = benchmark::Counter(flop / 1e9, benchmark::Counter::kIsRate);
  state.counters["of_peak"] =
      benchmark::Counter(flop / (bench::fma_peak_per_thread() * threads), benchmark::Counter::kIsRate);
}

void ours(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(2));
  gemm_data d(state.range(0), state.range(1));
  execution_context<cpu_executor> context(cpu_executor{threads});
  const auto a = make_view<2>(static_cast<const float*>(d.a.data()), {chunk_rows, d.k});
  const auto b = make_view<2>(static_cast<const float*>(d.b.data()), {d.k, d.n});
  const auto c = make_view<2>(d.c.data(), {chunk_rows, d.n});
  time_product(state, d, threads, [&] { gemm(context.executor(), a, b, c, false); });
  state.counters["rel_error"] = relative_error(d);
}

//! The 16-bit products: bfloat16 with either kernel (`dot` = 1: AVX512-BF16's, where the CPU has it), float16 with the
//! widened one (the only one it has on the CPU).
template <class W>
void ours_narrow(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(2));
  const auto kernel = state.range(3) != 0 ? bf16_gemm_kernel::dot_product : bf16_gemm_kernel::widened;
  if (kernel == bf16_gemm_kernel::dot_product && (!std::is_same_v<W, bfloat16> || best_bf16_gemm_kernel() != kernel)) {
    state.SkipWithError("no dot-product kernel for this type on this CPU");
    return;
  }
  gemm_data d(state.range(0), state.range(1));
  const std::vector<W> weight(d.b.begin(), d.b.end());
  execution_context<cpu_executor> context(cpu_executor{threads});
  const auto a = make_view<2>(static_cast<const float*>(d.a.data()), {chunk_rows, d.k});
  const auto b = make_view<2>(weight.data(), {d.k, d.n});
  const auto c = make_view<2>(d.c.data(), {chunk_rows, d.n});
  time_product(state, d, threads, [&] { detail::gemm_narrow(context.executor(), a, b, c, false, no_epilogue{}, kernel); });
  state.counters["rel_error"] = relative_error(d);
}

//! Eigen's GEMM on the same memory, one thread (Eigen without OpenMP does not thread).
void eigen_product(benchmark::State& state) {
  gemm_data d(state.range(0), state.range(1));
  using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const matrix> a(d.a.data(), chunk_rows, d.k), b(d.b.data(), d.k, d.n);
  Eigen::Map<matrix> c(d.c.data(), chunk_rows, d.n);
  time_product(state, d, 1, [&] { c.noalias() = a * b; });
}

void fma_peak(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(bench::fma_peak_per_thread());
  state.counters["GFLOP/s"] = bench::fma_peak_per_thread() / 1e9;
}

BENCHMARK(fma_peak)->Iterations(1);
BENCHMARK(ours)->ArgNames({"K", "N", "threads"})->ArgsProduct({{128}, {128, 384, 256}, {1, 2}})
    ->Args({256, 128, 1})->Args({256, 128, 2})->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(ours_narrow, bfloat16)->ArgNames({"K", "N", "threads", "dot"})
    ->ArgsProduct({{128}, {128, 384, 256}, {1, 2}, {1}})->Args({256, 128, 1, 1})->Args({256, 128, 2, 1})
    ->Args({128, 128, 1, 0})->Args({256, 128, 1, 0})->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(ours_narrow, voxformer::float16)->ArgNames({"K", "N", "threads", "dot"})
    ->Args({128, 128, 1, 0})->Args({256, 128, 1, 0})->Args({128, 128, 2, 0})->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(eigen_product)->ArgNames({"K", "N"})->Args({128, 128})->Args({128, 384})->Args({128, 256})
    ->Args({256, 128})->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
