// The IR: a network of layers and tensors in topological order.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/checked_math.h"
#include "kiln/kiln.h"

namespace kiln::ir {

class Layer;
class Network;

class Tensor final : public ITensor {
 public:
  Tensor(std::string name, DataType type, Dims dims) : name_(std::move(name)), type_(type), dims_(std::move(dims)) {}
  const std::string& name() const override { return name_; }
  // Renames; the owning network's name index follows.
  void setName(const std::string& name) override;
  DataType type() const override { return type_; }
  const Dims& dims() const override { return dims_; }
  bool isNetworkInput() const override { return isInput; }
  bool isNetworkOutput() const override { return isOutput; }
  ILayer* producer() const override;

  void setType(DataType type) { type_ = type; }
  void setDims(Dims dims) { dims_ = std::move(dims); }

  Layer* producerLayer = nullptr;
  int producerOutputIndex = 0;
  bool isInput = false;
  bool isOutput = false;
  ValueKind kind = ValueKind::kTensor;  // sequences and optionals: type() and dims() describe the elements
  std::vector<std::string> dimNames;  // inputs only: optional names of dynamic dims

 private:
  friend class Network;
  Network* network_ = nullptr;  // the network indexing this tensor by name
  std::string name_;
  DataType type_;
  Dims dims_;
};

class Layer final : public ILayer {
 public:
  Layer(std::string name, LayerParams params) : name_(std::move(name)), params_(std::move(params)) {}
  const std::string& name() const override { return name_; }
  LayerType type() const override { return layerTypeOf(params_); }
  const LayerParams& params() const override { return params_; }
  int numInputs() const override { return static_cast<int>(inputs.size()); }
  ITensor* input(int index) const override { return inputs.at(index); }
  int numOutputs() const override { return static_cast<int>(outputs.size()); }
  ITensor* output(int index) const override { return outputs.at(index); }

  LayerParams& mutableParams() { return params_; }
  // Renames; the owning network's name index follows.
  void setName(std::string name);
  template <class P> const P& as() const { return std::get<P>(params_); }
  template <class P> P& as() { return std::get<P>(params_); }
  // "Conv_3 (Convolution)" for messages; adds the ONNX origin when known.
  std::string describe() const;

  std::vector<Tensor*> inputs;   // nullptr: an omitted optional input
  std::vector<Tensor*> outputs;
  std::string origin;            // e.g. "ONNX node 'conv1' (Conv)"; empty for hand-built layers

 private:
  friend class Network;
  Network* network_ = nullptr;  // the network indexing this layer by name
  std::string name_;
  LayerParams params_;
};

// Name lookups (tensor, findLayer, uniqueName) go through hash indexes kept up to date by every change
// (adding, removing, renaming), so importing or building a network is linear in its size.
class Network final : public NetworkDefinition {
 public:
  Network() = default;
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  ITensor* addInput(const std::string& name, DataType type, const Dims& dims,
                    const std::vector<std::string>& dimNames = {}) override;
  void markOutput(ITensor* tensor) override;
  // Marks an existing tensor as the next network input (used by the plan reader).
  void markInput(Tensor* tensor);
  ILayer* addLayer(const LayerParams& params, const std::vector<ITensor*>& inputs, int numOutputs = 1,
                   const std::string& name = "") override;
  int numLayers() const override { return static_cast<int>(layers_.size()); }
  ILayer* layer(int index) const override { return layers_.at(index).get(); }
  int numInputs() const override { return static_cast<int>(inputs_.size()); }
  ITensor* input(int index) const override { return inputs_.at(index); }
  int numOutputs() const override { return static_cast<int>(outputs_.size()); }
  ITensor* output(int index) const override { return outputs_.at(index); }
  ITensor* findTensor(const std::string& name) const override;

  // Internal API used by the importer, passes, plan and runtime.
  // Adds a layer without inferring shapes or checking weights (passes; the plan reader checks them itself).
  Layer* addLayerRaw(LayerParams params, std::vector<Tensor*> inputs, int numOutputs, std::string name);
  Tensor* addTensor(std::string name, DataType type, Dims dims);
  // The first layer/tensor added under `name` (names are unique in networks made through the public API).
  Layer* findLayer(const std::string& name) const;
  Tensor* tensor(const std::string& name) const;
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }
  const std::vector<std::unique_ptr<Tensor>>& tensors() const { return tensors_; }
  const std::vector<Tensor*>& inputs() const { return inputs_; }
  const std::vector<Tensor*>& outputs() const { return outputs_; }
  std::vector<Tensor*>& mutableOutputs() { return outputs_; }

  // Every use of `from` (layer inputs and network outputs) now reads `to`.
  void replaceAllUses(Tensor* from, Tensor* to);
  // Removes layers for which keep() is false, and tensors no longer referenced.
  void removeLayers(const std::vector<Layer*>& layers);
  // Drops tensors that no layer, input or output references.
  void removeUnusedTensors();
  // Moves `layer` (already added, at the end) to sit right before `before`.
  void moveLayerBefore(Layer* layer, Layer* before);
  // Constant folding: one Constant layer per output of `layer` (named by constantName(), in the
  // layer's place) now produces that output with values[o]; `layer` is left without outputs, to be
  // removed with removeLayers.
  void replaceByConstants(Layer* layer, const std::vector<Weights>& values,
                          const std::function<std::string()>& constantName);
  // Consumers of each tensor (layer, input index).
  std::unordered_map<const Tensor*, std::vector<std::pair<Layer*, int>>> consumers() const;
  // A fresh tensor/layer name with the given prefix.
  std::string uniqueName(const std::string& prefix);
  // Re-infers every layer's output types and shapes (after a pass or a profile change).
  void inferShapes();

 private:
  friend class Tensor;
  friend class Layer;
  // Name index: every tensor/layer of the network under its current name, in the order they got it.
  template <class T>
  using NameIndex = std::unordered_map<std::string, std::vector<T*>>;
  template <class T>
  static void indexName(NameIndex<T>& index, T* item, const std::string& name);
  template <class T>
  static void unindexName(NameIndex<T>& index, T* item, const std::string& name);

  std::vector<std::unique_ptr<Tensor>> tensors_;
  std::vector<std::unique_ptr<Layer>> layers_;  // topological order
  std::vector<Tensor*> inputs_;
  std::vector<Tensor*> outputs_;
  NameIndex<Tensor> tensorsByName_;
  NameIndex<Layer> layersByName_;
  int64_t nameCounter_ = 0;
};

// Access to the IR behind the public interfaces (all networks are ir::Network).
Network& asNetwork(NetworkDefinition& network);
Tensor* asTensor(ITensor* tensor);

}  // namespace kiln::ir
