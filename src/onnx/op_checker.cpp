#include "onnx/op_checker.h"

#include <unordered_set>

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
  if (model.opset_import_size() == 0 && model.ir_version() < 3) opsets[""] = 1;
  return opsets;
}

namespace {

// The names defined so far in a graph, and in the graphs enclosing it up to the node holding it.
struct Scope {
  const Scope* outer = nullptr;
  std::unordered_set<std::string> names;
  bool has(const std::string& name) const {
    for (const Scope* s = this; s; s = s->outer)
      if (s->names.count(name)) return true;
    return false;
  }
};

// ONNX's checker rules for one graph (check_graph and check_node), every problem listed.
void findGraphProblems(const onnx::GraphProto& graph, const Scope* outer, const std::string& where,
                       std::vector<std::string>& problems) {
  Scope scope;
  scope.outer = outer;
  for (const auto& vi : graph.input()) {
    if (vi.name().empty()) problems.push_back(concat(where, "a graph input has no name"));
    else if (!scope.names.insert(vi.name()).second)
      problems.push_back(concat(where, "graph input '", vi.name(), "' is declared more than once"));
  }
  std::unordered_set<std::string> initializers;
  for (const auto& init : graph.initializer()) {
    if (!initializers.insert(init.name()).second)
      problems.push_back(concat(where, "initializer '", init.name(), "' is defined more than once"));
    scope.names.insert(init.name());  // may also be a graph input (its default value)
  }
  for (const auto& node : graph.node()) {
    std::string at = concat(where, describeNode(node), ": ");
    for (const auto& input : node.input())
      if (!input.empty() && !scope.has(input))
        problems.push_back(concat(at, "input '", input,
                                  "' is not a graph input, initializer or output of an earlier node"));
    std::unordered_set<std::string> attributes;
    for (const auto& a : node.attribute()) {
      if (!attributes.insert(a.name()).second)
        problems.push_back(concat(at, "attribute '", a.name(), "' appears more than once"));
      std::string inner = concat(where, "in graph attribute '", a.name(), "' of ", describeNode(node), ": ");
      if (a.has_g()) findGraphProblems(a.g(), &scope, inner, problems);
      for (const auto& g : a.graphs()) findGraphProblems(g, &scope, inner, problems);
    }
    for (const auto& output : node.output()) {
      if (output.empty()) continue;
      if (scope.has(output))
        problems.push_back(concat(at, "output '", output,
                                  "' is already defined (by a graph input, an initializer, another node output or an "
                                  "enclosing graph): ONNX graphs assign each name once"));
      scope.names.insert(output);
    }
  }
}

// The first node of `graph` or its subgraphs in the default domain, or nullptr.
const onnx::NodeProto* firstDefaultDomainNode(const onnx::GraphProto& graph) {
  for (const auto& node : graph.node()) {
    if (node.domain().empty() || node.domain() == "ai.onnx") return &node;
    for (const auto& a : node.attribute()) {
      if (a.has_g())
        if (const onnx::NodeProto* found = firstDefaultDomainNode(a.g())) return found;
      for (const auto& g : a.graphs())
        if (const onnx::NodeProto* found = firstDefaultDomainNode(g)) return found;
    }
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> findStructuralProblems(const onnx::ModelProto& model) {
  std::vector<std::string> problems;
  if (!opsetVersions(model).count(""))
    if (const onnx::NodeProto* node = firstDefaultDomainNode(model.graph()))
      problems.push_back(concat("the model imports no opset of the default domain ('' or 'ai.onnx'), which ",
                                describeNode(*node), " uses: add an opset_import entry for it"));
  findGraphProblems(model.graph(), nullptr, "", problems);
  return problems;
}

void checkWellFormed(const onnx::ModelProto& model) {
  auto problems = findStructuralProblems(model);
  if (problems.empty()) return;
  std::string message = concat("the model is not valid ONNX (", problems.size(), " problem",
                               problems.size() == 1 ? "" : "s", "):");
  for (const auto& p : problems) message += "\n  " + p;
  fail(ErrorCode::kInvalidModel, message);
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
