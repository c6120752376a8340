"""python -m kiln compare: run a model with Kiln and ONNX Runtime on the same inputs and compare.

    python -m kiln compare model.onnx [--device cpu|cuda] [--fp16] [--inputs DIR] [--rtol R] [--atol A]
                                      [--all-outputs] [--seed N] [--shape name:1x3x224x224]

Inputs are seeded random data (or the TensorProto .pb files of --inputs DIR, matched by name or, for
unnamed tensors, by the order of the model's inputs). For each output it prints the max absolute and
relative error and pass/fail (|kiln - ort| <= atol + rtol * |ort| everywhere); the exit status is 1
when an output fails. --all-outputs marks every node output of the graph as a model output on both
sides and reports the first node (in topological order) whose output diverges.

Needs the onnx and onnxruntime packages (pip install onnx onnxruntime).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

import kiln


@dataclass
class OutputResult:
    name: str
    passed: bool
    max_abs: float = 0.0
    max_rel: float = 0.0
    shape: Tuple[int, ...] = ()
    note: str = ""
    node: str = ""  # producing node (with --all-outputs)


@dataclass
class CompareResult:
    outputs: List[OutputResult] = field(default_factory=list)
    first_divergence: Optional[OutputResult] = None
    kiln_error: Optional[str] = None

    @property
    def passed(self) -> bool:
        return self.kiln_error is None and all(r.passed for r in self.outputs)


# ---- model preparation ----------------------------------------------------------------------------


def _onnx():
    try:
        import onnx  # noqa: F401
        from onnx import numpy_helper, shape_inference  # noqa: F401  (submodules used later)

        return onnx
    except ImportError as e:  # pragma: no cover
        raise SystemExit("kiln compare needs the onnx package: pip install onnx onnxruntime") from e


def expose_all_outputs(model: Any) -> Tuple[Any, Dict[str, str]]:
    """A copy of the model with every node output of the main graph added to graph.output (types from
    ONNX shape inference). Returns the model and {tensor name: producing node description}."""
    onnx = _onnx()
    from onnx import shape_inference

    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    try:
        inferred = shape_inference.infer_shapes(model_copy)
    except Exception:  # a model shape inference cannot handle: outputs without types
        inferred = model_copy
    graph = inferred.graph
    known = {vi.name: vi for vi in list(graph.value_info) + list(graph.output) + list(graph.input)}
    existing = {o.name for o in graph.output}
    producers: Dict[str, str] = {}
    for index, node in enumerate(graph.node):
        label = f"#{index} {node.op_type} '{node.name}'" if node.name else f"#{index} {node.op_type}"
        for out in node.output:
            if not out:
                continue
            producers[out] = label
            if out in existing:
                continue
            vi = known.get(out)
            if vi is not None and vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
                new = onnx.ValueInfoProto()
                new.CopyFrom(vi)
            else:
                new = onnx.helper.make_empty_tensor_value_info(out)
            graph.output.append(new)
            existing.add(out)
    return inferred, producers


_ONNX_TO_NUMPY = {
    1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_,
    10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64,
}


def _input_specs(model: Any) -> List[Tuple[str, np.dtype, List[Any]]]:
    initializers = {t.name for t in model.graph.initializer}
    specs = []
    for vi in model.graph.input:
        if vi.name in initializers:
            continue
        tt = vi.type.tensor_type
        if tt.elem_type not in _ONNX_TO_NUMPY:
            raise SystemExit(f"input '{vi.name}' has an ONNX element type ({tt.elem_type}) compare cannot generate")
        dims: List[Any] = []
        for d in tt.shape.dim:
            dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or None))
        specs.append((vi.name, np.dtype(_ONNX_TO_NUMPY[tt.elem_type]), dims))
    return specs


def _parse_shape_args(items: Sequence[str]) -> Dict[str, Tuple[int, ...]]:
    shapes = {}
    for item in items or []:
        name, _, dims = item.rpartition(":")
        if not name:
            raise SystemExit(f"--shape expects name:AxBxC, got '{item}'")
        shapes[name] = tuple(int(d) for d in dims.split("x")) if dims else ()
    return shapes


def random_inputs(model: Any, seed: int = 0, shapes: Optional[Dict[str, Tuple[int, ...]]] = None,
                  dim_default: int = 1) -> Dict[str, np.ndarray]:
    """Seeded random data for the model's inputs. Unknown dims are 1 (or --shape)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, dtype, dims in _input_specs(model):
        if shapes and name in shapes:
            shape = shapes[name]
        else:
            shape = tuple(d if isinstance(d, int) and d > 0 else dim_default for d in dims)
        if dtype.kind == "f":
            value = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            value = rng.integers(0, 2, size=shape).astype(np.bool_)
        elif dtype.kind in "iu":
            value = rng.integers(0, 4, size=shape).astype(dtype)
        else:  # pragma: no cover
            raise SystemExit(f"cannot generate data for input '{name}' of type {dtype}")
        feeds[name] = value
    return feeds


