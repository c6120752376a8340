#!/usr/bin/env python3
"""Real models on the GPU (torchvision, transformers; random weights): ResNet-50 and BERT-base by default,
--models picks from the list in MODELS (CNNs, DistilBERT, GPT-2 with 6 layers, ViT-B/16, Swin-T).

  python3 scripts/gpu_models.py --build BUILD --check   # Kiln (cuda, fp32 and fp16) vs ONNX Runtime
  python3 scripts/gpu_models.py --build BUILD --bench   # Kiln vs PyTorch eager and torch.compile

--check exports both models to ONNX, runs them in ONNX Runtime (CPU) and with `kiln run
--device=cuda` in fp32 and fp16, and fails when the relative error (max |kiln - ort| / max |ort|,
per output) exceeds 1e-4 in fp32 or 1e-2 in fp16.
--bench times Kiln (`kiln bench --device=cuda --use-cuda-graph --no-data-transfers`, GPU compute
median) and PyTorch (eager and torch.compile mode=reduce-overhead, CUDA events, median) in fp16 at
several batch sizes in the same run, and prints one table with the ratios.
Models and data go to --work (default /tmp/kiln-models).
"""
import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np

SEQ = 128


class Model:
    """One benchmark model: how to make it in torch, its inputs, and how Kiln's CLI names them."""

    def __init__(self, name, make, inputs, outputs, image=False):
        self.name, self.make, self.inputs, self.outputs, self.image = name, make, inputs, outputs, image

    def kiln_shapes(self, batch):
        return ",".join(f"{n}:{batch}x" + "x".join(str(d) for d in dims) for n, (dims, _) in self.inputs.items())


def _torchvision(factory):
    def make():
        import torchvision
        return getattr(torchvision.models, factory)(weights=None)
    return make


def _bert():
    import transformers
    return transformers.BertModel(transformers.BertConfig(), add_pooling_layer=True)  # 12 layers, 768, 12 heads


def _distilbert():
    import transformers
    return transformers.DistilBertModel(transformers.DistilBertConfig())  # 6 layers, 768, 12 heads


def _gpt2():
    import transformers
    config = transformers.GPT2Config(n_layer=6, use_cache=False)  # 6 layers, 768, 12 heads, causal
    return transformers.GPT2Model(config)


IMAGE = {"input": ((3, 224, 224), "image")}
TOKENS_AND_MASK = {"input_ids": ((SEQ,), "ids"), "attention_mask": ((SEQ,), "mask")}
MODEL_LIST = [
    Model("resnet50", _torchvision("resnet50"), IMAGE, ["output"], image=True),
    Model("mobilenet_v3_large", _torchvision("mobilenet_v3_large"), IMAGE, ["output"], image=True),
    Model("efficientnet_b0", _torchvision("efficientnet_b0"), IMAGE, ["output"], image=True),
    Model("convnext_tiny", _torchvision("convnext_tiny"), IMAGE, ["output"], image=True),
    Model("bert_base", _bert, TOKENS_AND_MASK, ["last_hidden_state", "pooler_output"]),
    Model("distilbert", _distilbert, TOKENS_AND_MASK, ["last_hidden_state"]),
    Model("gpt2_6l", _gpt2, {"input_ids": ((SEQ,), "ids")}, ["last_hidden_state"]),
    Model("vit_b_16", _torchvision("vit_b_16"), IMAGE, ["output"], image=True),
    Model("swin_t", _torchvision("swin_t"), IMAGE, ["output"], image=True),
]
MODELS = {m.name: m for m in MODEL_LIST}
DEFAULT_MODELS = ("resnet50", "bert_base")


def make_torch_model(name):
    import torch
    torch.manual_seed(0)
    return MODELS[name].make().eval()


def example_inputs(name, batch, device="cpu"):
    """Random inputs; token models get padding at the end of each sequence so the attention mask matters."""
    import torch
    g = torch.Generator().manual_seed(1)
    out = {}
    for input_name, (dims, kind) in MODELS[name].inputs.items():
        if kind == "image":
            t = torch.randn(batch, *dims, generator=g)
        elif kind == "ids":
            t = torch.randint(0, 30522 if name != "gpt2_6l" else 50257, (batch, *dims), generator=g)
        else:
            t = torch.ones(batch, *dims, dtype=torch.int64)
            t[:, SEQ - 16:] = 0
        out[input_name] = t.to(device)
    return out


