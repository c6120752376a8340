#!/usr/bin/env bash
# The one script for the GPU machine (see shared/GPU.md): configure + build with CUDA for sm_90, run the
# CUDA kernel tests and the normal tests, then later steps (conformance on the GPU, real models vs
# ONNX Runtime, speed vs PyTorch) each guarded so a missing piece does not stop the rest. The exit
# code is non-zero when any step failed; the last line is a one-line summary.
#
#   bash scripts/gpu_check.sh                    # everything
#   KILN_STEPS="build cuda_tests" bash scripts/gpu_check.sh
#   env: BUILD (build dir, default build-gpu), KILN_PROFILE=1 (bench also prints Kiln's time per layer), OUT (logs; $OUT from the device tool when set),
#        KILN_MODELS / KILN_BATCHES (models and batches of the models and bench steps: scripts/gpu_models.py --models/--batches),
#        KILN_BASELINE_PASSES (bench also times Kiln with these passes disabled: before/after in one run),
#        KILN_ONNX_TESTDATA (ONNX backend test data: a folder of test_*/ cases).
#   carry third_party/cudnn-frontend (scripts/fetch_cudnn_frontend.sh): the GPU machine cannot download it,
#   and without it the cuDNN graph API kernels (SDPA attention, fused convolutions) are not built.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${BUILD:-build-gpu}
LOGS=${OUT:-/tmp/kiln-gpu-check}
mkdir -p "$LOGS"
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
STEPS=${KILN_STEPS:-"configure build_cuda_tests build cuda_tests unit_tests sanitizer conformance cpu_bench models bench tactics python"}
summary=()
failures=0

want() { [[ " $STEPS " == *" $1 "* ]]; }
# step NAME command... : runs, logs to $LOGS/NAME.log (tail printed), records ok/FAIL.
step() {
  local name=$1; shift
  want "$name" || return 0
  echo "=== [$name] $*"
  local t0=$(date +%s)
  "$@" >"$LOGS/$name.log" 2>&1
  local rc=$?
  tail -n 40 "$LOGS/$name.log"
  local dt=$(( $(date +%s) - t0 ))
  if [ $rc -eq 0 ]; then summary+=("$name=ok(${dt}s)"); else summary+=("$name=FAIL(rc=$rc,${dt}s)"); failures=$((failures+1)); fi
  return $rc
}
skip() { want "$1" && summary+=("$1=skipped($2)"); return 0; }

echo "=== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>/dev/null || echo "nvidia-smi unavailable"
nvcc --version 2>/dev/null | tail -1

built=0
if step configure cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_WITH_CUDA=ON \
     -DCMAKE_CUDA_ARCHITECTURES=90 || ! want configure; then
  # the CUDA tests first, so that a broken unrelated target does not hide them
  step build_cuda_tests cmake --build "$BUILD" -j "$JOBS" --target kiln_cuda_tests
  step build cmake --build "$BUILD" -j "$JOBS" && built=1
  want build || built=1
fi

CUDA_TESTS=$(find "$BUILD" -name kiln_cuda_tests -type f -perm -u+x 2>/dev/null | head -1)
UNIT_TESTS=$(find "$BUILD" -name kiln_tests -type f -perm -u+x 2>/dev/null | head -1)
KILN_BIN=$(find "$BUILD" -maxdepth 2 -name kiln -type f -perm -u+x 2>/dev/null | head -1)

if [ -n "$CUDA_TESTS" ]; then
  step cuda_tests "$CUDA_TESTS" --gtest_color=no --gtest_brief=1
else skip cuda_tests "not built"; fi

if [ -n "$UNIT_TESTS" ]; then
  step unit_tests "$UNIT_TESTS" --gtest_color=no --gtest_brief=1
else skip unit_tests "not built"; fi

# compute-sanitizer over the CUDA tests: memcheck (out-of-bounds and misaligned accesses, invalid frees) on
# the float32 kernel, engine and runtime tests (no leak check: the per-device cuDNN/cuBLASLt handles live for
# the process and are released by a static destructor after the tool's exit-time leak report), racecheck (shared-memory hazards) on the float32
# kernel tests. Each tool is cut at 120 s so the step stays under ~4 minutes; a cut run fails the step
# (narrow the filter then). It needs a runtime whose driver lets the tool attach (seen refused on gVisor
# machines: "Device not supported").
SANITIZER=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
cuda_sanitizer() {
  local status=0
  echo "--- memcheck"
  timeout 120 "$SANITIZER" --tool memcheck --error-exitcode 1 "$CUDA_TESTS" --gtest_brief=1 \
    --gtest_filter='*Typed.*/float32:Cuda.*:CudaEngine.*:CudaRuntime.*:CudaMore.*' || status=1
  echo "--- racecheck"
  timeout 120 "$SANITIZER" --tool racecheck --error-exitcode 1 "$CUDA_TESTS" --gtest_brief=1 \
    --gtest_filter='*CudaTyped.*/float32:*CudaMoreTyped.*/float32' || status=1
  return $status
}
if [ -x "$SANITIZER" ] && [ -n "$CUDA_TESTS" ]; then
  step sanitizer cuda_sanitizer
