"""The Python mirror of the C++ API: networks by hand, ONNX parsing, building, plans, introspection."""


import numpy as np
import pytest

import kiln
from conftest import conv_model, mlp_model, ort_run


def test_module_basics():
    assert kiln.version() == kiln.__version__
    assert isinstance(kiln.built_with_cuda, bool)
    assert issubclass(kiln.Error, RuntimeError)
    assert kiln.DataType.FLOAT32.itemsize == 4
    assert kiln.nptype(kiln.DataType.INT64) == np.int64
    assert kiln.data_type(np.float16) == kiln.DataType.FLOAT16
    assert kiln.data_type("bool") == kiln.DataType.BOOL
    names = kiln.Builder.pass_names()
    assert isinstance(names, list) and all(isinstance(n, str) for n in names)


def _mlp_by_hand(builder, rng):
    network = builder.create_network()
    x = network.add_input("x", kiln.DataType.FLOAT32, (2, 3))
    w = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4,)).astype(np.float32)
    h = network.add_matrix_multiply(x, network.add_constant(w, name="w"), name="matmul")
    h = network.add_elementwise(h, network.add_constant(b, name="b"), kiln.ElementWiseOp.ADD, name="add")
    y = network.add_activation(h, kiln.ActivationType.RELU, name="relu")
    y.name = "y"
    network.mark_output(y)
    return network, w, b


def test_network_by_hand(rng):
    builder = kiln.Builder()
    network, w, b = _mlp_by_hand(builder, rng)

    assert network.num_inputs == 1 and network.num_outputs == 1
    assert network.num_layers == len(network) == 5  # 2 constants, matmul, add, relu
    types = [network.layer(i).type for i in range(network.num_layers)]
    assert types.count(kiln.LayerType.CONSTANT) == 2
    assert kiln.LayerType.MATRIX_MULTIPLY in types and kiln.LayerType.ACTIVATION in types
    relu = network.layer(-1)
    assert relu.name == "relu" and relu.type_name == "Activation"
    assert relu.params.type == kiln.ActivationType.RELU
    assert relu.num_inputs == 1 and relu.num_outputs == 1
    y = network.get_output(0)
    assert y.name == "y" and y.dtype == kiln.DataType.FLOAT32 and y.shape == (2, 4)
    assert y.is_network_output and not y.is_network_input
    assert y.producer.name == "relu"
    x = network.get_input(0)
    assert x.is_network_input and x.producer is None and x.shape == (2, 3)
    assert network.get_tensor("y") == y and network.get_tensor("nope") is None
    const_w = network.layers[0]
    assert const_w.type == kiln.LayerType.CONSTANT
    np.testing.assert_array_equal(const_w.params.weights, w)

    config = kiln.BuilderConfig()
    assert config.device == "cpu" and not config.fp16
    summary = kiln.BuildSummary()
    plan = builder.build_serialized_network(network, config, summary)
    assert isinstance(plan, bytes) and len(plan) > 0
    assert summary.layers_before >= 3 and summary.layers_after >= 1
    assert summary.device.startswith("cpu")
    assert isinstance(str(summary), str)

    engine = kiln.Runtime().deserialize_engine(plan)
    xv = rng.standard_normal((2, 3)).astype(np.float32)
    out = kiln.infer(engine, {"x": xv})
    np.testing.assert_allclose(out["y"], np.maximum(xv @ w + b, 0), rtol=1e-5, atol=1e-5)


def test_stale_handles_after_build(rng):
    builder = kiln.Builder()
    network, _, _ = _mlp_by_hand(builder, rng)
    y = network.get_output(0)
    layer = network.layer(0)
    builder.build_serialized_network(network, kiln.BuilderConfig())
    with pytest.raises(kiln.Error, match="stale"):
        y.shape
    with pytest.raises(kiln.Error, match="stale"):
        layer.name
    assert "stale" in repr(y)
    # fresh handles work
    for i in range(network.num_layers):
        assert isinstance(network.layer(i).name, str)


