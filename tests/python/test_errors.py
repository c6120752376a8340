"""Failures arrive as kiln.Error carrying Kiln's message and code."""

import numpy as np
import pytest

import kiln
from conftest import conv_model, make_model

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


def test_wrong_input_name(mlp_engine):
    with pytest.raises(kiln.Error) as info:
        kiln.infer(mlp_engine, {"nope": np.zeros((2, 4), np.float32)})
    assert "nope" in str(info.value)
    assert info.value.code == kiln.ErrorCode.INVALID_ARGUMENT
    ctx = mlp_engine.create_execution_context()
    with pytest.raises(kiln.Error, match="nope"):
        ctx.set_input_shape("nope", (1, 4))
    with pytest.raises(kiln.Error, match="nope"):
        ctx.set_tensor_address("nope", 1234)
    with pytest.raises(kiln.Error, match="nope"):
        mlp_engine.get_tensor_dtype("nope")


def test_wrong_shape(mlp_engine):
    engine = kiln.build(conv_model())
    with pytest.raises(kiln.Error) as info:
        kiln.infer(engine, {"x": np.zeros((1, 2, 5, 5), np.float32)})
    assert "x" in str(info.value)
    with pytest.raises(kiln.Error):  # wrong rank
        kiln.infer(mlp_engine, {"x": np.zeros((2, 4, 1), np.float32)})
    with pytest.raises(kiln.Error):  # wrong static dimension
        kiln.infer(mlp_engine, {"x": np.zeros((2, 5), np.float32)})


def test_missing_input():
    engine = kiln.build(make_model(
        [helper.make_node("Add", ["a", "b"], ["c"])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in "ab"],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [2])],
    ))
    with pytest.raises(kiln.Error) as info:
        kiln.infer(engine, {"a": np.zeros(2, np.float32)})
    assert "b" in str(info.value)


def test_corrupt_plan(mlp_engine):
    plan = bytearray(mlp_engine.serialize())
    runtime = kiln.Runtime()
    with pytest.raises(kiln.Error) as info:
        runtime.deserialize_engine(b"definitely not a kiln plan")
    assert info.value.code == kiln.ErrorCode.INVALID_PLAN
    assert str(info.value)
    with pytest.raises(kiln.Error) as info:
        runtime.deserialize_engine(bytes(plan[: len(plan) // 2]))
    assert info.value.code == kiln.ErrorCode.INVALID_PLAN
    with pytest.raises(kiln.Error):
        runtime.deserialize_engine(b"")
    flipped = bytearray(plan)
    for i in range(0, 16):
        flipped[i] ^= 0xFF
    with pytest.raises(kiln.Error):
        runtime.deserialize_engine(bytes(flipped))


def test_missing_files(tmp_path):
    with pytest.raises(kiln.Error) as info:
        kiln.Runtime().deserialize_engine_from_file(str(tmp_path / "missing.plan"))
    assert "missing.plan" in str(info.value)
    network = kiln.Builder().create_network()
    with pytest.raises(kiln.Error) as info:
        kiln.OnnxParser(network).parse_from_file(str(tmp_path / "missing.onnx"))
    assert "missing.onnx" in str(info.value)


def test_invalid_onnx_bytes():
    network = kiln.Builder().create_network()
    with pytest.raises(kiln.Error):
        kiln.OnnxParser(network).parse(b"\x08\x07garbage\xff\xff\xff")


def test_unsupported_operator():
    graph = helper.make_graph(
        [helper.make_node("MyCustomOp", ["x"], ["y"], domain="com.example", name="custom_node")],
        "custom",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    model.ir_version = 8
    with pytest.raises(kiln.Error) as info:
        kiln.build(model)
    assert "MyCustomOp" in str(info.value) or "custom_node" in str(info.value)


def test_invalid_layer_combination():
    network = kiln.Builder().create_network()
    a = network.add_input("a", kiln.DataType.FLOAT32, (2, 3))
    b = network.add_input("b", kiln.DataType.FLOAT32, (4, 5))
    with pytest.raises(kiln.Error) as info:
        network.add_matrix_multiply(a, b, name="bad_matmul")
    assert "bad_matmul" in str(info.value)
    assert network.num_layers == 0
    with pytest.raises(kiln.Error):
        network.add_input("a", kiln.DataType.FLOAT32, (1,))  # duplicate name
    with pytest.raises(kiln.Error):
        network.add_layer(object(), [a])


def test_tensor_of_another_network():
    builder = kiln.Builder()
    n1, n2 = builder.create_network(), builder.create_network()
    a = n1.add_input("a", kiln.DataType.FLOAT32, (2,))
    with pytest.raises(kiln.Error, match="another network"):
        n2.mark_output(a)


def test_unknown_device(mlp):
    with pytest.raises(kiln.Error):
        kiln.build(mlp, device="tpu", shapes={"x": (1, 4)})


def test_error_is_catchable_as_runtime_error(mlp_engine):
    with pytest.raises(RuntimeError):
        mlp_engine.create_execution_context().set_input_shape("zzz", (1,))
