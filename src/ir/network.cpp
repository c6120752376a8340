#include "ir/network.h"

#include <algorithm>
#include <unordered_set>

#include "core/error.h"
#include "ir/shape_inference.h"

namespace kiln::ir {

ILayer* Tensor::producer() const { return producerLayer; }

void Tensor::setName(const std::string& name) {
  if (network_) Network::unindexName(network_->tensorsByName_, this, name_);
  name_ = name;
  if (network_) Network::indexName(network_->tensorsByName_, this, name_);
}

void Layer::setName(std::string name) {
  if (network_) Network::unindexName(network_->layersByName_, this, name_);
  name_ = std::move(name);
  if (network_) Network::indexName(network_->layersByName_, this, name_);
}

std::string Layer::describe() const {
  std::string s = concat("layer '", name_, "' (", layerTypeName(type()), ")");
  if (!origin.empty()) s += concat(" from ", origin);
  return s;
}

Network& asNetwork(NetworkDefinition& network) {
  auto* ir = dynamic_cast<Network*>(&network);
  KILN_CHECK(ir != nullptr, kInvalidArgument, "network was not created by kiln::Builder::createNetwork");
  return *ir;
}

Tensor* asTensor(ITensor* tensor) {
  if (tensor == nullptr) return nullptr;
  auto* ir = dynamic_cast<Tensor*>(tensor);
  KILN_CHECK(ir != nullptr, kInvalidArgument, "tensor does not belong to a kiln network");
  return ir;
}

template <class T>
void Network::indexName(NameIndex<T>& index, T* item, const std::string& name) {
  index[name].push_back(item);
}

template <class T>
void Network::unindexName(NameIndex<T>& index, T* item, const std::string& name) {
  auto it = index.find(name);
  if (it == index.end()) return;
  std::vector<T*>& items = it->second;
  items.erase(std::remove(items.begin(), items.end(), item), items.end());
  if (items.empty()) index.erase(it);
}

Tensor* Network::addTensor(std::string name, DataType type, Dims dims) {
  tensors_.push_back(std::make_unique<Tensor>(std::move(name), type, std::move(dims)));
  Tensor* t = tensors_.back().get();
  t->network_ = this;
  indexName(tensorsByName_, t, t->name());
  return t;
}

ITensor* Network::addInput(const std::string& name, DataType type, const Dims& dims,
                           const std::vector<std::string>& dimNames) {
  KILN_CHECK(!name.empty(), kInvalidArgument, "network input needs a name");
  KILN_CHECK(tensor(name) == nullptr, kInvalidArgument, "network already has a tensor named '", name, "'");
  for (int64_t d : dims)
    KILN_CHECK(d >= -1, kInvalidArgument, "input '", name, "' has invalid dimension ", d, " in ", dimsToString(dims));
  // The known dims' product, 0s left out, must fit (the rule shape inference applies to every output).
  Dims known;
  for (int64_t d : dims)
    if (d > 0) known.push_back(d);
  KILN_CHECK(checkedByteSize(type, known) >= 0, kInvalidArgument, "size overflow: input '", name, "' of shape ",
             dimsToString(dims), ": the product of its dims does not fit in 64 bits");
  Tensor* t = addTensor(name, type, dims);
  t->isInput = true;
  t->dimNames = dimNames;
  inputs_.push_back(t);
  return t;
}

void Network::markInput(Tensor* tensor) {
  tensor->isInput = true;
  inputs_.push_back(tensor);
}

void Network::markOutput(ITensor* tensor) {
  Tensor* t = asTensor(tensor);
  KILN_CHECK(t != nullptr, kInvalidArgument, "markOutput: null tensor");
  if (t->isOutput) return;
  t->isOutput = true;
  outputs_.push_back(t);
}

std::string Network::uniqueName(const std::string& prefix) {
  for (;;) {
    std::string name = concat(prefix, "_", nameCounter_++);
    if (tensor(name) == nullptr && findLayer(name) == nullptr) return name;
  }
}

Layer* Network::addLayerRaw(LayerParams params, std::vector<Tensor*> inputs, int numOutputs, std::string name) {
  if (name.empty()) name = uniqueName(layerTypeName(layerTypeOf(params)));
  auto layer = std::make_unique<Layer>(name, std::move(params));
  layer->network_ = this;
  indexName(layersByName_, layer.get(), layer->name());
  layer->inputs = std::move(inputs);
  for (int i = 0; i < numOutputs; ++i) {
    std::string tensorName = numOutputs == 1 ? name + "_output" : concat(name, "_output_", i);
    if (tensor(tensorName) != nullptr) tensorName = uniqueName(tensorName);
    Tensor* out = addTensor(tensorName, DataType::kFloat32, {});
    out->producerLayer = layer.get();
    out->producerOutputIndex = i;
    layer->outputs.push_back(out);
  }
  layers_.push_back(std::move(layer));
  return layers_.back().get();
}

// Infers one layer's outputs from its inputs' current descs and constant values.
static void inferLayer(Layer& layer) {
  std::vector<TensorDesc> descs(layer.inputs.size());
  std::vector<const TensorDesc*> inputs(layer.inputs.size(), nullptr);
  InputValues values(layer.inputs.size(), nullptr);
  for (size_t i = 0; i < layer.inputs.size(); ++i) {
    Tensor* t = layer.inputs[i];
    if (!t) continue;
    descs[i] = {t->type(), t->dims(), t->kind};
    inputs[i] = &descs[i];
    if (t->producerLayer && t->producerLayer->type() == LayerType::kConstant)
      values[i] = &t->producerLayer->as<ConstantParams>().weights;
  }
  std::vector<TensorDesc> outs = inferOutputs(layer, inputs, values);
  KILN_CHECK(outs.size() == layer.outputs.size(), kInvalidModel, layer.describe(), " produces ", outs.size(),
             " outputs but ", layer.outputs.size(), " were declared");
  for (size_t i = 0; i < outs.size(); ++i) {
    layer.outputs[i]->setType(outs[i].type);
    layer.outputs[i]->setDims(outs[i].shape);
    layer.outputs[i]->kind = outs[i].kind;
  }
}

namespace {

// Checks that every tensor Weights in a layer's params holds the bytes its type and shape need. Weights
// without bytes are absent, which only a Constant's may not be (ConstantOfShape's value defaults to 0).
struct WeightsSizeCheck {
  const Layer& layer;

