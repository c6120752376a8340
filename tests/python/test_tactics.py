"""Tactic selection from Python: builder effort, the timing cache file, and what the plan records."""

import pytest

import kiln
from conftest import conv_model


def _conv_layer(tactics):
    convs = [t for t in tactics if t.layer_type == "Convolution"]
    assert len(convs) == 1
    return convs[0]


def test_effort_zero_times_nothing():
    summary = kiln.BuildSummary()
    engine = kiln.build(conv_model().SerializeToString(), builder_effort=0, summary=summary)
    assert summary.layers_timed == 0
    conv = _conv_layer(summary.tactics)
    assert conv.candidates == 0 and conv.milliseconds < 0
    assert conv.tactic.startswith("cpu.")
    assert _conv_layer(engine.layer_tactics).tactic == conv.tactic


def test_timing_cache_file_makes_the_second_build_time_nothing(tmp_path):
    cache = tmp_path / "conv.cache"
    model = conv_model().SerializeToString()
    first, second = kiln.BuildSummary(), kiln.BuildSummary()
    calls = []
    builder = kiln.Builder()
    network = builder.create_network()
    kiln.OnnxParser(network).parse(model)
    config = kiln.BuilderConfig(device="cpu")
    config.builder_effort = 3
    config.timing_cache = str(cache)
    config.progress = lambda layer, count, name, tactic: calls.append((layer, count, name, tactic))
    plan1 = builder.build_serialized_network(network, config, first)
    assert cache.exists()
    assert cache.read_text().startswith("KILN-TIMING-CACHE 1\n")
    plan2 = kiln.build_serialized(model, builder_effort=3, timing_cache=cache, summary=second)
    assert second.layers_timed == 0
    assert plan1 == plan2
    tuned = [t for t in first.tactics if t.candidates > 1]
    # Every layer timed in the first build was announced through the progress callback, with its tactics.
    assert len(calls) == first.layers_timed
    for layer, count, name, tactics in calls:
        assert 0 <= layer < count and tactics.split()
    assert second.timing_cache_hits == len(tuned)
    for t in tuned:
        assert t.milliseconds >= 0
        assert t.layer_name in {c[2] for c in calls}


def test_corrupted_timing_cache_is_refused(tmp_path):
    cache = tmp_path / "bad.cache"
    cache.write_bytes(b"\x00\x01 not a timing cache")
    with pytest.raises(kiln.Error, match="bad.cache"):
        kiln.build(conv_model().SerializeToString(), timing_cache=cache)


def test_effort_out_of_range_is_refused():
    with pytest.raises(kiln.Error, match="effort"):
        kiln.build(conv_model().SerializeToString(), builder_effort=9)
