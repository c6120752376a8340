// OnnxParser: loads a ModelProto, checks every node is supported, then imports the graph.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include <onnx/onnx.pb.h>

#include "core/error.h"
#include "ir/network.h"
#include "kiln/kiln.h"
#include "onnx/importer_context.h"
#include "onnx/importers/importers.h"
#include "onnx/op_checker.h"
#include "onnx/tensor_proto.h"

namespace kiln {

namespace onnx_import {

TensorDesc descFromType(const onnx::TypeProto& type, const std::string& what, bool* hasShape,
                        std::vector<std::string>* dimNames) {
  TensorDesc desc;
  const onnx::TypeProto* tensorType = &type;
  if (type.has_sequence_type()) {
    desc.kind = ValueKind::kSequence;
    tensorType = &type.sequence_type().elem_type();
  } else if (type.has_optional_type()) {
    const onnx::TypeProto& inner = type.optional_type().elem_type();
    desc.kind = inner.has_sequence_type() ? ValueKind::kOptionalSequence : ValueKind::kOptionalTensor;
    tensorType = inner.has_sequence_type() ? &inner.sequence_type().elem_type() : &inner;
  }
  KILN_CHECK(tensorType->has_tensor_type(), kUnsupported, what,
             " is not a tensor, a sequence of tensors or an optional of them (maps and sparse tensors are not ",
             "supported)");
  const auto& tt = tensorType->tensor_type();
  desc.type = fromOnnxType(tt.elem_type(), what);
  if (hasShape) *hasShape = tt.has_shape();
  bool anyName = false;
  std::vector<std::string> names;
  for (const auto& d : tt.shape().dim()) {
    if (d.has_dim_value() && d.dim_value() >= 0) {
      desc.shape.push_back(d.dim_value());
      names.emplace_back();
    } else {
      desc.shape.push_back(-1);
      names.push_back(d.has_dim_param() ? d.dim_param() : std::string());
      anyName = anyName || d.has_dim_param();
    }
  }
  if (dimNames) *dimNames = anyName ? names : std::vector<std::string>{};
  return desc;
}

namespace {

// Initializers (also those listed as graph inputs) become constants.
void importInitializers(const onnx::GraphProto& graph, GraphState& state) {
  KILN_CHECK(graph.sparse_initializer_size() == 0, kUnsupported, "sparse initializers are not supported");
  for (const auto& init : graph.initializer()) {
    KILN_CHECK(!init.name().empty(), kInvalidModel, "graph has an initializer without a name");
    HostTensor value = tensorFromProto(init, state.baseDir);
    std::string layerName = uniqueLayerName(state, init.name());
    auto* layer = static_cast<ir::Layer*>(state.network->addLayer(ConstantParams{value}, {}, 1, layerName));
    layer->origin = concat("ONNX initializer '", init.name(), "'");
    bindValue(state, init.name(), layer->outputs[0]);
  }
}

// Marks the graph outputs; a value listed twice gets an Identity so each output is its own tensor.
void markGraphOutputs(const onnx::GraphProto& graph, GraphState& state, Logger* logger) {
  for (const auto& vi : graph.output()) {
    ir::Tensor* t = lookupValue(state, vi.name());
    KILN_CHECK(t != nullptr, kInvalidModel, "graph output '", vi.name(),
               "' is not produced by any node, input or initializer");
    if (t->isOutput) t = ir::asTensor(state.network->addLayer(IdentityParams{}, {t}, 1)->output(0));
    state.network->markOutput(t);
    if (logger && vi.type().has_tensor_type() && vi.type().tensor_type().elem_type() != 0) {
      try {
        DataType declared = fromOnnxType(vi.type().tensor_type().elem_type(), vi.name());
        if (declared != t->type())
          logger->log(Severity::kWarning, concat("graph output '", vi.name(), "' is declared ", dataTypeName(declared),
                                                 " but imports as ", dataTypeName(t->type())));
      } catch (const Error&) {
      }
    }
  }
}

void importGraph(const onnx::ModelProto& model, int64_t opset, ir::Network& network, const std::string& baseDir,
                 Logger& logger) {
  const onnx::GraphProto& graph = model.graph();
  GraphState state;
  state.network = &network;
  state.baseDir = baseDir;
  state.opset = opset;
  for (const auto& layer : network.layers()) state.layerNames.insert(layer->name());
  for (const auto& t : network.tensors()) state.values[t->name()] = t.get();  // a pre-filled network

  // Graph inputs that are not initializers are network inputs.
  std::unordered_set<std::string> initializers;
  for (const auto& init : graph.initializer()) initializers.insert(init.name());
  for (const auto& vi : graph.input()) {
    if (initializers.count(vi.name())) continue;
    std::string what = concat("graph input '", vi.name(), "'");
    bool hasShape = false;
    std::vector<std::string> names;
    TensorDesc desc = descFromType(vi.type(), what, &hasShape, &names);
    KILN_CHECK(hasShape || desc.kind != ValueKind::kTensor, kUnsupported, what,
               " has no shape (unknown rank); Kiln needs the rank of every input");
    KILN_CHECK(!state.values.count(vi.name()), kInvalidModel, "graph input '", vi.name(), "' is declared twice");
    ir::Tensor* t = ir::asTensor(network.addInput(vi.name(), desc.type, desc.shape, names));
    t->kind = desc.kind;
    state.values[vi.name()] = t;
  }
  importInitializers(graph, state);
  importNodes(graph, state);
  markGraphOutputs(graph, state, &logger);
}

}  // namespace

void importNodes(const onnx::GraphProto& graph, GraphState& state) {
  // Nodes, in the topological order ONNX requires.
  for (int i = 0; i < graph.node_size(); ++i) {
    const onnx::NodeProto& node = graph.node(i);
    const OpEntry* entry = findOp(node.op_type());
    KILN_CHECK(entry != nullptr, kUnsupported, describeNode(node), ": unsupported op type");
    ImporterContext ctx(state, node, state.opset, i);
    size_t firstLayer = state.network->layers().size();
    try {
      entry->import(ctx);
      foldShapeValues(state, firstLayer);
    } catch (const Error& e) {
      std::string what = e.what();
      if (what.rfind("node '", 0) == 0) throw;
      throw Error(e.code(), concat(describeNode(node), ": ", what));
    }
    for (int o = 0; o < node.output_size(); ++o)
      KILN_CHECK(node.output(o).empty() || state.values.count(node.output(o)), kInternal, describeNode(node),
                 ": the importer did not produce output '", node.output(o), "'");
  }
  state.network->removeLayers(state.folded);
  state.folded.clear();
}

Subgraph ImporterContext::subgraph(const std::string& name, const std::vector<TensorDesc>& inputHints) {
  const onnx::AttributeProto* a = attr(name);
  if (!a || !a->has_g()) fail(ErrorCode::kInvalidModel, concat("needs the graph attribute '", name, "'"));
  const onnx::GraphProto& graph = a->g();
  auto network = std::make_shared<ir::Network>();
  GraphState state;
  state.network = network.get();
  state.baseDir = graph_.baseDir;
  state.opset = opset();
  state.outer = &graph_;
  int index = 0;
  for (const auto& vi : graph.input()) {
    std::string what = concat("input '", vi.name(), "' of subgraph '", name, "'");
    const TensorDesc* hint = index < static_cast<int>(inputHints.size()) ? &inputHints[index] : nullptr;
    ++index;
    TensorDesc desc;
    bool hasShape = false;
    if (vi.type().value_case() != onnx::TypeProto::VALUE_NOT_SET) {
      desc = descFromType(vi.type(), what, &hasShape);
      if (!hasShape && hint) desc.shape = hint->shape;
    } else {
      if (!hint) fail(ErrorCode::kInvalidModel, concat(what, " has no type"));
      desc = *hint;
    }
    KILN_CHECK(!state.values.count(vi.name()), kInvalidModel, what, " is declared twice");
    ir::Tensor* t = ir::asTensor(network->addInput(vi.name(), desc.type, desc.shape));
    t->kind = desc.kind;
    state.values[vi.name()] = t;
  }
  try {
    importInitializers(graph, state);
    importNodes(graph, state);
    markGraphOutputs(graph, state, nullptr);
  } catch (const Error& e) {
    throw Error(e.code(), concat("in subgraph '", name, "': ", e.what()));
  }
  Subgraph result;
  result.network = network;
  for (ir::Tensor* t : state.captures) result.captures.push_back(t);
  return result;
}

namespace {

void parseModel(const void* data, size_t size, const std::string& baseDir, const std::string& label,
                NetworkDefinition& network, Logger& logger) {
  try {
    KILN_CHECK(data != nullptr || size == 0, kInvalidArgument, "null model data");
    KILN_CHECK(size <= static_cast<size_t>(INT32_MAX), kUnsupported, "models over 2 GiB must use external data");
    onnx::ModelProto model;
    KILN_CHECK(size > 0 && model.ParseFromArray(data, static_cast<int>(size)), kInvalidModel,
               "not a valid ONNX model (truncated or corrupt protobuf, ", size, " bytes)");
    KILN_CHECK(model.has_graph(), kInvalidModel, "the model has no graph");
    checkWellFormed(model);
    // Without a default-domain import (allowed when no node uses it), no default-domain op is imported.
    std::map<std::string, int64_t> opsets = opsetVersions(model);
    int64_t opset = opsets.count("") ? opsets.at("") : 0;
    logger.log(Severity::kInfo, concat(label, ": IR version ", model.ir_version(), ", opset ", opset, ", producer '",
                                       model.producer_name(), "', ", model.graph().node_size(), " nodes"));
    checkSupported(model);
    importGraph(model, opset, ir::asNetwork(network), baseDir, logger);
  } catch (const Error& e) {
    throw Error(e.code(), concat(label, ": ", e.what()));
  }
}

}  // namespace
}  // namespace onnx_import

OnnxParser::OnnxParser(NetworkDefinition& network, Logger& logger) : network_(network), logger_(logger) {}
OnnxParser::~OnnxParser() = default;

void OnnxParser::parseFromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), kIOError, "cannot open ONNX model '", path, "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string data = ss.str();
  std::string dir = std::filesystem::path(path).parent_path().string();
  onnx_import::parseModel(data.data(), data.size(), dir.empty() ? "." : dir, concat("ONNX model '", path, "'"),
                          network_, logger_);
}

void OnnxParser::parse(const void* data, size_t size, const std::string& externalDataDir) {
  onnx_import::parseModel(data, size, externalDataDir, "ONNX model", network_, logger_);
}

}  // namespace kiln
