#include "random_outputs.h"

#include <onnx/onnx.pb.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "common.h"
#include "core/error.h"
#include "onnx/tensor_proto.h"

namespace kiln::tools {

namespace {

const onnx::TensorProto* findInitializer(const onnx::GraphProto& graph, const std::string& name) {
  for (const auto& t : graph.initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

const onnx::AttributeProto* findAttribute(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

double floatAttribute(const onnx::NodeProto& node, const std::string& name, double fallback) {
  const onnx::AttributeProto* a = findAttribute(node, name);
  return a ? a->f() : fallback;
}

// A Dropout draws when it has a training_mode input that is not a constant false.
bool dropoutDraws(const onnx::GraphProto& graph, const onnx::NodeProto& node) {
  if (node.input_size() < 3 || node.input(2).empty()) return false;
  if (const onnx::TensorProto* t = findInitializer(graph, node.input(2))) {
    HostTensor value = onnx_import::tensorFromProto(*t);
    return value.count() == 1 && elementAsDouble(value, 0) != 0;
  }
  return true;
}

bool nodeDraws(const onnx::GraphProto& graph, const onnx::NodeProto& node) {
  if (node.op_type() == "Dropout") return dropoutDraws(graph, node);
  return isRandomOp(node.op_type());
}

RandomOutputRule ruleFor(const onnx::GraphProto& graph, const onnx::NodeProto* producer, int outputIndex) {
  RandomOutputRule rule;
  rule.support = RandomSupport::kIntegralInExpectedRange;
  if (!producer || !nodeDraws(graph, *producer)) return rule;
  const std::string& op = producer->op_type();
  if (op == "RandomUniform" || op == "RandomUniformLike") {
    rule.support = RandomSupport::kRange;
    rule.low = floatAttribute(*producer, "low", 0.0);
    rule.high = floatAttribute(*producer, "high", 1.0);
  } else if (op == "RandomNormal" || op == "RandomNormalLike") {
    rule.support = RandomSupport::kFinite;
  } else if (op == "Bernoulli") {
    rule.support = RandomSupport::kZeroOne;
  } else if (op == "Multinomial") {
    rule.support = RandomSupport::kClassIndex;
    for (const auto& in : graph.input())
      if (in.name() == producer->input(0) && in.type().tensor_type().shape().dim_size() == 2 &&
          in.type().tensor_type().shape().dim(1).has_dim_value())
        rule.classes = in.type().tensor_type().shape().dim(1).dim_value();
  } else if (op == "Dropout") {
    if (outputIndex == 1) {
      rule.support = RandomSupport::kAnyBool;
      return rule;
    }
    rule.support = RandomSupport::kDropout;
    rule.dropoutData = producer->input(0);
    rule.dropoutRatio = floatAttribute(*producer, "ratio", 0.5);
    if (producer->input_size() > 1 && !producer->input(1).empty()) {
      if (const onnx::TensorProto* t = findInitializer(graph, producer->input(1)))
        rule.dropoutRatio = elementAsDouble(onnx_import::tensorFromProto(*t), 0);
      else
        rule.dropoutRatioName = producer->input(1);
    }
  }
  return rule;
}

std::string formatNumber(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

}  // namespace

bool isRandomOp(const std::string& opType) {
  static const std::set<std::string> ops = {"RandomUniform", "RandomNormal", "RandomUniformLike",
                                            "RandomNormalLike", "Bernoulli", "Multinomial"};
  return ops.count(opType) > 0;
}

std::string RandomOutputRule::describe() const {
  switch (support) {
    case RandomSupport::kRange: return concat("in [", formatNumber(low), ", ", formatNumber(high), "]");
    case RandomSupport::kFinite: return "finite";
    case RandomSupport::kZeroOne: return "in {0, 1}";
    case RandomSupport::kClassIndex:
      return classes >= 0 ? concat("class indices in [0, ", classes, ")") : "class indices >= 0";
    case RandomSupport::kDropout: return concat("0 or '", dropoutData, "' / (1 - ratio)");
    case RandomSupport::kAnyBool: return "any mask";
    case RandomSupport::kIntegralInExpectedRange: return "in the expected support";
  }
  return "";
}

std::optional<std::vector<RandomOutputRule>> randomOutputRules(const std::string& onnxPath) {
  onnx::ModelProto model;
  std::ifstream file(onnxPath, std::ios::binary);
  KILN_CHECK(file.good() && model.ParseFromIstream(&file), kIOError, "cannot read the ONNX model '", onnxPath, "'");
  const onnx::GraphProto& graph = model.graph();
  bool draws = false;
  std::map<std::string, std::pair<const onnx::NodeProto*, int>> producers;
  for (const auto& node : graph.node()) {
    draws = draws || nodeDraws(graph, node);
    for (int i = 0; i < node.output_size(); ++i) producers[node.output(i)] = {&node, i};
  }
  if (!draws) return std::nullopt;
  std::vector<RandomOutputRule> rules;
  for (const auto& out : graph.output()) {
    auto it = producers.find(out.name());
    rules.push_back(it == producers.end() ? ruleFor(graph, nullptr, 0)
                                          : ruleFor(graph, it->second.first, it->second.second));
  }
  return rules;
}

std::string judgeRandomOutput(const RandomOutputRule& rule, const HostTensor& actual, const HostTensor& expected,
                              const std::map<std::string, HostTensor>& inputs, double rtol, double atol) {
  if (actual.type != expected.type)
    return concat("type ", dataTypeName(actual.type), " differs from expected ", dataTypeName(expected.type));
  if (actual.shape != expected.shape)
    return concat("shape ", dimsToString(actual.shape), " differs from expected ", dimsToString(expected.shape));
  const int64_t n = actual.count();
  auto bad = [&](int64_t i, const std::string& why) {
    return concat("element ", i, " = ", formatNumber(elementAsDouble(actual, i)), " is not ", why);
  };
  switch (rule.support) {
    case RandomSupport::kRange:
      for (int64_t i = 0; i < n; ++i) {
        double v = elementAsDouble(actual, i);
        if (!(v >= rule.low && v <= rule.high)) return bad(i, rule.describe());
      }
      return "";
    case RandomSupport::kFinite:
      for (int64_t i = 0; i < n; ++i)
        if (!std::isfinite(elementAsDouble(actual, i))) return bad(i, "finite");
      return "";
    case RandomSupport::kZeroOne:
      for (int64_t i = 0; i < n; ++i) {
        double v = elementAsDouble(actual, i);
        if (v != 0 && v != 1) return bad(i, rule.describe());
      }
      return "";
    case RandomSupport::kClassIndex:
      for (int64_t i = 0; i < n; ++i) {
        double v = elementAsDouble(actual, i);
        if (v < 0 || (rule.classes >= 0 && v >= static_cast<double>(rule.classes)) || v != std::floor(v))
          return bad(i, rule.describe());
      }
      return "";
    case RandomSupport::kAnyBool:
      return "";
    case RandomSupport::kDropout: {
      double ratio = rule.dropoutRatio;
      if (auto r = inputs.find(rule.dropoutRatioName); !rule.dropoutRatioName.empty() && r != inputs.end())
        ratio = elementAsDouble(r->second, 0);
      auto data = inputs.find(rule.dropoutData);
      bool known = data != inputs.end() && data->second.shape == actual.shape && ratio < 1;
      for (int64_t i = 0; i < n; ++i) {
        double v = elementAsDouble(actual, i);
        if (v == 0) continue;
        // The kept value: the input scaled when the input is known, else the reference's kept value.
        double kept = known ? elementAsDouble(data->second, i) / (1 - ratio) : elementAsDouble(expected, i);
        if (!known && kept == 0) continue;  // dropped in the reference run and the input is unknown
        if (!(std::fabs(v - kept) <= atol + rtol * std::fabs(kept)))
          return bad(i, concat("0 or the kept value ", formatNumber(kept)));
      }
      return "";
    }
    case RandomSupport::kIntegralInExpectedRange: {
      bool integral = true;
      double lo = INFINITY, hi = -INFINITY;
      for (int64_t i = 0; i < n; ++i) {
        double e = elementAsDouble(expected, i);
        integral = integral && e == std::floor(e);
        lo = std::min(lo, e);
        hi = std::max(hi, e);
      }
      for (int64_t i = 0; i < n; ++i) {
        double v = elementAsDouble(actual, i);
        if (!std::isfinite(v)) return bad(i, "finite");
        if (integral && (v != std::floor(v) || v < lo || v > hi))
          return bad(i, concat("an integer in the expected range [", formatNumber(lo), ", ", formatNumber(hi), "]"));
      }
      return "";
    }
  }
  return "";
}

}  // namespace kiln::tools
