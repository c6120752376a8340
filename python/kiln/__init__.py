"""Kiln: a deep-learning inference engine.

The C++ API (include/kiln/kiln.h) with Python naming::

    import kiln
    builder = kiln.Builder()
    network = builder.create_network()
    kiln.OnnxParser(network).parse_from_file("model.onnx")
    config = kiln.BuilderConfig(device="cpu")
    config.set_shape("input", (1, 3, 224, 224), (8, 3, 224, 224), (32, 3, 224, 224))
    plan = builder.build_serialized_network(network, config)          # bytes
    engine = kiln.Runtime().deserialize_engine(plan)
    context = engine.create_execution_context()
    context.set_input_shape("input", x.shape)
    context.set_tensor_address("input", x.ctypes.data)
    ...
    context.execute()

and one-call helpers::

    engine = kiln.build("model.onnx", device="cpu", shapes={"input": (1, 3, 224, 224)})
    outputs = kiln.infer(engine, {"input": x})                         # {name: numpy array}

Every failure raises kiln.Error carrying Kiln's message (``e.code`` is a kiln.ErrorCode).
"""

from __future__ import annotations

import ctypes
import os
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _kiln
from ._kiln import (  # noqa: F401  (re-exported API)
    ActivationParams,
    ActivationType,
    ArgMinMaxParams,
    BuildSummary,
    Builder,
    BuilderConfig,
    CastParams,
    ConcatenationParams,
    ConstantParams,
    ConvolutionParams,
    CumSumParams,
    DataType,
    DeconvolutionParams,
    EinsumParams,
    ElementWiseOp,
    ElementWiseParams,
    Engine,
    Error,
    ErrorCode,
    ExecutionContext,
    ExpandParams,
    GatherMode,
    GatherParams,
    IdentityParams,
    ILayer,
    ITensor,
    LayerTactic,
    LayerType,
    Logger,
    MatrixMultiplyParams,
    NetworkDefinition,
    NonZeroParams,
    NormalizationParams,
    NormalizationType,
    OnnxParser,
    OptimizationProfile,
    PaddingMode,
    PaddingParams,
    PadMode,
    PoolingParams,
    PoolingType,
    RangeParams,
    ReduceOp,
    ReduceParams,
    ReshapeMode,
    ReshapeParams,
    Runtime,
    SelectParams,
    Severity,
    ShapeParams,
    ShapeRange,
    SliceParams,
    SoftmaxParams,
    SoftmaxType,
    SplitParams,
    TensorIOMode,
    TileParams,
    TopKParams,
    TransposeParams,
    TriluParams,
    UnaryOp,
    UnaryParams,
    data_type,
    default_logger,
    version,
)

__version__ = _kiln.__version__
built_with_cuda: bool = bool(_kiln.built_with_cuda)

__all__ = [name for name in dir(_kiln) if not name.startswith("_")] + [
    "build",
    "build_serialized",
    "load",
    "infer",
    "nptype",
    "built_with_cuda",
]

# ---- data types -----------------------------------------------------------------------------------

_NUMPY_TYPES = {
    DataType.FLOAT32: np.float32,
    DataType.FLOAT16: np.float16,
    DataType.FLOAT64: np.float64,
    DataType.INT8: np.int8,
    DataType.UINT8: np.uint8,
    DataType.INT16: np.int16,
    DataType.UINT16: np.uint16,
    DataType.INT32: np.int32,
    DataType.UINT32: np.uint32,
    DataType.INT64: np.int64,
    DataType.UINT64: np.uint64,
    DataType.BOOL: np.bool_,
}


def nptype(dtype: DataType) -> np.dtype:
    """The numpy dtype of a kiln.DataType.

    BFLOAT16 and FP8E4M3 map to ml_dtypes' types when ml_dtypes is installed, else to their raw
    bits (uint16 / uint8)."""
    if dtype in _NUMPY_TYPES:
        return np.dtype(_NUMPY_TYPES[dtype])
    if dtype in (DataType.BFLOAT16, DataType.FP8E4M3):
        try:
            import ml_dtypes  # type: ignore

            return np.dtype(ml_dtypes.bfloat16 if dtype == DataType.BFLOAT16 else ml_dtypes.float8_e4m3fn)
        except ImportError:
            return np.dtype(np.uint16 if dtype == DataType.BFLOAT16 else np.uint8)
    raise Error(f"data type {dtype.name} has no numpy equivalent")


