//! @file DLPack `DLTensor` / `DLManagedTensor` as voxformer tensors (PyTorch, CuPy, JAX, TVM …), without
//! copies. Element type and rank are checked at run time against what each op expects; `strides == NULL`
//! means compact row-major; `byte_offset` is honoured; CPU, CUDA, CUDA-host and CUDA-managed devices map to
//! host, device, host and managed memory, a CUDA tensor keeping its `device_id` (so that an executor on another
//! GPU refuses it); anything else is rejected.
#pragma once

#include <dlpack/dlpack.h>

#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

namespace detail {

inline dynamic_tensor describe_dlpack(const DLTensor& t) {
  constexpr const char* where = "voxformer DLPack adapter";
  require(t.dtype.lanes == 1, where, ": vector dtypes (lanes = ", t.dtype.lanes, ") are not supported");
  dtype type;
  type.bits = t.dtype.bits;
  switch (t.dtype.code) {
    case kDLInt: type.kind = scalar_kind::signed_int; break;
    case kDLUInt: type.kind = scalar_kind::unsigned_int; break;
    case kDLFloat: type.kind = scalar_kind::floating; break;  // float16 included
    case kDLBfloat: type.kind = scalar_kind::brain_floating; break;
    case 6: type.kind = scalar_kind::boolean; break;  // kDLBool, added in DLPack 0.8
    default: type.kind = scalar_kind::other; break;
  }
  memory_space space = memory_space::host;
  switch (t.device.device_type) {
    case kDLCPU:
    case kDLCUDAHost: space = memory_space::host; break;
    case kDLCUDA:
      require(t.device.device_id >= 0, where, ": CUDA device_id ", t.device.device_id, " is not a device ordinal");
      space = memory_space::on_device(t.device.device_id);
      break;
    case kDLCUDAManaged: space = memory_space::managed; break;
    default: fail(where, ": device type ", static_cast<int>(t.device.device_type), " is not supported");
  }
  return {static_cast<char*>(t.data) + t.byte_offset, type, t.ndim, t.shape, t.strides, space, true};
}

}  // namespace detail

template <>
struct tensor_traits<DLTensor> {
  static dynamic_tensor describe(const DLTensor& t) { return detail::describe_dlpack(t); }
};

template <>
struct tensor_traits<DLManagedTensor> {
  static dynamic_tensor describe(const DLManagedTensor& t) { return detail::describe_dlpack(t.dl_tensor); }
};

}  // namespace voxformer
