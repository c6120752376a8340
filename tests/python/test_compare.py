"""python -m kiln compare: Kiln vs onnxruntime on small models."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import numpy_helper  # noqa: E402

from kiln import compare  # noqa: E402
from conftest import conv_model, mlp_model, save, two_output_model  # noqa: E402


def test_compare_passes(mlp_path, capsys):
    assert compare.main([mlp_path, "--seed", "3", "--shape", "x:5x4"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "FAIL" not in out
    assert "max abs err" in out and "1/1 outputs match" in out


def test_compare_conv_and_multi_output(tmp_path, capsys):
    assert compare.main([save(conv_model(), tmp_path, "conv.onnx")]) == 0
    assert compare.main([save(two_output_model(), tmp_path, "two.onnx"), "--rtol", "1e-5", "--atol", "1e-6"]) == 0
    assert "2/2 outputs match" in capsys.readouterr().out


def test_compare_all_outputs(mlp_path, capsys):
    assert compare.main([mlp_path, "--all-outputs"]) == 0
    out = capsys.readouterr().out
    for name in ("h0", "h1", "h2", "h3", "logits", "y"):
        assert name in out
    assert "6/6 outputs match" in out


def test_compare_inputs_dir(tmp_path, capsys):
    model = two_output_model()
    path = save(model, tmp_path, "two.onnx")
    data = tmp_path / "test_data_set_0"
    data.mkdir()
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 2, np.float32)
    (data / "input_0.pb").write_bytes(numpy_helper.from_array(a, "a").SerializeToString())
    (data / "input_1.pb").write_bytes(numpy_helper.from_array(b).SerializeToString())  # unnamed: by order
    feeds = compare.read_inputs(model, str(data))
    np.testing.assert_array_equal(feeds["a"], a)
    np.testing.assert_array_equal(feeds["b"], b)
    assert compare.main([path, "--inputs", str(data)]) == 0


def test_zero_tolerance_is_consistent(tmp_path):
    """With --rtol 0 --atol 0 the verdict must follow the measured error exactly."""
    path = save(mlp_model(), tmp_path, "mlp.onnx")
    result = compare.compare_model(path, rtol=0.0, atol=0.0, shapes={"x": (16, 4)})
    assert result.kiln_error is None
    for r in result.outputs:
        assert r.passed == (r.max_abs == 0.0)
    assert compare.main([path, "--rtol", "0", "--atol", "0", "--shape", "x:16x4"]) == (0 if result.passed else 1)


def _perturbing(monkeypatch, names, amount=0.5):
    real = compare.run_kiln

    def run_kiln(model_bytes, feeds, *args, **kwargs):
        outputs = real(model_bytes, feeds, *args, **kwargs)
        for name in names:
            if name in outputs:
                outputs[name] = outputs[name] + np.asarray(amount, outputs[name].dtype)
        return outputs

    monkeypatch.setattr(compare, "run_kiln", run_kiln)


def test_compare_reports_failure(mlp_path, monkeypatch, capsys):
    _perturbing(monkeypatch, ["y"], 0.25)
    assert compare.main([mlp_path]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "2.500e-01" in out
    # a tolerance wide enough accepts the same difference
    assert compare.main([mlp_path, "--atol", "0.3"]) == 0


def test_compare_all_outputs_finds_first_divergence(mlp_path, monkeypatch, capsys):
    _perturbing(monkeypatch, ["h2", "h3", "logits", "y"])
    assert compare.main([mlp_path, "--all-outputs"]) == 1
    out = capsys.readouterr().out
    assert "first divergence: node #2 Relu 'relu' output 'h2'" in out
    result = compare.compare_model(mlp_path, all_outputs=True)
    assert result.first_divergence.name == "h2"


def test_compare_arrays_edge_cases():
    a = np.array([1.0, np.nan, np.inf, 0.0], np.float32)
    r = compare.compare_arrays("t", a, a.copy(), 1e-3, 1e-4)
    assert r.passed and r.max_abs == 0.0
    r = compare.compare_arrays("t", a, np.array([1.0, 1.0, np.inf, 0.0], np.float32), 1e-3, 1e-4)
    assert not r.passed
    r = compare.compare_arrays("t", np.zeros((2, 3)), np.zeros((3, 2)), 1e-3, 1e-4)
    assert not r.passed and "shape" in r.note
    r = compare.compare_arrays("t", np.array([1, 2, 3]), np.array([1, 2, 4]), 0, 0)
    assert not r.passed and r.max_abs == 1.0
    r = compare.compare_arrays("t", np.array([1.0, 2.0]), np.array([1.0, 2.002]), 1e-2, 0)
    assert r.passed and r.max_rel == pytest.approx(0.002 / 2.002)


def test_expose_all_outputs_keeps_types():
    model, producers = compare.expose_all_outputs(mlp_model())
    outputs = {o.name: o for o in model.graph.output}
    assert list(producers) == ["h0", "h1", "h2", "h3", "logits", "y"]
    assert set(outputs) == set(producers)
    assert all(o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for o in outputs.values())


def test_python_dash_m(mlp_path):
    proc = subprocess.run([sys.executable, "-m", "kiln", "compare", mlp_path], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "kiln", "compare", mlp_path, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--all-outputs" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "kiln", "bogus"], capture_output=True, text=True)
    assert proc.returncode == 2