# ---- building and loading -------------------------------------------------------------------------

PathLike = Union[str, "os.PathLike[str]"]
ShapeSpec = Union[Sequence[int], Tuple[Sequence[int], Sequence[int], Sequence[int]]]


def _is_shape_triple(value: Any) -> bool:
    if isinstance(value, ShapeRange):
        return True
    if isinstance(value, dict):
        return True
    try:
        return len(value) == 3 and all(isinstance(v, (list, tuple)) for v in value)
    except TypeError:
        return False


def _apply_shapes(config: BuilderConfig, shapes: Optional[Mapping[str, ShapeSpec]]) -> None:
    for name, value in (shapes or {}).items():
        if isinstance(value, ShapeRange):
            lo, opt, hi = value.min, value.opt, value.max
        elif isinstance(value, dict):
            lo, opt, hi = value["min"], value["opt"], value["max"]
        elif _is_shape_triple(value):
            lo, opt, hi = value
        else:
            lo = opt = hi = value
        config.set_shape(name, [int(d) for d in lo], [int(d) for d in opt], [int(d) for d in hi])


def _parse_model(parser: OnnxParser, model: Any) -> None:
    if isinstance(model, (str, os.PathLike)):
        parser.parse_from_file(os.fspath(model))
    elif hasattr(model, "SerializeToString"):  # onnx.ModelProto
        parser.parse(model.SerializeToString())
    else:
        parser.parse(bytes(model) if not isinstance(model, (bytes, bytearray, memoryview)) else model)


def build_serialized(
    model: Any,
    device: str = "cpu",
    fp16: bool = False,
    shapes: Optional[Mapping[str, ShapeSpec]] = None,
    *,
    bf16: bool = False,
    disabled_passes: Optional[Iterable[str]] = None,
    logger: Optional[Logger] = None,
    summary: Optional[BuildSummary] = None,
    builder_effort: int = 3,
    timing_cache: Optional[Union[str, os.PathLike]] = None,
) -> bytes:
    """Builds an ONNX model (path, serialized bytes or onnx.ModelProto) into plan bytes.

    shapes: {input name: shape} fixes a dynamic input's shape; {input name: (min, opt, max)} gives it
    a range (the optimization profile). builder_effort (0..5) sets how many candidate kernels are timed
    per layer (0: none); timing_cache names a file that keeps the timings between builds."""
    builder = Builder(logger)
    network = builder.create_network()
    _parse_model(OnnxParser(network, logger), model)
    config = BuilderConfig(device=device, fp16=fp16, bf16=bf16)
    config.builder_effort = builder_effort
    if timing_cache is not None:
        config.timing_cache = os.fspath(timing_cache)
    _apply_shapes(config, shapes)
    if disabled_passes:
        config.disabled_passes = list(disabled_passes)
    return builder.build_serialized_network(network, config, summary)


def build(
    model: Any,
    device: str = "cpu",
    fp16: bool = False,
    shapes: Optional[Mapping[str, ShapeSpec]] = None,
    *,
    bf16: bool = False,
    disabled_passes: Optional[Iterable[str]] = None,
    logger: Optional[Logger] = None,
    summary: Optional[BuildSummary] = None,
    builder_effort: int = 3,
    timing_cache: Optional[Union[str, os.PathLike]] = None,
) -> Engine:
    """Builds an ONNX model (path, serialized bytes or onnx.ModelProto) into an Engine.

    See build_serialized() for the arguments."""
    plan = build_serialized(
        model, device, fp16, shapes, bf16=bf16, disabled_passes=disabled_passes, logger=logger, summary=summary,
        builder_effort=builder_effort, timing_cache=timing_cache,
    )
    return Runtime(logger).deserialize_engine(plan)