def test_more_layer_helpers(rng):
    """conv + pooling + softmax + reshape + transpose + concatenation + add_layer, checked with numpy."""
    builder = kiln.Builder()
    net = builder.create_network()
    x = net.add_input("x", np.float32, [1, 2, 4, 4])
    kernel = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    c = net.add_convolution(x, kernel, bias, pads_begin=[1, 1], pads_end=[1, 1], name="conv")
    assert c.shape == (1, 3, 4, 4)
    p = net.add_pooling(c, kiln.PoolingType.AVERAGE, kernel_shape=[2, 2], strides=[2, 2], name="pool")
    assert p.shape == (1, 3, 2, 2)
    r = net.add_reshape(p, [1, 12], name="flat")
    t = net.add_transpose(r, [1, 0], name="tr")
    assert t.shape == (12, 1)
    cat = net.add_concatenation([t, t], axis=1, name="cat")
    assert cat.shape == (12, 2)
    s = net.add_softmax(cat, axis=0, name="sm")
    neg = net.add_layer(kiln.UnaryParams(op=kiln.UnaryOp.NEG), [s], name="neg")
    assert neg.type == kiln.LayerType.UNARY and neg.params.op == kiln.UnaryOp.NEG
    out = neg.get_output(0)
    net.mark_output(out)
    out_name = out.name

    engine = kiln.Runtime().deserialize_engine(builder.build_serialized_network(net, kiln.BuilderConfig()))
    xv = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    got = kiln.infer(engine, xv)[out_name]

    padded = np.pad(xv, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((1, 3, 4, 4), np.float32)
    for m in range(3):
        for i in range(4):
            for j in range(4):
                conv[0, m, i, j] = np.sum(padded[0, :, i:i + 3, j:j + 3] * kernel[m]) + bias[m]
    pool = conv.reshape(1, 3, 2, 2, 2, 2).mean(axis=(3, 5))
    col = pool.reshape(1, 12).T
    cat_v = np.concatenate([col, col], axis=1)
    e = np.exp(cat_v - cat_v.max(axis=0))
    expected = -(e / e.sum(axis=0))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_params_objects():
    p = kiln.ConvolutionParams(strides=[2, 2], groups=2)
    assert p.strides == [2, 2] and p.groups == 2 and p.padding_mode == kiln.PaddingMode.EXPLICIT
    assert kiln.ConvolutionParams.layer_type == kiln.LayerType.CONVOLUTION
    with pytest.raises(AttributeError):
        kiln.SoftmaxParams(no_such_field=1)


def test_onnx_parse_file_and_bytes(mlp_path):
    builder = kiln.Builder()
    from_file = builder.create_network()
    kiln.OnnxParser(from_file).parse_from_file(mlp_path)
    from_bytes = builder.create_network()
    with open(mlp_path, "rb") as f:
        kiln.OnnxParser(from_bytes).parse(f.read())
    from_proto = builder.create_network()
    kiln.OnnxParser(from_proto).parse(mlp_model())
    for net in (from_file, from_bytes, from_proto):
        assert [t.name for t in net.inputs] == ["x"]
        assert [t.name for t in net.outputs] == ["y"]
        assert net.get_input(0).shape == (-1, 4)
        assert net.get_input(0).dtype == kiln.DataType.FLOAT32
        assert net.num_layers >= 5


def test_build_config_and_profile(mlp):
    builder = kiln.Builder()
    network = builder.create_network()
    kiln.OnnxParser(network).parse(mlp)
    config = kiln.BuilderConfig(device="cpu")
    config.set_shape("x", (1, 4), (2, 4), (8, 4))
    config.disabled_passes = []
    assert config.profile.shapes["x"].max == (8, 4)
    engine = kiln.Runtime().deserialize_engine(builder.build_serialized_network(network, config))
    lo, opt, hi = engine.get_profile_shape("x")
    assert (tuple(lo), tuple(opt), tuple(hi)) == ((1, 4), (2, 4), (8, 4))


def test_memory_limit_is_checked_at_the_max_shapes(mlp):
    def build(limit):
        builder = kiln.Builder()
        network = builder.create_network()
        kiln.OnnxParser(network).parse(mlp)
        config = kiln.BuilderConfig()
        config.set_shape("x", (1, 4), (2, 4), (64, 4))
        config.memory_limit = limit
        return builder.build_serialized_network(network, config)

    assert len(build(1 << 20)) > 0
    with pytest.raises(kiln.Error, match="max shapes .*x \\[64,4\\].*memoryLimit"):
        build(64)


def test_engine_introspection(mlp_engine):
    e = mlp_engine
    assert e.num_io_tensors == 2
    assert e.io_tensor_names == ["x", "y"]
    assert e.input_names == ["x"] and e.output_names == ["y"]
    assert e.get_tensor_name(0) == "x"
    assert e.get_tensor_mode("x") == kiln.TensorIOMode.INPUT
    assert e.get_tensor_mode("y") == kiln.TensorIOMode.OUTPUT
    assert e.get_tensor_dtype("y") == kiln.DataType.FLOAT32
    assert e.get_tensor_shape("x") == (-1, 4)
    assert e.get_tensor_shape("y")[1] == 3
    assert e.device == "cpu"
    assert e.num_layers >= 1
    assert isinstance(e.layer_information, str) and e.layer_information
    assert e.weights_bytes >= (4 * 8 + 8 + 8 * 3 + 3) * 4
    r = e.get_profile_shape("x")
    assert r.min == (1, 4) and r.opt == (4, 4) and r.max == (16, 4)
    assert "cpu" in repr(e)


def test_serialize_roundtrip_bytes_and_files(mlp_engine, tmp_path, rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    expected = kiln.infer(mlp_engine, {"x": x})["y"]

    plan = mlp_engine.serialize()
    assert isinstance(plan, bytes)
    again = kiln.Runtime().deserialize_engine(plan)
    assert again.io_tensor_names == mlp_engine.io_tensor_names
    np.testing.assert_array_equal(kiln.infer(again, {"x": x})["y"], expected)
    np.testing.assert_array_equal(kiln.infer(bytearray(plan), {"x": x})["y"], expected)
    np.testing.assert_array_equal(kiln.infer(memoryview(plan), {"x": x})["y"], expected)

    path = tmp_path / "mlp.plan"
    path.write_bytes(plan)
    from_file = kiln.Runtime().deserialize_engine_from_file(str(path))
    np.testing.assert_array_equal(kiln.infer(from_file, {"x": x})["y"], expected)
    np.testing.assert_array_equal(kiln.infer(kiln.load(path), {"x": x})["y"], expected)
    np.testing.assert_array_equal(kiln.infer(str(path), {"x": x})["y"], expected)
    # a plan of a plan is the same engine
    assert kiln.Runtime().deserialize_engine(from_file.serialize()).io_tensor_names == ["x", "y"]


def test_build_helper_from_path_bytes_proto(conv_path, rng):
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    ref = ort_run(conv_model(), {"x": x})["y"]
    with open(conv_path, "rb") as f:
        data = f.read()
    for model in (conv_path, data, conv_model()):
        engine = kiln.build(model)
        np.testing.assert_allclose(kiln.infer(engine, {"x": x})["y"], ref, rtol=1e-4, atol=1e-5)
    # infer straight from an .onnx path
    np.testing.assert_allclose(kiln.infer(conv_path, {"x": x})["y"], ref, rtol=1e-4, atol=1e-5)
    plan = kiln.build_serialized(conv_path)
    assert isinstance(plan, bytes)


def test_logger_subclass(mlp):
    messages = []

    class Capture(kiln.Logger):
        def log(self, severity, message):
            messages.append((severity, message))

    logger = Capture(kiln.Severity.VERBOSE)
    assert logger.min_severity == kiln.Severity.VERBOSE
    engine = kiln.build(mlp, shapes={"x": (2, 4)}, logger=logger)
    assert engine.get_tensor_shape("x")[1] == 4
    assert all(isinstance(s, kiln.Severity) and isinstance(m, str) for s, m in messages)
    assert kiln.default_logger().min_severity in list(kiln.Severity.__members__.values())
