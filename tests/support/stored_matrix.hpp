//! @file A logical row-major [rows, cols] matrix stored row- or column-major with `pad` unused elements per leading
//! dimension (holding `fill`), and its view: the layouts the GEMM tests put every product through.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "voxformer/core/tensor_view.hpp"

namespace test {

template <class T>
struct stored_matrix {
  std::vector<T> values;
  voxformer::tensor_view<T, 2> view;
};

template <class T, class Logical>
stored_matrix<T> store_matrix(const std::vector<Logical>& logical, voxformer::index_t rows, voxformer::index_t cols,
                              bool column_major, voxformer::index_t pad, T fill) {
  const voxformer::index_t ld = (column_major ? rows : cols) + pad, outer = column_major ? cols : rows;
  stored_matrix<T> s{std::vector<T>(static_cast<std::size_t>(std::max<voxformer::index_t>(1, ld * outer)), fill), {}};
  for (voxformer::index_t r = 0; r < rows; ++r)
    for (voxformer::index_t c = 0; c < cols; ++c)
      s.values[static_cast<std::size_t>(column_major ? c * ld + r : r * ld + c)] =
          static_cast<T>(logical[static_cast<std::size_t>(r * cols + c)]);
  s.view = column_major ? voxformer::tensor_view<T, 2>(s.values.data(), {rows, cols}, {1, ld})
                        : voxformer::tensor_view<T, 2>(s.values.data(), {rows, cols}, {ld, 1});
  return s;
}

}  // namespace test
