// OnnxParser: loads a ModelProto, checks every node is supported, then imports the graph.
#include <filesystem>
#include <fstream>
#include <sstream>

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
namespace {

// Declared dims of a graph input; dim_param / missing dims become -1 with their names kept.
void inputDims(const onnx::ValueInfoProto& vi, Dims& dims, std::vector<std::string>& names) {
  const auto& tt = vi.type().tensor_type();
  KILN_CHECK(tt.has_shape(), kUnsupported, "graph input '", vi.name(),
             "' has no shape (unknown rank); Kiln needs the rank of every input");
  bool anyName = false;
  for (const auto& d : tt.shape().dim()) {
    if (d.has_dim_value() && d.dim_value() >= 0) {
      dims.push_back(d.dim_value());
      names.emplace_back();
    } else {
      dims.push_back(-1);
      names.push_back(d.has_dim_param() ? d.dim_param() : std::string());
      anyName = anyName || d.has_dim_param();
    }
  }
  if (!anyName) names.clear();
}

void importGraph(const onnx::ModelProto& model, ir::Network& network, const std::string& baseDir, Logger& logger) {
  const onnx::GraphProto& graph = model.graph();
  auto opsets = opsetVersions(model);
  int64_t opset = opsets.at("");

  GraphState state;
  state.network = &network;
  state.baseDir = baseDir;
  for (const auto& layer : network.layers()) state.layerNames.insert(layer->name());
  for (const auto& t : network.tensors()) state.values[t->name()] = t.get();  // a pre-filled network

  KILN_CHECK(graph.sparse_initializer_size() == 0, kUnsupported, "sparse initializers are not supported");

  std::unordered_map<std::string, const onnx::TensorProto*> initializers;
  for (const auto& init : graph.initializer()) {
    KILN_CHECK(!init.name().empty(), kInvalidModel, "graph has an initializer without a name");
    initializers[init.name()] = &init;
  }

  // Graph inputs that are not initializers are network inputs.
  for (const auto& vi : graph.input()) {
    if (initializers.count(vi.name())) continue;
    KILN_CHECK(vi.type().has_tensor_type(), kUnsupported, "graph input '", vi.name(),
               "' is not a tensor (sequences, maps and optionals are not supported)");
    DataType type = fromOnnxType(vi.type().tensor_type().elem_type(), concat("graph input '", vi.name(), "'"));
    Dims dims;
    std::vector<std::string> names;
    inputDims(vi, dims, names);
    KILN_CHECK(!state.values.count(vi.name()), kInvalidModel, "graph input '", vi.name(), "' is declared twice");
    ITensor* t = network.addInput(vi.name(), type, dims, names);
    state.values[vi.name()] = ir::asTensor(t);
  }

  // Initializers (also those listed as graph inputs) are constants.
  for (const auto& init : graph.initializer()) {
    HostTensor value = tensorFromProto(init, baseDir);
    std::string layerName = uniqueLayerName(state, init.name());
    auto* layer = static_cast<ir::Layer*>(network.addLayer(ConstantParams{value}, {}, 1, layerName));
    layer->origin = concat("ONNX initializer '", init.name(), "'");
    bindValue(state, init.name(), layer->outputs[0]);
  }

  // Nodes, in the topological order ONNX requires.
  for (int i = 0; i < graph.node_size(); ++i) {
    const onnx::NodeProto& node = graph.node(i);
    const OpEntry* entry = findOp(node.op_type());
    KILN_CHECK(entry != nullptr, kInternal, describeNode(node), ": not in the importer table");
    ImporterContext ctx(state, node, opset, i);
    size_t firstLayer = network.layers().size();
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

  // Graph outputs.
  for (const auto& vi : graph.output()) {
    auto it = state.values.find(vi.name());
    KILN_CHECK(it != state.values.end(), kInvalidModel, "graph output '", vi.name(),
               "' is not produced by any node, input or initializer");
    network.markOutput(it->second);
    if (vi.type().has_tensor_type() && vi.type().tensor_type().elem_type() != 0) {
      try {
        DataType declared = fromOnnxType(vi.type().tensor_type().elem_type(), vi.name());
        if (declared != it->second->type())
          logger.log(Severity::kWarning, concat("graph output '", vi.name(), "' is declared ", dataTypeName(declared),
                                                " but imports as ", dataTypeName(it->second->type())));
      } catch (const Error&) {
      }
    }
  }
}

void parseModel(const void* data, size_t size, const std::string& baseDir, const std::string& label,
                NetworkDefinition& network, Logger& logger) {
  try {
    KILN_CHECK(data != nullptr || size == 0, kInvalidArgument, "null model data");
    KILN_CHECK(size <= static_cast<size_t>(INT32_MAX), kUnsupported, "models over 2 GiB must use external data");
    onnx::ModelProto model;
    KILN_CHECK(size > 0 && model.ParseFromArray(data, static_cast<int>(size)), kInvalidModel,
               "not a valid ONNX model (truncated or corrupt protobuf, ", size, " bytes)");
    KILN_CHECK(model.has_graph(), kInvalidModel, "the model has no graph");
    int64_t opset = opsetVersions(model).at("");
    logger.log(Severity::kInfo, concat(label, ": IR version ", model.ir_version(), ", opset ", opset, ", producer '",
                                       model.producer_name(), "', ", model.graph().node_size(), " nodes"));
    checkSupported(model);
    importGraph(model, ir::asNetwork(network), baseDir, logger);
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
