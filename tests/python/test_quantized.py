"""Explicit quantization end to end: a small CNN and a small MLP quantized by onnxruntime.quantization
(quantize_static, QDQ format, a random calibration reader) run on Kiln's CPU in int8 (the plan holds
QuantizedConvolution / QuantizedMatrixMultiply layers with cpu.qconv / cpu.qgemm tactics) and match
onnxruntime's QDQ execution within one quantization step of the output scale."""

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
quantization = pytest.importorskip("onnxruntime.quantization")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import kiln  # noqa: E402
from conftest import make_model, ort_run  # noqa: E402


def small_cnn(seed=3):
    """x[1,3,12,12] -> Conv 3x3 (8) -> Relu -> MaxPool 2 -> Conv 3x3 stride 2 (16) -> Relu -> GlobalAveragePool
    -> Flatten -> Gemm (10) -> y[1,10]."""
    rng = np.random.default_rng(seed)
    inits = {
        "w1": rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3,
        "b1": rng.standard_normal(8).astype(np.float32) * 0.1,
        "w2": rng.standard_normal((16, 8, 3, 3)).astype(np.float32) * 0.2,
        "b2": rng.standard_normal(16).astype(np.float32) * 0.1,
        "wf": rng.standard_normal((10, 16)).astype(np.float32) * 0.3,
        "bf": rng.standard_normal(10).astype(np.float32) * 0.1,
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1),
    ]
    return make_model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 12, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
        name="small_cnn",
    )


def small_mlp(seed=4):
    """x[4,32] -> MatMul (48) -> Add -> Relu -> MatMul (6) -> Add -> y[4,6]."""
    rng = np.random.default_rng(seed)
    inits = {
        "w1": rng.standard_normal((32, 48)).astype(np.float32) * 0.2,
        "b1": rng.standard_normal(48).astype(np.float32) * 0.1,
        "w2": rng.standard_normal((48, 6)).astype(np.float32) * 0.2,
        "b2": rng.standard_normal(6).astype(np.float32) * 0.1,
    }
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["h3"]),
        helper.make_node("Add", ["h3", "b2"], ["y"]),
    ]
    return make_model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 6])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
        name="small_mlp",
    )


class RandomReader(quantization.CalibrationDataReader):
    """A few random batches: the calibration data quantize_static needs."""

    def __init__(self, name, shape, batches=4, seed=0):
        rng = np.random.default_rng(seed)
        self.batches = iter([{name: rng.standard_normal(shape).astype(np.float32)} for _ in range(batches)])

    def get_next(self):
        return next(self.batches, None)


def quantize_qdq(model, tmp_path, input_shape, per_channel, activation_type):
    src, dst = str(tmp_path / "fp32.onnx"), str(tmp_path / "qdq.onnx")
    onnx.save(model, src)
    quantization.quantize_static(
        src, dst, RandomReader("x", input_shape), quant_format=quantization.QuantFormat.QDQ,
        per_channel=per_channel, activation_type=activation_type, weight_type=quantization.QuantType.QInt8)
    return onnx.load(dst)


def output_step(model):
    """The scale of the DequantizeLinear that produces the graph output: one quantization step."""
    out = model.graph.output[0].name
    node = next(n for n in model.graph.node if out in n.output)
    assert node.op_type == "DequantizeLinear"
    scale = next(i for i in model.graph.initializer if i.name == node.input[1])
    return float(numpy_helper.to_array(scale))


CASES = [
    ("cnn", small_cnn, (1, 3, 12, 12), True, "QInt8", "QuantizedConvolution", 2),
    ("cnn_uint8_per_tensor", small_cnn, (1, 3, 12, 12), False, "QUInt8", "QuantizedConvolution", 2),
    ("mlp", small_mlp, (4, 32), False, "QInt8", "QuantizedMatrixMultiply", 2),
    ("mlp_per_channel", small_mlp, (4, 32), True, "QUInt8", "QuantizedMatrixMultiply", 2),
]


