// first_non_finite: the device's check of an input's values. Against a host loop over the same view in C order (the
// reference), on the CPU executor at 1 and 2 threads and on the emulated device, whose memory the host cannot read.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "support/emulated_device.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/ops/common/first_non_finite.hpp"

namespace {

using voxformer::index_t;
using voxformer::tensor_view;

//! The first C-order position of `view` not finite as `Target`, by a plain loop: the reference.
template <class Target, class T, int Rank>
index_t first_by_loop(const tensor_view<T, Rank>& view) {
  for (index_t i = 0; i < view.size(); ++i)
    if (!std::isfinite(static_cast<Target>(view.at_flat(i)))) return i;
  return view.size();
}

//! Every other column of a [4, 6, 5] block of 4·6·10 values, with `poison` at the given memory offsets.
std::vector<double> strided_block(const std::vector<std::pair<std::size_t, double>>& poison) {
  std::vector<double> values(4 * 6 * 10);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = 0.25 * static_cast<double>(i) - 20.0;
  for (const auto& [offset, value] : poison) values[offset] = value;
  return values;
}

TEST(FirstNonFinite, FindsTheFirstInCOrderOnAnyThreadCountAndOnTheDevice) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  struct poisoned {
    std::vector<std::pair<std::size_t, double>> values;  // at memory offsets
    index_t as_float, as_double;                         // the expected positions, in C order of the view
  };
  // Offset 118 is [1, 5, 4] (position 59) and 62 is [1, 0, 1] (position 31): memory order and C order differ here.
  // 61 lies between two viewed columns and must be ignored; 1e300 at [3, 2, 0] (position 100) is finite as a
  // double and infinite as a float. 120 = none.
  const std::vector<poisoned> cases{{{}, 120, 120},
                                    {{{118, nan}}, 59, 59},
                                    {{{118, nan}, {62, -inf}}, 31, 31},
                                    {{{61, nan}}, 120, 120},
                                    {{{200, 1e300}}, 100, 120}};
  for (const auto& c : cases) {
    const std::vector<double> values = strided_block(c.values);
    const tensor_view<const double, 3> host(values.data(), {4, 6, 5}, {60, 10, 2});
    ASSERT_EQ(first_by_loop<float>(host), c.as_float);
    ASSERT_EQ(first_by_loop<double>(host), c.as_double);
    for (const int threads : {1, 2}) {
      const auto scratch = voxformer::allocate_buffer(voxformer::cpu_executor{}, 64);
      const voxformer::workspace memory(scratch.data(), scratch.size(), scratch.space());
      EXPECT_EQ(voxformer::first_non_finite<float>(voxformer::cpu_executor{threads}, host, memory), c.as_float);
      EXPECT_EQ(voxformer::first_non_finite<double>(voxformer::cpu_executor{threads}, host, memory), c.as_double);
    }
    const test::emulated_device_tensor<double, 1> device({static_cast<index_t>(values.size())}, values);
    const tensor_view<const double, 3> on_device(device.view.data(), {4, 6, 5}, {60, 10, 2}, device.view.space());
    const test::emulated_device_buffer scratch(64);
    const voxformer::workspace memory(scratch.data(), scratch.size(), scratch.space());
    EXPECT_EQ(voxformer::first_non_finite<float>(test::emulated_device_executor{}, on_device, memory), c.as_float);
  }
}

TEST(FirstNonFinite, AnEmptyViewHasNone) {
  const auto scratch = voxformer::allocate_buffer(voxformer::cpu_executor{}, 64);
  const voxformer::workspace memory(scratch.data(), scratch.size(), scratch.space());
  const std::vector<float> values{NAN};
  EXPECT_EQ(voxformer::first_non_finite<float>(voxformer::cpu_executor{2},
                                               voxformer::make_view<2>(values.data(), {0, 1}), memory), 0);
}

}  // namespace