  void operator()(const Weights& w) const {
    if (w.kind != ValueKind::kTensor || (!w.bytes && layer.type() != LayerType::kConstant)) return;
    std::string where = layer.describe();
    KILN_CHECK(static_cast<int>(w.type) <= static_cast<int>(DataType::kString), kInvalidArgument, where,
               ": weights have an unknown data type ", static_cast<int>(w.type));
    int64_t expected = checkedByteSize(w.type, w.shape);
    KILN_CHECK(expected >= 0, kInvalidArgument, where, ": weights need a known shape whose size fits in 64 bits, got ",
               dimsToString(w.shape));
    size_t held = w.bytes ? w.bytes->size() : 0;
    KILN_CHECK(static_cast<uint64_t>(expected) == held, kInvalidArgument, where, ": weights of type ",
               dataTypeName(w.type), " and shape ", dimsToString(w.shape), " need ", expected, " bytes, got ", held);
  }
  template <class T>
  void operator()(const T&) const {}
  template <class A, class B, class... Rest>
  void operator()(const A& a, const B& b, const Rest&... rest) const {
    (*this)(a);
    (*this)(b);
    ((*this)(rest), ...);
  }
};

}  // namespace

ILayer* Network::addLayer(const LayerParams& params, const std::vector<ITensor*>& inputs, int numOutputs,
                          const std::string& name) {
  KILN_CHECK(name.empty() || findLayer(name) == nullptr, kInvalidArgument, "network already has a layer named '",
             name, "'");
  KILN_CHECK(numOutputs >= 0, kInvalidArgument, "layer '", name, "': negative number of outputs ", numOutputs);
  std::vector<Tensor*> irInputs;
  for (ITensor* t : inputs) irInputs.push_back(asTensor(t));
  Layer* layer = addLayerRaw(params, std::move(irInputs), numOutputs, name);
  try {
    WeightsSizeCheck check{*layer};
    std::visit([&](auto& p) { p.visit(check); }, layer->mutableParams());
    inferLayer(*layer);
  } catch (...) {
    for (Tensor* out : layer->outputs) out->producerLayer = nullptr;
    unindexName(layersByName_, layer, layer->name());
    layers_.pop_back();
    removeUnusedTensors();
    throw;
  }
  return layer;
}

void Network::inferShapes() {
  for (auto& layer : layers_) inferLayer(*layer);
}

ITensor* Network::findTensor(const std::string& name) const { return tensor(name); }

Tensor* Network::tensor(const std::string& name) const {
  auto it = tensorsByName_.find(name);
  return it == tensorsByName_.end() ? nullptr : it->second.front();
}

Layer* Network::findLayer(const std::string& name) const {
  auto it = layersByName_.find(name);
  return it == layersByName_.end() ? nullptr : it->second.front();
}

void Network::replaceAllUses(Tensor* from, Tensor* to) {
  for (auto& layer : layers_)
    for (auto& in : layer->inputs)
      if (in == from) in = to;
  for (auto& out : outputs_) {
    if (out != from) continue;
    out = to;
    from->isOutput = false;
    to->isOutput = true;
  }
}

void Network::removeLayers(const std::vector<Layer*>& doomed) {
  std::unordered_set<Layer*> set(doomed.begin(), doomed.end());
  for (auto& t : tensors_)
    if (set.count(t->producerLayer)) t->producerLayer = nullptr;
  for (Layer* l : doomed) unindexName(layersByName_, l, l->name());
  layers_.erase(std::remove_if(layers_.begin(), layers_.end(), [&](auto& l) { return set.count(l.get()) > 0; }),
                layers_.end());
  removeUnusedTensors();
}

void Network::removeUnusedTensors() {
  std::unordered_set<const Tensor*> used(inputs_.begin(), inputs_.end());
  used.insert(outputs_.begin(), outputs_.end());
  for (auto& l : layers_) {
    used.insert(l->inputs.begin(), l->inputs.end());
    used.insert(l->outputs.begin(), l->outputs.end());
  }
  for (auto& t : tensors_)
    if (!used.count(t.get())) unindexName(tensorsByName_, t.get(), t->name());
  tensors_.erase(std::remove_if(tensors_.begin(), tensors_.end(), [&](auto& t) { return !used.count(t.get()); }),
                 tensors_.end());
}

void Network::moveLayerBefore(Layer* layer, Layer* before) {
  // Searched from the end: `layer` was just added and `before` is usually recent (constant folding at
  // import), so moving costs the distance between them, not the network's size.
  auto from = std::find_if(layers_.rbegin(), layers_.rend(), [&](auto& l) { return l.get() == layer; });
  KILN_CHECK(from != layers_.rend(), kInternal, "moveLayerBefore: layer not in network");
  auto to = std::find_if(from, layers_.rend(), [&](auto& l) { return l.get() == before; });
  KILN_CHECK(to != layers_.rend(), kInternal, "moveLayerBefore: `before` is not before the layer");
  // Rotate [before, ..., layer] to [layer, before, ...].
  std::rotate(to.base() - 1, from.base() - 1, from.base());
}

void Network::replaceByConstants(Layer* layer, const std::vector<Weights>& values,
                                 const std::function<std::string()>& constantName) {
  KILN_CHECK(values.size() == layer->outputs.size(), kInternal, layer->describe(), ": ", values.size(),
             " constant values for ", layer->outputs.size(), " outputs");
  for (size_t o = 0; o < layer->outputs.size(); ++o) {
    Tensor* out = layer->outputs[o];
    Layer* constant = addLayerRaw(ConstantParams{values[o]}, {}, 0, constantName());
    constant->origin = layer->origin;
    constant->outputs.push_back(out);
    out->producerLayer = constant;
    out->producerOutputIndex = 0;
    out->setType(values[o].type);
    out->setDims(values[o].shape);
    moveLayerBefore(constant, layer);
  }
  layer->outputs.clear();
}

std::unordered_map<const Tensor*, std::vector<std::pair<Layer*, int>>> Network::consumers() const {
  std::unordered_map<const Tensor*, std::vector<std::pair<Layer*, int>>> result;
  for (auto& l : layers_)
    for (int i = 0; i < l->numInputs(); ++i)
      if (l->inputs[i]) result[l->inputs[i]].push_back({l.get(), i});
  return result;
}

}  // namespace kiln::ir

