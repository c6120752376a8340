#!/usr/bin/env python3
"""Import + build time of a long ONNX chain (issue #13 item 6: 20,000 nodes in under 0.5 s).

Writes x -> Relu -> Add(c) -> Relu -> ... -> y with unnamed nodes (the importer derives every layer
name), then times `kiln build` on it (parse, import, passes, plan, engine load for the build summary,
process exit), best of --repeats, at builder effort 0 and at the default effort.

    python3 scripts/import_bench.py [--kiln build/kiln] [--nodes 20000] [--repeats 3]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def chain_model(nodes):
    graph_nodes = []
    previous = "x"
    for i in range(nodes):
        out = "y" if i + 1 == nodes else f"v{i}"
        if i % 2 == 0:
            graph_nodes.append(helper.make_node("Relu", [previous], [out]))
        else:
            graph_nodes.append(helper.make_node("Add", [previous, "c"], [out]))
        previous = out
    c = numpy_helper.from_array(np.array([0.5, -0.5, 1.0, 0.0], dtype=np.float32), "c")
    graph = helper.make_graph(graph_nodes, "chain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [c])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiln", default="build/kiln")
    parser.add_argument("--nodes", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "chain.onnx")
        onnx.save(chain_model(args.nodes), model)
        for effort in (0, 3):
            best = None
            for _ in range(args.repeats):
                start = time.perf_counter()
                subprocess.run([args.kiln, "build", f"--onnx={model}", f"--builder-effort={effort}", "--quiet",
                                f"--save-engine={os.path.join(tmp, 'chain.plan')}"], check=True)
                elapsed = time.perf_counter() - start
                best = elapsed if best is None else min(best, elapsed)
            print(f"import+build of a {args.nodes}-node chain, builder effort {effort}: {best:.3f} s "
                  f"(best of {args.repeats}, whole `kiln build` process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
