#!/usr/bin/env python3
"""Builds ResNet-50 and BERT-base as ONNX models with random weights, layer by layer, without torch.

    python3 scripts/make_models.py OUT_DIR [--check]

Writes OUT_DIR/resnet50.onnx (input "input" Bx3x224x224 float32, output "output" Bx1000) and
OUT_DIR/bert_base.onnx (inputs "input_ids" and "attention_mask" int64 [B,128]; outputs
"last_hidden_state" [B,128,768] and "pooler_output" [B,768]), B a dynamic batch ("batch"). The graphs follow what torch.onnx.export
produces for torchvision's resnet50 (BatchNormalization kept) and HuggingFace's BertModel (opset 17:
LayerNormalization, GELU through Erf, attention through Reshape/Transpose/MatMul/Softmax with an
additive mask). Weights come from numpy's generator with a fixed seed, so the files are deterministic.
--check runs both models once in onnxruntime.
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class GraphBuilder:
    """Collects nodes and initializers; names every tensor uniquely."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.initializers = []
        self.counter = 0

    def name(self, prefix):
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def const(self, prefix, array):
        n = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), n))
        return n

    def normal(self, prefix, shape, std):
        return self.const(prefix, (self.rng.standard_normal(shape) * std).astype(np.float32))

    def uniform(self, prefix, shape, low, high):
        return self.const(prefix, self.rng.uniform(low, high, shape).astype(np.float32))

    def op(self, op_type, inputs, prefix=None, outputs=1, **attrs):
        outs = [self.name(prefix or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.name(op_type), **attrs))
        return outs[0] if outputs == 1 else outs

    def model(self, name, inputs, outputs):
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="kiln-make_models")
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)
        return model


# ---------------------------------------------------------------- ResNet-50 (torchvision layout)

def conv_bn(g, x, cin, cout, kernel, stride, relu):
    pad = kernel // 2
    w = g.normal("conv_w", (cout, cin, kernel, kernel), np.sqrt(2.0 / (cin * kernel * kernel)))
    y = g.op("Conv", [x, w], "conv", kernel_shape=[kernel, kernel], strides=[stride, stride],
             pads=[pad, pad, pad, pad], dilations=[1, 1], group=1)
    scale = g.uniform("bn_scale", (cout,), 0.5, 1.0)
    bias = g.uniform("bn_bias", (cout,), -0.1, 0.1)
    mean = g.uniform("bn_mean", (cout,), -0.1, 0.1)
    var = g.uniform("bn_var", (cout,), 0.5, 1.5)
    y = g.op("BatchNormalization", [y, scale, bias, mean, var], "bn", epsilon=1e-5, momentum=0.9)
    return g.op("Relu", [y], "relu") if relu else y


def bottleneck(g, x, cin, width, stride):
    cout = width * 4
    y = conv_bn(g, x, cin, width, 1, 1, True)
    y = conv_bn(g, y, width, width, 3, stride, True)
    y = conv_bn(g, y, width, cout, 1, 1, False)
    identity = x
    if stride != 1 or cin != cout:
        identity = conv_bn(g, x, cin, cout, 1, stride, False)
    return g.op("Relu", [g.op("Add", [y, identity], "add")], "relu"), cout


def make_resnet50(seed=0):
    g = GraphBuilder(seed)
    x = conv_bn(g, "input", 3, 64, 7, 2, True)
    x = g.op("MaxPool", [x], "maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    channels = 64
    for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for b in range(blocks):
            x, channels = bottleneck(g, x, channels, width, stride if b == 0 else 1)
    x = g.op("GlobalAveragePool", [x], "avgpool")
    x = g.op("Flatten", [x], "flatten", axis=1)
    w = g.normal("fc_w", (1000, channels), np.sqrt(1.0 / channels))
    b = g.uniform("fc_b", (1000,), -0.1, 0.1)
    g.nodes.append(helper.make_node("Gemm", [x, w, b], ["output"], name="fc", alpha=1.0, beta=1.0, transB=1))
    return g.model("resnet50",
                   [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 224, 224])],
                   [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1000])])


# ---------------------------------------------------------------- BERT-base (HuggingFace BertModel layout)

BERT = dict(layers=12, hidden=768, heads=12, intermediate=3072, vocab=30522, max_positions=512, type_vocab=2,
            seq=128)


def layer_norm(g, x, hidden):
    scale = g.uniform("ln_scale", (hidden,), 0.8, 1.2)
    bias = g.uniform("ln_bias", (hidden,), -0.1, 0.1)
    return g.op("LayerNormalization", [x, scale, bias], "layernorm", axis=-1, epsilon=1e-12)


def linear(g, x, cin, cout):
    w = g.normal("dense_w", (cin, cout), 0.02)
    b = g.normal("dense_b", (cout,), 0.02)
    return g.op("Add", [g.op("MatMul", [x, w], "matmul"), b], "dense")