namespace kiln {

using ir::asNetwork;

static ITensor* first(ILayer* layer) { return layer->output(0); }

ITensor* NetworkDefinition::addConstant(const Weights& weights, const std::string& name) {
  return first(addLayer(ConstantParams{weights}, {}, 1, name));
}
ITensor* NetworkDefinition::addElementWise(ITensor* a, ITensor* b, ElementWiseOp op, const std::string& name) {
  return first(addLayer(ElementWiseParams{op}, {a, b}, 1, name));
}
ITensor* NetworkDefinition::addUnary(ITensor* x, UnaryOp op, const std::string& name) {
  return first(addLayer(UnaryParams{op}, {x}, 1, name));
}
ITensor* NetworkDefinition::addActivation(ITensor* x, ActivationType type, float alpha, float beta,
                                          const std::string& name) {
  return first(addLayer(ActivationParams{type, alpha, beta}, {x}, 1, name));
}
ITensor* NetworkDefinition::addMatrixMultiply(ITensor* a, bool transposeA, ITensor* b, bool transposeB,
                                              const std::string& name) {
  return first(addLayer(MatrixMultiplyParams{transposeA, transposeB}, {a, b}, 1, name));
}
ITensor* NetworkDefinition::addConvolution(ITensor* x, const Weights& kernel, const Weights& bias,
                                           const ConvolutionParams& params, const std::string& name) {
  std::vector<ITensor*> inputs{x, addConstant(kernel)};
  if (bias.bytes) inputs.push_back(addConstant(bias));
  return first(addLayer(params, inputs, 1, name));
}
ITensor* NetworkDefinition::addPooling(ITensor* x, const PoolingParams& params, const std::string& name) {
  return first(addLayer(params, {x}, 1, name));
}
ITensor* NetworkDefinition::addSoftmax(ITensor* x, int64_t axis, const std::string& name) {
  SoftmaxParams p;
  p.axis = axis;
  return first(addLayer(p, {x}, 1, name));
}
ITensor* NetworkDefinition::addReshape(ITensor* x, const Dims& shape, const std::string& name) {
  ITensor* shapeTensor = addConstant(Weights::copyOf(DataType::kInt64, {static_cast<int64_t>(shape.size())}, shape.data()));
  return first(addLayer(ReshapeParams{}, {x, shapeTensor}, 1, name));
}
ITensor* NetworkDefinition::addTranspose(ITensor* x, const Dims& perm, const std::string& name) {
  return first(addLayer(TransposeParams{perm}, {x}, 1, name));
}
ITensor* NetworkDefinition::addConcatenation(const std::vector<ITensor*>& inputs, int64_t axis,
                                             const std::string& name) {
  return first(addLayer(ConcatenationParams{axis}, inputs, 1, name));
}
ITensor* NetworkDefinition::addAttention(ITensor* q, ITensor* k, ITensor* v, ITensor* mask,
                                        const AttentionParams& params, const std::string& name) {
  std::vector<ITensor*> inputs{q, k, v};
  if (mask) inputs.push_back(mask);
  return first(addLayer(params, inputs, 1, name));
}
ITensor* NetworkDefinition::addRecurrent(ITensor* x, const Weights& w, const Weights& r, const Weights& bias,
                                         const RecurrentParams& params, ITensor* sequenceLengths, ITensor* initialH,
                                         ITensor* initialC, const Weights& peephole, const std::string& name) {
  std::vector<ITensor*> inputs{x,
                               addConstant(w),
                               addConstant(r),
                               bias.bytes ? addConstant(bias) : nullptr,
                               sequenceLengths,
                               initialH,
                               initialC,
                               peephole.bytes ? addConstant(peephole) : nullptr};
  while (inputs.size() > 3 && inputs.back() == nullptr) inputs.pop_back();
  return first(addLayer(params, inputs, params.cell == RecurrentCell::kLSTM ? 3 : 2, name));
}

}  // namespace kiln
