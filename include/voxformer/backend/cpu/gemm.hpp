//! @file The CPU backend's matrix product on the caller's memory, never copied, one block of rows per task:
//! the register-blocked fp32 kernel when all three operands are row-major (the layers' case, `gemm_kernel.hpp`),
//! Eigen's GEMM on mapped memory for any other layout or type. Called unqualified by the layers (`nn/`).
#pragma once

#include <Eigen/Core>

#include "voxformer/backend/cpu/gemm_kernel.hpp"
#include "voxformer/backend/cpu/parallel_for.hpp"
#include "voxformer/core/algorithms.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/core/tensor_view.hpp"

namespace voxformer {

namespace detail {

//! Rows of `c` per task (a whole number of kernel tiles). Fixed — not derived from the thread count — so that
//! every row is computed by the same call shape, and the result is bit-identical for any number of threads.
inline constexpr index_t gemm_row_block = 32 * gemm_tile_rows;
//! Columns per task when the epilogue takes column ranges (a whole number of 2-vector tiles at any width).
inline constexpr index_t gemm_column_block = 512;

enum class matrix_order { row_major, column_major };

template <class T>
matrix_order unit_stride_order(const char* arg, const tensor_view<T, 2>& m) {
  if (m.stride(1) == 1 || m.extent(1) == 1) return matrix_order::row_major;
  if (m.stride(0) == 1 || m.extent(0) == 1) return matrix_order::column_major;
  fail("voxformer::gemm: argument '", arg, "' needs a unit stride along one axis, got strides (", m.stride(0), ", ",
       m.stride(1), ")");
}

//! `m` as an Eigen map with the given storage order and its outer stride.
template <matrix_order Order, class T>
auto eigen_map(const tensor_view<T, 2>& m, index_t first_row, index_t rows) {
  constexpr int storage = Order == matrix_order::row_major ? Eigen::RowMajor : Eigen::ColMajor;
  using matrix = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, storage>;
  using mapped = std::conditional_t<std::is_const_v<T>, const matrix, matrix>;
  const index_t outer = Order == matrix_order::row_major ? m.stride(0) : m.stride(1);
  // A degenerate axis may carry any stride; Eigen asserts a leading dimension at least the inner size.
  const index_t inner_size = Order == matrix_order::row_major ? m.extent(1) : rows;
  return Eigen::Map<mapped, Eigen::Unaligned, Eigen::OuterStride<>>(m.data() + first_row * m.stride(0), rows,
                                                                    m.extent(1),
                                                                    Eigen::OuterStride<>(std::max(outer, inner_size)));
}

template <matrix_order A, matrix_order B, matrix_order C, class T>
void gemm_rows(const tensor_view<const T, 2>& a, const tensor_view<const T, 2>& b, const tensor_view<T, 2>& c,
               bool accumulate, index_t first_row, index_t rows) {
  const auto lhs = eigen_map<A>(a, first_row, rows);
  const auto rhs = eigen_map<B>(b, 0, b.extent(0));
  auto out = eigen_map<C>(c, first_row, rows);
  if (accumulate) out.noalias() += lhs * rhs;
  else out.noalias() = lhs * rhs;
}

}  // namespace detail

//! c = a·b, or c += a·b when `accumulate`: a [M, K], b [K, N], c [M, N], each row- or column-major with any
//! leading dimension (so a transposed weight matrix is a view, not a copy); then the epilogue for every row of c
//! (bias, activation, residual — applied on the CPU per block while it is in cache): `epilogue(row)`, or, when the
//! epilogue also takes a column range, `epilogue(row, first_column, end_column)` once per block of columns, which
//! lets a product with few rows and many columns (a convolution's) be split over columns too.
//! Shapes are the caller's to check (the layers do); `c` must not overlap `a` or `b`.
template <class T, class Epilogue = no_epilogue>
void gemm(const cpu_executor& executor, const tensor_view<const T, 2>& a, const tensor_view<const T, 2>& b,
          const tensor_view<T, 2>& c, bool accumulate, const Epilogue& epilogue = {}) {
  using detail::matrix_order;
  const index_t rows = c.extent(0), columns = c.extent(1);
  if (rows == 0) return;
  const matrix_order orders[3] = {detail::unit_stride_order("a", a), detail::unit_stride_order("b", b),
                                  detail::unit_stride_order("c", c)};
  const bool row_major_kernel = detail::row_major_kernel_applies(a, b, c);
  constexpr bool ranged = std::is_invocable_v<const Epilogue&, index_t, index_t, index_t>;
  const index_t column_block = ranged ? detail::gemm_column_block : std::max<index_t>(columns, 1);
  const index_t row_blocks = (rows + detail::gemm_row_block - 1) / detail::gemm_row_block;
  const index_t column_blocks = (std::max<index_t>(columns, 1) + column_block - 1) / column_block;
  auto product = [&](auto a_order, auto b_order, auto c_order, index_t first, index_t count, index_t first_column,
                     index_t column_count) {
    const auto b_block = column_slice(b, first_column, column_count);
    const auto c_block = column_slice(c, first_column, column_count);
    if constexpr (std::is_same_v<T, float>)
      if (row_major_kernel) return detail::gemm_row_major_block(a, b_block, c_block, accumulate, first, count);
    detail::gemm_rows<decltype(a_order)::value, decltype(b_order)::value, decltype(c_order)::value>(
        a, b_block, c_block, accumulate, first, count);
  };
  auto run = [&](auto a_order, auto b_order, auto c_order) {
    parallel_for(
        executor, row_blocks * column_blocks,
        [&](index_t block) {
          const index_t first = block / column_blocks * detail::gemm_row_block,
                        count = std::min(detail::gemm_row_block, rows - first);
          const index_t first_column = block % column_blocks * column_block,
                        column_count = std::min(column_block, columns - first_column);
          if (column_count > 0) product(a_order, b_order, c_order, first, count, first_column, column_count);
          const Epilogue local = epilogue;
          for (index_t r = first; r < first + count; ++r) {
            if constexpr (ranged) local(r, first_column, first_column + column_count);
            else local(r);
          }
        },
        1);
  };
  // 8 layouts; the common ones (activations row-major, weights either way) are as fast as plain Eigen.
  auto with_c = [&](auto a_order, auto b_order) {
    if (orders[2] == matrix_order::row_major) run(a_order, b_order, std::integral_constant<matrix_order, matrix_order::row_major>{});
    else run(a_order, b_order, std::integral_constant<matrix_order, matrix_order::column_major>{});
  };
  auto with_b = [&](auto a_order) {
    if (orders[1] == matrix_order::row_major) with_c(a_order, std::integral_constant<matrix_order, matrix_order::row_major>{});
    else with_c(a_order, std::integral_constant<matrix_order, matrix_order::column_major>{});
  };
  if (orders[0] == matrix_order::row_major) with_b(std::integral_constant<matrix_order, matrix_order::row_major>{});
  else with_b(std::integral_constant<matrix_order, matrix_order::column_major>{});
}

}  // namespace voxformer
