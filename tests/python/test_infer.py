"""kiln.infer and the ExecutionContext: results vs numpy / onnxruntime, zero-copy, dynamic shapes."""

import numpy as np
import pytest

import kiln
from conftest import conv_model, nonzero_model, ort_run, two_output_model


def test_infer_matches_onnxruntime_mlp(mlp, mlp_engine, rng):
    x = rng.standard_normal((4, 4)).astype(np.float32)
    got = kiln.infer(mlp_engine, {"x": x})
    assert list(got) == ["y"]
    assert got["y"].dtype == np.float32 and got["y"].shape == (4, 3)
    np.testing.assert_allclose(got["y"], ort_run(mlp, {"x": x})["y"], rtol=1e-4, atol=1e-6)


def test_infer_matches_onnxruntime_conv(rng):
    model = conv_model()
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    got = kiln.infer(kiln.build(model), [x])
    np.testing.assert_allclose(got["y"], ort_run(model, {"x": x})["y"], rtol=1e-4, atol=1e-5)


def test_two_inputs_two_outputs(rng):
    engine = kiln.build(two_output_model())
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((2, 3)).astype(np.float32)
    got = kiln.infer(engine, {"b": b, "a": a})
    assert list(got) == engine.output_names
    np.testing.assert_allclose(got["sum"], a + b, rtol=1e-6)
    np.testing.assert_allclose(got["prod"], a * b, rtol=1e-6)
    got2 = kiln.infer(engine, [a, b])  # positional, in input order
    np.testing.assert_array_equal(got2["sum"], got["sum"])


def test_zero_copy_inputs_and_outputs(mlp_engine, rng):
    x = rng.standard_normal((5, 4)).astype(np.float32)
    ctx = mlp_engine.create_execution_context()
    out = kiln.infer(mlp_engine, {"x": x}, context=ctx)
    # the address Kiln reads is the numpy buffer itself: no copy was made
    assert ctx.get_tensor_address("x") == x.ctypes.data
    # the output Kiln wrote is the array returned
    assert ctx.get_tensor_address("y") == out["y"].ctypes.data
    assert ctx.get_tensor_shape("y") == (5, 3)


def test_inputs_needing_conversion_are_copied(mlp_engine, rng):
    base = rng.standard_normal((4, 8)).astype(np.float32)
    x = base[:, ::2]  # not C-contiguous
    assert not x.flags.c_contiguous
    ctx = mlp_engine.create_execution_context()
    got = kiln.infer(mlp_engine, {"x": x}, context=ctx)["y"]
    assert ctx.get_tensor_address("x") != x.ctypes.data
    expected = kiln.infer(mlp_engine, {"x": np.ascontiguousarray(x)})["y"]
    np.testing.assert_array_equal(got, expected)
    # float64 input converted to the engine's float32
    x64 = np.ascontiguousarray(x, dtype=np.float64)
    np.testing.assert_allclose(kiln.infer(mlp_engine, {"x": x64})["y"], expected, rtol=1e-6)
    with pytest.raises(TypeError):
        kiln.infer(mlp_engine, {"x": np.array([["a"] * 4])})


def test_manual_binding(mlp_engine, rng):
    x = rng.standard_normal((2, 4)).astype(np.float32)
    ctx = mlp_engine.create_execution_context()
    assert ctx.engine.io_tensor_names == mlp_engine.io_tensor_names
    ctx.set_input_shape("x", x.shape)
    assert ctx.get_tensor_shape("x") == (2, 4)
    y = np.full(ctx.get_tensor_shape("y"), np.nan, dtype=np.float32)
    ctx.set_tensor_address("x", x.ctypes.data)
    ctx.set_tensor_address("y", y.ctypes.data)
    assert ctx.get_tensor_address("y") == y.ctypes.data
    ctx.execute()
    expected = kiln.infer(mlp_engine, {"x": x})["y"]
    np.testing.assert_array_equal(y, expected)
    # execute_async on the CPU backend: the stream is ignored, the run is synchronous
    y[:] = np.nan
    ctx.execute_async(0)
    np.testing.assert_array_equal(y, expected)
    # the context can be rerun with new data in the same buffers
    x[:] = rng.standard_normal((2, 4))
    ctx.execute()
    np.testing.assert_array_equal(y, kiln.infer(mlp_engine, {"x": x})["y"])


@pytest.mark.parametrize("batch", [1, 3, 8, 16])
def test_dynamic_batch(mlp, mlp_engine, batch, rng):
    x = rng.standard_normal((batch, 4)).astype(np.float32)
    got = kiln.infer(mlp_engine, {"x": x})["y"]
    assert got.shape == (batch, 3)
    np.testing.assert_allclose(got, ort_run(mlp, {"x": x})["y"], rtol=1e-4, atol=1e-6)


def test_dynamic_batch_one_context_several_shapes(mlp, mlp_engine, rng):
    ctx = mlp_engine.create_execution_context()
    for batch in (2, 7, 1, 16, 4):
        x = rng.standard_normal((batch, 4)).astype(np.float32)
        got = kiln.infer(mlp_engine, {"x": x}, context=ctx)["y"]
        assert ctx.get_tensor_shape("y") == (batch, 3)
        np.testing.assert_allclose(got, ort_run(mlp, {"x": x})["y"], rtol=1e-4, atol=1e-6)


def test_shape_outside_profile_is_an_error(mlp_engine):
    with pytest.raises(kiln.Error) as info:
        kiln.infer(mlp_engine, {"x": np.zeros((17, 4), np.float32)})
    assert "x" in str(info.value)


def test_data_dependent_output(rng):
    model = nonzero_model()
    engine = kiln.build(model)
    x = np.array([0, 1.5, 0, -2, 3, 0], np.float32)
    got = kiln.infer(engine, {"x": x})["y"]
    np.testing.assert_array_equal(got, np.array(np.nonzero(x)))
    assert got.dtype == np.int64
    got = kiln.infer(engine, {"x": np.zeros(6, np.float32)})["y"]
    assert got.shape == (1, 0)


def test_single_array_for_single_input(mlp_engine, rng):
    x = rng.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_array_equal(kiln.infer(mlp_engine, x)["y"], kiln.infer(mlp_engine, {"x": x})["y"])


def test_engine_shared_between_contexts(mlp_engine, rng):
    a = rng.standard_normal((2, 4)).astype(np.float32)
    b = rng.standard_normal((3, 4)).astype(np.float32)
    c1, c2 = mlp_engine.create_execution_context(), mlp_engine.create_execution_context()
    ya = kiln.infer(mlp_engine, {"x": a}, context=c1)["y"]
    yb = kiln.infer(mlp_engine, {"x": b}, context=c2)["y"]
    np.testing.assert_array_equal(ya, kiln.infer(mlp_engine, {"x": a})["y"])
    np.testing.assert_array_equal(yb, kiln.infer(mlp_engine, {"x": b})["y"])
