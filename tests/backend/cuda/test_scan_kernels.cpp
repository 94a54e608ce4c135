// The CUDA backend's scan and compaction, without a GPU: the per-element steps they launch around CUB's scan
// (`scan_kernels.hpp`) run here with a host scan in CUB's place, and must give what the CPU backend gives — the
// n + 1 scan items and their total, strided outputs, ranks and count, the capacity rule (nothing emitted, the count
// still written).
#include <gtest/gtest.h>

#include <random>
#include <utility>
#include <vector>

#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/backend/cuda/scan_kernels.hpp"

namespace {

using voxformer::cpu_executor;
using voxformer::index_t;
using voxformer::tensor_view;

//! What `exclusive_scan(cuda_executor, …)` computes: CUB's exclusive sum of the n + 1 `scan_input` items, written
//! through the strided positions.
template <class Out, class Value>
void emulated_device_scan(index_t n, const Value& value, const tensor_view<Out, 1>& out) {
  const voxformer::kernels::scan_input<Value, Out> item{value, n};
  const voxformer::kernels::strided_position position{out.stride(0)};
  Out running = 0;
  for (index_t i = 0; i <= n; ++i) {
    out.data()[position(i)] = running;
    running += item(i);
  }
}

template <class Out, class Value>
std::vector<Out> cpu_scan(index_t n, const Value& value) {
  std::vector<Out> out(static_cast<std::size_t>(n + 1));
  std::vector<std::byte> memory(voxformer::exclusive_scan_workspace_bytes<Out>(cpu_executor{2}, n) + 64);
  voxformer::exclusive_scan(cpu_executor{2}, n, value, voxformer::make_view<1>(out.data(), {n + 1}),
                            voxformer::workspace::aligned(memory.data(), memory.size()));
  return out;
}

struct random_flags {
  const std::uint8_t* flags;
  bool operator()(index_t i) const { return flags[i] != 0; }
};

std::vector<std::uint8_t> flags_of(index_t n, double density, unsigned seed) {
  std::mt19937 rng(seed);
  std::bernoulli_distribution flagged(density);
  std::vector<std::uint8_t> flags(static_cast<std::size_t>(n));
  for (auto& f : flags) f = flagged(rng) ? 1 : 0;
  return flags;
}

TEST(DeviceScanSteps, StridedScanEqualsTheCpuScan) {
  const auto values = flags_of(5000, 0.5, 1);
  const auto value = [&](index_t i) { return static_cast<std::int32_t>(values[static_cast<std::size_t>(i)]) * 3 + 1; };
  for (const index_t n : {0, 1, 5000}) {
    std::vector<std::int32_t> strided(static_cast<std::size_t>(3 * (n + 1)), -1);
    emulated_device_scan(n, value, tensor_view<std::int32_t, 1>(strided.data(), {n + 1}, {3}));
    const auto expected = cpu_scan<std::int32_t>(n, value);
    for (index_t i = 0; i <= n; ++i) ASSERT_EQ(strided[static_cast<std::size_t>(3 * i)], expected[static_cast<std::size_t>(i)]) << i;
    EXPECT_EQ(strided[1], -1);  // between the strided entries: untouched
  }
}

//! Emitted (element, rank) pairs, in rank order, and the count.
using emitted = std::pair<std::vector<index_t>, index_t>;

emitted emulated_device_compact(const std::vector<std::uint8_t>& flags, index_t capacity) {
  const index_t n = static_cast<index_t>(flags.size());
  std::vector<index_t> ranks(static_cast<std::size_t>(n + 1)), list(static_cast<std::size_t>(n), -1);
  emulated_device_scan(n, voxformer::kernels::flag_as_count<random_flags>{{flags.data()}},
                       voxformer::make_view<1>(ranks.data(), {n + 1}));
  index_t count = -1;
  const auto store = [&](index_t i, index_t rank) { list[static_cast<std::size_t>(rank)] = i; };
  const voxformer::kernels::emit_ranked<decltype(store)> emit{store, ranks.data(), n, capacity,
                                                               voxformer::make_view<1>(&count, {1})};
  for (index_t i = n; i >= 0; --i) emit(i);  // any order: a GPU's threads run in none
  return {list, count};
}

emitted cpu_compact(const std::vector<std::uint8_t>& flags, index_t capacity) {
  const index_t n = static_cast<index_t>(flags.size());
  std::vector<index_t> list(static_cast<std::size_t>(n), -1);
  std::vector<std::byte> memory(voxformer::compact_workspace_bytes(cpu_executor{2}, n) + 64);
  index_t count = -1;
  voxformer::compact(cpu_executor{2}, n, random_flags{flags.data()},
                     [&](index_t i, index_t rank) { list[static_cast<std::size_t>(rank)] = i; }, capacity,
                     voxformer::make_view<1>(&count, {1}), voxformer::workspace::aligned(memory.data(), memory.size()));
  return {list, count};
}

TEST(DeviceScanSteps, CompactionEqualsTheCpuCompaction) {
  for (const double density : {0.0, 0.3, 1.0})
    for (const index_t n : {0, 1, 7, 20000}) {
      const auto flags = flags_of(n, density, static_cast<unsigned>(n));
      const auto device = emulated_device_compact(flags, n), cpu = cpu_compact(flags, n);
      EXPECT_EQ(device, cpu) << "n = " << n << ", density " << density;
    }
}

TEST(DeviceScanSteps, OverCapacityEmitsNothingAndStillCounts) {
  const auto flags = flags_of(20000, 0.3, 9);
  const auto [all, count] = emulated_device_compact(flags, 20000);
  const auto [none, same_count] = emulated_device_compact(flags, count - 1);
  EXPECT_EQ(same_count, count);
  EXPECT_EQ(none, std::vector<index_t>(20000, -1));
  EXPECT_EQ(cpu_compact(flags, count - 1), (emitted{none, count}));
  EXPECT_EQ(emulated_device_compact(flags, count).first, all);  // exactly the count fits
}

}  // namespace
