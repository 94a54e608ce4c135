//! @file The CPU backend: the executor with its loop (`parallel_for`), its algorithms (`compact`,
//! `exclusive_scan`, `gemm` through Eigen), its memory (`allocate_buffer`) and its execution context (a
//! thread pool).
#pragma once

#include "voxformer/backend/cpu/buffer.hpp"
#include "voxformer/backend/cpu/compact.hpp"
#include "voxformer/backend/cpu/context.hpp"
#include "voxformer/backend/cpu/gemm.hpp"
#include "voxformer/backend/cpu/parallel_for.hpp"
#include "voxformer/backend/cpu/thread_pool.hpp"
