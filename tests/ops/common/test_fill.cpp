// fill: contiguous views take the flat store, strided ones the unravelled index; both must touch exactly the
// view's elements. Checked against the expected buffer element by element.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/ops/common/fill.hpp"

namespace {

TEST(Fill, ContiguousGridIsFilledEverywhereOnAnyThreadCount) {
  for (int threads : {1, 2}) {
    std::vector<std::uint8_t> grid(64 * 64 * 8, 7);
    voxformer::fill(voxformer::cpu_executor{threads}, voxformer::make_view<3>(grid.data(), {64, 64, 8}),
                    std::uint8_t{0});
    EXPECT_EQ(grid, std::vector<std::uint8_t>(grid.size(), 0));
  }
}

TEST(Fill, StridedViewTouchesOnlyItsElements) {
  // Every other column of a 5×6 matrix: 15 elements set, the 15 between them untouched.
  std::vector<float> m(30, -1.f);
  voxformer::fill(voxformer::cpu_executor{2}, voxformer::tensor_view<float, 2>(m.data(), {5, 3}, {6, 2}), 2.5f);
  for (std::size_t i = 0; i < m.size(); ++i) EXPECT_EQ(m[i], i % 2 == 0 ? 2.5f : -1.f) << i;
}

TEST(Fill, EmptyViewWritesNothing) {
  std::vector<int> v(4, 3);
  voxformer::fill(voxformer::cpu_executor{2}, voxformer::make_view<2>(v.data(), {0, 4}), 9);
  EXPECT_EQ(v, std::vector<int>(4, 3));
}

}  // namespace
