// Checks every node of an ONNX model against the importer table before anything is imported.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <onnx/onnx.pb.h>

namespace kiln::onnx_import {

// Opset version per domain ("" for the default domain; "ai.onnx" is folded into "").
std::map<std::string, int64_t> opsetVersions(const onnx::ModelProto& model);

// One line per unsupported node: "node 'name' (OpType, domain 'ai.onnx', opset 13): <reason>".
std::vector<std::string> findUnsupportedNodes(const onnx::GraphProto& graph,
                                              const std::map<std::string, int64_t>& opsets);

// Throws kiln::Error (kUnsupported) listing every unsupported node, if any.
void checkSupported(const onnx::ModelProto& model);

}  // namespace kiln::onnx_import
