//! @file A device on the CPU, for tests: an executor whose memory is tagged device memory and is unreadable from the
//! host except while one of its kernels or algorithms runs. Its pages are mapped PROT_NONE; each `parallel_for`,
//! `compact`, `exclusive_scan` and `gemm` opens them for its own duration (the CPU backend does the work) and closes
//! them again. A host read of device memory — a count returned to the host, a loop bound read between launches —
//! then faults at once instead of passing silently, which is what a GPU would do (or force a synchronisation), so
//! the device contract ("no host reads of device memory within a frame") is tested on every commit without a GPU.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <type_traits>
#include <string_view>
#include <utility>
#include <vector>

#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/backend/cpu/gemm_narrow.hpp"

namespace test {

//! Every live emulated device allocation, and whether kernels are running (nested calls keep it open).
class emulated_device_memory {
 public:
  static emulated_device_memory& instance() {
    static emulated_device_memory memory;
    return memory;
  }

  std::byte* allocate(std::size_t bytes) {
    const std::size_t mapped = round_to_pages(bytes);
    void* p = mmap(nullptr, mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    voxformer::detail::require(p != MAP_FAILED, "emulated device: cannot map ", mapped, " bytes");
    const std::lock_guard lock(mutex_);
    regions_.emplace_back(static_cast<std::byte*>(p), mapped);
    if (open_kernels_ > 0) mprotect(p, mapped, PROT_READ | PROT_WRITE);
    return static_cast<std::byte*>(p);
  }

  void release(std::byte* p) {
    const std::lock_guard lock(mutex_);
    for (auto it = regions_.begin(); it != regions_.end(); ++it)
      if (it->first == p) {
        munmap(it->first, it->second);
        regions_.erase(it);
        return;
      }
  }

  //! Device memory is readable from the host between `open()` and the matching `close()`.
  void open() { protect(++open_kernels_ == 1, PROT_READ | PROT_WRITE); }
  void close() { protect(--open_kernels_ == 0, PROT_NONE); }

 private:
  static std::size_t round_to_pages(std::size_t bytes) {
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return (std::max<std::size_t>(bytes, 1) + page - 1) / page * page;
  }
  void protect(bool change, int protection) {
    if (!change) return;
    const std::lock_guard lock(mutex_);
    for (const auto& [p, bytes] : regions_) mprotect(p, bytes, protection);
  }

  std::mutex mutex_;
  std::vector<std::pair<std::byte*, std::size_t>> regions_;
  int open_kernels_ = 0;  // changed on the host thread that launches: the CPU backend runs a launch to its end
};

//! While it lives, kernels run: device memory is open to the CPU backend doing their work.
struct emulated_kernel_scope {
  emulated_kernel_scope() { emulated_device_memory::instance().open(); }
  ~emulated_kernel_scope() { emulated_device_memory::instance().close(); }
  emulated_kernel_scope(const emulated_kernel_scope&) = delete;
  emulated_kernel_scope& operator=(const emulated_kernel_scope&) = delete;
};

struct emulated_device_executor {
  static constexpr std::string_view name = "emulated_device_executor";
  voxformer::cpu_executor cpu{2};
  //! The one emulated GPU is device 0; memory tagged as another device's stands for a second GPU's.
  static constexpr int device = 0;
  //! As a GPU's: its own device memory and managed memory, not host memory nor another device's.
  constexpr bool can_access(voxformer::memory_space space) const {
    return voxformer::device_accessible(space, device);
  }
};

//! Device memory of the emulated device (page-granular, unreadable outside kernels).
class emulated_device_buffer {
 public:
  emulated_device_buffer() = default;
  explicit emulated_device_buffer(std::size_t bytes)
      : data_(emulated_device_memory::instance().allocate(bytes), release{}), bytes_(bytes) {}
  std::byte* data() const { return data_.get(); }
  std::size_t size() const { return bytes_; }
  static constexpr voxformer::memory_space space() { return voxformer::memory_space::device; }

