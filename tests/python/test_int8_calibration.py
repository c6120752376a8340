"""Implicit int8 quantization from Python: a calibrator object, the cache, and accuracy against fp32."""

import numpy as np
import pytest

import kiln
from conftest import make_model

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def small_cnn(seed=0):
    """x[N,3,16,16] -> Conv 8 3x3 -> Relu -> Conv 16 3x3 s2 -> Relu -> GlobalAveragePool -> Flatten -> Gemm 10."""
    rng = np.random.default_rng(seed)

    def he(*shape):
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    inits = {
        "w1": he(8, 3, 3, 3), "b1": (rng.standard_normal(8) * 0.1).astype(np.float32),
        "w2": he(16, 8, 3, 3), "b2": (rng.standard_normal(16) * 0.1).astype(np.float32),
        "wfc": he(10, 16), "bfc": (rng.standard_normal(10) * 0.1).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1], kernel_shape=[3, 3],
                         strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wfc", "bfc"], ["y"], name="fc", transB=1),
    ]
    return make_model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 10])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
        name="small_cnn",
    )


class BatchList:
    """A calibrator: get_batch() gives the next {input name: array}, then None."""

    def __init__(self, batches):
        self.batches = list(batches)
        self.calls = 0

    def get_batch(self):
        self.calls += 1
        return {"x": self.batches.pop(0)} if self.batches else None


def build(model, config):
    builder = kiln.Builder()
    network = builder.create_network()
    kiln.OnnxParser(network).parse(model.SerializeToString())
    summary = kiln.BuildSummary()
    plan = builder.build_serialized_network(network, config, summary)
    return kiln.Runtime().deserialize_engine(plan), summary


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("method", ["entropy", "minmax", "percentile"])
def test_int8_matches_fp32(method, tmp_path):
    rng = np.random.default_rng(1)
    model = small_cnn()
    batches = [rng.standard_normal((4, 3, 16, 16)).astype(np.float32) for _ in range(8)]
    config = kiln.BuilderConfig()
    config.builder_effort = 0
    config.int8 = True
    config.calibration_method = method
    calibrator = BatchList(batches)
    config.calibrator = calibrator
    config.calibration_cache = str(tmp_path / "cnn.cache")
    engine, summary = build(model, config)
    assert calibrator.calls == 9  # eight batches, then None
    assert summary.calibration_batches == 8
    assert summary.quantized_layers == 3  # conv1, conv2, fc
    fp32, _ = build(model, kiln.BuilderConfig())
    for _ in range(4):
        x = rng.standard_normal((4, 3, 16, 16)).astype(np.float32)
        expected = kiln.infer(fp32, {"x": x})["y"]
        actual = kiln.infer(engine, {"x": x})["y"]
        assert cosine(actual, expected) >= 0.99
        assert not np.array_equal(actual, expected)  # quantization really happened

    # The cache replaces calibration: the calibrator is not called again.
    rebuilt, summary = build(model, config)
    assert calibrator.calls == 9
    assert summary.calibration_batches == 0
    assert summary.quantized_layers == 3


def test_config_properties_and_errors():
    config = kiln.BuilderConfig()
    assert config.calibration_method == "entropy" and config.precision_constraints == "none"
    config.layer_precisions = {"conv1": "fp32", "fc": "int8"}
    assert config.layer_precisions == {"conv1": "fp32", "fc": "int8"}
    config.precision_constraints = "obey"
    assert config.precision_constraints == "obey"
    with pytest.raises(kiln.Error, match="'kl' is not one of entropy, minmax, percentile"):
        config.calibration_method = "kl"
    with pytest.raises(kiln.Error, match="layer precision 'int4'"):
        config.layer_precisions = {"conv1": "int4"}
    with pytest.raises(kiln.Error, match="get_batch"):
        config.calibrator = object()

    class Broken:
        def get_batch(self):
            raise ValueError("no data today")

    config = kiln.BuilderConfig()
    config.int8 = True
    config.calibrator = Broken()
    with pytest.raises(kiln.Error, match="no data today"):
        build(small_cnn(), config)
    config.calibrator = BatchList([np.zeros((4, 3, 8, 8), np.float32)])
    with pytest.raises(kiln.Error, match=r"has shape \[4,3,8,8\] but the input is \[4,3,16,16\]"):
        build(small_cnn(), config)


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    config = kiln.BuilderConfig()
    config.builder_effort = 0
    config.int8 = True
    config.calibrator = BatchList([torch.from_numpy(rng.standard_normal((4, 3, 16, 16)).astype(np.float32))])
    _, summary = build(small_cnn(), config)
    assert summary.quantized_layers == 3
