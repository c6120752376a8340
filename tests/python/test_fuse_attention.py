"""fuse_attention end to end: BERT-base from scripts/make_models.py (HuggingFace's attention export) builds on
the CPU with one Attention layer per encoder layer and no Softmax left, and matches ONNX Runtime with and
without the pass."""

import os
import sys

import pytest

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

import kiln  # noqa: E402
from kiln import compare  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import make_models  # noqa: E402


@pytest.fixture(scope="module")
def bert_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("bert") / "bert_base.onnx"
    onnx.save(make_models.make_bert_base(), str(path))
    return str(path)


def build_summary(path, disabled_passes=()):
    summary = kiln.BuildSummary()
    shapes = {name: value.shape for name, value in make_models.sample_inputs("bert_base").items()}
    kiln.build_serialized(path, shapes=shapes, disabled_passes=list(disabled_passes), summary=summary)
    return summary


def layer_types(summary):
    types = {}
    for t in summary.tactics:
        types[t.layer_type] = types.get(t.layer_type, 0) + 1
    return types


def test_bert_base_has_one_attention_layer_per_encoder_layer(bert_path):
    fused = layer_types(build_summary(bert_path))
    assert fused.get("Attention", 0) == make_models.BERT["layers"]
    assert fused.get("Softmax", 0) == 0
    assert fused.get("Transpose", 0) == 0  # every attention reads and writes [B, S, H, D]
    unfused = layer_types(build_summary(bert_path, ["fuse_attention"]))
    assert unfused.get("Attention", 0) == 0
    assert unfused.get("Softmax", 0) == make_models.BERT["layers"]


@pytest.mark.parametrize("disabled", [(), ("fuse_attention",)])
def test_bert_base_matches_onnxruntime(bert_path, disabled):
    result = compare.compare_model(bert_path, inputs=make_models.sample_inputs("bert_base"),
                                   disabled_passes=list(disabled))
    assert result.kiln_error is None, result.kiln_error
    assert result.passed, compare.format_table(result)