def load(plan: Any, logger: Optional[Logger] = None) -> Engine:
    """An Engine from plan bytes or a plan file path."""
    if isinstance(plan, (str, os.PathLike)):
        return Runtime(logger).deserialize_engine_from_file(os.fspath(plan))
    return Runtime(logger).deserialize_engine(plan)


def _as_engine(obj: Any) -> Engine:
    if isinstance(obj, Engine):
        return obj
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return Runtime().deserialize_engine(obj)
    if isinstance(obj, (str, os.PathLike)):
        path = os.fspath(obj)
        if path.lower().endswith(".onnx"):
            return build(path)
        return Runtime().deserialize_engine_from_file(path)
    if hasattr(obj, "SerializeToString"):
        return build(obj)
    raise TypeError(f"expected a kiln.Engine, plan bytes, a plan or .onnx path, got {type(obj).__name__}")


# ---- buffers --------------------------------------------------------------------------------------

_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 13
_DL_TYPES = {(0, 8): np.int8, (0, 16): np.int16, (0, 32): np.int32, (0, 64): np.int64,
             (1, 8): np.uint8, (1, 16): np.uint16, (1, 32): np.uint32, (1, 64): np.uint64,
             (2, 16): np.float16, (2, 32): np.float32, (2, 64): np.float64, (6, 8): np.bool_}


class _Buffer:
    """A bound buffer: address, shape, dtype, whether it lives on a CUDA device, and what owns it."""

    __slots__ = ("address", "shape", "dtype", "on_device", "owner", "stream")

    def __init__(self, address: int, shape: Tuple[int, ...], dtype: np.dtype, on_device: bool, owner: Any,
                 stream: Optional[int] = None):
        self.address = address
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.on_device = on_device
        self.owner = owner
        self.stream = stream


def _c_contiguous(shape: Sequence[int], strides: Optional[Sequence[int]], itemsize: int) -> bool:
    if strides is None:
        return True
    expected = itemsize
    for dim, stride in zip(reversed(shape), reversed(strides)):
        if dim != 1 and stride != expected:
            return False
        expected *= dim
    return True


def _is_torch_tensor(obj: Any) -> bool:
    return type(obj).__module__.startswith("torch") and hasattr(obj, "data_ptr")


def _device_buffer(obj: Any, stream: Optional[int]) -> Optional[_Buffer]:
    """A _Buffer for a CUDA array (torch tensor, __cuda_array_interface__, DLPack); None for host data."""
    if _is_torch_tensor(obj):
        if not obj.is_cuda:
            return None
        from .torch import _torch_to_numpy_dtype

        if not obj.is_contiguous():
            raise ValueError("CUDA tensors must be contiguous to be bound without a copy (call .contiguous())")
        return _Buffer(obj.data_ptr(), tuple(obj.shape), _torch_to_numpy_dtype(obj.dtype), True, obj)
    cai = getattr(obj, "__cuda_array_interface__", None)
    if cai is not None:
        dtype = np.dtype(cai["typestr"])
        shape = tuple(cai["shape"])
        if not _c_contiguous(shape, cai.get("strides"), dtype.itemsize):
            raise ValueError("CUDA arrays must be C-contiguous to be bound without a copy")
        address = int(cai["data"][0] or 0)
        return _Buffer(address, shape, dtype, True, obj, cai.get("stream"))
    if hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__") and not isinstance(obj, np.ndarray):
        device_type, _ = obj.__dlpack_device__()
        if int(device_type) not in (_DL_CUDA, _DL_CUDA_MANAGED):
            return None
        # DLPack stream convention: 1 is the legacy default stream.
        capsule = obj.__dlpack__(stream=stream if stream else 1)
        info = _kiln._dlpack_info(capsule)
        code, bits, lanes = info["dtype"]
        if lanes != 1 or (code, bits) not in _DL_TYPES:
            raise ValueError(f"unsupported DLPack dtype (code {code}, bits {bits}, lanes {lanes})")
        dtype = np.dtype(_DL_TYPES[(code, bits)])
        strides = info["strides"]
        if strides is not None and not _c_contiguous(info["shape"], [s * dtype.itemsize for s in strides], dtype.itemsize):
            raise ValueError("DLPack tensors must be C-contiguous to be bound without a copy")
        return _Buffer(info["data"], info["shape"], dtype, True, (obj, capsule))
    return None


