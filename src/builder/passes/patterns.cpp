#include "builder/passes/patterns.h"

#include <cmath>

#include "core/half.h"
#include "ir/shape_inference.h"

namespace kiln::passes {

bool hasLayerOfType(const ir::Network& net, LayerType type) {
  for (const auto& layer : net.layers())
    if (layer->type() == type) return true;
  return false;
}

const Weights* constantWeights(const ir::Tensor* t) {
  if (!t || !t->producerLayer || t->producerLayer->type() != LayerType::kConstant) return nullptr;
  const Weights& w = t->producerLayer->as<ConstantParams>().weights;
  return w.data() == nullptr && w.count() > 0 ? nullptr : &w;
}

const Weights* floatConstant(const ir::Tensor* t, int64_t count) {
  const Weights* w = constantWeights(t);
  if (!w || w->type != DataType::kFloat32 || w->count() != count || w->data() == nullptr) return nullptr;
  return w;
}

bool isScalar(const ir::Tensor* t, double value) {
  const Weights* w = floatConstant(t, 1);
  return w && std::abs(w->as<float>()[0] - value) <= 1e-5 * std::abs(value);
}

std::optional<double> scalarConstantValue(const ir::Tensor* t) {
  const Weights* w = constantWeights(t);
  if (!w || w->count() != 1 || w->data() == nullptr) return std::nullopt;
  switch (w->type) {
    case DataType::kFloat32: return w->as<float>()[0];
    case DataType::kFloat16: return halfToFloat(w->as<uint16_t>()[0]);
    case DataType::kBFloat16: return bfloat16ToFloat(w->as<uint16_t>()[0]);
    default: return std::nullopt;
  }
}

ir::Layer* producingTranspose(const ir::Tensor* t) {
  ir::Layer* producer = t ? t->producerLayer : nullptr;
  return producer && producer->type() == LayerType::kTranspose ? producer : nullptr;
}

ir::Layer* soleConsumer(const Consumers& consumers, const ir::Tensor* t) {
  auto it = consumers.find(t);
  if (t->isOutput || it == consumers.end() || it->second.size() != 1) return nullptr;
  return it->second[0].first;
}

bool isElementWise(const ir::Layer* layer, ElementWiseOp op) {
  return layer && layer->type() == LayerType::kElementWise && layer->as<ElementWiseParams>().op == op &&
         layer->inputs.size() == 2;
}

ir::Tensor* otherInput(const ir::Layer* layer, const ir::Tensor* known) {
  if (layer->inputs[0] == known) return layer->inputs[1];
  if (layer->inputs[1] == known) return layer->inputs[0];
  return nullptr;
}

void takeOverOutput(ir::Layer* layer, ir::Layer* absorbed) {
  ir::Tensor* out = absorbed->outputs[0];
  layer->outputs[0] = out;
  out->producerLayer = layer;
  out->producerOutputIndex = 0;
}

ir::Tensor* addConstantBefore(ir::Network& net, Weights weights, const std::string& name, ir::Layer* before) {
  ir::Layer* constant = net.addLayerRaw(ConstantParams{std::move(weights)}, {}, 1, net.uniqueName(name));
  constant->origin = before->origin;
  net.moveLayerBefore(constant, before);
  ir::Tensor* out = constant->outputs[0];
  const Weights& w = constant->as<ConstantParams>().weights;
  out->setType(w.type);
  out->setDims(w.shape);
  return out;
}

std::unordered_set<const ir::Tensor*> hostValuedTensors(const ir::Network& net) {
  std::unordered_set<const ir::Tensor*> host;
  for (auto& layer : net.layers())
    for (int i = 0; i < layer->numInputs(); ++i)
      if (layer->inputs[i] && layer->inputs[i]->isInput && ir::isShapeInput(*layer, i)) host.insert(layer->inputs[i]);
  for (auto& layer : net.layers()) {
    bool allHost = true;
    for (auto* in : layer->inputs)
      if (in && !host.count(in)) allHost = false;
    if (layer->type() == LayerType::kConstant || layer->type() == LayerType::kShape ||
        (allHost && !ir::hasDataDependentShape(*layer)))
      for (auto* out : layer->outputs) host.insert(out);
  }
  return host;
}

}  // namespace kiln::passes
