#!/usr/bin/env bash
# Kiln under the sanitizers. Stages (default: unit conformance fuzz):
#   unit         the unit and CPU kernel tests (kiln_tests) under ASan + UBSan
#   conformance  the CPU ONNX conformance check under ASan + UBSan (every case a child process)
#   fuzz         each libFuzzer target for KILN_FUZZ_SECONDS (default 60) through scripts/fuzz.sh
#   thread       the concurrency tests (tests/unit/test_concurrency.cpp: 16 threads, own contexts,
#                bit-identical results) under ThreadSanitizer, in its own build (build-tsan)
# unit, conformance and fuzz share one build (scripts/asan_build.sh: build-asan). CI (scripts/test.sh) runs
# all three; measured here from scratch without ccache: the build about 1,850 CPU-seconds (~15 min on CI's
# 2 cores), the unit tests 20 CPU-seconds, conformance 20 CPU-seconds, the fuzzers 4 x 60 s: ~21 min on top
# of CI's 17. thread is a second full build (~15 min more): it stays out of CI; run
# `scripts/sanitize.sh thread` before a release and after changes to the runtime, the contexts, the CPU
# thread pool or anything shared between contexts.
#   scripts/sanitize.sh [STAGE...]
# Fails on any test failure, conformance regression, fuzzer crash or sanitizer report. Reports from
# conformance cases (child processes, output discarded) are collected under build-asan/sanitizer-logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
stages=${*:-unit conformance fuzz}
for stage in $stages; do
  case $stage in unit | conformance | fuzz | thread) ;; *) echo "unknown stage '$stage'" >&2; exit 2 ;; esac
done
want() { [[ " $stages " == *" $1 "* ]]; }
status=0

asan_targets=()
want unit && asan_targets+=(kiln_tests)
want conformance && asan_targets+=(kiln_cli)
[ ${#asan_targets[@]} -gt 0 ] && bash scripts/asan_build.sh "${asan_targets[@]}"

if want unit; then
  echo "== unit and CPU kernel tests under ASan + UBSan"
  start=$(date +%s)
  ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    build-asan/tests/kiln_tests --gtest_brief=1 ||
    { echo "kiln_tests FAILED (a test, or a sanitizer report above)"; status=1; }
  echo "unit tests: $(($(date +%s) - start)) s"
fi
if want conformance; then
  echo "== ONNX conformance (CPU) under ASan + UBSan against tests/conformance/expected_cpu.txt"
  logs=$(pwd)/build-asan/sanitizer-logs
  rm -rf "$logs"
  mkdir -p "$logs"
  start=$(date +%s)
  ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:log_path=$logs/asan \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan \
    python3 scripts/check_conformance.py --kiln build-asan/kiln --expected tests/conformance/expected_cpu.txt ||
    status=1
  echo "conformance: $(($(date +%s) - start)) s"
  reports=$(find "$logs" -type f | wc -l)
  if [ "$reports" -ne 0 ]; then
    status=1
    echo "== $reports sanitizer report(s) from conformance cases:"
    for f in "$logs"/*; do
      echo "-- $f"
      head -30 "$f"
    done
  fi
fi
if want fuzz; then
  bash scripts/fuzz.sh "${KILN_FUZZ_SECONDS:-60}" || status=1
fi
if want thread; then
  # oneDNN is off: its OpenMP runtime is not instrumented, and TSan would report its internals.
  echo "== configure and build kiln_tests (clang, -fsanitize=thread, no oneDNN) in build-tsan"
  launcher=()
  if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_CXX_FLAGS="-fsanitize=thread -gline-tables-only" -DCMAKE_CXX_FLAGS_RELEASE="-O1" \
    -DKILN_WITH_CUDA=OFF -DKILN_WITH_DNNL=OFF >/dev/null
  cmake --build build-tsan -j "${KILN_SANITIZE_JOBS:-$(nproc)}" --target kiln_tests
  echo "== concurrency tests under ThreadSanitizer"
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    build-tsan/tests/kiln_tests --gtest_brief=1 --gtest_filter='Concurrency.*' ||
    { echo "concurrency tests FAILED (a test, or a ThreadSanitizer report above)"; status=1; }
fi
[ $status -eq 0 ] && echo "sanitizers ($stages): all clean" || echo "sanitizers ($stages): FAILED"
exit $status
