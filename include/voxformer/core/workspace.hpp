//! @file Scratch memory handed to ops: a byte range carved into aligned typed arrays, in call order.
//!
//! Sizing and running use the same carving code (CUB's two-phase temporary storage, without the second
//! call signature): a default-constructed `workspace` hands out null pointers and only counts the bytes
//! asked for, so `workspace_bytes(…)` of an op is its `run(…)` carving sequence replayed on an empty one.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "voxformer/core/error.hpp"
#include "voxformer/core/memory_space.hpp"
#include "voxformer/core/tensor_view.hpp"

namespace voxformer {

class workspace {
 public:
  //! Every carved array starts on a cache line: SIMD rows of 16 floats are then single lines.
  static constexpr std::size_t alignment = 64;

  //! A sizing workspace: carving returns null and counts.
  workspace() = default;

  //! `bytes` of memory at `data` in `space`; `data` must be `alignment`-aligned.
  workspace(void* data, std::size_t bytes, memory_space space = memory_space::host)
      : data_(static_cast<std::byte*>(data)), capacity_(bytes), space_(space), sizing_(false) {
    detail::require(reinterpret_cast<std::uintptr_t>(data) % alignment == 0,
                    "voxformer::workspace: memory must be ", alignment, "-byte aligned");
  }

  //! The aligned part of `bytes` of memory at `data` (host): for scratch from an ordinary allocation that
  //! was given `alignment` extra bytes.
  static workspace aligned(void* data, std::size_t bytes) {
    const auto address = reinterpret_cast<std::uintptr_t>(data);
    const std::size_t skip = (alignment - address % alignment) % alignment;
    return skip <= bytes ? workspace(static_cast<std::byte*>(data) + skip, bytes - skip) : workspace(nullptr, 0);
  }

  bool sizing() const { return sizing_; }
  //! Where the memory starts (null when sizing).
  std::byte* data() const { return data_; }
  std::size_t used() const { return used_; }
  std::size_t capacity() const { return capacity_; }
  memory_space space() const { return space_; }

  //! `count` elements of T, aligned; null when sizing. Throws if a real workspace is too small, which
  //! means a caller sized it for other arguments.
  template <class T>
  T* take(index_t count) {
    detail::require(count >= 0, "voxformer::workspace: negative element count ", count);
    const std::size_t start = round_up(used_);
    std::size_t bytes = 0;
    detail::require(!__builtin_mul_overflow(static_cast<std::size_t>(count), sizeof(T), &bytes) &&
                        !__builtin_add_overflow(start, bytes, &used_),
                    "voxformer::workspace: ", count, " elements of ", sizeof(T), " bytes overflow the address space");
    if (sizing_) return nullptr;
    detail::require(used_ <= capacity_, "voxformer::workspace: ", used_, " bytes needed, but the workspace holds ",
                    capacity_, " (it was sized for other arguments)");
    return reinterpret_cast<T*>(data_ + start);
  }

  //! A contiguous row-major view of `extents` carved from the workspace.
  template <class T, int Rank>
  tensor_view<T, Rank> take_view(const std::array<index_t, Rank>& extents) {
    index_t count = 1;
    for (const index_t e : extents)
      detail::require(e >= 0 && !__builtin_mul_overflow(count, e, &count), "voxformer::workspace: extent ", e,
                      " is negative or the element count overflows");
    return tensor_view<T, Rank>(take<T>(count), extents, space_);
  }

  //! The bytes a sizing pass counted, rounded so that a workspace of this size holds every carve.
  static std::size_t round_up(std::size_t bytes) { return (bytes + alignment - 1) / alignment * alignment; }

 private:
  std::byte* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  memory_space space_ = memory_space::host;
  bool sizing_ = true;
};

}  // namespace voxformer
