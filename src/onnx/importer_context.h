// The state an ONNX op importer works with: the node's attributes and inputs, the network, and helpers
// that add layers with their ONNX origin set.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <onnx/onnx.pb.h>

#include "core/error.h"
#include "core/tensor_view.h"
#include "ir/network.h"

namespace kiln::onnx_import {

// "node 'conv1' (Conv)" for messages.
std::string describeNode(const onnx::NodeProto& node);

// Typed, checked access to a node's attributes. Used by the op checker and the importers.
class NodeView {
 public:
  NodeView(const onnx::NodeProto& node, int64_t opset) : node_(node), opset_(opset) {}
  const onnx::NodeProto& node() const { return node_; }
  int64_t opset() const { return opset_; }
  const std::string& opType() const { return node_.op_type(); }
  std::string where() const { return describeNode(node_); }
  [[noreturn]] void fail(ErrorCode code, const std::string& message) const;

  const onnx::AttributeProto* attr(const std::string& name) const;
  bool hasAttr(const std::string& name) const { return attr(name) != nullptr; }
  int64_t attrInt(const std::string& name, int64_t def) const;
  float attrFloat(const std::string& name, float def) const;
  std::string attrString(const std::string& name, const std::string& def) const;
  std::vector<int64_t> attrInts(const std::string& name, const std::vector<int64_t>& def = {}) const;
  std::vector<float> attrFloats(const std::string& name, const std::vector<float>& def = {}) const;

  // Inputs/outputs as written in the node; an empty name is an omitted optional one.
  int numInputs() const { return node_.input_size(); }
  bool hasInput(int i) const { return i < node_.input_size() && !node_.input(i).empty(); }
  int numOutputs() const { return node_.output_size(); }
  bool hasOutput(int i) const { return i < node_.output_size() && !node_.output(i).empty(); }

 protected:
  const onnx::NodeProto& node_;
  int64_t opset_;
};

// Per-graph state shared by all importers.
struct GraphState {
  ir::Network* network = nullptr;
  std::unordered_map<std::string, ir::Tensor*> values;  // ONNX value name -> tensor
  std::set<std::string> layerNames;                     // names used so far
  std::string baseDir = ".";
  int64_t opset = 0;
  // Subgraphs: the enclosing graph, and the outer tensors this graph reads, in the order of the extra
  // network inputs created for them (see lookupValue).
  GraphState* outer = nullptr;
  std::vector<ir::Tensor*> captures;
  // Layers foldShapeValues replaced by constants (left without outputs), removed in one pass when the
  // graph's nodes are imported: removing them node by node would make import quadratic.
  std::vector<ir::Layer*> folded;
};

// The tensor of an ONNX value name, or nullptr. A name defined only in an enclosing graph is captured:
// it becomes a new input of this graph's network, and the outer tensor is appended to `captures`.
ir::Tensor* lookupValue(GraphState& graph, const std::string& name);

// Kind, element type and dims of an ONNX TypeProto (tensor, sequence of tensors, optional). Unknown
// dims are -1; dimNames (when given) receives dim_param names. hasShape tells whether a shape was given.
TensorDesc descFromType(const onnx::TypeProto& type, const std::string& what, bool* hasShape = nullptr,
                        std::vector<std::string>* dimNames = nullptr);

// Imports the nodes of `graph` into state.network (initializers and inputs already bound).
void importNodes(const onnx::GraphProto& graph, GraphState& state);

// A subgraph imported as its own network: inputs are the graph's inputs, then one per capture.
struct Subgraph {
  Subnetwork network;
  std::vector<ITensor*> captures;  // outer tensors for the trailing inputs (layer inputs after the node's own)
};

class ImporterContext : public NodeView {
 public:
  ImporterContext(GraphState& graph, const onnx::NodeProto& node, int64_t opset, int nodeIndex);

  ir::Network& network() { return *graph_.network; }
  const std::string& baseDir() const { return graph_.baseDir; }

  // Input i; nullptr when omitted. Throws when the name is not defined yet.
  ITensor* input(int i) const;
  // Input i, which must be present.
  ITensor* requireInput(int i) const;
  // Host value of input i when it is produced by a Constant layer (initializers, Constant nodes); else nullptr.
  const HostTensor* constantInput(int i) const;
  // Integer values of a constant input (int32/int64); nullopt when not constant.
  std::optional<std::vector<int64_t>> constantInts(int i) const;
  // The rank of input i (always known at import time).
  int64_t inputRank(int i) const { return static_cast<int64_t>(requireInput(i)->dims().size()); }

  // Adds a layer for this node; its name is derived from the node's and its origin set.
  ir::Layer* addLayer(const LayerParams& params, const std::vector<ITensor*>& inputs, int numOutputs = 1);
  ITensor* add(const LayerParams& params, const std::vector<ITensor*>& inputs) {
    return addLayer(params, inputs, 1)->output(0);
  }
  ITensor* constant(const HostTensor& value);
  ITensor* constantInt64(const std::vector<int64_t>& values, bool scalar = false);
  // A scalar constant of `type` holding `value` (float/int/bool types).
  ITensor* scalar(DataType type, double value);
  ITensor* elementWise(ITensor* a, ITensor* b, ElementWiseOp op) { return add(ElementWiseParams{op}, {a, b}); }
  ITensor* identity(ITensor* x) { return add(IdentityParams{}, {x}); }

  // Imports graph attribute `name`. inputHints[i] describes graph input i where the graph declares no
  // type or shape (loop-carried values, scan slices).
  Subgraph subgraph(const std::string& name, const std::vector<TensorDesc>& inputHints = {});

  // Binds ONNX output i to `tensor` (renames it to the ONNX name; inserts an Identity when the tensor
  // is not a fresh output of this node). Omitted outputs are skipped.
  void setOutput(int i, ITensor* tensor);
  // Binds outputs 0.. to the layer's outputs.
  void setOutputs(ILayer* layer);

 private:
  GraphState& graph_;
  std::string baseName_;
  std::set<const ITensor*> fresh_;  // outputs of layers created for this node
};

// Scalar value of a host tensor as double (any numeric type).
double scalarValue(const HostTensor& t, size_t index = 0);
// A one-element host tensor of `type` holding `value`.
HostTensor makeScalar(DataType type, double value, bool rank0 = true);
bool isFloatType(DataType type);

// Evaluates the shape computations among the layers from index `firstLayer` on: a layer whose inputs are
// all constants (a Shape layer: whose input has static dims) and whose outputs are small integer or bool
// tensors becomes a Constant. Later layers then see the values in shape inference, as TensorRT evaluates
// shape tensors at build time (e.g. Shape -> Size -> Sub -> ConstantOfShape -> Reshape). The folded layers
// are left without outputs and listed in graph.folded; importNodes removes them at its end.
void foldShapeValues(GraphState& graph, size_t firstLayer);

// Binds a tensor to an ONNX name in the graph, renaming clashing tensors.
void bindValue(GraphState& graph, const std::string& onnxName, ir::Tensor* tensor);
// A unique layer name derived from `base`.
std::string uniqueLayerName(GraphState& graph, const std::string& base);

}  // namespace kiln::onnx_import
