//! @file Occupancy downsampling to the proposal resolution: a coarse voxel is occupied as soon as any of its
//! children is (the 1:2 rule of spec §2.4, for any integer factor per axis).
#pragma once

#include <cstdint>

#include "voxformer/core/executor_hints.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

namespace kernels {

//! One element = one coarse voxel, or (`Column`, for the CPU) one coarse (x, y) column of them: the index
//! divisions, and the child-factor divisions, are then paid once per column instead of once per voxel.
template <class Fine, class Coarse, bool Column>
struct any_child_occupied {
  Fine fine;      // [X, Y, Z]
  Coarse coarse;  // [X/fx, Y/fy, Z/fz]
  VOXFORMER_HOST_DEVICE void operator()(index_t k) const {
    const index_t cy = coarse.extent(1), cz = coarse.extent(2);
    const index_t fx = fine.extent(0) / coarse.extent(0), fy = fine.extent(1) / cy, fz = fine.extent(2) / cz;
    if constexpr (Column) {
      const index_t x = k / cy, y = k % cy;
      for (index_t z = 0; z < cz; ++z) mark_voxel(x, y, z, fx, fy, fz);
    } else {
      mark_voxel(k / (cy * cz), (k / cz) % cy, k % cz, fx, fy, fz);
    }
  }

 private:
  VOXFORMER_HOST_DEVICE void mark_voxel(index_t x, index_t y, index_t z, index_t fx, index_t fy, index_t fz) const {
    bool occupied = false;  // `|`, not `||`: no branch per child
    for (index_t i = 0; i < fx; ++i)
      for (index_t j = 0; j < fy; ++j)
        for (index_t l = 0; l < fz; ++l) occupied |= fine(x * fx + i, y * fy + j, z * fz + l) != 0;
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
    detail::require(c.extent(a) > 0 && f.extent(a) >= c.extent(a) && f.extent(a) % c.extent(a) == 0, op, ": extent ",
                    a, " of 'fine' (", f.extent(a), ") is not a positive whole multiple of extent ", a, " of 'coarse' (",
                    c.extent(a), ")");
  expect_accessible(op, "fine", executor, f);
  expect_accessible(op, "coarse", executor, c);
  expect_no_aliasing(op, {detail::memory_of("coarse", c)}, {detail::memory_of("fine", f)});
  constexpr bool columns = prefers_coarse_elements<Executor>;
  parallel_for(executor, columns ? c.extent(0) * c.extent(1) : c.size(),
               kernels::any_child_occupied<decltype(f), decltype(c), columns>{f, c});
}

}  // namespace voxformer
