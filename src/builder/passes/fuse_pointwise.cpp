// fuse_pointwise: groups of connected element-wise layers (ElementWise arithmetic, Unary math,
// Activation, Cast between float types or from int/bool to float32, and Pointwise layers of earlier
// rounds) become one Pointwise layer whose program computes what they computed, one kernel instead of
// one per layer (TensorRT's generated "PointWise" layers).
//
// A group grows backwards from its root (the layer whose output leaves the group): a producer joins when
// it is fusable and every reader of its output is already in the group (and it is no network output),
// so no intermediate value is needed outside. Producers are visited latest first, so by the time one is
// asked, every group member that reads it has joined. One-element float constants read by the group
// are inlined as immediates when they do not widen the output's rank. Host-valued layers (shape
// arithmetic the runtime evaluates on the host) are never fused. A group of two or more layers becomes a
// Pointwise when the target backend runs it. A group holds at most kMaxFusedLayers layers. Groups are
// maximal, so a second run changes nothing.
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"
#include "core/half.h"
#include "ir/pointwise_program.h"
#include "ir/shape_inference.h"

namespace kiln::passes {
namespace {

// Most layers one Pointwise layer fuses (a fused Pointwise counts its instructions): keeps programs,
// their generated kernels' compile time and their register use small; a longer chain becomes several.
constexpr int64_t kMaxFusedLayers = 64;

// What `layer` adds to a group's size.
int64_t fusedSize(const ir::Layer& layer) {
  if (layer.type() != LayerType::kPointwise) return 1;
  int64_t n = 0;
  for (PointwiseOpKind kind : layer.as<PointwiseParams>().kinds) n += kind == PointwiseOpKind::kInput ? 0 : 1;
  return n;
}

using ir::isPointwiseCastSource;
using ir::isPointwiseFloatType;


bool allFloat(const ir::Layer& layer, DataType type) {
  for (const ir::Tensor* t : layer.inputs)
    if (!t || t->type() != type) return false;
  return layer.outputs[0]->type() == type;
}

// Whether `layer` can be a group member: a fusable op on tensors of the types a program holds.
bool isFusable(const ir::Layer& layer, const std::unordered_set<const ir::Tensor*>& hostValued) {
  if (layer.outputs.size() != 1 || !layer.outputs[0] || hostValued.count(layer.outputs[0])) return false;
  for (const ir::Tensor* t : layer.inputs)
    if (!t || t->kind != ValueKind::kTensor) return false;
  if (layer.outputs[0]->kind != ValueKind::kTensor) return false;
  const DataType out = layer.outputs[0]->type();
  switch (layer.type()) {
    case LayerType::kElementWise:
      return layer.inputs.size() == 2 && ir::isPointwiseElementWiseOp(layer.as<ElementWiseParams>().op) &&
             isPointwiseFloatType(out) && allFloat(layer, out);
    case LayerType::kUnary:
      return layer.inputs.size() == 1 && ir::isPointwiseUnaryOp(layer.as<UnaryParams>().op) &&
             isPointwiseFloatType(out) && allFloat(layer, out);
    case LayerType::kActivation:
      return layer.inputs.size() == 1 && isPointwiseFloatType(out) && allFloat(layer, out);
    case LayerType::kCast: {
      if (layer.inputs.size() != 1) return false;
      const DataType in = layer.inputs[0]->type();
      return (isPointwiseFloatType(in) && isPointwiseFloatType(out)) ||
             (isPointwiseCastSource(in) && out == DataType::kFloat32);
    }
    case LayerType::kPointwise:
      return true;
    default:
      return false;
  }
}

// The float value of a one-element float constant behind `t`, if it is one.
bool scalarConstant(const ir::Tensor* t, float& value) {
  const Weights* w = constantWeights(t);
  if (!w || w->count() != 1 || w->data() == nullptr) return false;
  switch (w->type) {
    case DataType::kFloat32: value = w->as<float>()[0]; return true;
    case DataType::kFloat16: value = halfToFloat(w->as<uint16_t>()[0]); return true;
    case DataType::kBFloat16: value = bfloat16ToFloat(w->as<uint16_t>()[0]); return true;
    default: return false;
  }
}

// Builds the program of a group from its root, members first-read first (deterministic).
class ProgramBuilder {
 public:
  ProgramBuilder(const std::unordered_set<const ir::Layer*>& members, const std::unordered_set<const ir::Tensor*>& inlined)
      : members_(members), inlined_(inlined) {}