else skip sanitizer "no compute-sanitizer or kiln_cuda_tests not built"; fi

# ONNX backend test data: Debian's libonnx-testdata is not installed on the GPU machine; carry a copy
# of its data/ folder (node, pytorch-converted, ...) as third_party/onnx-testdata (git-ignored):
#   mkdir -p third_party && cp -r /usr/share/libonnx-testdata/data third_party/onnx-testdata
DATA=""
for d in "${KILN_ONNX_TESTDATA:-}" "$ROOT/third_party/onnx-testdata" /usr/share/libonnx-testdata/data; do
  if [ -n "$d" ] && [ -d "$d/node" ]; then DATA=$d; break; fi
done
if [ -z "$KILN_BIN" ]; then skip conformance "kiln binary not built"
elif [ -z "$DATA" ]; then skip conformance "no ONNX test data (set KILN_ONNX_TESTDATA or carry third_party/onnx-testdata)"
else
  # The GPU run is judged against the CPU list: each folder's pass rate within 2 points of the CPU's.
  step conformance python3 "$ROOT/scripts/check_conformance.py" --kiln "$KILN_BIN" --device=cuda \
    --data "$DATA" --expected "$ROOT/tests/conformance/expected_cpu.txt" --max-drop-points 2
fi

# CPU speed on a quiet machine: Kiln vs ONNX Runtime on 2 cores (scripts/cpu_bench.py).
if [ -f "$ROOT/scripts/cpu_bench.py" ] && [ -n "$KILN_BIN" ] && command -v taskset >/dev/null; then
  step cpu_bench taskset -c 0,1 python3 "$ROOT/scripts/cpu_bench.py" --kiln "$KILN_BIN"
else skip cpu_bench "scripts/cpu_bench.py, kiln or taskset missing"; fi

# Real models (ResNet-50, BERT-base): export with torch, compare with ONNX Runtime, time vs PyTorch.
if [ -f "$ROOT/scripts/gpu_models.py" ] && python3 -c "import torch, onnxruntime" 2>/dev/null; then
  model_args=(${KILN_MODELS:+--models $KILN_MODELS} ${KILN_BATCHES:+--batches $KILN_BATCHES})
  bench_args=(${KILN_BASELINE_PASSES:+--baseline-passes $KILN_BASELINE_PASSES})
  step models python3 "$ROOT/scripts/gpu_models.py" --build "$BUILD" --check "${model_args[@]}"
  step bench python3 "$ROOT/scripts/gpu_models.py" --build "$BUILD" --bench ${KILN_PROFILE:+--profile} "${model_args[@]}" "${bench_args[@]}"
  # Tactic selection on the GPU: build time cold / with the timing cache, tuned vs --builder-effort=0.
  step tactics python3 "$ROOT/scripts/tactics_bench.py" --kiln "$KILN_BIN" --device cuda --fp16 --batches 1 32
else
  skip models "scripts/gpu_models.py or torch/onnxruntime missing"
  skip bench "scripts/gpu_models.py or torch/onnxruntime missing"
fi

# The Python extension with the CUDA backend, built straight with CMake (the GPU machine has no
# network for pip's build requirements), and the pytest suite with the GPU tests. g++ from /usr/bin:
# a module built with another g++ on that machine crashed inside libstdc++.
python_tests() {
  cmake -S "$ROOT/python" -B "$BUILD-python" -G Ninja -DKILN_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DCMAKE_CXX_COMPILER=/usr/bin/g++ -DCMAKE_C_COMPILER=/usr/bin/gcc &&
  cmake --build "$BUILD-python" -j "$JOBS" --target _kiln &&
  cp "$(find "$BUILD-python" -name '_kiln*.so' | head -1)" "$ROOT/python/kiln/" &&
  (cd /tmp && PYTHONPATH="$ROOT/python" python3 -m pytest -q "$ROOT/tests/python")
}
if want python; then step python python_tests; fi

echo "=== summary"
status=$([ $failures -eq 0 ] && echo PASS || echo FAIL)
echo "gpu_check: $status ($failures failed) ${summary[*]}"
[ $failures -eq 0 ]
