//! @file Where the memory behind a view lives, and which executors may touch it.
#pragma once

#include <cstdint>
#include <string_view>

namespace voxformer {

enum class memory_space : std::uint8_t {
  host,     //!< ordinary (or pinned) host memory
  device,   //!< CUDA device memory
  managed,  //!< CUDA managed memory: accessible from both sides
};

constexpr std::string_view to_string(memory_space space) {
  switch (space) {
    case memory_space::host: return "host";
    case memory_space::device: return "device";
    case memory_space::managed: return "managed";
  }
  return "unknown";
}

constexpr bool host_accessible(memory_space space) { return space != memory_space::device; }
constexpr bool device_accessible(memory_space space) { return space != memory_space::host; }

}  // namespace voxformer
