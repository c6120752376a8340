#!/usr/bin/env python3
"""Writes the node tests of the installed `onnx` package as test data (model.onnx + test_data_set_N/).

The onnx wheel ships the node test definitions (onnx.backend.test.case.node) but not their data, and
`backend-test-tools generate-data` writes only the model tests. This writes the node cases in the same
layout as ONNX's own test data, into OUT/<onnx version>/node (default third_party/onnx-node-tests,
git-ignored). Re-running is a no-op when the folder is complete (a .complete marker written last).
"""
import argparse
import os
import shutil
import sys
import warnings

import onnx
from onnx import numpy_helper
from onnx.backend.test.case import node as node_cases


def serialize(value, value_info):
    """The TensorProto / SequenceProto / MapProto / OptionalProto bytes of one input or output."""
    kind = value_info.type.WhichOneof("value")
    if kind == "sequence_type":
        return numpy_helper.from_list(value, value_info.name).SerializeToString()
    if kind == "optional_type":
        return numpy_helper.from_optional(value, value_info.name).SerializeToString()
    if kind == "map_type":
        return numpy_helper.from_dict(value, value_info.name).SerializeToString()
    if isinstance(value, onnx.TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(value, value_info.name).SerializeToString()


def write_case(case, folder):
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(case.model.SerializeToString())
    graph = case.model.graph
    for i, (inputs, outputs) in enumerate(case.data_sets):
        data_set = os.path.join(folder, f"test_data_set_{i}")
        os.makedirs(data_set)
        for prefix, values, infos in (("input", inputs, graph.input), ("output", outputs, graph.output)):
            for j, value in enumerate(values):
                with open(os.path.join(data_set, f"{prefix}_{j}.pb"), "wb") as f:
                    f.write(serialize(value, infos[j]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="third_party/onnx-node-tests",
                        help="the data goes to OUT/<onnx version>/node")
    args = parser.parse_args()
    target = os.path.join(args.out, onnx.__version__, "node")
    marker = os.path.join(target, ".complete")
    if os.path.exists(marker):
        print(f"[node tests] {target} is up to date")
        return 0
    with warnings.catch_warnings():  # some case definitions divide by zero on purpose (inf, nan cases)
        warnings.simplefilter("ignore", RuntimeWarning)
        cases = node_cases.collect_testcases()
    for case in cases:
        write_case(case, os.path.join(target, case.name))
    open(marker, "w").close()
    print(f"[node tests] wrote {len(cases)} cases of onnx {onnx.__version__} to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
