"""GPU engines: torch CUDA tensors, streams, __cuda_array_interface__, DLPack, KilnModule on cuda.

Skipped without a CUDA device, a CUDA build of Kiln, or torch with CUDA."""

import numpy as np
import pytest

import kiln
from conftest import conv_model, mlp_model, ort_run

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.skipif(
    not (kiln.built_with_cuda and torch.cuda.is_available()),
    reason="needs a CUDA device, torch with CUDA and Kiln built with the CUDA backend",
)

SHAPES = {"x": ((1, 4), (4, 4), (16, 4))}


@pytest.fixture(scope="module")
def cuda_engine():
    return kiln.build(mlp_model(), device="cuda", shapes=SHAPES)


@pytest.fixture(scope="module")
def cpu_engine():
    return kiln.build(mlp_model(), device="cpu", shapes=SHAPES)


def _x(batch=4, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, 4)).astype(np.float32)


def test_engine_device(cuda_engine):
    assert cuda_engine.device.startswith("cuda")
    plan = cuda_engine.serialize()
    assert kiln.Runtime().deserialize_engine(plan).device == cuda_engine.device


def test_infer_torch_cuda_zero_copy(cuda_engine, cpu_engine):
    x = torch.from_numpy(_x(5)).cuda()
    ctx = cuda_engine.create_execution_context()
    out = kiln.infer(cuda_engine, {"x": x}, context=ctx)
    y = out["y"]
    assert isinstance(y, torch.Tensor) and y.is_cuda and y.shape == (5, 3)
    assert ctx.get_tensor_address("x") == x.data_ptr()
    assert ctx.get_tensor_address("y") == y.data_ptr()
    torch.cuda.current_stream().synchronize()
    expected = kiln.infer(cpu_engine, {"x": x.cpu().numpy()})["y"]
    np.testing.assert_allclose(y.cpu().numpy(), expected, rtol=1e-3, atol=1e-5)


def test_infer_numpy_on_gpu_engine(cuda_engine):
    x = _x(3)
    got = kiln.infer(cuda_engine, {"x": x})["y"]
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, ort_run(mlp_model(), {"x": x})["y"], rtol=1e-3, atol=1e-5)


def test_infer_on_caller_stream(cuda_engine, cpu_engine):
    stream = torch.cuda.Stream()
    x_host = _x(16, seed=3)
    with torch.cuda.stream(stream):
        x = torch.from_numpy(x_host).cuda(non_blocking=False)
        results = [kiln.infer(cuda_engine, {"x": x})["y"] for _ in range(3)]
        explicit = kiln.infer(cuda_engine, {"x": x}, stream=stream.cuda_stream)["y"]
    stream.synchronize()
    expected = kiln.infer(cpu_engine, {"x": x_host})["y"]
    for y in results + [explicit]:
        np.testing.assert_allclose(y.cpu().numpy(), expected, rtol=1e-3, atol=1e-5)


def test_context_execute_async(cuda_engine, cpu_engine):
    x = torch.from_numpy(_x(2)).cuda()
    y = torch.empty((2, 3), device="cuda")
    ctx = cuda_engine.create_execution_context()
    ctx.set_input_shape("x", tuple(x.shape))
    ctx.set_tensor_address("x", x.data_ptr())
    ctx.set_tensor_address("y", y.data_ptr())
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    ctx.execute_async(stream.cuda_stream)
    stream.synchronize()
    np.testing.assert_allclose(y.cpu().numpy(), kiln.infer(cpu_engine, {"x": x.cpu().numpy()})["y"], rtol=1e-3, atol=1e-5)


class _CAIOnly:
    def __init__(self, t):
        self._t = t
        self.__cuda_array_interface__ = t.__cuda_array_interface__


class _DLPackOnly:
    def __init__(self, t):
        self._t = t

    def __dlpack__(self, stream=None):
        return self._t.__dlpack__(stream=stream)

    def __dlpack_device__(self):
        return self._t.__dlpack_device__()


@pytest.mark.parametrize("wrap", [_CAIOnly, _DLPackOnly])
def test_cuda_array_interface_and_dlpack(cuda_engine, cpu_engine, wrap):
    x = torch.from_numpy(_x(4, seed=5)).cuda()
    torch.cuda.synchronize()
    ctx = cuda_engine.create_execution_context()
    out = kiln.infer(cuda_engine, {"x": wrap(x)}, context=ctx)["y"]
    assert ctx.get_tensor_address("x") == x.data_ptr()
    assert hasattr(out, "__cuda_array_interface__")
    y = torch.as_tensor(out, device="cuda")
    torch.cuda.synchronize()
    np.testing.assert_allclose(y.cpu().numpy(), kiln.infer(cpu_engine, {"x": x.cpu().numpy()})["y"], rtol=1e-3, atol=1e-5)


def test_kiln_module_cuda(cuda_engine, cpu_engine):
    from kiln.torch import KilnModule

    module = KilnModule(cuda_engine)
    assert module.device.type == "cuda"
    x = torch.from_numpy(_x(6)).cuda()
    y = module(x)
    assert y.is_cuda and y.shape == (6, 3)
    torch.cuda.current_stream().synchronize()
    np.testing.assert_allclose(y.cpu().numpy(), kiln.infer(cpu_engine, {"x": x.cpu().numpy()})["y"], rtol=1e-3, atol=1e-5)
    # on a side stream
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        y2 = module(x)
    s.synchronize()
    torch.testing.assert_close(y2, y)
    # CPU tensors are moved to the engine's device
    y3 = module(x.cpu())
    torch.testing.assert_close(y3, y)


def test_kiln_module_conv_cuda():
    from kiln.torch import KilnModule

    model = conv_model()
    module = KilnModule(kiln.build(model, device="cuda"))
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6)).astype(np.float32)
    y = module(torch.from_numpy(x).cuda())
    np.testing.assert_allclose(y.cpu().numpy(), ort_run(model, {"x": x})["y"], rtol=1e-3, atol=1e-4)


def test_fp16_engine(cpu_engine):
    engine = kiln.build(mlp_model(), device="cuda", fp16=True, shapes=SHAPES)
    x = _x(8)
    got = kiln.infer(engine, {"x": x})["y"]
    np.testing.assert_allclose(got, kiln.infer(cpu_engine, {"x": x})["y"], rtol=2e-2, atol=2e-2)


def test_compare_cuda(tmp_path):
    from conftest import save
    from kiln import compare

    assert compare.main([save(mlp_model(), tmp_path, "mlp.onnx"), "--device", "cuda"]) == 0
