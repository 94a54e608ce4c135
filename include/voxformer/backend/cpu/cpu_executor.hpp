//! @file The CPU backend: the executor with its loop (`parallel_for`), its algorithms (`compact`,
//! `exclusive_scan`, `gemm` through its own fp32 kernel or Eigen), its memory (`allocate_buffer`) and its execution
//! context (a thread pool). The product with 16-bit weights is `gemm_narrow.hpp`, included by `voxformer.hpp`
//! (left out here: <immintrin.h> would cost every file that includes the backend half a second).
#pragma once

#include "voxformer/backend/cpu/buffer.hpp"
#include "voxformer/backend/cpu/compact.hpp"
#include "voxformer/backend/cpu/context.hpp"
#include "voxformer/backend/cpu/gemm.hpp"
#include "voxformer/backend/cpu/parallel_for.hpp"
#include "voxformer/backend/cpu/thread_pool.hpp"
