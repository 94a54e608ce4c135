//! @file Checks of a tensor argument's layout at the API boundary, made by `as_view` for every argument: its
//! extents are non-negative and its byte reach fits a signed 64-bit offset (a runtime-typed tensor may report
//! anything), and an output addresses every element once (a zero or overlapping stride would make two elements
//! one, and parallel writes to it a race).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string_view>
#include <utility>

#include "voxformer/core/config.hpp"
#include "voxformer/core/error.hpp"

namespace voxformer::detail {

//! a · b, or false when it overflows a non-negative index_t.
inline bool multiply_within(index_t a, index_t b, index_t& product) {
  return !__builtin_mul_overflow(a, b, &product) && product >= 0;
}

//! Π factors, or false when the product overflows a non-negative index_t.
inline bool product_within(std::initializer_list<index_t> factors, index_t& product) {
  product = 1;
  for (const index_t f : factors)
    if (!multiply_within(product, f, product)) return false;
  return true;
}

//! Extents ≥ 0 whose products from the last dimension on (the row-major strides, the element count) fit an
//! index_t: checked before any of them is computed.
template <std::size_t Rank>
void require_valid_extents(std::string_view op, std::string_view arg, const std::array<index_t, Rank>& extents) {
  index_t running = 1;
  for (std::size_t d = Rank; d-- > 0;) {
    require(extents[d] >= 0, op, ": argument '", arg, "' has negative extent ", extents[d], " in dimension ", d);
    require(multiply_within(running, extents[d], running), op, ": argument '", arg,
            "' has more elements than a 64-bit index can count");
  }
}

//! Valid extents, and (for a non-empty tensor) Σ (extent − 1)·|stride| elements addressable in bytes, so that
//! no offset computed from this layout overflows.
template <std::size_t Rank>
void require_valid_layout(std::string_view op, std::string_view arg, const std::array<index_t, Rank>& extents,
                          const std::array<index_t, Rank>& strides, std::size_t element_bytes) {
  require_valid_extents(op, arg, extents);
  for (const index_t e : extents)
    if (e == 0) return;
  index_t reach = 1;  // in elements: the last one's offset + 1
  for (std::size_t d = 0; d < Rank; ++d) {
    index_t span = 0;
    require(strides[d] != std::numeric_limits<index_t>::min() &&
                multiply_within(extents[d] - 1, strides[d] < 0 ? -strides[d] : strides[d], span) &&
                !__builtin_add_overflow(reach, span, &reach),
            op, ": argument '", arg, "' has strides whose offsets overflow a 64-bit index");
  }
  index_t bytes = 0;
  require(multiply_within(reach, static_cast<index_t>(element_bytes), bytes), op, ": argument '", arg,
          "' spans more bytes than a 64-bit offset can address");
}

//! Every element of an output at its own address: sorted by |stride|, each dimension's stride must step past
//! everything the smaller ones reach. (Sufficient, and what every real layout satisfies; a layout that
//! interleaves dimensions injectively in some other way is rejected too.)
template <std::size_t Rank>
void require_distinct_elements(std::string_view op, std::string_view arg, const std::array<index_t, Rank>& extents,
                               const std::array<index_t, Rank>& strides) {
  std::array<std::pair<index_t, index_t>, Rank> dims{};  // (|stride|, extent) of the dimensions longer than 1
  std::size_t used = 0;
  for (std::size_t d = 0; d < Rank; ++d) {
    if (extents[d] == 0) return;  // no elements
    if (extents[d] > 1) dims[used++] = {strides[d] < 0 ? -strides[d] : strides[d], extents[d]};
  }
  for (std::size_t i = 1; i < used; ++i)  // insertion sort: a handful of dimensions (std::sort makes GCC 12 warn)
    for (std::size_t j = i; j > 0 && dims[j] < dims[j - 1]; --j) std::swap(dims[j], dims[j - 1]);
  index_t reach = 0;  // largest offset the smaller dimensions reach (require_valid_layout bounds it)
  for (std::size_t i = 0; i < used; ++i) {
    require(dims[i].first > reach, op, ": output '", arg, "' addresses some elements more than once (stride ",
            dims[i].first, " of a dimension of extent ", dims[i].second,
            "): zero or overlapping strides cannot be written");
    reach += (dims[i].second - 1) * dims[i].first;
  }
}

}  // namespace voxformer::detail
