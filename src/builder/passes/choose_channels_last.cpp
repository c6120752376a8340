// choose_channels_last: chains of float16/bfloat16 2-D convolutions run channels-last (NHWC), the layout
// of the GPU's tensor-core convolutions, with one Transpose into NHWC where a chain starts and one back
// where a value leaves it.
//
// A chain is a connected group of layers that can run in NHWC, linked by the tensors they pass each other,
// with at least one such convolution (the anchor):
//   - Convolution (rank 4, float16/bfloat16) and Pooling (rank 4, one output) get their channelsLast flag,
//     when the target backend runs them so; convolution weights become [M, kh, kw, C/groups];
//   - Activation, Unary, Cast and ElementWise are layout-free: their rank-4 operands are all transposed
//     alike (broadcast constants like [1,C,1,1] become [1,1,1,C]; fold_constants folds those Transposes),
//     other operands must hold one value;
//   - Reduce (rank 4, constant axes, keepDims) gets its axes permuted (GlobalAveragePool: axes 1, 2).
// Only on device backends (the target's memory is not the host's): the CPU's channels-last kernels are
// transposes around its channels-first ones. The pass also removes Transpose pairs that cancel.
#include <algorithm>
#include <memory>
#include <numeric>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"

namespace kiln::passes {
namespace {

const Dims kToChannelsLast = {0, 2, 3, 1};
const Dims kToChannelsFirst = {0, 3, 1, 2};

Dims permuted(const Dims& dims, const Dims& perm) {
  Dims out(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out[i] = dims[static_cast<size_t>(perm[i])];
  return out;
}

bool isReducedFloat(DataType t) { return t == DataType::kFloat16 || t == DataType::kBFloat16; }
bool rank4(const ir::Tensor* t) { return t && t->dims().size() == 4; }
bool holdsOneValue(const ir::Tensor* t) { return t && t->dims().size() <= 4 && volume(t->dims()) == 1; }

// The inputs of `layer` that follow its layout (the rest, like a convolution's bias, do not).
bool isLayoutInput(const ir::Layer& layer, size_t i) {
  return !(layer.type() == LayerType::kConvolution && i == 2);
}

// Whether the target runs `layer` with `params` (the channels-last form) on channels-last tensors.
bool targetRunsChannelsLast(const PassContext& context, const ir::Layer& layer, const LayerParams& params) {
  std::vector<std::unique_ptr<ir::Tensor>> tensors;
  auto channelsLastCopy = [&](const ir::Tensor* t) -> ir::Tensor* {
    if (!t) return nullptr;
    Dims dims = rank4(t) ? permuted(t->dims(), kToChannelsLast) : t->dims();
    tensors.push_back(std::make_unique<ir::Tensor>(t->name(), t->type(), dims));
    return tensors.back().get();
  };
  ir::Layer candidate(layer.name(), params);
  for (size_t i = 0; i < layer.inputs.size(); ++i)
    candidate.inputs.push_back(isLayoutInput(layer, i) ? channelsLastCopy(layer.inputs[i]) : layer.inputs[i]);
  for (const ir::Tensor* t : layer.outputs) candidate.outputs.push_back(channelsLastCopy(t));
  return context.targetCanRun(candidate);
}

// The channels-last params of a convolution chain's anchor or of a layer that can join a chain; nullopt
// for a layer that cannot. `anchor` says whether it is a convolution that starts a chain.
std::optional<LayerParams> channelsLastParams(const PassContext& context, const ir::Layer& layer, bool& anchor) {
  anchor = false;
  if (layer.outputs.empty() || !rank4(layer.outputs[0])) return std::nullopt;
  switch (layer.type()) {
    case LayerType::kConvolution: {
      ConvolutionParams p = layer.as<ConvolutionParams>();
      if (p.channelsLast || layer.inputs.size() < 2 || !rank4(layer.inputs[0]) || !rank4(layer.inputs[1]) ||
          !isReducedFloat(layer.outputs[0]->type()))
        return std::nullopt;
      p.channelsLast = true;
      if (!targetRunsChannelsLast(context, layer, p)) return std::nullopt;
      anchor = true;
      return p;
    }
    case LayerType::kPooling: {
      PoolingParams p = layer.as<PoolingParams>();
      if (p.channelsLast || layer.outputs.size() != 1 || !rank4(layer.inputs[0])) return std::nullopt;
      p.channelsLast = true;
      if (!targetRunsChannelsLast(context, layer, p)) return std::nullopt;
      return p;
    }
    case LayerType::kReduce: {
      ReduceParams p = layer.as<ReduceParams>();
      if (layer.inputs.size() != 1 || !rank4(layer.inputs[0]) || p.axes.empty() || !p.keepDims) return std::nullopt;
      for (int64_t& axis : p.axes) {  // NCHW axis a sits at position kToChannelsFirst[a] in NHWC
        if (axis < -4 || axis > 3) return std::nullopt;
        axis = kToChannelsFirst[static_cast<size_t>(axis < 0 ? axis + 4 : axis)];
      }
      std::sort(p.axes.begin(), p.axes.end());
      return p;
    }
    case LayerType::kActivation:
    case LayerType::kUnary:
    case LayerType::kCast:
    case LayerType::kElementWise:
      for (const ir::Tensor* t : layer.inputs)
        if (!rank4(t) && !holdsOneValue(t)) return std::nullopt;
      return layer.params();
    default: return std::nullopt;
  }
}

// Union-find over layer indices.
struct Groups {
  std::vector<size_t> parent;
  explicit Groups(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), size_t(0)); }
  size_t find(size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  }
  void join(size_t a, size_t b) { parent[find(a)] = find(b); }
};

ir::Layer* addTranspose(ir::Network& net, ir::Tensor* input, const Dims& perm, const std::string& name) {
  ir::Layer* t = net.addLayerRaw(TransposeParams{perm}, {input}, 1, net.uniqueName(name));
  t->origin = input->producerLayer ? input->producerLayer->origin : "";
  t->outputs[0]->setType(input->type());
  t->outputs[0]->setDims(permuted(input->dims(), perm));
  return t;
}

// Transpose(Transpose(a, p1), p2) with p1[p2[j]] == j: readers of the second read a.
bool removeCancellingTransposes(ir::Network& net, std::vector<std::string>& log) {
  if (!hasLayerOfType(net, LayerType::kTranspose)) return false;
  auto consumers = net.consumers();
  int removed = 0;
  for (auto& owned : net.layers()) {
    ir::Layer* second = owned.get();
    if (second->type() != LayerType::kTranspose || second->inputs.size() != 1 || second->outputs.size() != 1 ||
        second->outputs[0]->isOutput || consumers[second->outputs[0]].empty())
      continue;
    ir::Tensor* mid = second->inputs[0];
    ir::Layer* first = mid ? mid->producerLayer : nullptr;
    if (!first || first->type() != LayerType::kTranspose || first->inputs.size() != 1) continue;
    const Dims &p1 = first->as<TransposeParams>().perm, &p2 = second->as<TransposeParams>().perm;
    if (p1.empty() || p1.size() != p2.size()) continue;
    bool identity = true;
    for (size_t j = 0; j < p2.size() && identity; ++j)
      identity = p2[j] >= 0 && p2[j] < static_cast<int64_t>(p1.size()) && p1[static_cast<size_t>(p2[j])] == static_cast<int64_t>(j);
    if (!identity) continue;
    net.replaceAllUses(second->outputs[0], first->inputs[0]);
    ++removed;
  }
  if (removed == 0) return false;
  log.push_back(concat("choose_channels_last: removed ", removed, " Transpose pairs that cancel"));
  return true;  // eliminate_dead_layers removes the Transposes nothing reads now
}

}  // namespace

