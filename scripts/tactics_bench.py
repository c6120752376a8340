#!/usr/bin/env python3
"""What tactic selection buys, and what the timing cache saves: per model and batch,

  - build time cold (no cache file), build time again with the cache file it wrote, and whether the
    two plans are byte-identical;
  - inference time of the tuned plan (--builder-effort=3, the default) against a plan built with
    --builder-effort=0 (each layer's preferred kernel, nothing timed), both timed by `kiln bench` in the
    same run, interleaved (rounds), median of medians;
  - how many layers chose among timed candidates, and which tactics won.

    python3 scripts/tactics_bench.py --kiln build/kiln --device cpu --batches 1 8
    python3 scripts/tactics_bench.py --kiln build-gpu/kiln --device cuda --fp16 --batches 1 32

Models: ResNet-50 and BERT-base (seq 128) from scripts/make_models.py (random weights, dynamic batch).
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_models  # noqa: E402


def log(*parts):
    print(*parts, flush=True)


def kiln(binary, *args, threads=None):
    env = dict(os.environ)
    if threads:
        env["KILN_NUM_THREADS"] = str(threads)
    t0 = time.perf_counter()
    proc = subprocess.run([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"kiln {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}")
    return proc.stdout, seconds


def shapes_for(name, batch):
    if name == "resnet50":
        return f"input:{batch}x3x224x224"
    seq = make_models.BERT["seq"]
    return f"input_ids:{batch}x{seq},attention_mask:{batch}x{seq}"


def bench_ms(args, plan):
    flags = ["--use-cuda-graph", "--no-data-transfers"] if args.device.startswith("cuda") else [f"--threads={args.threads}"]
    out, _ = kiln(args.kiln, "bench", f"--engine={plan}", *flags, f"--iterations={args.iterations}",
                  f"--warmup={args.warmup}", threads=args.threads)
    m = re.search(r"GPU compute[^\n]*median\s+([0-9.]+)", out) or re.search(r"median\s+([0-9.]+)", out)
    if not m:
        raise SystemExit(f"no median in kiln bench output:\n{out}")
    return float(m.group(1))


def tuned_layers(args, plan):
    """(layers that chose among timed candidates, Counter of their winning tactics) from kiln inspect."""
    out, _ = kiln(args.kiln, "inspect", f"--engine={plan}")
    winners = collections.Counter()
    for line in out.splitlines():
        cols = line.split()
        # name type backend tactic ms candidates
        if len(cols) >= 6 and cols[-1].isdigit() and int(cols[-1]) > 1:
            winners[cols[3]] += 1
    return sum(winners.values()), winners


def run_case(args, name, path, batch):
    tag = f"{name}_b{batch}_{args.device.replace(':', '')}{'_fp16' if args.fp16 else ''}"
    cache = os.path.join(args.work, tag + ".cache")
    tuned, again, plain = (os.path.join(args.work, f"{tag}_{k}.plan") for k in ("tuned", "again", "effort0"))
    if os.path.exists(cache):
        os.remove(cache)
    common = [f"--onnx={path}", f"--device={args.device}", f"--shapes={shapes_for(name, batch)}", "--quiet"]
    if args.fp16:
        common.append("--fp16")
    _, cold_s = kiln(args.kiln, "build", *common, f"--timing-cache={cache}", f"--save-engine={tuned}", threads=args.threads)
    _, warm_s = kiln(args.kiln, "build", *common, f"--timing-cache={cache}", f"--save-engine={again}", threads=args.threads)
    _, plain_s = kiln(args.kiln, "build", *common, "--builder-effort=0", f"--save-engine={plain}", threads=args.threads)
    with open(tuned, "rb") as a, open(again, "rb") as b:
        same = a.read() == b.read()
    tuned_ms, plain_ms = [], []
    for _ in range(args.rounds):  # interleaved, so drift hits both alike
        plain_ms.append(bench_ms(args, plain))
        tuned_ms.append(bench_ms(args, tuned))
    count, winners = tuned_layers(args, tuned)
    row = dict(model=name, batch=batch, cold=cold_s, warm=warm_s, effort0_build=plain_s, same=same,
               effort0_ms=float(np.median(plain_ms)), tuned_ms=float(np.median(tuned_ms)), tuned_layers=count,
               winners=winners)
    log(f"{name} batch {batch}: build cold {cold_s:.1f} s, cached {warm_s:.1f} s, effort 0 {plain_s:.1f} s; "
        f"plans identical: {same}; effort 0 {row['effort0_ms']:.3f} ms, tuned {row['tuned_ms']:.3f} ms; "
        f"{count} layers tuned: {dict(winners)}")
    return row


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kiln", default=os.path.join(root, "build", "kiln"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--fp16", action="store_true")
    p.add_argument("--models", default="resnet50,bert_base")
    p.add_argument("--batches", type=int, nargs="+", default=[1])
    p.add_argument("--threads", type=int, default=2, help="CPU threads (KILN_NUM_THREADS)")
    p.add_argument("--iterations", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "kiln_tactics"))
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rows = []
    for name in args.models.split(","):
        path = os.path.join(args.work, name + ".onnx")
        if not os.path.exists(path):
            onnx.save(make_models.MODELS[name](), path)
        for batch in args.batches:
            rows.append(run_case(args, name, path, batch))
    precision = "fp16" if args.fp16 else "fp32"
    log(f"\n| model ({args.device}, {precision}) | batch | build cold s | build with cache s | same plan | "
        f"effort 0 ms | tuned ms | effort0/tuned | layers tuned |")
    log("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        log(f"| {r['model']} | {r['batch']} | {r['cold']:.2f} | {r['warm']:.2f} | {'yes' if r['same'] else 'NO'} | "
            f"{r['effort0_ms']:.3f} | {r['tuned_ms']:.3f} | {r['effort0_ms'] / r['tuned_ms']:.2f}x | {r['tuned_layers']} |")
    log("\nwinning tactics of tuned layers:")
    for r in rows:
        log(f"  {r['model']} batch {r['batch']}: " + ", ".join(f"{t} x{n}" for t, n in r["winners"].most_common()))
    return 0 if all(r["same"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
