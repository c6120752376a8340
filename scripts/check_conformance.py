#!/usr/bin/env python3
"""Runs `kiln conformance` over Debian's ONNX test data and checks the results against a tracked list.

The list (tests/conformance/expected_*.txt) has one line per case: `pass FOLDER/CASE` or
`fail FOLDER/CASE  # reason` (unsupported cases count as fail). The check fails when a case that
should pass does not (a regression), and when a listed failure starts passing (update the list with
--update so the improvement is kept).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

DATA = "/usr/share/libonnx-testdata/data"
FOLDERS = ["node", "pytorch-converted", "pytorch-operator", "simple"]


def run(kiln, device, report, data, jobs):
    """Runs every case folder in `jobs` parallel `kiln conformance` processes; returns results by case."""
    dirs = [os.path.join(data, f) for f in FOLDERS if os.path.isdir(os.path.join(data, f))]
    if not dirs:
        sys.exit(f"no ONNX test data under {data} (install libonnx-testdata, or pass --data)")
    cases = sorted(os.path.join(d, c) for d in dirs for c in os.listdir(d)
                   if os.path.exists(os.path.join(d, c, "model.onnx")))
    shards = [cases[i::jobs] for i in range(jobs) if cases[i::jobs]]
    procs = []
    for i, shard in enumerate(shards):
        cmd = [kiln, "conformance", *shard, f"--report={report}.{i}", f"--device={device}"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for proc in procs:
        proc.wait()
    results = {}
    for i in range(len(shards)):
        with open(f"{report}.{i}") as f:
            for case in json.load(f)["cases"]:
                key = os.path.join(os.path.basename(os.path.dirname(case["path"])), case["case"])
                results[key] = (case["status"], case["reason"])
    counts = {s: sum(r[0] == s for r in results.values()) for s in ("pass", "fail", "unsupported")}
    summary = f"{counts['pass']} passed, {counts['fail']} failed, {counts['unsupported']} skipped"
    return results, summary


def read_expected(path):
    expected = {}
    if not os.path.exists(path):
        return expected
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        status, rest = line.split(None, 1)
        key = rest.split("#", 1)[0].strip()
        expected[key] = status
    return expected


def write_expected(path, results):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("# Expected ONNX conformance results (scripts/check_conformance.py --update rewrites this file).\n")
        f.write("# pass CASE | fail CASE  # reason\n")
        for key in sorted(results):
            status, reason = results[key]
            if status == "pass":
                f.write(f"pass {key}\n")
            else:
                reason = " ".join(reason.split())[:200]
                f.write(f"fail {key}  # {status}: {reason}\n")


def compare_rates(results, expected, max_drop):
    """Pass rate per folder against the expected list's; lists the cases the list passes and this run does not."""
    ok = True
    for folder in FOLDERS:
        keys = [k for k in expected if k.startswith(folder + "/")]
        if not keys:
            continue
        want = 100.0 * sum(expected[k] == "pass" for k in keys) / len(keys)
        got = 100.0 * sum(results.get(k, ("missing",))[0] == "pass" for k in keys) / len(keys)
        drop = want - got
        ok &= drop <= max_drop
        print(f"  {folder:18s} {got:5.1f}% here vs {want:5.1f}% expected ({got - want:+.1f} points)")
    for k in sorted(expected):
        if expected[k] == "pass" and results.get(k, ("missing",))[0] != "pass":
            status, reason = results.get(k, ("missing", "case not run"))
            print(f"ONLY EXPECTED PASSES {k}: {status}: {' '.join(reason.split())[:200]}")
    print(f"conformance rate check (max drop {max_drop} points): " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kiln", default="build/kiln")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--expected", required=True)
    parser.add_argument("--update", action="store_true", help="rewrite the expected list from this run")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel kiln processes")
    parser.add_argument("--data", default=DATA, help="folder holding node/, pytorch-converted/, ...")
    parser.add_argument("--max-drop-points", type=float, default=None,
                        help="compare pass rates instead of cases: fail when a folder's pass rate is more "
                             "than this many percentage points below the expected list's (e.g. the GPU "
                             "run against the CPU list)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results, summary = run(args.kiln, args.device, os.path.join(tmp, "report.json"), args.data, args.jobs)
    print(f"kiln conformance: {summary}")
    for folder in FOLDERS:
        cases = [k for k in results if k.startswith(folder + "/")]
        if cases:
            passed = sum(results[k][0] == "pass" for k in cases)
            print(f"  {folder:18s} {passed:4d} / {len(cases):4d} pass ({100.0 * passed / len(cases):.1f}%)")
    if args.update:
        write_expected(args.expected, results)
        print(f"wrote {args.expected}")
        return 0
    expected = read_expected(args.expected)
    if args.max_drop_points is not None:
        return compare_rates(results, expected, args.max_drop_points)
    regressions = [k for k, s in expected.items() if s == "pass" and results.get(k, ("missing",))[0] != "pass"]
    improvements = [k for k, s in expected.items() if s != "pass" and results.get(k, ("",))[0] == "pass"]
    unlisted = [k for k in results if k not in expected]
    for k in regressions:
        print(f"REGRESSION {k}: {results.get(k, ('missing', 'case not run'))}")
    for k in improvements:
        print(f"NOW PASSES {k}: update the list (scripts/check_conformance.py --update)")
    for k in unlisted:
        print(f"UNLISTED {k}: {results[k][0]}")
    ok = not regressions and not improvements and not unlisted
    print("conformance check: " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