def attention(g, x, mask_bias, c):
    hidden, heads, seq = c["hidden"], c["heads"], c["seq"]
    head_dim = hidden // heads
    split_shape = g.const("split_shape", np.array([0, seq, heads, head_dim], dtype=np.int64))  # 0: the batch
    merge_shape = g.const("merge_shape", np.array([0, seq, hidden], dtype=np.int64))

    def heads_of(t, perm):
        return g.op("Transpose", [g.op("Reshape", [t, split_shape], "reshape")], "transpose", perm=perm)

    q = heads_of(linear(g, x, hidden, hidden), [0, 2, 1, 3])   # [1, H, S, D]
    k = heads_of(linear(g, x, hidden, hidden), [0, 2, 3, 1])   # [1, H, D, S]
    v = heads_of(linear(g, x, hidden, hidden), [0, 2, 1, 3])   # [1, H, S, D]
    scores = g.op("MatMul", [q, k], "scores")
    scores = g.op("Div", [scores, g.const("sqrt_d", np.array(np.sqrt(head_dim), dtype=np.float32))], "scaled")
    scores = g.op("Add", [scores, mask_bias], "masked")
    probs = g.op("Softmax", [scores], "probs", axis=-1)
    context = g.op("MatMul", [probs, v], "context")
    context = g.op("Transpose", [context], "transpose", perm=[0, 2, 1, 3])
    context = g.op("Reshape", [context, merge_shape], "reshape")
    out = linear(g, context, hidden, hidden)
    return layer_norm(g, g.op("Add", [out, x], "residual"), hidden)


def gelu(g, x):
    inner = g.op("Div", [x, g.const("sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))], "div")
    erf = g.op("Erf", [inner], "erf")
    one_plus = g.op("Add", [erf, g.const("one", np.array(1.0, dtype=np.float32))], "add")
    y = g.op("Mul", [x, one_plus], "mul")
    return g.op("Mul", [y, g.const("half", np.array(0.5, dtype=np.float32))], "gelu")


def make_bert_base(seed=0, c=BERT):
    g = GraphBuilder(seed)
    hidden, seq = c["hidden"], c["seq"]
    words = g.op("Gather", [g.normal("word_embeddings", (c["vocab"], hidden), 0.02), "input_ids"], "words", axis=0)
    position_ids = g.const("position_ids", np.arange(seq, dtype=np.int64).reshape(1, seq))
    positions = g.op("Gather", [g.normal("position_embeddings", (c["max_positions"], hidden), 0.02), position_ids],
                     "positions", axis=0)
    token_type_ids = g.const("token_type_ids", np.zeros((1, seq), dtype=np.int64))
    types = g.op("Gather", [g.normal("token_type_embeddings", (c["type_vocab"], hidden), 0.02), token_type_ids],
                 "types", axis=0)
    x = g.op("Add", [g.op("Add", [words, types], "embed"), positions], "embed")
    x = layer_norm(g, x, hidden)
    # extended mask: (1 - mask[:, None, None, :]) * -10000
    mask = g.op("Unsqueeze", ["attention_mask", g.const("axes", np.array([1, 2], dtype=np.int64))], "mask")
    mask = g.op("Cast", [mask], "mask_f", to=TensorProto.FLOAT)
    mask = g.op("Sub", [g.const("one", np.array(1.0, dtype=np.float32)), mask], "mask_inv")
    mask_bias = g.op("Mul", [mask, g.const("neg", np.array(-10000.0, dtype=np.float32))], "mask_bias")
    for _ in range(c["layers"]):
        x = attention(g, x, mask_bias, c)
        ffn = linear(g, gelu(g, linear(g, x, hidden, c["intermediate"])), c["intermediate"], hidden)
        x = layer_norm(g, g.op("Add", [ffn, x], "residual"), hidden)
    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="last_hidden_state"))
    first = g.op("Gather", [x, g.const("first_token", np.array(0, dtype=np.int64))], "first", axis=1)
    pooled = g.op("Tanh", [linear(g, first, hidden, hidden)], "pooled")
    g.nodes.append(helper.make_node("Identity", [pooled], ["pooler_output"], name="pooler_output"))
    return g.model("bert_base",
                   [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", seq]),
                    helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", seq])],
                   [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", seq, hidden]),
                    helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["batch", hidden])])


MODELS = {"resnet50": make_resnet50, "bert_base": make_bert_base}


def sample_inputs(name, seed=1):
    """Deterministic inputs for a model made here (shared with cpu_bench.py)."""
    rng = np.random.default_rng(seed)
    if name == "resnet50":
        return {"input": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}
    seq = BERT["seq"]
    ids = rng.integers(0, BERT["vocab"], (1, seq), dtype=np.int64)
    mask = np.ones((1, seq), dtype=np.int64)
    mask[0, seq - 16:] = 0  # a padded tail so the mask matters
    return {"input_ids": ids, "attention_mask": mask}


def check_with_onnxruntime(path, name):
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    outputs = session.run(None, sample_inputs(name))
    for info, value in zip(session.get_outputs(), outputs):
        if not np.all(np.isfinite(value)):
            raise SystemExit(f"{name}: output {info.name} has non-finite values")
        print(f"  {name}: {info.name} {list(value.shape)} mean|x| {np.abs(value).mean():.4g}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="run each model once in onnxruntime")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    for name in args.models.split(","):
        if name not in MODELS:
            raise SystemExit(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
        path = os.path.join(args.out_dir, name + ".onnx")
        onnx.save(MODELS[name](args.seed), path)
        print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
        if args.check:
            check_with_onnxruntime(path, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
