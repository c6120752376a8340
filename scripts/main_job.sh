#!/usr/bin/env bash
# The main job: set up, build, then build and benchmark an engine for the bundled sample model,
# on the GPU when there is one (and Kiln was built with CUDA), else on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
DEVICE=cpu
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 && grep -q "KILN_HAVE_CUDA:INTERNAL=ON" build/CMakeCache.txt 2>/dev/null; then
  DEVICE=cuda
fi
MODEL=samples/small_cnn.onnx
SHAPES="--min-shapes=input:1x3x32x32 --opt-shapes=input:8x3x32x32 --max-shapes=input:32x3x32x32"
echo "== kiln build ($DEVICE)"
./build/kiln build --onnx=$MODEL --save-engine=build/small_cnn.plan --device=$DEVICE $SHAPES
echo "== kiln bench ($DEVICE)"
./build/kiln bench --engine=build/small_cnn.plan --iterations=200 --warmup=20