def export(name, path):
    import torch
    if os.path.exists(path):
        return
    model = make_torch_model(name)
    inputs = example_inputs(name, 1)
    names = list(inputs)
    outputs = MODELS[name].outputs
    dynamic = {n: {0: "batch"} for n in names + outputs}
    kwargs = dict(input_names=names, output_names=outputs, dynamic_axes=dynamic, opset_version=17)
    with torch.no_grad():
        try:
            torch.onnx.export(model, tuple(inputs.values()), path, dynamo=False, **kwargs)
        except TypeError:  # an older torch without the dynamo argument
            torch.onnx.export(model, tuple(inputs.values()), path, **kwargs)
    log(f"exported {name} -> {path} ({os.path.getsize(path) / 2**20:.1f} MiB)")


def write_inputs(name, folder, batch):
    from onnx import numpy_helper
    os.makedirs(folder, exist_ok=True)
    arrays = {k: v.numpy() for k, v in example_inputs(name, batch).items()}
    for i, (k, a) in enumerate(arrays.items()):
        with open(os.path.join(folder, f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, k).SerializeToString())
    return arrays


def read_outputs(folder):
    import onnx
    from onnx import numpy_helper
    out = {}
    for f in sorted(os.listdir(folder)):
        if f.startswith("output_") and f.endswith(".pb"):
            t = onnx.TensorProto()
            with open(os.path.join(folder, f), "rb") as fh:
                t.ParseFromString(fh.read())
            out[t.name] = numpy_helper.to_array(t)
    return out


def kiln(build, *args, check=True):
    cmd = [os.path.join(build, "kiln"), *args]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and proc.returncode != 0:
        log(proc.stdout)
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}")
    return proc.stdout


def relative_error(actual, expected):
    """max |actual - expected| / max |expected| (inf when actual is missing)."""
    if actual is None:
        return float("inf")
    return float(np.max(np.abs(actual.astype(np.float64) - expected)) / max(float(np.max(np.abs(expected))), 1e-30))


def torch_half_outputs(name, arrays):
    """The model's outputs from PyTorch in fp16 on the GPU, by output name: the peer's own fp16 error."""
    import torch
    model = make_torch_model(name).cuda().half()
    inputs = {k: torch.from_numpy(v).cuda() for k, v in arrays.items()}
    inputs = {k: v.half() if v.is_floating_point() else v for k, v in inputs.items()}
    with torch.no_grad():
        result = model(*inputs.values())
    if isinstance(result, torch.Tensor):
        values = [result]
    elif hasattr(result, "to_tuple"):
        values = list(result.to_tuple())
    else:
        values = list(result)
    return {n: v.float().cpu().numpy() for n, v in zip(MODELS[name].outputs, values)}


def check(args):
    import onnxruntime as ort
    failed = 0
    rows = []
    for name in args.models:
        onnx_path = os.path.join(args.work, f"{name}.onnx")
        export(name, onnx_path)
        data = os.path.join(args.work, f"{name}_data")
        arrays = write_inputs(name, data, 1)
        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        ref = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, arrays)))
        torch_fp16 = torch_half_outputs(name, arrays)
        for precision, tol in (("fp32", 1e-4), ("fp16", 1e-2)):
            plan = os.path.join(args.work, f"{name}_{precision}.plan")
            flags = ["--fp16"] if precision == "fp16" else []
            t0 = time.time()
            summary = kiln(args.build, "build", f"--onnx={onnx_path}", "--device=cuda", *flags,
                           f"--save-engine={plan}")
            build_s = time.time() - t0
            fallback = re.search(r"CPU fallback[^\n]*", summary)
            out_dir = os.path.join(args.work, f"{name}_{precision}_out")
            os.makedirs(out_dir, exist_ok=True)
            kiln(args.build, "run", f"--engine={plan}", "--device=cuda", f"--load-inputs={data}",
                 f"--save-outputs={out_dir}")
            got = read_outputs(out_dir)
            for out_name, expected in ref.items():
                rel = relative_error(got.get(out_name), expected)
                ok = rel <= tol
                failed += not ok
                peer = relative_error(torch_fp16.get(out_name), expected) if precision == "fp16" else float("nan")
                rows.append((name, precision, out_name, rel, tol, "ok" if ok else "FAIL", build_s,
                             fallback.group(0) if fallback else "", peer))
    log("\n| model | precision | output | Kiln rel error | PyTorch fp16 rel error | limit | result | build s |")
    log("|---|---|---|---|---|---|---|---|")
    for r in rows:
        log(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2e} | {r[8]:.2e} | {r[4]:.0e} | {r[5]} | {r[6]:.1f} |")
        if r[7]:
            log(f"|   | {r[7]} |")
    log(f"models check: {'PASS' if failed == 0 else 'FAIL'} ({failed} outputs over the limit)")
    return failed == 0


def torch_median_ms(fn, inputs, warmup, iterations):
    import torch
    with torch.no_grad():
        for _ in range(warmup):
            fn(**inputs)
        torch.cuda.synchronize()
        times = []
        for _ in range(iterations):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn(**inputs)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    return float(np.median(times))


