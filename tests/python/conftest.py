"""Shared fixtures: small ONNX models made with onnx.helper, saved to a temporary directory."""

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import kiln  # noqa: E402

OPSET = 17
IR_VERSION = 8  # what every onnxruntime from PyPI accepts


def make_model(nodes, inputs, outputs, initializers=(), name="test"):
    graph = helper.make_graph(list(nodes), name, list(inputs), list(outputs), initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="kiln-tests")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def mlp_model(batch="N", in_features=4, hidden=8, out_features=3, seed=0):
    """x[N,4] -> MatMul W1 -> Add b1 -> Relu -> MatMul W2 -> Add b2 -> Softmax -> y[N,3]."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((in_features, hidden)).astype(np.float32)
    b1 = rng.standard_normal(hidden).astype(np.float32)
    w2 = rng.standard_normal((hidden, out_features)).astype(np.float32)
    b2 = rng.standard_normal(out_features).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"], name="matmul1"),
        helper.make_node("Add", ["h0", "b1"], ["h1"], name="add1"),
        helper.make_node("Relu", ["h1"], ["h2"], name="relu"),
        helper.make_node("MatMul", ["h2", "w2"], ["h3"], name="matmul2"),
        helper.make_node("Add", ["h3", "b2"], ["logits"], name="add2"),
        helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=-1),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    return make_model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, in_features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, out_features])],
        inits,
        name="mlp",
    )


def conv_model(seed=1):
    """x[1,2,6,6] -> Conv(3x3, pad 1) -> Relu -> MaxPool(2) -> y[1,4,3,3]."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
    ]
    return make_model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 3, 3])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
        name="conv",
    )


def two_output_model():
    """a[2,3], b[2,3] -> sum = a + b, prod = a * b (two outputs, two inputs)."""
    nodes = [
        helper.make_node("Add", ["a", "b"], ["sum"], name="add"),
        helper.make_node("Mul", ["a", "b"], ["prod"], name="mul"),
    ]
    return make_model(
        nodes,
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in ("a", "b")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in ("sum", "prod")],
        name="two_outputs",
    )


def nonzero_model():
    """x[6] float -> NonZero -> y int64 [1, ?] (an output whose shape depends on the data)."""
    nodes = [helper.make_node("NonZero", ["x"], ["y"], name="nonzero")]
    return make_model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [1, None])],
        name="nonzero",
    )


def ort_run(model, feeds):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def save(model, directory, name):
    path = os.path.join(str(directory), name)
    onnx.save(model, path)
    return path


@pytest.fixture
def mlp():
    return mlp_model()


@pytest.fixture
def mlp_path(tmp_path):
    return save(mlp_model(), tmp_path, "mlp.onnx")


@pytest.fixture
def conv_path(tmp_path):
    return save(conv_model(), tmp_path, "conv.onnx")


@pytest.fixture
def mlp_engine(mlp):
    return kiln.build(mlp, shapes={"x": ((1, 4), (4, 4), (16, 4))})


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