@pytest.mark.parametrize("name,make,shape,per_channel,activation,layer_type,count", CASES, ids=[c[0] for c in CASES])
def test_qdq_model_runs_in_int8_and_matches_onnxruntime(tmp_path, name, make, shape, per_channel, activation,
                                                        layer_type, count):
    qdq = quantize_qdq(make(), tmp_path, shape, per_channel, getattr(quantization.QuantType, activation))
    engine = kiln.build(qdq, device="cpu")
    tactics = [t for t in engine.layer_tactics if t.layer_type.startswith("Quantized")]
    assert sum(t.layer_type == layer_type for t in tactics) >= count, engine.layer_tactics
    prefix = "cpu.qconv." if layer_type == "QuantizedConvolution" else "cpu.qgemm."
    assert all(t.tactic.startswith(prefix) or t.layer_type != layer_type for t in tactics), tactics
    assert not any(t.layer_type in ("Convolution", "MatrixMultiply") for t in engine.layer_tactics)
    step = output_step(qdq)
    rng = np.random.default_rng(7)
    for _ in range(3):
        x = rng.standard_normal(shape).astype(np.float32)
        got = kiln.infer(engine, {"x": x})["y"]
        want = ort_run(qdq, {"x": x})["y"]
        np.testing.assert_allclose(got, want, rtol=0, atol=step * 1.001)


def qlinear_model(seed=5):
    """x int8 [1,4,7,7] -> QLinearConv 3x3 (6, per-channel w scales, int32 bias) -> QLinearMatMul-free tail:
    DequantizeLinear -> y float [1,6,7,7]; and a [3,16] int8 -> QLinearMatMul (16 -> 5) -> z int8."""
    rng = np.random.default_rng(seed)
    t = numpy_helper.from_array
    inits = [
        t(np.float32(0.05), "xs"), t(np.int8(-3), "xz"),
        t(rng.integers(-127, 128, (6, 4, 3, 3)).astype(np.int8), "w"),
        t(rng.uniform(0.002, 0.01, 6).astype(np.float32), "ws"), t(np.zeros(6, np.int8), "wz"),
        t(np.float32(0.04), "ys"), t(np.int8(2), "yz"),
        t(rng.integers(-500, 500, 6).astype(np.int32), "b"),
        t(np.float32(0.1), "as"), t(np.int8(1), "az"),
        t(rng.integers(-127, 128, (16, 5)).astype(np.int8), "m"), t(np.float32(0.01), "ms"), t(np.int8(0), "mz"),
        t(np.float32(0.2), "zs"), t(np.int8(-1), "zz"),
    ]
    nodes = [
        helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["yq"], pads=[1, 1, 1, 1]),
        helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"]),
        helper.make_node("QLinearMatMul", ["a", "as", "az", "m", "ms", "mz", "zs", "zz"], ["z"]),
    ]
    return make_model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.INT8, [1, 4, 7, 7]),
         helper.make_tensor_value_info("a", TensorProto.INT8, [3, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 7, 7]),
         helper.make_tensor_value_info("z", TensorProto.INT8, [3, 5])],
        inits, name="qlinear")


def test_qlinear_conv_and_matmul_import_as_quantized_layers():
    model = qlinear_model()
    engine = kiln.build(model, device="cpu")
    types = [t.layer_type for t in engine.layer_tactics]
    assert "QuantizedConvolution" in types and "QuantizedMatrixMultiply" in types, types
    assert "Convolution" not in types and "MatrixMultiply" not in types, types
    rng = np.random.default_rng(8)
    feeds = {"x": rng.integers(-128, 128, (1, 4, 7, 7)).astype(np.int8),
             "a": rng.integers(-128, 128, (3, 16)).astype(np.int8)}
    got, want = kiln.infer(engine, feeds), ort_run(model, feeds)
    np.testing.assert_allclose(got["y"], want["y"], rtol=0, atol=0.04 * 1.001)  # one step of y's scale
    assert np.abs(got["z"].astype(np.int32) - want["z"].astype(np.int32)).max() <= 1
