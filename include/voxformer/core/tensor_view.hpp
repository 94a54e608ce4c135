//! @file A non-owning strided view: element type, rank, extents, strides (in elements), memory space.
//!
//! Trivially copyable and passed by value into kernels (the mdspan habit). Strides are arbitrary, so
//! transposed or sliced user tensors are read in place; ops that want a fast path test contiguity.
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>

#include "voxformer/core/config.hpp"
#include "voxformer/core/memory_space.hpp"

namespace voxformer {

template <class T, int Rank>
class tensor_view {
  static_assert(Rank >= 1, "voxformer::tensor_view: rank must be at least 1");

 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  static constexpr int rank = Rank;

  tensor_view() = default;

  //! Strided view; strides are in elements, not bytes.
  tensor_view(T* data, const std::array<index_t, Rank>& extents, const std::array<index_t, Rank>& strides,
              memory_space space = memory_space::host)
      : data_(data), space_(space) {
    for (int d = 0; d < Rank; ++d) {
      extents_[d] = extents[d];
      strides_[d] = strides[d];
    }
  }

  //! Contiguous row-major (C order) view.
  tensor_view(T* data, const std::array<index_t, Rank>& extents, memory_space space = memory_space::host)
      : tensor_view(data, extents, row_major_strides(extents), space) {}

  //! A view of const elements converts implicitly from a view of mutable ones.
  template <class U>
    requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
  tensor_view(const tensor_view<U, Rank>& other)  // NOLINT(google-explicit-constructor)
      : data_(other.data()), space_(other.space()) {
    for (int d = 0; d < Rank; ++d) {
      extents_[d] = other.extent(d);
      strides_[d] = other.stride(d);
    }
  }

  VOXFORMER_HOST_DEVICE T* data() const { return data_; }
  VOXFORMER_HOST_DEVICE index_t extent(int d) const { return extents_[d]; }
  VOXFORMER_HOST_DEVICE index_t stride(int d) const { return strides_[d]; }
  VOXFORMER_HOST_DEVICE memory_space space() const { return space_; }

  VOXFORMER_HOST_DEVICE index_t size() const {
    index_t n = 1;
    for (int d = 0; d < Rank; ++d) n *= extents_[d];
    return n;
  }
  VOXFORMER_HOST_DEVICE bool empty() const { return size() == 0; }

  template <class... I>
  VOXFORMER_HOST_DEVICE index_t offset(I... indices) const {
    static_assert(sizeof...(I) == Rank, "voxformer::tensor_view: one index per dimension");
    // A fold, not an index array: GCC vectorises the array form through the stack, and the reload then
    // waits on the scalar stores (a store-forwarding stall in every kernel element).
    index_t off = 0;
    int d = 0;
    ((off += static_cast<index_t>(indices) * strides_[d++]), ...);
    return off;
  }

  template <class... I>
  VOXFORMER_HOST_DEVICE T& operator()(I... indices) const {
    return data_[offset(indices...)];
  }

  //! Element number `i` in C order; works for any strides.
  VOXFORMER_HOST_DEVICE T& at_flat(index_t i) const {
    index_t off = 0;
    for (int d = Rank - 1; d >= 0; --d) {
      off += (i % extents_[d]) * strides_[d];
      i /= extents_[d];
    }
    return data_[off];
  }

  //! True when the elements are dense in C order (size-1 dimensions may have any stride).
  VOXFORMER_HOST_DEVICE bool is_contiguous() const {
    index_t expected = 1;
    for (int d = Rank - 1; d >= 0; --d) {
      if (extents_[d] != 1 && strides_[d] != expected) return false;
      expected *= extents_[d];
    }
    return true;
  }

  std::array<index_t, Rank> extents() const {
    std::array<index_t, Rank> e{};
    for (int d = 0; d < Rank; ++d) e[d] = extents_[d];
    return e;
  }

  static std::array<index_t, Rank> row_major_strides(const std::array<index_t, Rank>& extents) {
    std::array<index_t, Rank> s{};
    index_t running = 1;
    for (int d = Rank - 1; d >= 0; --d) {
      s[d] = running;
      running *= extents[d];
    }
    return s;
  }

 private:
  T* data_ = nullptr;
  index_t extents_[Rank] = {};
  index_t strides_[Rank] = {};
  memory_space space_ = memory_space::host;
};

//! Entries [first, first + count) along the leading axis, same strides: a block of rows.
template <class T, int Rank>
tensor_view<T, Rank> leading_slice(const tensor_view<T, Rank>& view, index_t first, index_t count) {
  std::array<index_t, Rank> extents = view.extents(), strides{};
  for (int d = 0; d < Rank; ++d) strides[d] = view.stride(d);
  extents[0] = count;
  return tensor_view<T, Rank>(view.data() + first * view.stride(0), extents, strides, view.space());
}

//! Entry `i` of the leading axis without that axis (frame i of a batch), same strides.
template <class T, int Rank>
tensor_view<T, Rank - 1> leading_entry(const tensor_view<T, Rank>& view, index_t i) {
  std::array<index_t, Rank - 1> extents{}, strides{};
  for (int d = 1; d < Rank; ++d) extents[d - 1] = view.extent(d), strides[d - 1] = view.stride(d);
  return tensor_view<T, Rank - 1>(view.data() + i * view.stride(0), extents, strides, view.space());
}

//! The view as a batch of `frames` frames that are all this one: a leading axis of stride 0 (only inputs may be
//! seen so; an output whose frames share memory is refused by `as_view`).
template <class T, int Rank>
tensor_view<T, Rank + 1> repeat_as_frames(const tensor_view<T, Rank>& view, index_t frames) {
  std::array<index_t, Rank + 1> extents{}, strides{};
  extents[0] = frames;
  for (int d = 0; d < Rank; ++d) extents[d + 1] = view.extent(d), strides[d + 1] = view.stride(d);
  return tensor_view<T, Rank + 1>(view.data(), extents, strides, view.space());
}

//! The view with a leading axis of extent 1 (a batch of one).
template <class T, int Rank>
tensor_view<T, Rank + 1> as_batch_of_one(const tensor_view<T, Rank>& view) {
  return repeat_as_frames(view, 1);
}

//! Columns [first, first + count) of a matrix, same strides.
template <class T>
tensor_view<T, 2> column_slice(const tensor_view<T, 2>& m, index_t first, index_t count) {
  return tensor_view<T, 2>(m.data() + first * m.stride(1), {m.extent(0), count}, {m.stride(0), m.stride(1)}, m.space());
}

//! A contiguous row-major view over raw memory: `make_view(ptr, {rows, cols})`.
template <int Rank, class T>
tensor_view<T, Rank> make_view(T* data, const std::array<index_t, Rank>& extents,
                               memory_space space = memory_space::host) {
  return tensor_view<T, Rank>(data, extents, space);
}

}  // namespace voxformer
