# Fails if a header under ops/, nn/, model/, pipeline/ or viz/ includes a backend or names one (its executor, its
# thread pool, Eigen, CUDA): the math is written once and the executor decides how it runs (docs/design.md).
# Usage: cmake -DINCLUDE_DIR=include -P backend_free.cmake
set(forbidden "voxformer/backend/|cpu_executor|cuda_executor|thread_pool|Eigen|cudaStream|cublas|cub::")
file(GLOB_RECURSE headers ${INCLUDE_DIR}/voxformer/ops/*.hpp ${INCLUDE_DIR}/voxformer/nn/*.hpp
  ${INCLUDE_DIR}/voxformer/model/*.hpp ${INCLUDE_DIR}/voxformer/pipeline/*.hpp ${INCLUDE_DIR}/voxformer/viz/*.hpp)
list(LENGTH headers count)
if(count LESS 20)
  message(FATAL_ERROR "only ${count} headers found under ${INCLUDE_DIR}: wrong folder?")
endif()
set(offenders "")
foreach(header IN LISTS headers)
  file(STRINGS ${header} hits REGEX "${forbidden}")
  if(hits)
    string(APPEND offenders "${header}: ${hits}\n")
  endif()
endforeach()
if(offenders)
  message(FATAL_ERROR "backend names in backend-free headers:\n${offenders}")
endif()
