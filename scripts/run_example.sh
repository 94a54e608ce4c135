#!/usr/bin/env bash
# Builds (for this machine's CPU: -march=native) and runs the end-to-end example on the bundled SemanticKITTI
# frame, writing into build/example/output. Usage: scripts/run_example.sh [example options, e.g. --variant T
# --via-depth --threads 2 --weights W.safetensors --qpn-weights Q.safetensors]; --help lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_dependencies.sh
cmake -S . -B build/example -DCMAKE_BUILD_TYPE=Release -DVOXFORMER_NATIVE_ARCH=ON -DVOXFORMER_BUILD_EXAMPLES=ON -DVOXFORMER_BUILD_TESTS=OFF \
  -DVOXFORMER_BUILD_BENCHMARKS=OFF -DVOXFORMER_BUILD_TOOLS=OFF
cmake --build build/example -j"$(nproc)" --target semantic_scene_completion
build/example/examples/semantic_scene_completion --out build/example/output "$@"
