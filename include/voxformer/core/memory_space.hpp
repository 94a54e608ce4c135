//! @file Where the memory behind a view lives — host, managed, or the memory of one CUDA device — and which
//! executors may touch it.
#pragma once

#include <cstdint>
#include <string>

#include "voxformer/core/config.hpp"

namespace voxformer {

//! The kind of memory and, for device memory, the CUDA device that holds it (as DLPack's `device_id`), so that a
//! tensor on one GPU is never handed to kernels running on another. `memory_space::device` alone is device 0.
struct memory_space {
  //! Unscoped, so that `memory_space::host` is a plain constant, usable in device code and converted where a space
  //! is expected.
  enum kind_t : std::uint8_t {
    host,     //!< ordinary (or pinned) host memory
    device,   //!< CUDA device memory
    managed,  //!< CUDA managed memory: accessible from both sides
  };

  VOXFORMER_HOST_DEVICE constexpr memory_space(kind_t kind_ = host, std::int32_t device_ = 0)
      : kind(kind_), device_ordinal(kind_ == device ? device_ : 0) {}
  //! The memory of CUDA device `ordinal`.
  VOXFORMER_HOST_DEVICE static constexpr memory_space on_device(std::int32_t ordinal) { return {device, ordinal}; }

  friend constexpr bool operator==(const memory_space&, const memory_space&) = default;

  kind_t kind;
  std::int32_t device_ordinal;  //!< 0 unless `kind` is `device`
};

//! "host", "managed", or "device N".
inline std::string to_string(memory_space space) {
  switch (space.kind) {
    case memory_space::host: return "host";
    case memory_space::device: return "device " + std::to_string(space.device_ordinal);
    case memory_space::managed: return "managed";
  }
  return "unknown";
}

constexpr bool host_accessible(memory_space space) { return space.kind != memory_space::device; }
//! Whether kernels running on CUDA device `ordinal` may touch the memory: managed memory, or that device's own.
constexpr bool device_accessible(memory_space space, std::int32_t ordinal) {
  return space.kind == memory_space::managed || space == memory_space::on_device(ordinal);
}

}  // namespace voxformer
