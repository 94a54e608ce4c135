# Settings for voxformer's own tests, examples and benchmarks (never applied to consumers).

add_library(voxformer_warnings INTERFACE)
target_compile_options(voxformer_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion>
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)

if(VOXFORMER_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()

# CUDA: CMake 3.25 neither passes C++20 to nvcc through compile features (voxformer::cuda does) nor knows sm_90
# by default.
set(VOXFORMER_HAS_CUDA OFF)
if(VOXFORMER_ENABLE_CUDA AND NOT VOXFORMER_SANITIZE)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(VOXFORMER_HAS_CUDA ON)
  endif()
endif()

# Compiles a target's CUDA sources as C++20 with Eigen quiet under nvcc: the flags of voxformer::cuda, the
# target consumers link (CMakeLists.txt), so that they live in one place.
function(voxformer_cuda_settings target)
  target_link_libraries(${target} PRIVATE voxformer::cuda)
endfunction()
