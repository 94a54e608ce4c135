#!/usr/bin/env bash
# The GPU checks, on a machine with an NVIDIA GPU, from a build folder made elsewhere (it builds nothing):
#   1. the GPU tests (voxformer_cuda_tests: the backend's kernels, scan, compaction, GEMM and camera batches against
#      the CPU backend and the float64 oracles; voxformer_cuda_pipeline_tests: stage 1, the image path and stage 2 +
#      head against the CPU on their parity fixtures);
#   2. compute-sanitizer memcheck on both and racecheck on the backend's (the pipelines launch the same kernels);
#   3. the GPU benchmarks (CUDA events): bench_ms_deform_attn_cuda, and the PyTorch MSDA formulations on the same GPU
#      (scripts/torch_msda_cuda.py, when PyTorch with CUDA is importable there); bench_pipeline_cuda, stage 2 + head of
#      VoxFormer-T and -S at the official size, B = 1 and 4 (run_batch), with the pipeline's device memory.
# Each step's output goes to ${OUT:-build/gpu_check}/<step>.log and its time is printed; the first failing step fails
# the script after the rest have run. Meant to take under 5 minutes.
#
# Usage: scripts/gpu_check.sh [BUILD_DIR]   (default build/release: `cmake -DCMAKE_CUDA_ARCHITECTURES=90` there, with
#        the tests and benchmarks on; carry the folder to the GPU machine with the working tree)
set -uo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
logs="${OUT:-build/gpu_check}"
mkdir -p "${logs}"
status=0
summary=()

# `step NAME COMMAND...`: runs the command with its output in NAME.log, and records its time and result.
step() {
  local name="$1" started=$SECONDS result
  shift
  echo "== ${name}"
  "$@" > "${logs}/${name}.log" 2>&1
  result=$?
  tail -n 15 "${logs}/${name}.log"
  summary+=("$(printf '%-24s %4d s  %s' "${name}" $((SECONDS - started)) "$([ ${result} -eq 0 ] && echo ok || echo "FAILED (${result})")")")
  [ ${result} -eq 0 ] || status=1
}

tests="${build}/tests/voxformer_cuda_tests"
pipeline_tests="${build}/tests/voxformer_cuda_pipeline_tests"
bench="${build}/benchmarks/bench_ms_deform_attn_cuda"
pipeline_bench="${build}/benchmarks/bench_pipeline_cuda"
if [ ! -x "${tests}" ] || [ ! -x "${pipeline_tests}" ]; then
  echo "no ${tests} or ${pipeline_tests}: build the tests with nvcc first (scripts/gpu_check.sh builds nothing)" >&2
  exit 2
fi

step device nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
step tests "${tests}" --gtest_brief=1
step pipeline_tests "${pipeline_tests}" --gtest_brief=1
sanitizer="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"
step memcheck "${sanitizer}" --tool memcheck --leak-check full --error-exitcode 1 "${tests}" --gtest_brief=1
step pipeline_memcheck "${sanitizer}" --tool memcheck --leak-check full --error-exitcode 1 "${pipeline_tests}" \
  --gtest_brief=1
step racecheck "${sanitizer}" --tool racecheck --error-exitcode 1 "${tests}" --gtest_brief=1
if [ -x "${bench}" ]; then
  step benchmarks "${bench}" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
fi
if [ -x "${pipeline_bench}" ]; then
  step pipeline_benchmarks "${pipeline_bench}" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
fi
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2> /dev/null; then
  step torch_reference python3 scripts/torch_msda_cuda.py
fi

echo "== gpu_check (logs in ${logs})"
for line in "${summary[@]}"; do echo "   ${line}"; done
exit ${status}
