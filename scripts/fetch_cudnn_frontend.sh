#!/usr/bin/env bash
# Puts the cuDNN frontend's C++ headers (header-only: the graph API for fused convolutions and SDPA
# attention) into third_party/cudnn-frontend/include, from the PyPI wheel nvidia-cudnn-frontend, pinned.
# The CUDA build uses them when that folder exists (KILN_HAVE_CUDNN_FRONTEND); the GPU machine cannot
# reach PyPI, so gpu runs carry the folder (see scripts/gpu_check.sh). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
version=1.32.0
dest=third_party/cudnn-frontend
if [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$version" ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: "nvidia-cudnn-frontend==$version" -d "$tmp" 2>&1 |
  grep -v "Running pip as the 'root'" || true
wheel=$(ls "$tmp"/nvidia_cudnn_frontend-*.whl 2>/dev/null | head -1)
if [ -z "$wheel" ]; then
  echo "[setup] could not download nvidia-cudnn-frontend==$version: the CUDA backend builds without the cuDNN graph API kernels" >&2
  exit 0
fi
python3 - "$wheel" "$tmp/unpacked" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    wheel.extractall(sys.argv[2], [n for n in wheel.namelist() if n.startswith("include/")])
PY
rm -rf "$dest"
mkdir -p "$dest"
mv "$tmp/unpacked/include" "$dest/include"
echo "$version" >"$dest/VERSION"
echo "[setup] cuDNN frontend $version headers in $dest/include"