  PointwiseParams params;
  std::vector<ir::Tensor*> inputs;

  int64_t value(ir::Tensor* t) {
    auto found = registers_.find(t);
    if (found != registers_.end()) return found->second;
    int64_t r;
    ir::Layer* producer = t->producerLayer;
    if (producer && members_.count(producer)) {
      r = layer(*producer);
    } else if (inlined_.count(t)) {
      float v = 0.f;
      scalarConstant(t, v);
      r = push(PointwiseOpKind::kConstant, 0, 0, 0, v, 0.f, t->type());
    } else {
      r = push(PointwiseOpKind::kInput, static_cast<int64_t>(inputs.size()), 0, 0, 0.f, 0.f, t->type());
      inputs.push_back(t);
    }
    registers_[t] = r;
    return r;
  }

 private:
  int64_t push(PointwiseOpKind kind, int64_t code, int64_t a, int64_t b, float alpha, float beta, DataType type) {
    params.kinds.push_back(kind);
    params.codes.push_back(code);
    params.a.push_back(a);
    params.b.push_back(b);
    params.alpha.push_back(alpha);
    params.beta.push_back(beta);
    params.types.push_back(type);
    return static_cast<int64_t>(params.kinds.size()) - 1;
  }

  int64_t layer(ir::Layer& l) {
    const DataType type = l.outputs[0]->type();
    switch (l.type()) {
      case LayerType::kElementWise: {
        int64_t x = value(l.inputs[0]), y = value(l.inputs[1]);
        return push(PointwiseOpKind::kElementWise, static_cast<int64_t>(l.as<ElementWiseParams>().op), x, y, 0.f, 0.f,
                    type);
      }
      case LayerType::kUnary:
        return push(PointwiseOpKind::kUnary, static_cast<int64_t>(l.as<UnaryParams>().op), value(l.inputs[0]), 0, 0.f,
                    0.f, type);
      case LayerType::kActivation: {
        const auto& p = l.as<ActivationParams>();
        return push(PointwiseOpKind::kActivation, static_cast<int64_t>(p.type), value(l.inputs[0]), 0, p.alpha, p.beta,
                    type);
      }
      case LayerType::kCast:
        return push(PointwiseOpKind::kCast, 0, value(l.inputs[0]), 0, 0.f, 0.f, type);
      default: {  // kPointwise: its program, with its registers renumbered and its inputs resolved here
        const auto& p = l.as<PointwiseParams>();
        std::vector<int64_t> renamed(p.kinds.size());
        for (size_t i = 0; i < p.kinds.size(); ++i) {
          if (p.kinds[i] == PointwiseOpKind::kInput) {
            renamed[i] = value(l.inputs[p.codes[i]]);
            continue;
          }
          const bool binary = p.kinds[i] == PointwiseOpKind::kElementWise;
          const bool unaryLike = p.kinds[i] != PointwiseOpKind::kConstant;
          renamed[i] = push(p.kinds[i], p.codes[i], unaryLike ? renamed[p.a[i]] : 0, binary ? renamed[p.b[i]] : 0,
                            p.alpha[i], p.beta[i], p.types[i]);
        }
        return renamed[p.output];
      }
    }
  }

