//! @file Owning memory for the CPU executor: what a pipeline sizes once and carves its workspaces from, and
//! the executor's `synchronize` (nothing to wait for: CPU work is done when its call returns).
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>

#include "voxformer/backend/cpu/parallel_for.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/core/memory_space.hpp"
#include "voxformer/core/workspace.hpp"

namespace voxformer {

class cpu_buffer {
 public:
  cpu_buffer() = default;
  explicit cpu_buffer(std::size_t bytes) : data_(allocate(bytes)), bytes_(bytes) {}

  std::byte* data() const { return data_.get(); }
  std::size_t size() const { return bytes_; }
  static constexpr memory_space space() { return memory_space::host; }

 private:
  //! A request the system cannot satisfy — a valid configuration may still be too big for the machine — is a
  //! voxformer::error like any other, not a bare std::bad_alloc (the nothrow form: no exception to translate).
  static std::byte* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    void* memory = ::operator new(bytes, std::align_val_t{workspace::alignment}, std::nothrow);
    detail::require(memory != nullptr, "voxformer::allocate_buffer: cannot allocate ", bytes, " bytes (out of memory)");
    return static_cast<std::byte*>(memory);
  }

  struct release {
    void operator()(std::byte* p) const { ::operator delete(p, std::align_val_t{workspace::alignment}); }
  };
  std::unique_ptr<std::byte, release> data_;
  std::size_t bytes_ = 0;
};

//! `bytes` of host memory, aligned for a `workspace`; pages are committed when first touched.
inline cpu_buffer allocate_buffer(const cpu_executor&, std::size_t bytes) { return cpu_buffer(bytes); }

//! Host memory into host memory: a copy.
inline void copy_from_host(const cpu_executor&, void* to, const void* from, std::size_t bytes) {
  if (bytes > 0) std::memcpy(to, from, bytes);
}

//! Host memory into host memory: a copy.
inline void copy_to_host(const cpu_executor&, void* to, const void* from, std::size_t bytes) {
  if (bytes > 0) std::memcpy(to, from, bytes);
}

inline void synchronize(const cpu_executor&) {}

}  // namespace voxformer
