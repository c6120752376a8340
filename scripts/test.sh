#!/usr/bin/env bash
# The test command: unit and kernel tests (GoogleTest through ctest), the ONNX conformance
# regression check, the Python package's pytest suite (scripts/python_tests.sh), and the sanitizer
# stages of scripts/sanitize.sh named by KILN_SANITIZE_STAGES (default "unit conformance fuzz": the unit
# tests and the CPU conformance under ASan + UBSan, each fuzzer for 60 s; "none" skips them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
status=0
echo "== unit tests"
(cd build && ctest --output-on-failure -j2 --timeout 300) || status=1
echo "== ONNX conformance (CPU) against tests/conformance/expected_cpu.txt"
python3 scripts/check_conformance.py --kiln build/kiln --expected tests/conformance/expected_cpu.txt || status=1
# The node tests of the installed onnx release (scripts/setup.sh generates them; about a minute).
onnx_version=$(python3 -c "import onnx; print(onnx.__version__)")
echo "== ONNX $onnx_version node tests (CPU) against tests/conformance/expected_cpu_onnx$onnx_version.txt"
python3 scripts/check_conformance.py --kiln build/kiln --data "third_party/onnx-node-tests/$onnx_version" \
  --expected "tests/conformance/expected_cpu_onnx$onnx_version.txt" || status=1
echo "== Python package (pip install ./python, pytest tests/python)"
bash scripts/python_tests.sh || status=1
sanitize_stages=${KILN_SANITIZE_STAGES:-unit conformance fuzz}
if [ "$sanitize_stages" != none ]; then
  echo "== sanitizers: $sanitize_stages (scripts/sanitize.sh)"
  # shellcheck disable=SC2086
  KILN_FUZZ_SEED=${KILN_FUZZ_SEED:-1} bash scripts/sanitize.sh $sanitize_stages || status=1
fi
[ $status -eq 0 ] && echo "all test stages passed" || echo "some test stage FAILED"
exit $status
