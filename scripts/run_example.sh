#!/usr/bin/env bash
# Builds (for this machine's CPU: -march=native) and runs the end-to-end example on the bundled SemanticKITTI
# frame. Usage: scripts/run_example.sh [threads]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_dependencies.sh
cmake -S . -B build/example -DCMAKE_BUILD_TYPE=Release -DVOXFORMER_NATIVE_ARCH=ON -DVOXFORMER_BUILD_TESTS=OFF -DVOXFORMER_BUILD_BENCHMARKS=OFF
cmake --build build/example -j"$(nproc)" --target kitti_frame_pipeline
build/example/examples/kitti_frame_pipeline examples/data/semantickitti_08_001000 "${1:-2}"
