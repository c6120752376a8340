#!/usr/bin/env python3
"""Times Kiln against ONNX Runtime on the CPU, back to back, for ResNet-50 and BERT-base.

    python3 scripts/cpu_bench.py [--kiln build/kiln] [--models-dir /tmp/kiln_models] [--threads 2]
                                 [--warmup 5] [--iterations 30] [--rounds 1] [--profile] [--models a,b]

The models come from scripts/make_models.py (made when missing). For each model: ONNX Runtime
(intra_op_num_threads=N, sequential, ORT_ENABLE_ALL) and `kiln bench` on a prebuilt plan (KILN_NUM_THREADS=N,
--threads=N) run the same warm-up and iterations; with --rounds > 1 they alternate and the best median of
each is kept, which damps the noise of a shared machine. Kiln's outputs (`kiln run` on the same inputs)
are checked against ONNX Runtime's: max |kiln - ort| / max |ort| per output. Prints a table.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_models  # noqa: E402

REL_ERROR_LIMIT = 1e-3


def ort_session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def ort_median_ms(session, feeds, warmup, iterations):
    for _ in range(warmup):
        session.run(None, feeds)
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times))


def run_kiln(kiln, args, threads, capture=True):
    env = dict(os.environ, KILN_NUM_THREADS=str(threads))
    result = subprocess.run([kiln] + args, env=env, capture_output=capture, text=True)
    if result.returncode != 0:
        raise SystemExit(f"kiln {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def kiln_bench(kiln, plan, threads, warmup, iterations, profile):
    args = ["bench", f"--engine={plan}", f"--threads={threads}", f"--warmup={warmup}", f"--iterations={iterations}"]
    if profile:
        args.append("--profile")
    out = run_kiln(kiln, args, threads)
    match = re.search(r"median ([0-9.]+)", out)
    if not match:
        raise SystemExit(f"cannot read the median from kiln bench:\n{out}")
    return float(match.group(1)), out


def max_rel_error(kiln_outputs_dir, ort_outputs):
    worst = 0.0
    for i, expected in enumerate(ort_outputs):
        tensor = numpy_helper.to_array(onnx.load_tensor(os.path.join(kiln_outputs_dir, f"output_{i}.pb")))
        if tensor.shape != expected.shape:
            raise SystemExit(f"output {i}: kiln shape {tensor.shape} != onnxruntime shape {expected.shape}")
        scale = max(float(np.abs(expected).max()), 1e-12)
        worst = max(worst, float(np.abs(tensor.astype(np.float64) - expected).max()) / scale)
    return worst


def bench_model(name, path, args, work):
    feeds = make_models.sample_inputs(name)
    session = ort_session(path, args.threads)
    ort_outputs = session.run(None, feeds)

    plan = os.path.join(work, name + ".plan")
    run_kiln(args.kiln, ["build", f"--onnx={path}", f"--save-engine={plan}"], args.threads)
    inputs_dir, outputs_dir = os.path.join(work, name + "_in"), os.path.join(work, name + "_out")
    os.makedirs(inputs_dir, exist_ok=True)
    for i, info in enumerate(session.get_inputs()):
        with open(os.path.join(inputs_dir, f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(feeds[info.name], info.name).SerializeToString())
    run_kiln(args.kiln, ["run", f"--engine={plan}", f"--load-inputs={inputs_dir}", f"--save-outputs={outputs_dir}"],
             args.threads)
    error = max_rel_error(outputs_dir, ort_outputs)

    ort_ms, kiln_ms, report = [], [], ""
    for _ in range(args.rounds):
        ort_ms.append(ort_median_ms(session, feeds, args.warmup, args.iterations))
        ms, report = kiln_bench(args.kiln, plan, args.threads, args.warmup, args.iterations, args.profile)
        kiln_ms.append(ms)
    if args.profile:
        print(f"--- {name}: kiln bench --profile\n{report}")
    return min(ort_ms), min(kiln_ms), error


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kiln", default=os.path.join(root, "build", "kiln"))
    parser.add_argument("--models-dir", default=os.path.join(tempfile.gettempdir(), "kiln_models"))
    parser.add_argument("--models", default=",".join(make_models.MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1, help="alternate ORT and Kiln this many times; best median")
    parser.add_argument("--profile", action="store_true", help="print kiln's time per layer type")
    args = parser.parse_args()

    rows, failed = [], False
    with tempfile.TemporaryDirectory(prefix="kiln_cpu_bench_") as work:
        for name in args.models.split(","):
            path = os.path.join(args.models_dir, name + ".onnx")
            if not os.path.exists(path):
                os.makedirs(args.models_dir, exist_ok=True)
                onnx.save(make_models.MODELS[name](), path)
            ort_ms, kiln_ms, error = bench_model(name, path, args, work)
            failed = failed or error > REL_ERROR_LIMIT
            rows.append((name, ort_ms, kiln_ms, error))

    print(f"CPU, batch 1, fp32, {args.threads} threads, {args.warmup} warm-up + {args.iterations} iterations, "
          f"best of {args.rounds} round(s)")
    print(f"{'model':<12}{'ORT ms':>10}{'Kiln ms':>10}{'Kiln/ORT':>10}{'max rel err':>13}")
    for name, ort_ms, kiln_ms, error in rows:
        print(f"{name:<12}{ort_ms:>10.2f}{kiln_ms:>10.2f}{kiln_ms / ort_ms:>10.2f}{error:>13.2e}")
    if failed:
        print(f"FAILED: an output differs from ONNX Runtime by more than {REL_ERROR_LIMIT:g} (relative to max |ort|)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
