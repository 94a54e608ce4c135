//! @file The CUDA backend: the executor with its loop (`parallel_for`), its memory (`allocate_buffer`,
//! `synchronize`), its execution context (the cuBLAS handle), its algorithms (`exclusive_scan`, `compact` through
//! CUB; `gemm` through cuBLAS, also with bfloat16 or float16 weights). Compiled by nvcc; link voxformer::cuda (CUDA runtime and
//! cuBLAS).
#pragma once

#include "voxformer/backend/cuda/buffer.hpp"
#include "voxformer/backend/cuda/compact.hpp"
#include "voxformer/backend/cuda/context.hpp"
#include "voxformer/backend/cuda/cuda_executor.hpp"
#include "voxformer/backend/cuda/gemm.hpp"
#include "voxformer/backend/cuda/gemm_narrow.hpp"
#include "voxformer/backend/cuda/half_types.hpp"
