#!/usr/bin/env bash
# Installs the `voxformer` Python module from this clone into a virtual environment (default: .venv), created with
# access to the system's packages so that Debian's NumPy (and PyTorch, optional) are used as they are:
#
#   scripts/install_python.sh [VENV] [--with-tests]
#   VENV/bin/python -c "import voxformer"
#
# First installs what the build needs on Debian 12 (scripts/install_dependencies.sh, plus the Python headers and
# venv); then `pip install .` builds the module with CMake through scikit-build-core (nanobind and
# scikit-build-core come from PyPI), for this machine's CPU. `--with-tests` also installs pytest and PyTorch (the
# tests' references). In an environment of your own (conda, a venv with pip), `pip install .` alone does the same.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
with_tests=0
for argument in "$@"; do
  case "$argument" in
    --with-tests) with_tests=1 ;;
    -*) echo "install_python.sh: unknown option $argument" >&2; exit 2 ;;
    *) venv="$argument" ;;
  esac
done

if [ "$with_tests" -eq 1 ]; then
  scripts/install_dependencies.sh --with-python --with-torch
else
  scripts/install_dependencies.sh --with-python
fi
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
extras=""
[ "$with_tests" -eq 1 ] && extras="[test]"
# The build runs on every core, in build/python/ (pip's isolated build environment moves nanobind's sources each
# time, so a second install compiles everything again: about 1.5 minutes on 2 cores).
CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check ".${extras}"
"$venv/bin/python" -c "import voxformer; print('voxformer', voxformer.__version__, 'installed in $venv')"