 private:
  struct release {
    void operator()(std::byte* p) const { emulated_device_memory::instance().release(p); }
  };
  std::unique_ptr<std::byte, release> data_;
  std::size_t bytes_ = 0;
};

// The backend's functions, found by argument-dependent lookup as the CPU's and the GPU's are.
inline emulated_device_buffer allocate_buffer(const emulated_device_executor&, std::size_t bytes) {
  return emulated_device_buffer(bytes);
}
//! How many times the host has waited for the device's work (`synchronize`): what a GPU stream would stall on.
inline std::size_t& emulated_synchronizations() {
  static std::size_t waits = 0;
  return waits;
}
inline void synchronize(const emulated_device_executor&) { ++emulated_synchronizations(); }
inline void copy_from_host(const emulated_device_executor&, void* to, const void* from, std::size_t bytes) {
  const emulated_kernel_scope scope;
  std::memcpy(to, from, bytes);
}

//! How many times the host has read device memory through `copy_to_host` (each a synchronisation on a GPU).
inline std::size_t& emulated_host_reads() {
  static std::size_t reads = 0;
  return reads;
}

inline void copy_to_host(const emulated_device_executor&, void* to, const void* from, std::size_t bytes) {
  const emulated_kernel_scope scope;
  std::memcpy(to, from, bytes);
  ++emulated_host_reads();
}

template <class Kernel>
void parallel_for(const emulated_device_executor& executor, voxformer::index_t n, const Kernel& kernel,
                  voxformer::index_t grain = voxformer::detail::cpu_min_elements_per_thread) {
  const emulated_kernel_scope scope;
  voxformer::parallel_for(executor.cpu, n, kernel, grain);
}

inline std::size_t compact_workspace_bytes(const emulated_device_executor& executor, voxformer::index_t n) {
  return voxformer::compact_workspace_bytes(executor.cpu, n);
}
template <class Flag, class Emit>
void compact(const emulated_device_executor& executor, voxformer::index_t n, const Flag& flag, const Emit& emit,
             voxformer::index_t capacity, const voxformer::tensor_view<voxformer::index_t, 1>& count,
             voxformer::workspace scratch) {
  const emulated_kernel_scope scope;
  voxformer::compact(executor.cpu, n, flag, emit, capacity, count, scratch);
}

template <class Out>
std::size_t exclusive_scan_workspace_bytes(const emulated_device_executor& executor, voxformer::index_t n) {
  return voxformer::exclusive_scan_workspace_bytes<Out>(executor.cpu, n);
}
template <class Value, class Out>
void exclusive_scan(const emulated_device_executor& executor, voxformer::index_t n, const Value& value,
                    const voxformer::tensor_view<Out, 1>& out, voxformer::workspace scratch) {
  const emulated_kernel_scope scope;
  voxformer::exclusive_scan(executor.cpu, n, value, out, scratch);
}

template <class T, class Epilogue = voxformer::no_epilogue>
void gemm(const emulated_device_executor& executor, const voxformer::tensor_view<const T, 2>& a,
          const voxformer::tensor_view<const T, 2>& b, const voxformer::tensor_view<T, 2>& c, bool accumulate,
          const Epilogue& epilogue = {}) {
  const emulated_kernel_scope scope;
  voxformer::gemm<T>(executor.cpu, a, b, c, accumulate, epilogue);
}

//! The 16-bit products (bfloat16 or float16 b, fp32 or b's type a, fp32 c): the CPU backend's.
template <class A, voxformer::narrow_float W, class Epilogue = voxformer::no_epilogue>
void gemm(const emulated_device_executor& executor, const voxformer::tensor_view<const A, 2>& a,
          const voxformer::tensor_view<const W, 2>& b, const voxformer::tensor_view<float, 2>& c, bool accumulate,
          const Epilogue& epilogue = {}) {
  const emulated_kernel_scope scope;
  voxformer::gemm<A, W>(executor.cpu, a, b, c, accumulate, epilogue);
}

//! A copy of host data into (`upload`) or out of (`download`) emulated device memory: the tests' cudaMemcpy.
template <class T>
voxformer::tensor_view<T, 1> upload(const emulated_device_buffer& buffer, const std::vector<T>& host) {
  const emulated_kernel_scope scope;
  auto* data = reinterpret_cast<T*>(buffer.data());
  std::copy(host.begin(), host.end(), data);
  return voxformer::tensor_view<T, 1>(data, {static_cast<voxformer::index_t>(host.size())}, voxformer::memory_space::device);
}
template <class T, int Rank>
std::vector<std::remove_const_t<T>> download(const voxformer::tensor_view<T, Rank>& view) {
  const emulated_kernel_scope scope;
  std::vector<std::remove_const_t<T>> host(static_cast<std::size_t>(view.size()));
  for (voxformer::index_t i = 0; i < view.size(); ++i) host[static_cast<std::size_t>(i)] = view.at_flat(i);
  return host;
}

//! Device memory holding `initial` (−1 where it is shorter), viewed as `extents`.
template <class T, int Rank>
struct emulated_device_tensor {
  emulated_device_buffer memory;
  voxformer::tensor_view<T, Rank> view;
  explicit emulated_device_tensor(const std::array<voxformer::index_t, Rank>& extents, const std::vector<T>& initial = {})
      : memory(sizeof(T) * static_cast<std::size_t>(std::max<voxformer::index_t>(1, count(extents)))) {
    std::vector<T> values = initial;
    values.resize(static_cast<std::size_t>(count(extents)), T(-1));
    upload(memory, values);
    view = voxformer::tensor_view<T, Rank>(reinterpret_cast<T*>(memory.data()), extents, voxformer::memory_space::device);
  }
  static voxformer::index_t count(const std::array<voxformer::index_t, Rank>& extents) {
    voxformer::index_t n = 1;
    for (const voxformer::index_t e : extents) n *= e;
    return n;
  }
};

}  // namespace test