def kiln_median_ms(args, name, plan_onnx, batch, fp16, extra_flags=()):
    shapes = MODELS[name].kiln_shapes(batch)
    flags = ["--fp16"] if fp16 else []
    out = kiln(args.build, "bench", f"--onnx={plan_onnx}", "--device=cuda", *flags, *extra_flags, f"--shapes={shapes}",
               "--use-cuda-graph", "--no-data-transfers", f"--iterations={args.iterations}",
               f"--warmup={args.warmup}")
    m = re.search(r"GPU compute[^\n]*median\s+([0-9.]+)", out) or re.search(r"latency[^\n]*median\s+([0-9.]+)", out)
    if not m:
        log(out)
        raise RuntimeError("no median in kiln bench output")
    return float(m.group(1))


def kiln_profile(args, name, plan_onnx, batch):
    """Prints Kiln's per-layer-type GPU time (kiln bench --profile, CUDA events per layer), fp16."""
    shapes = MODELS[name].kiln_shapes(batch)
    out = kiln(args.build, "bench", f"--onnx={plan_onnx}", "--device=cuda", "--fp16", f"--shapes={shapes}",
               "--no-data-transfers", "--profile", "--iterations=20", "--warmup=5")
    start = out.find("Layer time per run")
    log(f"--- Kiln profile: {os.path.basename(plan_onnx)} batch {batch} fp16\n" + out[start:])


def bench(args):
    import torch
    rows = []
    # The peer at its strongest: cuDNN autotuning, channels-last CNNs (torch.compile reduce-overhead).
    torch.backends.cudnn.benchmark = True
    for name in args.models:
        onnx_path = os.path.join(args.work, f"{name}.onnx")
        export(name, onnx_path)
        model = make_torch_model(name).cuda().half()
        if MODELS[name].image:
            model = model.to(memory_format=torch.channels_last)
        compiled = torch.compile(model, mode=args.compile_mode)
        for batch in args.batches:
            inputs = example_inputs(name, batch, "cuda")
            if MODELS[name].image:
                inputs = {"x": inputs["input"].half().contiguous(memory_format=torch.channels_last)}
            eager = torch_median_ms(model, inputs, args.warmup, args.iterations)
            comp = torch_median_ms(compiled, inputs, args.warmup, args.iterations)
            try:
                k = kiln_median_ms(args, name, onnx_path, batch, fp16=True)
            except RuntimeError as e:
                log(f"kiln bench failed for {name} batch {batch}: {e}")
                k = float("nan")
            base = float("nan")
            if args.baseline_passes:
                try:
                    base = kiln_median_ms(args, name, onnx_path, batch, fp16=True,
                                          extra_flags=[f"--disable-passes={args.baseline_passes}"])
                except RuntimeError as e:
                    log(f"kiln baseline bench failed for {name} batch {batch}: {e}")
            rows.append((name, batch, eager, comp, k, base))
            if args.profile:
                kiln_profile(args, name, onnx_path, batch)
            log(f"{name} batch {batch}: eager {eager:.3f} ms, torch.compile {comp:.3f} ms, kiln {k:.3f} ms")
    base_head = f" Kiln without {args.baseline_passes} ms |" if args.baseline_passes else ""
    log(f"\n| model (fp16) | batch | PyTorch eager ms | torch.compile ms | Kiln ms |{base_head} eager/Kiln | compile/Kiln |")
    log("|---|---|---|---|---|---|---|" + ("---|" if args.baseline_passes else ""))
    for name, batch, eager, comp, k, base in rows:
        base_cell = f" {base:.3f} |" if args.baseline_passes else ""
        log(f"| {name} | {batch} | {eager:.3f} | {comp:.3f} | {k:.3f} |{base_cell} {eager / k:.2f}x | {comp / k:.2f}x |")
    return all(np.isfinite(r[4]) for r in rows)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build-gpu", help="build folder holding the kiln binary")
    p.add_argument("--work", default="/tmp/kiln-models")
    p.add_argument("--check", action="store_true")
    p.add_argument("--bench", action="store_true")
    p.add_argument("--profile", action="store_true", help="with --bench: also print Kiln's time per layer type")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), choices=list(MODELS))
    p.add_argument("--baseline-passes", default="",
                   help="with --bench: also time Kiln built with these passes disabled (comma list, kiln --disable-passes)")
    p.add_argument("--compile-mode", default="reduce-overhead", help="torch.compile mode of the peer (max-autotune, ...)")
    p.add_argument("--iterations", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    ok = True
    if args.check:
        ok &= check(args)
    if args.bench:
        ok &= bench(args)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
