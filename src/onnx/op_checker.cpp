#include "onnx/op_checker.h"

#include "core/error.h"
#include "onnx/importers/importers.h"

namespace kiln::onnx_import {

std::map<std::string, int64_t> opsetVersions(const onnx::ModelProto& model) {
  std::map<std::string, int64_t> opsets;
  for (const auto& o : model.opset_import()) {
    std::string domain = o.domain() == "ai.onnx" ? "" : o.domain();
    opsets[domain] = o.version();
  }
  // Models from before opset_import existed (IR version < 3) use opset 1.
  if (!opsets.count("")) opsets[""] = 1;
  return opsets;
}

std::vector<std::string> findUnsupportedNodes(const onnx::GraphProto& graph,
                                              const std::map<std::string, int64_t>& opsets) {
  std::vector<std::string> problems;
  for (const auto& node : graph.node()) {
    std::string domain = node.domain() == "ai.onnx" ? "" : node.domain();
    auto it = opsets.find(domain);
    int64_t opset = it == opsets.end() ? -1 : it->second;
    std::string header = concat("node '", node.name(), "' (", node.op_type(), ", domain '",
                                domain.empty() ? "ai.onnx" : domain, "', opset ", opset, "): ");
    std::string reason;
    if (!domain.empty()) {
      reason = it == opsets.end()                    ? concat("domain '", domain, "' is not imported by the model")
               : domain == "ai.onnx.preview.training" ? std::string("a training-only operator (Kiln runs inference)")
                                                      : concat("domain '", domain, "' is not supported (only ai.onnx)");
    } else if (opset < kMinOpset || opset > kMaxOpset) {
      reason = concat("opset ", opset, " is outside the supported range ", kMinOpset, "..", kMaxOpset);
    } else if (const OpEntry* entry = findOp(node.op_type()); !entry) {
      reason = "unsupported op type";
    } else if (opset < entry->minOpset) {
      reason = concat(node.op_type(), " does not exist before opset ", entry->minOpset);
    } else if (entry->maxOpset && opset > entry->maxOpset) {
      reason = concat(node.op_type(), " was removed after opset ", entry->maxOpset);
    } else if (entry->check) {
      try {
        reason = entry->check(NodeView(node, opset));
      } catch (const Error& e) {
        reason = e.what();
        // The NodeView prefixes the node; drop it, the header already names it.
        std::string prefix = describeNode(node) + ": ";
        if (reason.rfind(prefix, 0) == 0) reason = reason.substr(prefix.size());
      }
    }
    if (!reason.empty()) problems.push_back(header + reason);
    // Subgraphs (If branches, Loop/Scan bodies) use the same opsets.
    for (const auto& a : node.attribute()) {
      std::vector<std::string> inner;
      if (a.has_g()) inner = findUnsupportedNodes(a.g(), opsets);
      for (const auto& g : a.graphs()) {
        auto more = findUnsupportedNodes(g, opsets);
        inner.insert(inner.end(), more.begin(), more.end());
      }
      problems.insert(problems.end(), inner.begin(), inner.end());
    }
  }
  return problems;
}

void checkSupported(const onnx::ModelProto& model) {
  auto problems = findUnsupportedNodes(model.graph(), opsetVersions(model));
  if (problems.empty()) return;
  std::string message = concat(problems.size(), " unsupported node", problems.size() == 1 ? "" : "s", ":");
  for (const auto& p : problems) message += "\n" + p;
  fail(ErrorCode::kUnsupported, message);
}

}  // namespace kiln::onnx_import
