// Checks an ONNX model before anything is imported: its structure, as ONNX's own checker does
// (onnx.checker.check_model), then every node against the importer table.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <onnx/onnx.pb.h>

namespace kiln::onnx_import {

// Opset version per domain ("" for the default domain; "ai.onnx" is folded into ""). A model from before
// opset_import existed (IR version < 3, no imports) uses opset 1; any other model without a default-domain
// import has no "" entry (checkWellFormed refuses it).
std::map<std::string, int64_t> opsetVersions(const onnx::ModelProto& model);

// One line per structural problem that ONNX's checker refuses: no default-domain opset import, duplicate
// attribute names on a node, a name defined twice (graph inputs, initializers, node outputs: single static
// assignment, also across subgraph scopes), unnamed graph inputs, node inputs that name no value defined
// before them (in the graph or an enclosing one).
std::vector<std::string> findStructuralProblems(const onnx::ModelProto& model);

// Throws kiln::Error (kInvalidModel) listing every structural problem, if any.
void checkWellFormed(const onnx::ModelProto& model);

// One line per unsupported node: "node 'name' (OpType, domain 'ai.onnx', opset 13): <reason>".
std::vector<std::string> findUnsupportedNodes(const onnx::GraphProto& graph,
                                              const std::map<std::string, int64_t>& opsets);

// Throws kiln::Error (kUnsupported) listing every unsupported node, if any.
void checkSupported(const onnx::ModelProto& model);

}  // namespace kiln::onnx_import
