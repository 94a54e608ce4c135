#!/usr/bin/env bash
# Builds and runs the whole test suite twice: an optimised build (whose CUDA tests are compiled by nvcc for
# sm_90 when nvcc exists, and skip without a GPU), then an AddressSanitizer + UBSan build; then fuzzes every
# libFuzzer target for ${VOXFORMER_FUZZ_SECONDS:-30} seconds (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_dependencies.sh --with-torch  # PyTorch: the reference the parity tests are checked against
jobs="$(nproc)"

# The tests (and in the release build the command-line runner they run) are asked for explicitly: a missing
# dependency then stops the configure instead of skipping them.
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DVOXFORMER_BUILD_TESTS=ON -DVOXFORMER_BUILD_TOOLS=ON \
  -DVOXFORMER_BUILD_BENCHMARKS=OFF
cmake --build build/release -j"$jobs"
ctest --test-dir build/release --output-on-failure -j"$jobs"

cmake -S . -B build/sanitize -DCMAKE_BUILD_TYPE=Debug -DVOXFORMER_SANITIZE=ON -DVOXFORMER_BUILD_TESTS=ON \
  -DVOXFORMER_BUILD_BENCHMARKS=OFF -DVOXFORMER_BUILD_EXAMPLES=OFF
cmake --build build/sanitize -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/sanitize --output-on-failure -j"$jobs"

scripts/fuzz.sh