bool chooseChannelsLast(PassContext& context) {
  ir::Network& net = context.network;
  bool changed = removeCancellingTransposes(net, context.log);
  if (!context.target || context.target->isHostMemory()) return changed;

  std::vector<ir::Layer*> layers;
  std::unordered_map<const ir::Layer*, size_t> position;
  for (auto& l : net.layers()) {
    position[l.get()] = layers.size();
    layers.push_back(l.get());
  }
  std::vector<std::optional<LayerParams>> params(layers.size());
  std::vector<bool> anchors(layers.size(), false);
  for (size_t i = 0; i < layers.size(); ++i) {
    bool anchor = false;
    params[i] = channelsLastParams(context, *layers[i], anchor);
    anchors[i] = anchor;
  }
  Groups groups(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!params[i]) continue;
    for (size_t k = 0; k < layers[i]->inputs.size(); ++k) {
      const ir::Tensor* t = layers[i]->inputs[k];
      if (!t || !t->producerLayer || !isLayoutInput(*layers[i], k) || !rank4(t)) continue;
      size_t j = position.at(t->producerLayer);
      if (params[j]) groups.join(i, j);
    }
  }
  std::unordered_set<size_t> anchoredGroups;
  for (size_t i = 0; i < layers.size(); ++i)
    if (anchors[i]) anchoredGroups.insert(groups.find(i));
  if (anchoredGroups.empty()) return changed;
  auto inChain = [&](const ir::Layer* l) {
    auto it = position.find(l);
    return it != position.end() && params[it->second] && anchoredGroups.count(groups.find(it->second)) > 0;
  };

  auto consumers = net.consumers();
  std::unordered_map<const ir::Tensor*, ir::Tensor*> channelsLastOf;  // chain tensors and entry Transposes
  int chainLayers = 0, transposes = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    ir::Layer* layer = layers[i];
    if (!inChain(layer)) continue;
    ++chainLayers;
    // Inputs: from the chain, or through one entry Transpose per tensor (before its first chain reader).
    for (size_t k = 0; k < layer->inputs.size(); ++k) {
      ir::Tensor* t = layer->inputs[k];
      if (!t || !isLayoutInput(*layer, k) || !rank4(t)) continue;
      auto it = channelsLastOf.find(t);
      if (it == channelsLastOf.end()) {
        ir::Layer* entry = addTranspose(net, t, kToChannelsLast, t->name() + "_to_nhwc");
        net.moveLayerBefore(entry, layer);
        ++transposes;
        it = channelsLastOf.emplace(t, entry->outputs[0]).first;
      }
      layer->inputs[k] = it->second;
    }
    layer->mutableParams() = *params[i];
    // Outputs: a channels-last tensor; the original one, when read outside the chain or a network output,
    // comes from one exit Transpose (before its first reader outside the chain).
    for (size_t o = 0; o < layer->outputs.size(); ++o) {
      ir::Tensor* original = layer->outputs[o];
      ir::Tensor* nhwc = net.addTensor(net.uniqueName(original->name() + "_nhwc"), original->type(),
                                       permuted(original->dims(), kToChannelsLast));
      nhwc->producerLayer = layer;
      nhwc->producerOutputIndex = static_cast<int>(o);
      layer->outputs[o] = nhwc;
      channelsLastOf[original] = nhwc;
      ir::Layer* firstOutside = nullptr;
      for (const auto& use : consumers[original]) {
        ir::Layer* reader = use.first;
        if (!inChain(reader) && (!firstOutside || position.at(reader) < position.at(firstOutside))) firstOutside = reader;
      }
      if (!firstOutside && !original->isOutput) {
        original->producerLayer = nullptr;  // only chain layers read it: they now read `nhwc`
        continue;
      }
      ir::Layer* exit = net.addLayerRaw(TransposeParams{kToChannelsFirst}, {nhwc}, 0,
                                        net.uniqueName(original->name() + "_to_nchw"));
      exit->origin = layer->origin;
      exit->outputs.push_back(original);
      original->producerLayer = exit;
      original->producerOutputIndex = 0;
      if (firstOutside) net.moveLayerBefore(exit, firstOutside);
      ++transposes;
    }
  }
  net.removeUnusedTensors();
  context.log.push_back(concat("choose_channels_last: ", chainLayers, " layers in ", anchoredGroups.size(),
                               " channels-last chains, ", transposes, " Transposes at their edges"));
  return true;
}

}  // namespace kiln::passes