def _host_buffer(obj: Any, expected: np.dtype) -> _Buffer:
    """Binds host data: used in place when a C-contiguous array of the engine's dtype, else converted."""
    arr = obj if isinstance(obj, np.ndarray) else np.asarray(obj)
    if arr.dtype != expected:
        if not np.can_cast(arr.dtype, expected, casting="same_kind") and not (
            arr.dtype.kind in "iub" and expected.kind in "iuf"
        ):
            raise TypeError(f"cannot convert {arr.dtype} input to {expected}")
        arr = arr.astype(expected)
    arr = np.ascontiguousarray(arr)
    return _Buffer(arr.ctypes.data, arr.shape, arr.dtype, False, arr)


class DeviceArray:
    """Device memory owned by an ExecutionContext (outputs Kiln allocated), exposed through
    __cuda_array_interface__. Keeps the context alive; valid until the context runs again."""

    def __init__(self, context: ExecutionContext, address: int, shape: Tuple[int, ...], dtype: np.dtype,
                 stream: Optional[int]):
        self._context = context
        self.address = address
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self._stream = stream

    @property
    def __cuda_array_interface__(self) -> Dict[str, Any]:
        return {
            "shape": self.shape,
            "typestr": self.dtype.str,
            "data": (self.address, False),
            "strides": None,
            "version": 3,
            "stream": self._stream if self._stream else 1,
        }

    def __repr__(self) -> str:
        return f"<kiln.DeviceArray shape={self.shape} dtype={self.dtype} address=0x{self.address:x}>"


