#include "builder/passes/passes.h"
#include "core/error.h"

namespace kiln::passes {

static bool isNoOp(const ir::Layer& layer) {
  const ir::Tensor* in = layer.inputs.empty() ? nullptr : layer.inputs[0];
  const ir::Tensor* out = layer.outputs.empty() ? nullptr : layer.outputs[0];
  if (!in || !out || layer.outputs.size() != 1) return false;
  bool sameStaticShape = volume(in->dims()) >= 0 && in->dims() == out->dims() && in->type() == out->type();
  switch (layer.type()) {
    case LayerType::kIdentity: return true;
    case LayerType::kCast: return in->type() == layer.as<CastParams>().to;
    case LayerType::kReshape: return sameStaticShape;
    case LayerType::kConcatenation: return layer.inputs.size() == 1;
    case LayerType::kTranspose: {
      const Dims& perm = layer.as<TransposeParams>().perm;
      if (perm.empty()) return in->dims().size() <= 1;
      for (size_t i = 0; i < perm.size(); ++i)
        if (perm[i] != static_cast<int64_t>(i)) return false;
      return true;
    }
    case LayerType::kExpand:
    case LayerType::kTile: return sameStaticShape;
    default: return false;
  }
}

bool removeNoOps(PassContext& context) {
  ir::Network& net = context.network;
  std::vector<ir::Layer*> removed;
  for (auto& owned : net.layers()) {
    ir::Layer* layer = owned.get();
    if (!isNoOp(*layer)) continue;
    ir::Tensor* in = layer->inputs[0];
    ir::Tensor* out = layer->outputs[0];
    if (out->isOutput) {
      // The output keeps its name: the input takes it over, unless the input must keep its own.
      bool inputIsPinned = in->isInput || in->isOutput ||
                           (in->producerLayer && in->producerLayer->type() == LayerType::kConstant);
      if (inputIsPinned) continue;
      std::string name = out->name();
      out->setName(net.uniqueName(name + "_removed"));
      in->setName(name);
    }
    net.replaceAllUses(out, in);
    removed.push_back(layer);
  }
  if (removed.empty()) return false;
  context.log.push_back(concat("remove_noops: removed ", removed.size(), " no-op layers"));
  net.removeLayers(removed);
  return true;
}

bool eliminateDeadLayers(PassContext& context) {
  ir::Network& net = context.network;
  auto consumers = net.consumers();
  std::unordered_map<const ir::Layer*, bool> live;
  // Reverse topological order: a layer lives if an output is a network output or feeds a live layer.
  for (auto it = net.layers().rbegin(); it != net.layers().rend(); ++it) {
    const ir::Layer* layer = it->get();
    bool isLive = false;
    for (auto* out : layer->outputs) {
      if (out->isOutput) isLive = true;
      auto found = consumers.find(out);
      if (found == consumers.end()) continue;
      for (auto& [consumer, index] : found->second)
        if (live[consumer]) isLive = true;
    }
    live[layer] = isLive;
  }
  std::vector<ir::Layer*> dead;
  for (auto& l : net.layers())
    if (!live[l.get()]) dead.push_back(l.get());
  if (dead.empty()) return false;
  context.log.push_back(concat("eliminate_dead_layers: removed ", dead.size(), " unused layers"));
  net.removeLayers(dead);
  return true;
}

}  // namespace kiln::passes