  const std::unordered_set<const ir::Layer*>& members_;
  const std::unordered_set<const ir::Tensor*>& inlined_;
  std::unordered_map<const ir::Tensor*, int64_t> registers_;
};

}  // namespace

bool fusePointwise(PassContext& context) {
  ir::Network& net = context.network;
  auto hostValued = hostValuedTensors(net);
  std::unordered_map<const ir::Layer*, size_t> position;
  std::vector<char> fusable(net.layers().size(), 0);
  bool any = false;
  for (size_t i = 0; i < net.layers().size(); ++i) {
    position[net.layers()[i].get()] = i;
    fusable[i] = isFusable(*net.layers()[i], hostValued);
    any = any || fusable[i];
  }
  if (!any) return false;
  Consumers consumers = net.consumers();
  std::vector<char> assigned(net.layers().size(), 0);
  std::vector<ir::Layer*> removed;
  int groups = 0, fusedLayers = 0;

  for (size_t rootIndex = net.layers().size(); rootIndex-- > 0;) {
    if (!fusable[rootIndex] || assigned[rootIndex]) continue;
    ir::Layer* root = net.layers()[rootIndex].get();
    assigned[rootIndex] = 1;
    // Grow the group backwards, latest producer first.
    std::unordered_set<const ir::Layer*> members{root};
    std::vector<ir::Layer*> order{root};
    int64_t size = fusedSize(*root);
    std::priority_queue<size_t> frontier;
    auto pushProducers = [&](const ir::Layer* l) {
      for (const ir::Tensor* in : l->inputs)
        if (in->producerLayer && position.count(in->producerLayer)) frontier.push(position[in->producerLayer]);
    };
    pushProducers(root);
    while (!frontier.empty()) {
      size_t index = frontier.top();
      frontier.pop();
      while (!frontier.empty() && frontier.top() == index) frontier.pop();
      ir::Layer* candidate = net.layers()[index].get();
      if (!fusable[index] || assigned[index] || members.count(candidate)) continue;
      const ir::Tensor* out = candidate->outputs[0];
      auto readers = consumers.find(out);
      if (out->isOutput || readers == consumers.end()) continue;
      bool allInGroup = true;
      for (auto& [reader, slot] : readers->second) allInGroup = allInGroup && members.count(reader) > 0;
      if (!allInGroup || size + fusedSize(*candidate) > kMaxFusedLayers) continue;
      size += fusedSize(*candidate);
      members.insert(candidate);
      order.push_back(candidate);
      assigned[index] = 1;
      pushProducers(candidate);
    }
    if (members.size() < 2) continue;

    // External inputs: one-element float constants are inlined unless they would widen the rank.
    std::vector<ir::Tensor*> externals;
    std::unordered_set<const ir::Tensor*> seen;
    for (ir::Layer* m : order)
      for (ir::Tensor* in : m->inputs)
        if (!(in->producerLayer && members.count(in->producerLayer)) && seen.insert(in).second) externals.push_back(in);
    size_t dataRank = 0;
    for (ir::Tensor* t : externals) {
      float v;
      if (!scalarConstant(t, v)) dataRank = std::max(dataRank, t->dims().size());
    }
    std::unordered_set<const ir::Tensor*> inlined;
    for (ir::Tensor* t : externals) {
      float v;
      if (scalarConstant(t, v) && isPointwiseFloatType(t->type()) && t->dims().size() <= dataRank) inlined.insert(t);
    }
    ProgramBuilder builder(members, inlined);
    builder.params.output = builder.value(root->outputs[0]);
    if (builder.inputs.empty()) continue;  // constants only: fold_constants' work

    ir::Layer fused(root->name(), builder.params);
    fused.origin = root->origin;
    fused.inputs = builder.inputs;
    fused.outputs = root->outputs;
    // The program must give the root's type and shape (its inputs' broadcast) and run on the target.
    std::vector<TensorDesc> descs;
    descs.reserve(fused.inputs.size());
    std::vector<const TensorDesc*> descPointers;
    for (ir::Tensor* t : fused.inputs) descs.push_back({t->type(), t->dims(), t->kind});
    for (auto& d : descs) descPointers.push_back(&d);
    std::vector<TensorDesc> outputs = ir::inferOutputs(fused, descPointers, {});
    if (outputs[0].type != root->outputs[0]->type() || outputs[0].shape != root->outputs[0]->dims()) continue;
    if (!context.targetCanRun(fused)) continue;

    // The root becomes the Pointwise layer: it already sits after every input and before every reader.
    root->mutableParams() = builder.params;
    root->inputs = builder.inputs;
    for (ir::Layer* m : order)
      if (m != root) removed.push_back(m);
    ++groups;
    fusedLayers += static_cast<int>(order.size());
  }
  if (groups == 0) return false;
  context.log.push_back(concat("fuse_pointwise: fused ", fusedLayers, " element-wise layers into ", groups,
                               " Pointwise layers"));
  net.removeLayers(removed);
  return true;
}

}  // namespace kiln::passes
