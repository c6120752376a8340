#!/usr/bin/env bash
# The one sanitizer build, shared by scripts/sanitize.sh (unit tests, conformance) and scripts/fuzz.sh
# (libFuzzer targets): clang with -fsanitize=fuzzer-no-link,address,undefined (gcc's UBSan rejects the
# constexpr checks of ir/layer_table.cpp, and libFuzzer needs clang), CPU only, in build-asan. The
# coverage instrumentation of fuzzer-no-link costs the unit tests little and saves a second build; -O1 with
# line tables only compiles much faster than -O2 -g, and stack traces still give file:line.
#   scripts/asan_build.sh TARGET...
# Environment: KILN_SANITIZE_JOBS (build jobs, default: the number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-asan
# clang and its runtimes (libFuzzer, the sanitizers) are not in scripts/setup.sh's list: only this build needs them.
if ! command -v clang++ >/dev/null || [ ! -f "$(clang++ -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "[asan_build] installing clang libclang-rt-dev"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang libclang-rt-dev >/dev/null
fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
echo "== configure and build $* (clang, -fsanitize=fuzzer-no-link,address,undefined) in $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -gline-tables-only" \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
  -DKILN_WITH_CUDA=OFF -DKILN_BUILD_TESTS=ON -DKILN_FUZZ=ON >/dev/null
start=$(date +%s)
cmake --build "$build" -j "${KILN_SANITIZE_JOBS:-$(nproc)}" --target "$@"
echo "build: $(($(date +%s) - start)) s"
