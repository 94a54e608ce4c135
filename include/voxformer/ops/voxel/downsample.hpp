//! @file Occupancy downsampling to the proposal resolution: a coarse voxel is occupied as soon as any of its
//! children is (the 1:2 rule of spec §2.4, for any integer factor per axis).
#pragma once

#include <cstdint>

#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

namespace kernels {

template <class Fine, class Coarse>
struct any_child_occupied {
  Fine fine;      // [X, Y, Z]
  Coarse coarse;  // [X/fx, Y/fy, Z/fz]
  VOXFORMER_HOST_DEVICE void operator()(index_t k) const {
    const index_t cy = coarse.extent(1), cz = coarse.extent(2);
    const index_t x = k / (cy * cz), y = (k / cz) % cy, z = k % cz;
    const index_t fx = fine.extent(0) / coarse.extent(0), fy = fine.extent(1) / cy, fz = fine.extent(2) / cz;
    bool occupied = false;
    for (index_t i = 0; i < fx; ++i)
      for (index_t j = 0; j < fy; ++j)
        for (index_t l = 0; l < fz; ++l) occupied = occupied || fine(x * fx + i, y * fy + j, z * fz + l) != 0;
    coarse(x, y, z) = occupied ? 1 : 0;
  }
};

}  // namespace kernels

//! `coarse` [X/fx, Y/fy, Z/fz] = 1 where any child voxel of `fine` [X, Y, Z] is non-zero. The factors are
//! the ratios of the extents, which must be whole numbers.
template <class Executor, class Fine, class Coarse>
void downsample_occupancy(const Executor& executor, Fine&& fine, Coarse&& coarse) {
  constexpr const char* op = "voxformer::downsample_occupancy";
  const auto f = as_view<const std::uint8_t, 3>(fine, op, "fine");
  const auto c = as_view<std::uint8_t, 3>(coarse, op, "coarse");
  for (int a = 0; a < 3; ++a)
    detail::require(c.extent(a) > 0 && f.extent(a) % c.extent(a) == 0, op, ": extent ", a, " of 'fine' (",
                    f.extent(a), ") is not a whole multiple of extent ", a, " of 'coarse' (", c.extent(a), ")");
  expect_accessible(op, "fine", executor, f);
  expect_accessible(op, "coarse", executor, c);
  parallel_for(executor, c.size(), kernels::any_child_occupied<decltype(f), decltype(c)>{f, c});
}

}  // namespace voxformer
