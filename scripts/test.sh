#!/usr/bin/env bash
# Builds and runs the whole test suite: an optimised build (whose CUDA tests are compiled by nvcc for sm_90 when
# nvcc exists, and skip without a GPU), then an AddressSanitizer + UBSan build; then installs the Python module as
# a user does (scripts/install_python.sh, into build/python-venv) and runs its pytest suite against it; then fuzzes
# every libFuzzer target for ${VOXFORMER_FUZZ_SECONDS:-10} seconds (scripts/fuzz.sh; longer runs build on the corpus
# it keeps in build/fuzz/). Prints the time of each phase as it ends and all of them at the end (CI stops at 90
# minutes; the suite is meant to stay within 25 on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"
export CMAKE_GENERATOR="${CMAKE_GENERATOR:-Ninja}"  # for new build folders; an existing one keeps its own

phases=()
phase_name=""
phase_started=$SECONDS
suite_started=$SECONDS
# `phase NAME COMMAND...`: runs the command and records how long it took.
phase() {
  local name="$1"
  shift
  phase_name="${name}"
  phase_started=$SECONDS
  echo "== ${name}"
  "$@"
  local took=$((SECONDS - phase_started))
  phases+=("$(printf '%-28s %4d:%02d' "${name}" $((took / 60)) $((took % 60)))")
  echo "== ${name}: $((took / 60)) min $((took % 60)) s"
  phase_name=""
}
summary() {
  local status=$?
  echo "== phase times (scripts/test.sh)"
  for line in "${phases[@]}"; do echo "   ${line}"; done
  if [ "${status}" -ne 0 ] && [ -n "${phase_name}" ]; then
    echo "   $(printf '%-28s %4d:%02d' "${phase_name}" $(((SECONDS - phase_started) / 60)) $(((SECONDS - phase_started) % 60))) (failed)"
  fi
  local total=$((SECONDS - suite_started))
  echo "   $(printf '%-28s %4d:%02d' total $((total / 60)) $((total % 60)))"
}
trap summary EXIT

# PyTorch: the reference the parity tests are checked against.
phase "dependencies" scripts/install_dependencies.sh --with-torch

# The tests (and in the release build the command-line runner they run) are asked for explicitly: a missing
# dependency then stops the configure instead of skipping them.
phase "release: configure" cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DVOXFORMER_BUILD_TESTS=ON \
  -DVOXFORMER_BUILD_TOOLS=ON -DVOXFORMER_BUILD_BENCHMARKS=OFF
phase "release: build" cmake --build build/release -j"$jobs"
phase "release: tests" ctest --test-dir build/release --output-on-failure -j"$jobs"

# The library's code under AddressSanitizer + UBSan: the tests' binaries (the runners and the example, whose own
# code is argument handling and file staging, run in the optimised build).
phase "sanitizers: configure" cmake -S . -B build/sanitize -DCMAKE_BUILD_TYPE=Debug -DVOXFORMER_SANITIZE=ON \
  -DVOXFORMER_BUILD_TESTS=ON -DVOXFORMER_BUILD_BENCHMARKS=OFF -DVOXFORMER_BUILD_EXAMPLES=OFF -DVOXFORMER_BUILD_TOOLS=OFF
phase "sanitizers: build" cmake --build build/sanitize -j"$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
phase "sanitizers: tests" ctest --test-dir build/sanitize --output-on-failure -j"$jobs"
unset ASAN_OPTIONS UBSAN_OPTIONS

# The Python module, built and installed by pip as a user installs it, then its tests against that installation.
phase "python: install" scripts/install_python.sh build/python-venv --with-tests
phase "python: tests" build/python-venv/bin/python -m pytest -q tests/python

phase "fuzzers" env VOXFORMER_FUZZ_SECONDS="${VOXFORMER_FUZZ_SECONDS:-10}" scripts/fuzz.sh
