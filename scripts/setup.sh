#!/usr/bin/env bash
# Installs what Kiln needs on a fresh Debian/Ubuntu machine and builds it into build/.
# Idempotent: re-running only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
PACKAGES="cmake ninja-build g++ protobuf-compiler libprotobuf-dev libgtest-dev libonnx-testdata libdnnl-dev pybind11-dev python3-pip"
missing=""
for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ] && command -v apt-get >/dev/null; then
  echo "[setup] installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
python3 -c "import numpy, onnx, onnxruntime, pytest" 2>/dev/null || \
  python3 -m pip install -q numpy onnx onnxruntime pytest 2>&1 | grep -v "Running pip as the 'root'" || true
# The node tests of the installed onnx release (the wheel has their definitions, not their data).
python3 scripts/make_onnx_node_tests.py
# The cuDNN frontend headers (the graph API: fused convolutions, SDPA attention), from their PyPI wheel.
bash scripts/fetch_cudnn_frontend.sh

# CI compiles the CUDA backend for one architecture only (the H200's) to keep nvcc time down.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 ${KILN_CMAKE_ARGS:-} >/dev/null
cmake --build build -j"$(nproc)"
