# Fails unless the installed voxformer::voxformer links only what the library itself needs (Eigen and threads), and
# every optional part is installed as a component of its own whatever the building machine had: a consumer's link
# line must not depend on which libraries were found where the package was built.
# Usage: cmake -DPREFIX=<install prefix> -P link_line.cmake
set(dir ${PREFIX}/share/cmake/voxformer)
file(READ ${dir}/voxformerTargets.cmake targets)
if(NOT targets MATCHES "INTERFACE_LINK_LIBRARIES \"([^\"]*)\"")
  message(FATAL_ERROR "${dir}/voxformerTargets.cmake: no INTERFACE_LINK_LIBRARIES for voxformer::voxformer")
endif()
if(NOT CMAKE_MATCH_1 STREQUAL "Eigen3::Eigen;Threads::Threads")
  message(FATAL_ERROR "voxformer::voxformer links '${CMAKE_MATCH_1}'; expected only Eigen3::Eigen;Threads::Threads")
endif()
foreach(part json yaml png cuda)
  if(NOT EXISTS ${dir}/voxformer_${part}_targets.cmake)
    message(FATAL_ERROR "the component ${part} is not installed (${dir}/voxformer_${part}_targets.cmake)")
  endif()
endforeach()