def read_inputs(model: Any, directory: str) -> Dict[str, np.ndarray]:
    """TensorProto .pb files of a directory (e.g. an ONNX test case's test_data_set_0/input_*.pb)."""
    onnx = _onnx()
    from onnx import numpy_helper

    names = [name for name, _, _ in _input_specs(model)]
    files = sorted(f for f in os.listdir(directory) if f.endswith(".pb"))
    if not files:
        raise SystemExit(f"no .pb files in {directory}")
    # input_0.pb .. input_10.pb in numeric order
    def order(f: str):
        stem = os.path.splitext(f)[0]
        digits = "".join(c for c in stem.rsplit("_", 1)[-1] if c.isdigit())
        return (stem.rsplit("_", 1)[0], int(digits) if digits else 0, f)

    files.sort(key=order)
    files = [f for f in files if not f.startswith("output")]
    feeds: Dict[str, np.ndarray] = {}
    unnamed = []
    for f in files:
        tensor = onnx.TensorProto()
        with open(os.path.join(directory, f), "rb") as fh:
            tensor.ParseFromString(fh.read())
        array = numpy_helper.to_array(tensor)
        if tensor.name and tensor.name in names:
            feeds[tensor.name] = array
        else:
            unnamed.append(array)
    for name in names:
        if name not in feeds and unnamed:
            feeds[name] = unnamed.pop(0)
    missing = [n for n in names if n not in feeds]
    if missing:
        raise SystemExit(f"no .pb data in {directory} for inputs {missing}")
    return feeds


# ---- comparison ---------------------------------------------------------------------------------


def compare_arrays(name: str, got: np.ndarray, ref: np.ndarray, rtol: float, atol: float) -> OutputResult:
    got = np.asarray(got)
    ref = np.asarray(ref)
    if got.shape != ref.shape:
        return OutputResult(name, False, float("inf"), float("inf"), tuple(got.shape),
                            f"shape {tuple(got.shape)} != onnxruntime {tuple(ref.shape)}")
    if ref.dtype.kind in "OSU":
        same = bool(np.array_equal(got.astype(ref.dtype), ref))
        return OutputResult(name, same, 0.0 if same else float("inf"), 0.0 if same else float("inf"), tuple(got.shape))
    note = "" if got.dtype == ref.dtype else f"dtype {got.dtype} vs {ref.dtype}"
    if got.size == 0:
        return OutputResult(name, True, 0.0, 0.0, tuple(got.shape), note)
    g = got.astype(np.float64)
    r = ref.astype(np.float64)
    both_nan = np.isnan(g) & np.isnan(r)
    same_inf = np.isinf(g) & np.isinf(r) & (np.sign(g) == np.sign(r))
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(g - r)
    diff = np.where(both_nan | same_inf, 0.0, diff)
    diff = np.where(np.isnan(diff), np.inf, diff)
    # relative error over the elements whose reference is non-zero
    nonzero = np.abs(r) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(nonzero & (diff > 0), diff / np.where(nonzero, np.abs(r), 1.0), 0.0)
    ok = diff <= atol + rtol * np.abs(np.where(np.isfinite(r), r, 0.0))
    return OutputResult(name, bool(ok.all()), float(diff.max()), float(rel.max()), tuple(got.shape), note)


def run_onnxruntime(model_bytes: bytes, feeds: Dict[str, np.ndarray], outputs: Sequence[str],
                    device: str = "cpu") -> Dict[str, np.ndarray]:
    try:
        import onnxruntime as ort
    except ImportError as e:  # pragma: no cover
        raise SystemExit("kiln compare needs onnxruntime: pip install onnxruntime") from e
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, options, providers=providers)
    values = session.run(list(outputs), feeds)
    return dict(zip(outputs, values))


def run_kiln(model_bytes: bytes, feeds: Dict[str, np.ndarray], device: str = "cpu", fp16: bool = False,
             disabled_passes: Optional[Sequence[str]] = None) -> Dict[str, np.ndarray]:
    shapes = {name: tuple(value.shape) for name, value in feeds.items()}
    engine = kiln.build(model_bytes, device=device, fp16=fp16, shapes=shapes, disabled_passes=disabled_passes)
    outputs = kiln.infer(engine, feeds)
    return {name: np.asarray(value) for name, value in outputs.items()}


