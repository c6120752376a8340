#!/usr/bin/env bash
# Builds and installs the kiln Python package (CPU backend) and runs its pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import scikit_build_core, pybind11" 2>/dev/null || python3 -m pip install -q scikit-build-core pybind11 2>&1 | grep -v "Running pip as the 'root'" || true
KILN_WITH_CUDA=OFF python3 -m pip install -q --no-build-isolation ./python 2>&1 | grep -v "Running pip as the 'root'" || true
python3 -c "import kiln" || { echo "the kiln Python package did not install"; exit 1; }
python3 -m pytest -q tests/python
