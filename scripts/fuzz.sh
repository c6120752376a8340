#!/usr/bin/env bash
# Fuzzes Kiln's file readers with libFuzzer under ASan + UBSan: the ONNX parser + builder + one run, the plan
# reader + one run (raw bytes, and a structure-aware mutator that keeps the checksum valid), and the .pb
# tensor reader. Builds the targets (tests/fuzz) in the shared sanitizer build (scripts/asan_build.sh:
# build-asan), makes the seed corpora from the ONNX test data (Debian libonnx-testdata) and samples/, runs
# each target for SECONDS (default 60) with one job, prints executions and time per target, and fails when
# any target finds a crash, a sanitizer report or a timeout (inputs kept under build-asan/fuzz/artifacts/).
# The corpora grow in build-asan/fuzz/corpus/ from run to run. CI runs 60 s per target (scripts/sanitize.sh
# fuzz); on a quiet machine or the GPU machine run longer: scripts/fuzz.sh 1800.
#   scripts/fuzz.sh [SECONDS]
# Environment: KILN_FUZZ_SEED_STRIDE (every Nth test model and .pb file is a seed, default 4),
# KILN_FUZZ_TARGETS (default: all four), KILN_FUZZ_SEED (libFuzzer's -seed: 0, the default, draws one; the
# test command fixes it so that one commit fuzzes the same inputs on every run, given the same speed).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-60}
build=$root/build-asan
work=$build/fuzz
data=/usr/share/libonnx-testdata/data
stride=${KILN_FUZZ_SEED_STRIDE:-4}
seed=${KILN_FUZZ_SEED:-0}
targets=${KILN_FUZZ_TARGETS:-kiln_fuzz_onnx kiln_fuzz_plan kiln_fuzz_plan_structured kiln_fuzz_tensor_proto}

# shellcheck disable=SC2086
bash scripts/asan_build.sh $targets kiln_fuzz_plan_seeds

echo "== seed corpora (every ${stride}th test model and .pb file)"
seeds=$work/seeds
rm -rf "$seeds"
mkdir -p "$seeds/onnx" "$seeds/plan" "$seeds/tensor_proto" "$work/artifacts"
models=()
if [ -d "$data" ]; then
  mapfile -t models < <(find "$data" -name model.onnx | sort | awk -v n="$stride" 'NR % n == 0')
fi
models+=("$root/samples/small_cnn.onnx")
for i in "${!models[@]}"; do cp "${models[$i]}" "$seeds/onnx/$i.onnx"; done
"$build/tests/fuzz/kiln_fuzz_plan_seeds" "$seeds/plan" "${models[@]}"
if [ -d "$data" ]; then
  find "$data" -name '*.pb' | sort | awk -v n="$stride" 'NR % n == 0' |
    while read -r pb; do cp "$pb" "$seeds/tensor_proto/$(echo "$pb" | md5sum | cut -c1-16).pb"; done
fi
echo "seeds: $(ls "$seeds/onnx" | wc -l) models, $(ls "$seeds/plan" | wc -l) plans, $(ls "$seeds/tensor_proto" | wc -l) .pb files"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
status=0
summary=()
for target in $targets; do
  case $target in
    kiln_fuzz_onnx) corpus=onnx ;;
    kiln_fuzz_plan | kiln_fuzz_plan_structured) corpus=plan ;;
    kiln_fuzz_tensor_proto) corpus=tensor_proto ;;
  esac
  mkdir -p "$work/corpus/$target"
  log=$work/$target.log
  echo "== $target for ${seconds}s (log: $log)"
  start=$(date +%s)
  set +e
  "$build/tests/fuzz/$target" -max_total_time="$seconds" -seed="$seed" -timeout=30 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/$target-" "$work/corpus/$target" "$seeds/$corpus" >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$(($(date +%s) - start))
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
  if [ $rc -eq 0 ]; then
    result="no crash"
  else
    status=1
    result="CRASH (exit $rc): $(grep -m1 -E 'ERROR: |runtime error|kiln fuzz:|deadly signal|out-of-memory|timeout' "$log" || true)"
    result="$result; input: $(grep -o "$work/artifacts/[^ ]*" "$log" | tail -1)"
    tail -40 "$log"
  fi
  summary+=("$(printf '%-28s %10s executions in %4ss: %s' "$target" "${runs:-?}" "$elapsed" "$result")")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
