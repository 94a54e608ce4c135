// The `voxformer._voxformer` extension module: the library's errors as Python exceptions, and each part bound.
#include <exception>
#include <voxformer/core/error.hpp>

#include "bindings.hpp"

NB_MODULE(_voxformer, m) {
  namespace python = voxformer::python;
  m.doc() = "VoxFormer camera-based semantic scene completion: the voxformer-cpp library's CPU pipelines and "
            "primitives on NumPy arrays and PyTorch tensors, without copies.";
  m.attr("__version__") = VOXFORMER_VERSION;
  // Invalid arguments (shapes, element types, values, aliasing, malformed files) are ValueError with the library's
  // message; a file that is not there is FileNotFoundError (IsADirectoryError, OSError when it is no file), one
  // that cannot be written OSError.
  nanobind::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const python::file_error& e) {
      using kind = python::file_error::kind;
      PyErr_SetString(e.what_kind() == kind::missing     ? PyExc_FileNotFoundError
                      : e.what_kind() == kind::directory ? PyExc_IsADirectoryError
                                                         : PyExc_OSError,
                      e.what());
    } catch (const python::io_error& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const voxformer::error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  python::bind_config(m);
  python::bind_pipelines(m);
  python::bind_model(m);
  python::bind_primitives(m);
  python::bind_metrics(m);
  python::bind_viz(m);
}
