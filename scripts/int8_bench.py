#!/usr/bin/env python3
"""Times explicit quantization on the CPU: a QDQ ResNet-50 (scripts/make_models.py's resnet50, its
BatchNormalization folded by onnxruntime's quant_pre_process, then quantize_static in QDQ format: int8
activations, per-channel symmetric int8 weights, a few random calibration batches) run by Kiln in int8,
against Kiln fp32 on the float model and ONNX Runtime on the QDQ model, batch 1.

    python3 scripts/int8_bench.py [--kiln build/kiln] [--models-dir /tmp/kiln_models] [--threads 2]
                                  [--warmup 5] [--iterations 20] [--rounds 3]

The three alternate for --rounds rounds; the table shows the median of each round's median. Kiln's int8
output is compared with ONNX Runtime's on the QDQ model (max |kiln - ort| in steps of the output scale)
and the plan's quantized layers are counted (`kiln build --dump-layers`).

With 2 threads, run it with OMP_WAIT_POLICY=passive: Debian's oneDNN runs on OpenMP, whose threads spin at
their barriers against Kiln's own pool threads on the same cores; the int8 plan (every convolution and its
activation reorders in oneDNN) then runs several times slower than with one thread.
"""
import argparse
import os
import re
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpu_bench  # noqa: E402
import make_models  # noqa: E402


def make_qdq_resnet50(models_dir, batches):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32 = os.path.join(models_dir, "resnet50.onnx")
    if not os.path.exists(fp32):
        os.makedirs(models_dir, exist_ok=True)
        onnx.save(make_models.make_resnet50(), fp32)
    qdq = os.path.join(models_dir, "resnet50_qdq.onnx")
    if os.path.exists(qdq):
        return fp32, qdq
    prepared = os.path.join(models_dir, "resnet50_prepared.onnx")
    quant_pre_process(fp32, prepared)

    class RandomReader(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(5)
            self.data = iter([{"input": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}
                              for _ in range(batches)])

        def get_next(self):
            return next(self.data, None)

    quantize_static(prepared, qdq, RandomReader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    return fp32, qdq


def output_step(path):
    model = onnx.load(path)
    out = model.graph.output[0].name
    node = next(n for n in model.graph.node if out in n.output)
    scale = next(i for i in model.graph.initializer if i.name == node.input[1])
    return float(numpy_helper.to_array(scale))


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kiln", default=os.path.join(root, "build", "kiln"))
    parser.add_argument("--models-dir", default=os.path.join(tempfile.gettempdir(), "kiln_models"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calibration-batches", type=int, default=4)
    args = parser.parse_args()

    fp32, qdq = make_qdq_resnet50(args.models_dir, args.calibration_batches)
    feeds = make_models.sample_inputs("resnet50")
    session = cpu_bench.ort_session(qdq, args.threads)
    ort_output = session.run(None, feeds)[0]
    with tempfile.TemporaryDirectory(prefix="kiln_int8_bench_") as work:
        plans = {}
        for name, path in (("fp32", fp32), ("int8", qdq)):
            plans[name] = os.path.join(work, name + ".plan")
            out = cpu_bench.run_kiln(args.kiln, ["build", f"--onnx={path}", f"--save-engine={plans[name]}",
                                                 "--dump-layers"], args.threads)
            if name == "int8":
                quantized = len(re.findall(r"QuantizedConvolution", out))
                quantized_mm = len(re.findall(r"QuantizedMatrixMultiply", out))
                float_convs = len(re.findall(r"\bConvolution\b", out))
        inputs_dir, outputs_dir = os.path.join(work, "in"), os.path.join(work, "out")
        os.makedirs(inputs_dir)
        with open(os.path.join(inputs_dir, "input_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(feeds["input"], "input").SerializeToString())
        cpu_bench.run_kiln(args.kiln, ["run", f"--engine={plans['int8']}", f"--load-inputs={inputs_dir}",
                                       f"--save-outputs={outputs_dir}"], args.threads)
        got = numpy_helper.to_array(onnx.load_tensor(os.path.join(outputs_dir, "output_0.pb")))
        steps = float(np.abs(got.astype(np.float64) - ort_output).max()) / output_step(qdq)
        agree = float(np.mean(np.argmax(got, -1) == np.argmax(ort_output, -1)))

        times = {"kiln fp32": [], "kiln int8": [], "ort qdq": []}
        for _ in range(args.rounds):
            times["ort qdq"].append(cpu_bench.ort_median_ms(session, feeds, args.warmup, args.iterations))
            for name in ("fp32", "int8"):
                ms, _ = cpu_bench.kiln_bench(args.kiln, plans[name], args.threads, args.warmup, args.iterations, False)
                times["kiln " + name].append(ms)

    print(f"ResNet-50 QDQ, CPU, batch 1, {args.threads} threads, medians of {args.rounds} interleaved rounds "
          f"({args.warmup} warm-up + {args.iterations} iterations each)")
    print(f"int8 plan: {quantized} QuantizedConvolution, {quantized_mm} QuantizedMatrixMultiply, "
          f"{float_convs} float Convolution layers; max |kiln - ort| = {steps:.2f} output steps, "
          f"top-1 agreement {agree:.0%}")
    base = float(np.median(times["kiln fp32"]))
    print(f"{'engine':<12}{'ms':>10}{'vs kiln fp32':>14}")
    for name, values in times.items():
        ms = float(np.median(values))
        print(f"{name:<12}{ms:>10.2f}{base / ms:>13.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
