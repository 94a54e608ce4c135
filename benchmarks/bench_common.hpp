//! @file Shared benchmark inputs: VoxFormer-sized MSDA problems with two location distributions.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <new>
#include <random>
#include <vector>

namespace bench {

//! 64-byte aligned storage, as PyTorch's and most frameworks' CPU allocators give: a 16-channel fp32 head
//! row is then one cache line instead of straddling two.
template <class T>
struct cache_line_allocator {
  using value_type = T;
  cache_line_allocator() = default;
  template <class U>
  cache_line_allocator(const cache_line_allocator<U>&) {}  // NOLINT(google-explicit-constructor)
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64})); }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t{64}); }
  friend bool operator==(const cache_line_allocator&, const cache_line_allocator&) { return true; }
};

//! "uniform": locations uniform in [−0.1, 1.1] (≈ 24 % of 2-D taps outside); "realistic": a reference point
//! inside the map plus offsets of a few cells, as trained deformable attention produces — a random point for
//! cross-attention, the query's own cell for self-attention (queries = the map's cells).
enum class distribution { uniform, realistic };

struct msda_problem {
  long B, S, Q, H, D, L, P;
  int dims;
  std::vector<std::int64_t> shapes, starts;
  std::vector<float, cache_line_allocator<float>> value, locations, weights, out;

  msda_problem(int dims_, long B_, long Q_, long H_, long D_, long P_, std::vector<std::int64_t> level_shapes,
               distribution where)
      : B(B_), S(0), Q(Q_), H(H_), D(D_), L(1), P(P_), dims(dims_), shapes(std::move(level_shapes)) {
    S = 1;
    for (auto e : shapes) S *= e;
    starts = {0};
    std::mt19937 gen(42);
    std::normal_distribution<float> normal;
    std::uniform_real_distribution<float> unit(0.f, 1.f), wide(-0.1f, 1.1f);
    value.resize(static_cast<std::size_t>(B * S * H * D));
    for (auto& v : value) v = normal(gen);
    const long taps = B * Q * H * L * P;
    locations.resize(static_cast<std::size_t>(taps * dims));
    const bool self_attention = Q == S;  // the queries are the map's own cells: each samples around itself
    for (long q = 0; q < B * Q; ++q) {
      float centre[3];
      for (int a = 0; a < dims; ++a) centre[a] = unit(gen);
      if (self_attention) {
        // Cell q = (ih·w + iw)·z + iz sits at location ((iw+0.5)/w, (ih+0.5)/h, (iz+0.5)/z).
        const long cell = q % Q, z = dims == 3 ? shapes[2] : 1;
        const long ih = cell / (shapes[1] * z), iw = (cell / z) % shapes[1], iz = cell % z;
        const long index[3] = {iw, ih, iz}, extent[3] = {shapes[1], shapes[0], z};
        for (int a = 0; a < dims; ++a) centre[a] = (static_cast<float>(index[a]) + 0.5f) / static_cast<float>(extent[a]);
      }
      for (long t = 0; t < H * L * P; ++t)
        for (int a = 0; a < dims; ++a) {
          // Offsets of up to ±4 cells along each axis of the level (axis order h, w, z → location y, x, z).
          const long cells = shapes[dims == 2 ? 1 - a : (a == 0 ? 1 : a == 1 ? 0 : 2)];
          const float offset = (unit(gen) - 0.5f) * 8.f / static_cast<float>(cells);
          locations[static_cast<std::size_t>((q * H * L * P + t) * dims + a)] =
              where == distribution::uniform ? wide(gen) : centre[a] + offset;
        }
    }
    weights.assign(static_cast<std::size_t>(taps), 1.f / static_cast<float>(L * P));
    out.resize(static_cast<std::size_t>(B * Q * H * D));
  }

  long head_samples() const { return B * Q * H * L * P; }
};

inline void report_head_samples(benchmark::State& state, const msda_problem& p) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * p.head_samples());
  state.counters["head_samples"] = static_cast<double>(p.head_samples());
}

}  // namespace bench
