//! @file Python arrays as voxformer tensors: nanobind's `nb::ndarray` (NumPy arrays, PyTorch tensors and anything
//! else speaking DLPack or the buffer protocol) adapted through `tensor_traits` like any user's tensor type, so that
//! the library reads and writes the caller's memory and checks element type, rank, layout and memory space itself;
//! and the arrays the bindings hand back, allocated without the GIL and given to NumPy without a copy.
#pragma once

#include <dlpack/dlpack.h>
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <voxformer/adapters/dlpack.hpp>
#include <voxformer/core/shape_check.hpp>
#include <voxformer/core/tensor_traits.hpp>

namespace voxformer::python {

namespace nb = nanobind;

//! An input: any array, read-only ones included (nanobind would refuse a read-only NumPy array for a writable one).
using input_array = nb::ndarray<nb::ro>;
//! An output the caller passes (`out=`): written in place, so it must be writable.
using output_array = nb::ndarray<>;

}  // namespace voxformer::python

template <class... Args>
struct voxformer::tensor_traits<nanobind::ndarray<Args...>> {
  //! The DLPack adapter's mapping of element types and devices (CUDA memory is `device`, which a CPU pipeline
  //! refuses by name), on the DLTensor nanobind holds.
  static dynamic_tensor describe(const nanobind::ndarray<Args...>& a) {
    DLTensor t{};
    t.data = const_cast<void*>(static_cast<const void*>(a.data()));
    t.device = {static_cast<DLDeviceType>(a.device_type()), a.device_id()};
    t.ndim = static_cast<std::int32_t>(a.ndim());
    t.dtype = {a.dtype().code, a.dtype().bits, a.dtype().lanes};
    t.shape = const_cast<std::int64_t*>(a.shape_ptr());
    t.strides = const_cast<std::int64_t*>(a.stride_ptr());
    dynamic_tensor d = detail::describe_dlpack(t);
    d.writable = !nanobind::ndarray<Args...>::ReadOnly;
    return d;
  }
};

namespace voxformer::python {

//! A C-contiguous array the bindings fill and then hand to NumPy: its memory is allocated here (no GIL needed, so a
//! pipeline's outputs can be made while it runs) and owned by the NumPy array once `release()` wraps it.
template <class T, int Rank>
class result_array {
 public:
  explicit result_array(const std::array<index_t, Rank>& shape) : shape_(shape) {
    constexpr const char* op = "voxformer";
    detail::require_valid_extents(op, "output", shape);  // the element count fits an index_t
    index_t n = 1, bytes = 0;
    for (const index_t e : shape) n *= e;
    detail::require(detail::multiply_within(n, index_t{sizeof(T)}, bytes), op, ": an output of shape ",
                    detail::format_shape(shape), " is too large");
    data_.reset(new T[static_cast<std::size_t>(n == 0 ? 1 : n)]);
  }

  tensor_view<T, Rank> view() { return make_view<Rank>(data_.get(), shape_); }
  //! The first `rows` rows only (the memory stays whole): lists whose length is known after the call.
  void keep_rows(index_t rows) { shape_[0] = rows; }

  //! The NumPy array owning the memory (the GIL must be held).
  nb::ndarray<nb::numpy, T> release() {
    T* data = data_.release();
    nb::capsule owner(data, [](void* p) noexcept { delete[] static_cast<T*>(p); });
    std::array<std::size_t, Rank> shape{};
    for (int d = 0; d < Rank; ++d) shape[static_cast<std::size_t>(d)] = static_cast<std::size_t>(shape_[d]);
    return nb::ndarray<nb::numpy, T>(data, Rank, shape.data(), owner);
  }

 private:
  std::array<index_t, Rank> shape_;
  std::unique_ptr<T[]> data_;
};

//! The element type of an array as a C++ type: calls `visit(T{})` for the first of `Ts` that is the array's type;
//! another type is an error naming `op`, `arg` and the types accepted (`expected`).
template <class... Ts, class Array, class Visit>
void visit_element(const Array& a, std::string_view op, std::string_view arg, std::string_view expected,
                   Visit&& visit) {
  const dtype t = tensor_traits<Array>::describe(a).type;
  const bool known = ((t == dtype_of<Ts>() && (visit(Ts{}), true)) || ...);
  detail::require(known, op, ": argument '", arg, "' has element type ", to_string(t), ", expected ", expected);
}

//! The types the bindings accept for proposals, occupancy grids and masks (`> 0` or non-zero is what counts).
template <class Visit>
void visit_mask_element(const input_array& a, std::string_view op, std::string_view arg, Visit&& visit) {
  visit_element<std::uint8_t, bool, float, double, std::int32_t, std::int64_t>(
      a, op, arg, "uint8, bool, int32, int64, float32 or float64", visit);
}

//! Arrays the bindings read on the host themselves, before the library sees them (launch metadata, PNG bytes).
template <class Array>
void require_host(const Array& a, std::string_view op, std::string_view arg) {
  const memory_space space = tensor_traits<Array>::describe(a).space;
  detail::require(host_accessible(space), op, ": argument '", arg, "' lives in ", to_string(space),
                  " memory; it must be in host memory");
}

//! A writable array given as `out` (`None` → nothing): anything else is a TypeError naming the op.
inline std::optional<output_array> out_array(nb::handle out, std::string_view op, std::string_view arg = "out") {
  if (out.is_none()) return std::nullopt;
  output_array a;
  if (!nb::try_cast(out, a))
    throw nb::type_error(
        (std::string(op) + ": argument '" + std::string(arg) + "' must be a writable array or tensor").c_str());
  return a;
}

//! The single-output calls: `run(result)` without the GIL into `out` when given, else into a new array of the shape
//! `shape()` gives; returns `out` itself or the new array.
template <class T, int Rank, class Shape, class Run>
nb::object into_out_or_new(nb::handle out, std::string_view op, const Shape& shape, const Run& run) {
  auto given = out_array(out, op);
  std::optional<result_array<T, Rank>> fresh;
  if (!given) fresh.emplace(shape());
  {
    nb::gil_scoped_release released;
    if (given) run(*given);
    else run(fresh->view());
  }
  return given ? nb::borrow(out) : nb::cast(fresh->release());
}

}  // namespace voxformer::python
