#!/usr/bin/env bash
# The unit tests and the CPU conformance check under AddressSanitizer + UndefinedBehaviorSanitizer: builds
# kiln_tests and kiln_cli with clang -fsanitize=address,undefined in build-asan (gcc's UBSan rejects the
# constexpr checks of ir/layer_table.cpp), runs them with halt_on_error=1, and fails on any test failure,
# conformance regression or sanitizer report. Reports from conformance cases (child processes, output
# discarded) are collected under build-asan/sanitizer-logs/.
#   scripts/sanitize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-asan
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
echo "== configure and build (-fsanitize=address,undefined) in $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" \
  -DKILN_WITH_CUDA=OFF >/dev/null
cmake --build "$build" -j "${KILN_SANITIZE_JOBS:-2}" --target kiln_tests kiln_cli

logs=$(pwd)/$build/sanitizer-logs
rm -rf "$logs"
mkdir -p "$logs"
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:log_path=$logs/asan
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan
status=0
echo "== unit and CPU kernel tests"
"$build/tests/kiln_tests" --gtest_brief=1 || { echo "kiln_tests FAILED (a test, or a sanitizer report below)"; status=1; }
echo "== ONNX conformance (CPU) against tests/conformance/expected_cpu.txt"
python3 scripts/check_conformance.py --kiln "$build/kiln" --expected tests/conformance/expected_cpu.txt || status=1
reports=$(find "$logs" -type f | wc -l)
if [ "$reports" -ne 0 ]; then
  status=1
  echo "== $reports sanitizer report(s):"
  for f in "$logs"/*; do
    echo "-- $f"
    head -30 "$f"
  done
else
  echo "no sanitizer reports"
fi
[ $status -eq 0 ] && echo "sanitizers: all clean" || echo "sanitizers: FAILED"
exit $status