def _read_host(address: int, shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    nbytes = count * dtype.itemsize
    if nbytes == 0:
        return np.empty(shape, dtype)
    if not address:
        raise Error(f"Kiln returned a null address for a {nbytes}-byte output")
    raw = (ctypes.c_ubyte * nbytes).from_address(address)
    return np.frombuffer(raw, dtype=dtype, count=count).reshape(shape).copy()


def _normalize_inputs(engine: Engine, inputs: Any) -> Dict[str, Any]:
    names = engine.input_names
    if isinstance(inputs, Mapping):
        return dict(inputs)
    if isinstance(inputs, (list, tuple)):
        if len(inputs) != len(names):
            raise Error(f"the engine has {len(names)} inputs {names}, {len(inputs)} were given")
        return dict(zip(names, inputs))
    if len(names) != 1:
        raise Error(f"the engine has {len(names)} inputs {names}: pass a dict name -> array")
    return {names[0]: inputs}


def _stream_of(buffers: Iterable[_Buffer]) -> int:
    for b in buffers:
        if isinstance(b.owner, tuple):
            continue
        owner = b.owner
        if _is_torch_tensor(owner):
            import torch

            return int(torch.cuda.current_stream(owner.device).cuda_stream)
        if b.stream not in (None, 1, 2):
            return int(b.stream)
    try:  # cupy's current stream when cupy arrays are used
        import sys

        if "cupy" in sys.modules:
            return int(sys.modules["cupy"].cuda.get_current_stream().ptr)
    except Exception:  # pragma: no cover
        pass
    return 0


def infer(
    engine: Any,
    inputs: Any,
    *,
    context: Optional[ExecutionContext] = None,
    stream: Optional[int] = None,
) -> Dict[str, Any]:
    """Runs an engine once and returns {output name: array}.

    engine: a kiln.Engine, plan bytes, a plan file path, or an .onnx path / onnx.ModelProto (built for
    the CPU with default settings).
    inputs: {name: array}, a list in the engine's input order, or one array for a one-input engine.

    Host inputs (numpy arrays, anything numpy.asarray accepts) are bound in place when C-contiguous and
    of the engine's dtype (no copy), otherwise converted. Outputs are numpy arrays allocated at the
    context's output shapes and bound by address; data-dependent outputs are read back after execute.

    On GPU engines, CUDA inputs (torch tensors, __cuda_array_interface__ or __dlpack__ objects) are
    bound in place and inference is enqueued on `stream` (default: the caller's current stream: torch's
    or cupy's current stream, or the arrays' own stream); outputs are then device tensors of the same
    library (torch), or kiln.DeviceArray objects (__cuda_array_interface__) owned by the context. The
    call does not synchronize. Host inputs on a GPU engine run synchronously through execute().

    context: an ExecutionContext of the engine to run on (by default a new one is made).
    """
    engine = _as_engine(engine)
    named = _normalize_inputs(engine, inputs)
    ctx = context if context is not None else engine.create_execution_context()
    on_gpu = engine.device != "cpu"

    buffers: Dict[str, _Buffer] = {}
    for name, value in named.items():
        dtype = nptype(engine.get_tensor_dtype(name))  # raises kiln.Error for an unknown name
        if engine.get_tensor_mode(name) != TensorIOMode.INPUT:
            raise Error(f"'{name}' is not an input of the engine (inputs: {engine.input_names})")
        dev = _device_buffer(value, stream) if on_gpu else None
        if dev is None and not on_gpu and (_is_torch_tensor(value) and value.is_cuda):
            raise Error(f"input '{name}' is a CUDA tensor but the engine runs on the CPU")
        if dev is not None and dev.dtype != dtype:
            raise TypeError(f"input '{name}' has dtype {dev.dtype}, the engine expects {dtype}")
        buffers[name] = dev if dev is not None else _host_buffer(value, dtype)

    kinds = {b.on_device for b in buffers.values()}
    if len(kinds) > 1:
        raise ValueError("inputs mix host and CUDA arrays: pass all inputs on the same side")
    device_run = kinds == {True}
    if device_run and stream is None:
        stream = _stream_of(buffers.values())

    for name, buf in buffers.items():
        ctx.set_input_shape(name, buf.shape)
        ctx.set_tensor_address(name, buf.address)

    outputs: Dict[str, Any] = {}
    data_dependent = []  # outputs whose shape depends on data: Kiln leaves them in host memory it owns
    context_owned = []  # device outputs Kiln allocates (no array library to allocate them with)
    torch_like = next((b.owner for b in buffers.values() if _is_torch_tensor(b.owner)), None)
    for name in engine.output_names:
        dtype = nptype(engine.get_tensor_dtype(name))
        shape = ctx.get_tensor_shape(name)
        if any(d < 0 for d in shape):
            ctx.set_tensor_address(name, 0)  # unbound: Kiln allocates it
            data_dependent.append((name, dtype))
            continue
        if not device_run:
            out = np.empty(shape, dtype)
            outputs[name] = out
            ctx.set_tensor_address(name, out.ctypes.data)
        elif torch_like is not None:
            import torch

            from .torch import _numpy_to_torch_dtype

            out = torch.empty(shape, dtype=_numpy_to_torch_dtype(dtype), device=torch_like.device)
            outputs[name] = out
            ctx.set_tensor_address(name, out.data_ptr())
        else:
            ctx.set_tensor_address(name, 0)  # allocated by the context
            context_owned.append((name, dtype))

    if device_run:
        ctx.execute_async(stream or 0)
    else:
        ctx.execute()

    for name, dtype in data_dependent:
        host = _read_host(ctx.get_tensor_address(name), ctx.get_tensor_shape(name), dtype)
        if device_run and torch_like is not None:
            import torch

            outputs[name] = torch.from_numpy(host).to(torch_like.device)
        else:
            outputs[name] = host
    for name, dtype in context_owned:
        shape = ctx.get_tensor_shape(name)
        outputs[name] = DeviceArray(ctx, ctx.get_tensor_address(name), shape, dtype, stream)
    # keep the output order of the engine
    return {name: outputs[name] for name in engine.output_names}
