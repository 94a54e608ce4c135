//! @file The heaviest CPU instantiations — the pipelines in float and the deformable-attention kernels — declared
//! `extern`, for programs of many translation units: each one then only adapts its tensors to views, and the
//! optimiser sees the pipelines' code once, in the one source that defines them:
//!
//!     #include <voxformer/cpu_instances.hpp>
//!     VOXFORMER_CPU_INSTANCES()  // at global scope, in exactly one .cpp of the program
//!
//! A pipeline compiles in about a minute at -O3, and a test suite or an application would otherwise repeat that in
//! every file that uses it (this project's tests, runners and example share such a library:
//! cmake/voxformer_developer.cmake). Compile the defining source with the same flags as the rest (an -march of its
//! own would mix instruction sets in one program).
#pragma once

#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/ops/msda/msda_arguments.hpp"
#include "voxformer/pipeline/image_pipeline.hpp"
#include "voxformer/pipeline/pipeline.hpp"
#include "voxformer/pipeline/proposal_pipeline.hpp"

//! `VOXFORMER_CPU_INSTANCES(extern)` declares the instantiations (this header does), `VOXFORMER_CPU_INSTANCES()`
//! defines them.
#define VOXFORMER_CPU_INSTANCES(declaration)                                                                         \
  declaration template class voxformer::pipeline<voxformer::cpu_executor, float>;                                    \
  declaration template class voxformer::proposal_pipeline<voxformer::cpu_executor, float>;                           \
  declaration template class voxformer::image_pipeline<voxformer::cpu_executor, float>;                              \
  declaration template void voxformer::run(const voxformer::cpu_executor&, const voxformer::msda_arguments<float, 2>&); \
  declaration template void voxformer::run(const voxformer::cpu_executor&, const voxformer::msda_arguments<float, 3>&);

VOXFORMER_CPU_INSTANCES(extern)
