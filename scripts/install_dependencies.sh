#!/usr/bin/env bash
# Installs what building voxformer's tests, examples and benchmarks needs on Debian 12, if it is missing:
# Eigen 3.4, the DLPack header, nlohmann JSON (the safetensors reader), yaml-cpp (the label map), libpng (PNG
# images), CLI11 (the tools), GoogleTest, Google Benchmark, clang with its libFuzzer runtime (scripts/fuzz.sh), and
# Ninja (the scripts' build tool).
# `--with-torch` adds PyTorch and torchvision, NumPy, PyYAML and Pillow (the Python references and the tools'
# end-to-end tests); `--with-python` what building the Python module needs besides (the Python headers, venv, NumPy).
set -euo pipefail

packages=()
[ -f /usr/include/eigen3/Eigen/Core ] || packages+=(libeigen3-dev)
[ -f /usr/include/dlpack/dlpack.h ] || packages+=(libdlpack-dev)
[ -f /usr/include/gtest/gtest.h ] || packages+=(libgtest-dev)
[ -f /usr/include/benchmark/benchmark.h ] || packages+=(libbenchmark-dev)
[ -f /usr/include/nlohmann/json.hpp ] || packages+=(nlohmann-json3-dev)
[ -f /usr/include/CLI/CLI.hpp ] || packages+=(libcli11-dev)
[ -f /usr/include/yaml-cpp/yaml.h ] || packages+=(libyaml-cpp-dev)
[ -f /usr/include/png.h ] || packages+=(libpng-dev)
command -v clang++ > /dev/null || packages+=(clang)
compgen -G "/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" > /dev/null || packages+=(libclang-rt-14-dev)
command -v cmake > /dev/null || packages+=(cmake)
command -v ninja > /dev/null || packages+=(ninja-build)
command -v g++ > /dev/null || packages+=(g++)
for option in "$@"; do
  case "$option" in
    --with-torch)
      /usr/bin/python3 -c "import torch, torchvision, numpy, yaml, PIL" 2> /dev/null ||
        packages+=(python3-torch python3-torchvision python3-numpy python3-yaml python3-pil)
      ;;
    --with-python)
      /usr/bin/python3 -c "import ensurepip, numpy" 2> /dev/null || packages+=(python3-venv python3-numpy)
      /usr/bin/python3 -c "import os, sysconfig; assert os.path.exists(sysconfig.get_paths()['include'] + '/Python.h')" \
        2> /dev/null || packages+=(python3-dev)
      ;;
    *) echo "install_dependencies.sh: unknown option $option" >&2; exit 2 ;;
  esac
done
[ ${#packages[@]} -eq 0 ] && exit 0

echo "installing: ${packages[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo > /dev/null || { echo "need root (or sudo) to install: ${packages[*]}" >&2; exit 1; }
  sudo=sudo
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" > /dev/null
