"""kiln.torch.KilnModule on the CPU backend (skipped when torch is not installed)."""

import numpy as np
import pytest

import kiln
from conftest import mlp_model, ort_run, two_output_model

torch = pytest.importorskip("torch")
from kiln.torch import KilnModule, torch_dtype  # noqa: E402


def test_module_cpu(mlp_engine):
    module = KilnModule(mlp_engine)
    assert isinstance(module, torch.nn.Module)
    x = torch.randn(5, 4)
    y = module(x)
    assert isinstance(y, torch.Tensor) and y.shape == (5, 3)
    np.testing.assert_allclose(y.numpy(), ort_run(mlp_model(), {"x": x.numpy()})["y"], rtol=1e-4, atol=1e-6)
    assert module.context.get_tensor_address("x") == x.data_ptr()
    assert module.context.get_tensor_address("y") == y.data_ptr()
    np.testing.assert_array_equal(module(x=x).numpy(), y.numpy())


def test_module_multi_output_and_conversion():
    module = KilnModule(kiln.build(two_output_model()))
    a = torch.randn(2, 3, dtype=torch.float64)
    b = torch.randn(3, 2).t()  # not contiguous
    s, p = module(a, b)
    torch.testing.assert_close(s, (a.float() + b))
    torch.testing.assert_close(p, (a.float() * b))
    assert torch_dtype(kiln.DataType.INT64) == torch.int64
