//! @file For CUDA tests and benchmarks (nvcc only): whether a GPU is usable, and a device copy of host data.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <vector>

#include "voxformer/backend/cuda/cuda_check.hpp"
#include "voxformer/core/tensor_view.hpp"

namespace test {

//! False on machines without a GPU or driver: GPU tests then skip and GPU benchmarks report an error.
inline bool gpu_present() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

//! Device copy of a contiguous host container (anything with data() and size()), freed on scope exit.
template <class T>
struct device_buffer {
  T* data = nullptr;
  std::size_t size = 0;
  int device = 0;  //!< the device current when it was made, which holds it
  template <class Host>
  explicit device_buffer(const Host& host) : size(host.size()) {
    VOXFORMER_CUDA_CHECK(cudaGetDevice(&device));
    VOXFORMER_CUDA_CHECK(cudaMalloc(&data, std::max<std::size_t>(1, size) * sizeof(T)));
    VOXFORMER_CUDA_CHECK(cudaMemcpy(data, host.data(), size * sizeof(T), cudaMemcpyHostToDevice));
  }
  device_buffer(const device_buffer&) = delete;
  ~device_buffer() { cudaFree(data); }
  std::vector<T> to_host() const {
    std::vector<T> host(size);
    VOXFORMER_CUDA_CHECK(cudaMemcpy(host.data(), data, size * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }
  template <int Rank>
  voxformer::tensor_view<T, Rank> view(const std::array<voxformer::index_t, Rank>& extents) const {
    return voxformer::tensor_view<T, Rank>(data, extents, space());
  }
  voxformer::memory_space space() const { return voxformer::memory_space::on_device(device); }
};

}  // namespace test
