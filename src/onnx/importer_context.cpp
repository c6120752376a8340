#include "onnx/importer_context.h"

#include <cstring>

#include "backends/host_eval.h"
#include "core/half.h"
#include "ir/layers/shape_value.h"
#include "ir/shape_inference.h"
#include "onnx/tensor_proto.h"

namespace kiln::onnx_import {

std::string describeNode(const onnx::NodeProto& node) {
  return concat("node '", node.name(), "' (", node.op_type(), ")");
}

void NodeView::fail(ErrorCode code, const std::string& message) const {
  ::kiln::fail(code, concat(where(), ": ", message));
}

const onnx::AttributeProto* NodeView::attr(const std::string& name) const {
  for (const auto& a : node_.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

namespace {
const char* attrTypeName(int t) {
  static const char* names[] = {"UNDEFINED", "FLOAT",  "INT",    "STRING",        "TENSOR",
                                "GRAPH",     "FLOATS", "INTS",   "STRINGS",       "TENSORS",
                                "GRAPHS",    "SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS"};
  return t >= 0 && t < 15 ? names[t] : "unknown";
}
// Attribute type, inferring it from the populated field for old models without `type`.
int attrType(const onnx::AttributeProto& a) {
  if (a.has_type() && a.type() != onnx::AttributeProto::UNDEFINED) return a.type();
  if (a.has_f()) return onnx::AttributeProto::FLOAT;
  if (a.has_i()) return onnx::AttributeProto::INT;
  if (a.has_s()) return onnx::AttributeProto::STRING;
  if (a.has_t()) return onnx::AttributeProto::TENSOR;
  if (a.has_g()) return onnx::AttributeProto::GRAPH;
  if (a.floats_size()) return onnx::AttributeProto::FLOATS;
  if (a.ints_size()) return onnx::AttributeProto::INTS;
  if (a.strings_size()) return onnx::AttributeProto::STRINGS;
  return onnx::AttributeProto::UNDEFINED;
}
}  // namespace

#define KILN_ATTR_CHECK(a, expected, typeName)                                                                \
  do {                                                                                                        \
    int t_ = attrType(*a);                                                                                    \
    if (t_ != (expected) && t_ != onnx::AttributeProto::UNDEFINED)                                            \
      fail(ErrorCode::kInvalidModel,                                                                          \
           concat("attribute '", a->name(), "' should be ", typeName, " but is ", attrTypeName(t_)));         \
  } while (0)

int64_t NodeView::attrInt(const std::string& name, int64_t def) const {
  const auto* a = attr(name);
  if (!a) return def;
  KILN_ATTR_CHECK(a, onnx::AttributeProto::INT, "INT");
  return a->i();
}

float NodeView::attrFloat(const std::string& name, float def) const {
  const auto* a = attr(name);
  if (!a) return def;
  if (attrType(*a) == onnx::AttributeProto::INT) return static_cast<float>(a->i());
  KILN_ATTR_CHECK(a, onnx::AttributeProto::FLOAT, "FLOAT");
  return a->f();
}

std::string NodeView::attrString(const std::string& name, const std::string& def) const {
  const auto* a = attr(name);
  if (!a) return def;
  KILN_ATTR_CHECK(a, onnx::AttributeProto::STRING, "STRING");
  return a->s();
}

std::vector<int64_t> NodeView::attrInts(const std::string& name, const std::vector<int64_t>& def) const {
  const auto* a = attr(name);
  if (!a) return def;
  KILN_ATTR_CHECK(a, onnx::AttributeProto::INTS, "INTS");
  return {a->ints().begin(), a->ints().end()};
}

std::vector<float> NodeView::attrFloats(const std::string& name, const std::vector<float>& def) const {
  const auto* a = attr(name);
  if (!a) return def;
  KILN_ATTR_CHECK(a, onnx::AttributeProto::FLOATS, "FLOATS");
  return {a->floats().begin(), a->floats().end()};
}

// ---- graph helpers ----

std::string uniqueLayerName(GraphState& graph, const std::string& base) {
  std::string name = base;
  for (int i = 1; graph.layerNames.count(name) || graph.network->findLayer(name); ++i) name = concat(base, "_", i);
  graph.layerNames.insert(name);
  return name;
}

namespace {

bool isShapeValueType(DataType t) {
  switch (t) {
    case DataType::kInt32: case DataType::kInt64: case DataType::kBool:
      return true;
    default:
      return false;
  }
}

bool isConstantTensor(const ir::Tensor* t) {
  return t && t->producerLayer && t->producerLayer->type() == LayerType::kConstant;
}

}  // namespace

void foldShapeValues(GraphState& graph, size_t firstLayer) {
  constexpr int64_t kMaxFoldedElements = 1024;  // shape values are short; leave data to the builder
  ir::Network& net = *graph.network;
  std::vector<ir::Layer*> layers;
  for (size_t i = firstLayer; i < net.layers().size(); ++i) layers.push_back(net.layers()[i].get());
  for (ir::Layer* layer : layers) {
    if (layer->type() == LayerType::kConstant || layer->inputs.empty() || layer->outputs.empty()) continue;
    if (ir::producesRunTimeValues(*layer)) continue;
    bool foldable = true;
    for (const ir::Tensor* out : layer->outputs) {
      int64_t n = volume(out->dims());
      foldable = foldable && isShapeValueType(out->type()) && n >= 0 && n <= kMaxFoldedElements;
    }
    std::vector<HostTensor> shapeOnly;
    std::vector<const HostTensor*> inputs;
    if (layer->type() == LayerType::kShape) {
      const ir::Tensor* in = layer->inputs[0];
      foldable = foldable && ir::shapeValueKnown(*layer, in->dims());  // never a -1 folded into a value
      shapeOnly.push_back(Weights::shapeOnly(in->type(), in->dims()));
      inputs.push_back(&shapeOnly[0]);
    } else {
      for (const ir::Tensor* in : layer->inputs) {
        if (in && !isConstantTensor(in)) foldable = false;
        inputs.push_back(isConstantTensor(in) ? &in->producerLayer->as<ConstantParams>().weights : nullptr);
      }
    }
    if (!foldable) continue;
    std::vector<HostTensor> values;
    try {
      values = host::evaluateLayer(*layer, inputs);
    } catch (const Error&) {
      continue;  // left to the builder and run time, which report the error with context
    }
    net.replaceByConstants(layer, values, [&] { return uniqueLayerName(graph, layer->name() + "_value"); });
    graph.folded.push_back(layer);
  }
}

void bindValue(GraphState& graph, const std::string& onnxName, ir::Tensor* tensor) {
  auto it = graph.values.find(onnxName);
  if (it != graph.values.end() && it->second != tensor)
    ::kiln::fail(ErrorCode::kInvalidModel, concat("ONNX value '", onnxName, "' is defined more than once"));
  if (tensor->name() != onnxName) {
    if (ir::Tensor* clash = graph.network->tensor(onnxName); clash && clash != tensor)
      clash->setName(graph.network->uniqueName(onnxName));
    // Forget the old name if it was bound (should not happen for fresh tensors).
    tensor->setName(onnxName);
  }
  graph.values[onnxName] = tensor;
}

ImporterContext::ImporterContext(GraphState& graph, const onnx::NodeProto& node, int64_t opset, int nodeIndex)
    : NodeView(node, opset), graph_(graph) {
  baseName_ = node.name().empty() ? concat(node.op_type(), "_", nodeIndex) : node.name();
}

ir::Tensor* lookupValue(GraphState& graph, const std::string& name) {
  auto it = graph.values.find(name);
  if (it != graph.values.end()) return it->second;
  if (!graph.outer) return nullptr;
  ir::Tensor* outer = lookupValue(*graph.outer, name);
  if (!outer) return nullptr;
  std::string inputName = graph.network->tensor(name) ? graph.network->uniqueName(name) : name;
  ir::Tensor* captured = ir::asTensor(graph.network->addInput(inputName, outer->type(), outer->dims()));
  captured->kind = outer->kind;
  graph.values[name] = captured;
  graph.captures.push_back(outer);
  return captured;
}

ITensor* ImporterContext::input(int i) const {
  if (!hasInput(i)) return nullptr;
  ir::Tensor* t = lookupValue(graph_, node_.input(i));
  if (!t)
    fail(ErrorCode::kInvalidModel, concat("input '", node_.input(i),
                                          "' is not a graph input, initializer or output of an earlier node"));
  return t;
}

ITensor* ImporterContext::requireInput(int i) const {
  ITensor* t = input(i);
  if (!t) fail(ErrorCode::kInvalidModel, concat("required input ", i, " is missing"));
  return t;
}

const HostTensor* ImporterContext::constantInput(int i) const {
  ITensor* t = input(i);
  if (!t) return nullptr;
  auto* producer = ir::asTensor(t)->producerLayer;
  if (!producer || producer->type() != LayerType::kConstant) return nullptr;
  return &producer->as<ConstantParams>().weights;
}

std::optional<std::vector<int64_t>> ImporterContext::constantInts(int i) const {
  const HostTensor* v = constantInput(i);
  if (!v) return std::nullopt;
  std::vector<int64_t> out(static_cast<size_t>(v->count()));
  for (size_t k = 0; k < out.size(); ++k) {
    switch (v->type) {
      case DataType::kInt64: out[k] = v->as<int64_t>()[k]; break;
      case DataType::kInt32: out[k] = v->as<int32_t>()[k]; break;
      default: fail(ErrorCode::kInvalidModel, concat("input '", node_.input(i), "' must be int32 or int64, not ",
                                                     dataTypeName(v->type)));
    }
  }
  return out;
}

ir::Layer* ImporterContext::addLayer(const LayerParams& params, const std::vector<ITensor*>& inputs, int numOutputs) {
  std::string name = uniqueLayerName(graph_, baseName_);
  ir::Layer* layer;
  try {
    layer = static_cast<ir::Layer*>(network().addLayer(params, inputs, numOutputs, name));
  } catch (const Error& e) {
    graph_.layerNames.erase(name);
    throw Error(e.code(), concat(where(), ": ", e.what()));
  }
  layer->origin = concat("ONNX node '", node_.name(), "' (", node_.op_type(), ")");
  for (auto* out : layer->outputs) fresh_.insert(out);
  return layer;
}

ITensor* ImporterContext::constant(const HostTensor& value) { return add(ConstantParams{value}, {}); }

ITensor* ImporterContext::constantInt64(const std::vector<int64_t>& values, bool isScalar) {
  Dims shape = isScalar ? Dims{} : Dims{static_cast<int64_t>(values.size())};
  return constant(HostTensor::copyOf(DataType::kInt64, shape, values.data()));
}

ITensor* ImporterContext::scalar(DataType type, double value) { return constant(makeScalar(type, value)); }

void ImporterContext::setOutput(int i, ITensor* tensor) {
  if (!hasOutput(i)) return;
  if (!fresh_.count(tensor)) tensor = identity(tensor);
  fresh_.erase(tensor);
  bindValue(graph_, node_.output(i), ir::asTensor(tensor));
}

void ImporterContext::setOutputs(ILayer* layer) {
  for (int i = 0; i < layer->numOutputs() && i < numOutputs(); ++i) setOutput(i, layer->output(i));
}

// ---- values ----

bool isFloatType(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 || t == DataType::kFloat64 ||
         t == DataType::kFP8E4M3;
}

double scalarValue(const HostTensor& t, size_t i) {
  switch (t.type) {
    case DataType::kFloat32: return t.as<float>()[i];
    case DataType::kFloat16: return halfToFloat(t.as<uint16_t>()[i]);
    case DataType::kBFloat16: return bfloat16ToFloat(t.as<uint16_t>()[i]);
    case DataType::kFloat64: return t.as<double>()[i];
    case DataType::kInt8: return t.as<int8_t>()[i];
    case DataType::kUInt8: return t.as<uint8_t>()[i];
    case DataType::kInt16: return t.as<int16_t>()[i];
    case DataType::kUInt16: return t.as<uint16_t>()[i];
    case DataType::kInt32: return t.as<int32_t>()[i];
    case DataType::kUInt32: return t.as<uint32_t>()[i];
    case DataType::kInt64: return static_cast<double>(t.as<int64_t>()[i]);
    case DataType::kUInt64: return static_cast<double>(t.as<uint64_t>()[i]);
    case DataType::kBool: return t.as<uint8_t>()[i] ? 1.0 : 0.0;
    default: break;
  }
  ::kiln::fail(ErrorCode::kUnsupported, concat("cannot read a ", dataTypeName(t.type), " value as a number"));
}

HostTensor makeScalar(DataType type, double v, bool rank0) {
  Dims shape = rank0 ? Dims{} : Dims{1};
  uint8_t buf[8] = {};
  auto put = [&](auto x) { std::memcpy(buf, &x, sizeof(x)); };
  switch (type) {
    case DataType::kFloat32: put(static_cast<float>(v)); break;
    case DataType::kFloat16: put(floatToHalf(static_cast<float>(v))); break;
    case DataType::kBFloat16: put(floatToBfloat16(static_cast<float>(v))); break;
    case DataType::kFloat64: put(v); break;
    case DataType::kInt8: put(static_cast<int8_t>(v)); break;
    case DataType::kUInt8: put(static_cast<uint8_t>(v)); break;
    case DataType::kInt16: put(static_cast<int16_t>(v)); break;
    case DataType::kUInt16: put(static_cast<uint16_t>(v)); break;
    case DataType::kInt32: put(static_cast<int32_t>(v)); break;
    case DataType::kUInt32: put(static_cast<uint32_t>(v)); break;
    case DataType::kInt64: put(static_cast<int64_t>(v)); break;
    case DataType::kUInt64: put(static_cast<uint64_t>(v)); break;
    case DataType::kBool: put(static_cast<uint8_t>(v != 0)); break;
    default: ::kiln::fail(ErrorCode::kUnsupported, concat("cannot make a ", dataTypeName(type), " scalar"));
  }
  return HostTensor::copyOf(type, shape, buf);
}

}  // namespace kiln::onnx_import
