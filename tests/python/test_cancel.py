"""ExecutionContext.cancel() and set_time_limit(): a Loop that would run for ever stops with
kiln.ErrorCode.CANCELLED, and the context runs normally afterwards."""

import ctypes
import threading

import numpy as np
import pytest

import kiln
from conftest import make_model

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

FOREVER = 1 << 60  # iterations no test waits for


@pytest.fixture(scope="module")
def loop_engine():
    """acc = acc0 + trips * x, by a Loop adding x once per iteration."""
    body = helper.make_graph(
        [
            helper.make_node("Add", ["a", "x"], ["a2"]),
            helper.make_node("Identity", ["c"], ["c2"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [2]),
        ],
        [
            helper.make_tensor_value_info("c2", TensorProto.BOOL, []),
            helper.make_tensor_value_info("a2", TensorProto.FLOAT, [2]),
        ],
    )
    model = make_model(
        [helper.make_node("Loop", ["trips", "", "acc0"], ["acc"], body=body)],
        [
            helper.make_tensor_value_info("trips", TensorProto.INT64, []),
            helper.make_tensor_value_info("acc0", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
        ],
        [helper.make_tensor_value_info("acc", TensorProto.FLOAT, [2])],
    )
    return kiln.build(model, builder_effort=0)


def run(ctx, trips):
    """Runs the Loop through the context API (the scalar trip count stays 0-d; the output, computed on the
    host, stays unbound) and returns acc."""
    inputs = {
        "trips": np.array(trips, np.int64),
        "acc0": np.array([1.0, 10.0], np.float32),
        "x": np.array([0.5, -2.0], np.float32),
    }
    for name, array in inputs.items():
        ctx.set_input_shape(name, array.shape)
        ctx.set_tensor_address(name, array.ctypes.data)
    ctx.set_tensor_address("acc", 0)
    ctx.execute()
    return np.array((ctypes.c_float * 2).from_address(ctx.get_tensor_address("acc")))


def test_cancel_from_another_thread(loop_engine):
    ctx = loop_engine.create_execution_context()
    timer = threading.Timer(0.05, ctx.cancel)
    timer.start()
    with pytest.raises(kiln.Error, match="run cancelled") as info:
        run(ctx, FOREVER)
    timer.join()
    assert info.value.code == kiln.ErrorCode.CANCELLED
    np.testing.assert_array_equal(run(ctx, 3), [2.5, 4.0])


def test_time_limit(loop_engine):
    ctx = loop_engine.create_execution_context()
    ctx.set_time_limit(100)
    with pytest.raises(kiln.Error, match="time limit of 100 ms") as info:
        run(ctx, FOREVER)
    assert info.value.code == kiln.ErrorCode.CANCELLED
    np.testing.assert_array_equal(run(ctx, 3), [2.5, 4.0])
    ctx.set_time_limit(0)
    np.testing.assert_array_equal(run(ctx, 4), [3.0, 2.0])
    with pytest.raises(kiln.Error) as info:
        ctx.set_time_limit(-1)
    assert info.value.code == kiln.ErrorCode.INVALID_ARGUMENT