def compare_model(
    model: Any,
    *,
    device: str = "cpu",
    fp16: bool = False,
    inputs: Optional[Dict[str, np.ndarray]] = None,
    input_dir: Optional[str] = None,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    all_outputs: bool = False,
    seed: int = 0,
    shapes: Optional[Dict[str, Tuple[int, ...]]] = None,
    disabled_passes: Optional[Sequence[str]] = None,
) -> CompareResult:
    """Compares Kiln against ONNX Runtime on a model (path, bytes or onnx.ModelProto)."""
    onnx = _onnx()
    if isinstance(model, (str, os.PathLike)):
        model = onnx.load(os.fspath(model))
    elif isinstance(model, (bytes, bytearray)):
        model = onnx.load_from_string(bytes(model))
    rtol = rtol if rtol is not None else (1e-2 if fp16 else 1e-3)
    atol = atol if atol is not None else (1e-2 if fp16 else 1e-4)

    producers: Dict[str, str] = {}
    if all_outputs:
        model, producers = expose_all_outputs(model)
    if inputs is None:
        inputs = read_inputs(model, input_dir) if input_dir else random_inputs(model, seed, shapes)
    model_bytes = model.SerializeToString()
    output_names = [o.name for o in model.graph.output]
    if all_outputs:  # report in topological order
        order = {name: i for i, name in enumerate(producers)}
        output_names.sort(key=lambda name: order.get(name, len(order)))

    reference = run_onnxruntime(model_bytes, inputs, output_names, device)
    result = CompareResult()
    try:
        got = run_kiln(model_bytes, inputs, device, fp16, disabled_passes)
    except kiln.Error as e:
        result.kiln_error = str(e)
        return result
    for name in output_names:
        if name not in got:
            result.outputs.append(OutputResult(name, False, note="missing from Kiln's outputs", node=producers.get(name, "")))
            continue
        r = compare_arrays(name, got[name], reference[name], rtol, atol)
        r.node = producers.get(name, "")
        result.outputs.append(r)
    if all_outputs:
        order = {name: i for i, name in enumerate(producers)}
        failing = sorted((r for r in result.outputs if not r.passed), key=lambda r: order.get(r.name, len(order)))
        result.first_divergence = failing[0] if failing else None
    return result


def format_table(result: CompareResult) -> str:
    headers = ["output", "shape", "max abs err", "max rel err", "result"]
    with_node = any(r.node for r in result.outputs)
    if with_node:
        headers.insert(1, "node")
    rows = []
    for r in result.outputs:
        row = [r.name, "x".join(str(d) for d in r.shape) or "scalar", f"{r.max_abs:.3e}", f"{r.max_rel:.3e}",
               ("PASS" if r.passed else "FAIL") + (f" ({r.note})" if r.note else "")]
        if with_node:
            row.insert(1, r.node)
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    return "\n".join(out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m kiln compare",
                                description="Compare Kiln with ONNX Runtime on an ONNX model")
    p.add_argument("model", help="the .onnx model")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda / cuda:N")
    p.add_argument("--fp16", action="store_true", help="let Kiln use float16 kernels")
    p.add_argument("--inputs", metavar="DIR", help="a directory of TensorProto .pb input files")
    p.add_argument("--rtol", type=float, default=None, help="relative tolerance (default 1e-3, 1e-2 with --fp16)")
    p.add_argument("--atol", type=float, default=None, help="absolute tolerance (default 1e-4, 1e-2 with --fp16)")
    p.add_argument("--all-outputs", action="store_true",
                   help="compare every intermediate tensor and report the first diverging node")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--shape", action="append", default=[], metavar="NAME:AxBxC",
                   help="shape of a dynamic input for the random data (repeatable)")
    p.add_argument("--disable-pass", action="append", default=[], metavar="PASS",
                   help="builder pass to skip (repeatable)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    result = compare_model(
        args.model,
        device=args.device,
        fp16=args.fp16,
        input_dir=args.inputs,
        rtol=args.rtol,
        atol=args.atol,
        all_outputs=args.all_outputs,
        seed=args.seed,
        shapes=_parse_shape_args(args.shape),
        disabled_passes=args.disable_pass or None,
    )
    if result.kiln_error is not None:
        print(f"kiln failed: {result.kiln_error}", file=sys.stderr)
        return 1
    print(format_table(result))
    failed = [r for r in result.outputs if not r.passed]
    if args.all_outputs and result.first_divergence is not None:
        r = result.first_divergence
        print(f"\nfirst divergence: node {r.node} output '{r.name}' "
              f"(max abs err {r.max_abs:.3e}, max rel err {r.max_rel:.3e})")
    total = len(result.outputs)
    print(f"\n{total - len(failed)}/{total} outputs match" + ("" if not failed else " - FAIL"))
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
