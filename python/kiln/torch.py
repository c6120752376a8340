"""PyTorch integration: kiln.torch.KilnModule runs a Kiln engine as a torch.nn.Module.

torch is imported when this module is used, not by ``import kiln``.

    engine = kiln.build("model.onnx", device="cuda")
    module = kiln.torch.KilnModule(engine)
    y = module(x)            # x: a CUDA tensor; runs on torch.cuda.current_stream()
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Union

import numpy as np

import torch as _torch

from . import (
    DataType,
    Engine,
    Error,
    ExecutionContext,
    TensorIOMode,
    _as_engine,
    _read_host,
    nptype,
)

_TORCH_TYPES = {
    DataType.FLOAT32: _torch.float32,
    DataType.FLOAT16: _torch.float16,
    DataType.BFLOAT16: _torch.bfloat16,
    DataType.FLOAT64: _torch.float64,
    DataType.INT8: _torch.int8,
    DataType.UINT8: _torch.uint8,
    DataType.INT16: _torch.int16,
    DataType.INT32: _torch.int32,
    DataType.INT64: _torch.int64,
    DataType.BOOL: _torch.bool,
}
for _name, _dt in (("UINT16", "uint16"), ("UINT32", "uint32"), ("UINT64", "uint64"), ("FP8E4M3", "float8_e4m3fn")):
    if hasattr(_torch, _dt):
        _TORCH_TYPES[getattr(DataType, _name)] = getattr(_torch, _dt)

_NP_TO_TORCH = {
    np.dtype(np.float32): _torch.float32,
    np.dtype(np.float16): _torch.float16,
    np.dtype(np.float64): _torch.float64,
    np.dtype(np.int8): _torch.int8,
    np.dtype(np.uint8): _torch.uint8,
    np.dtype(np.int16): _torch.int16,
    np.dtype(np.int32): _torch.int32,
    np.dtype(np.int64): _torch.int64,
    np.dtype(np.bool_): _torch.bool,
}
for _np, _dt in ((np.uint16, "uint16"), (np.uint32, "uint32"), (np.uint64, "uint64")):
    if hasattr(_torch, _dt):
        _NP_TO_TORCH[np.dtype(_np)] = getattr(_torch, _dt)
_TORCH_TO_NP = {v: k for k, v in _NP_TO_TORCH.items()}


def torch_dtype(dtype: DataType) -> "_torch.dtype":
    """The torch dtype of a kiln.DataType."""
    try:
        return _TORCH_TYPES[dtype]
    except KeyError:
        raise Error(f"data type {dtype.name} has no torch equivalent") from None


def _numpy_to_torch_dtype(dtype: np.dtype) -> "_torch.dtype":
    dtype = np.dtype(dtype)
    if dtype in _NP_TO_TORCH:
        return _NP_TO_TORCH[dtype]
    if dtype.name == "bfloat16":
        return _torch.bfloat16
    raise Error(f"numpy dtype {dtype} has no torch equivalent")


def _torch_to_numpy_dtype(dtype: "_torch.dtype") -> np.dtype:
    if dtype in _TORCH_TO_NP:
        return _TORCH_TO_NP[dtype]
    if dtype == _torch.bfloat16:
        return nptype(DataType.BFLOAT16)
    raise Error(f"torch dtype {dtype} has no Kiln equivalent")


class KilnModule(_torch.nn.Module):
    """A torch.nn.Module running a Kiln engine.

    forward(*tensors) takes the engine's inputs in order (or forward(**{name: tensor})), binds them by
    address (no copy when contiguous and of the engine's dtype) and returns the outputs as torch
    tensors: one tensor for a single-output engine, else a tuple in the engine's output order.

    CPU engines take CPU tensors and run synchronously. GPU engines take CUDA tensors and enqueue on
    torch.cuda.current_stream(); CPU tensors given to a GPU engine are moved to its device first.
    The module keeps one ExecutionContext: call it from one thread at a time.
    """

    def __init__(self, engine: Union[Engine, bytes, str, "os.PathLike[str]"]):
        super().__init__()
        self.engine: Engine = _as_engine(engine)
        self.context: ExecutionContext = self.engine.create_execution_context()
        self.input_names: List[str] = list(self.engine.input_names)
        self.output_names: List[str] = list(self.engine.output_names)
        self.on_gpu: bool = self.engine.device != "cpu"
        if self.on_gpu:
            dev = self.engine.device
            self._device = _torch.device(dev if ":" in dev else "cuda:0")
        else:
            self._device = _torch.device("cpu")

    @property
    def device(self) -> "_torch.device":
        return self._device

    def extra_repr(self) -> str:
        return f"device={self.engine.device}, inputs={self.input_names}, outputs={self.output_names}"

    def _prepare(self, name: str, tensor: Any) -> "_torch.Tensor":
        if not isinstance(tensor, _torch.Tensor):
            tensor = _torch.as_tensor(np.asarray(tensor))
        want = torch_dtype(self.engine.get_tensor_dtype(name))
        if tensor.device != self._device:
            if self.on_gpu or tensor.is_cuda:
                tensor = tensor.to(self._device)
        if tensor.dtype != want:
            tensor = tensor.to(want)
        if not tensor.is_contiguous():
            tensor = tensor.contiguous()
        return tensor.detach()

    def forward(self, *tensors: Any, **named: Any):
        if tensors and named:
            raise TypeError("pass inputs either positionally or by name, not both")
        if tensors:
            if len(tensors) != len(self.input_names):
                raise Error(f"the engine has {len(self.input_names)} inputs {self.input_names}, {len(tensors)} were given")
            named = dict(zip(self.input_names, tensors))
        ctx = self.context
        bound: Dict[str, _torch.Tensor] = {}
        for name, tensor in named.items():
            if self.engine.get_tensor_mode(name) != TensorIOMode.INPUT:
                raise Error(f"'{name}' is not an input of the engine (inputs: {self.input_names})")
            t = self._prepare(name, tensor)
            bound[name] = t
            ctx.set_input_shape(name, tuple(t.shape))
            ctx.set_tensor_address(name, t.data_ptr())

        outputs: Dict[str, _torch.Tensor] = {}
        pending = []
        for name in self.output_names:
            shape = ctx.get_tensor_shape(name)
            if any(d < 0 for d in shape):
                ctx.set_tensor_address(name, 0)  # unbound: Kiln allocates it
                pending.append(name)
                continue
            out = _torch.empty(shape, dtype=torch_dtype(self.engine.get_tensor_dtype(name)), device=self._device)
            outputs[name] = out
            ctx.set_tensor_address(name, out.data_ptr())

        if self.on_gpu:
            stream = _torch.cuda.current_stream(self._device)
            ctx.execute_async(int(stream.cuda_stream))
        else:
            ctx.execute()

        for name in pending:  # data-dependent shapes: Kiln leaves these in host memory it owns
            dtype = nptype(self.engine.get_tensor_dtype(name))
            host = _read_host(ctx.get_tensor_address(name), ctx.get_tensor_shape(name), dtype)
            outputs[name] = _torch.from_numpy(host).to(self._device)
        del bound  # inputs stay referenced until the run was enqueued
        result = tuple(outputs[name] for name in self.output_names)
        return result[0] if len(result) == 1 else result


__all__ = ["KilnModule", "torch_dtype"]
