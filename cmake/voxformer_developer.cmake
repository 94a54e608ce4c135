# Settings for voxformer's own tests, examples and benchmarks (never applied to consumers).

add_library(voxformer_warnings INTERFACE)
target_compile_options(voxformer_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion>
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)

if(VOXFORMER_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()

# voxformer_cpu_instances(<name> [compile options]): the heavy CPU instantiations (include/voxformer/cpu_instances.hpp:
# both pipelines, the deformable-attention kernels) compiled once, with the options of the programs that link it
# (one instruction set per program), into a static library; those programs' sources include the header, which
# declares them `extern`. Without it every test file, runner and example using a pipeline optimised it again
# (about a minute each at -O3).
set(voxformer_cpu_instances_source ${PROJECT_BINARY_DIR}/voxformer_cpu_instances.cpp)
file(CONFIGURE OUTPUT ${voxformer_cpu_instances_source}
  CONTENT "#include <voxformer/cpu_instances.hpp>\n\nVOXFORMER_CPU_INSTANCES()\n")
function(voxformer_cpu_instances name)
  add_library(${name} STATIC EXCLUDE_FROM_ALL ${voxformer_cpu_instances_source})
  target_link_libraries(${name} PRIVATE voxformer::voxformer voxformer_warnings)
  target_compile_options(${name} PRIVATE ${ARGN})
endfunction()
# The options of the programs built for this machine's CPU (VOXFORMER_NATIVE_ARCH): the runners, the example, the
# benchmarks. GCC 12's own avx512fintrin.h (`__m512 __Y = __Y;`, GCC bug 105593) warns hundreds of times through
# Eigen where AVX-512 is on.
set(VOXFORMER_PROGRAM_ARCH_OPTIONS "")
if(VOXFORMER_NATIVE_ARCH)
  set(VOXFORMER_PROGRAM_ARCH_OPTIONS -march=native $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
endif()
# The runners' and the example's instances (for this machine's CPU when they are), which their sources see through
# a forced include — a build-time matter that their code, which users read, need not show.
voxformer_cpu_instances(voxformer_program_instances ${VOXFORMER_PROGRAM_ARCH_OPTIONS})
function(voxformer_use_cpu_instances target)
  target_link_libraries(${target} PRIVATE voxformer_program_instances)
  target_compile_options(${target} PRIVATE -include voxformer/cpu_instances.hpp ${VOXFORMER_PROGRAM_ARCH_OPTIONS})
endfunction()

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
