// fuse_residual_norm: two rewrites around layer normalization.
//  1. The LayerNorm subgraph that ONNX exports below opset 17 (and that the importer keeps as it is),
//     mean = ReduceMean(x), d = x - mean, Sqrt(ReduceMean(d ^ 2) + eps), d / that, * gamma (+ beta), over
//     the trailing dims, becomes one Normalization(kLayer). gamma and beta are constants with one value per
//     normalized element; the normalized dims are static.
//  2. Add(a, b) -> Normalization (kLayer or kRMS, no Mean / InvStdDev outputs) becomes one Normalization
//     with addsResidual (x = a, r = b): the Add's other readers (or a network output) read the layer's
//     second output, the sum. Only when a, b and the sum have the same dims and type (no broadcast; a dim
//     unknown at build time counts as equal when it is unknown at the same place in all three: a run-time
//     broadcast there makes the fused layer's shape rule refuse the shapes, naming it, never a wrong
//     result), and the target backend runs the fused layer.
#include <algorithm>
#include <optional>
#include <unordered_map>

#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"

namespace kiln::passes {
namespace {

// The layer reading `t` that is of `type` and alone reads it, else nullptr.
ir::Layer* soleConsumerOf(const Consumers& consumers, const ir::Tensor* t, LayerType type) {
  ir::Layer* l = soleConsumer(consumers, t);
  return l && l->type() == type ? l : nullptr;
}

// A ReduceMean over the trailing dims [axis, rank) keeping them; returns axis, else -1.
int64_t trailingMeanAxis(const ir::Layer* reduce) {
  if (!reduce || reduce->type() != LayerType::kReduce) return -1;
  const auto& p = reduce->as<ReduceParams>();
  const int64_t rank = static_cast<int64_t>(reduce->inputs[0]->dims().size());
  if (p.op != ReduceOp::kMean || !p.keepDims || p.axes.empty() || rank == 0) return -1;
  Dims axes = p.axes;
  for (int64_t& a : axes) a = a < 0 ? a + rank : a;
  std::sort(axes.begin(), axes.end());
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] != rank - static_cast<int64_t>(axes.size()) + static_cast<int64_t>(i)) return -1;
  return axes.front();
}

// `d` without its leading 1s.
Dims withoutLeadingOnes(const Dims& d) {
  auto first = std::find_if(d.begin(), d.end(), [](int64_t v) { return v != 1; });
  return Dims(first, d.end());
}

// The constant behind `t` as `tail`-shaped float32 weights when it holds exactly one value per element of
// `tail` (its shape is `tail` up to leading 1s), else nothing.
std::optional<Weights> paramOver(const ir::Tensor* t, const Dims& tail) {
  const Weights* w = constantWeights(t);
  if (!w || w->type != DataType::kFloat32 || withoutLeadingOnes(w->shape) != withoutLeadingOnes(tail))
    return std::nullopt;
  Weights flat = *w;
  flat.shape = tail;
  return flat;
}

bool fuseDecomposedLayerNorms(PassContext& context) {
  ir::Network& net = context.network;
  if (!hasLayerOfType(net, LayerType::kReduce)) return false;
  Consumers consumers = net.consumers();
  std::vector<ir::Layer*> removed;
  std::vector<ir::Layer*> layers;
  for (auto& l : net.layers()) layers.push_back(l.get());
  int fusedCount = 0;
  for (ir::Layer* mean : layers) {
    const int64_t axis = trailingMeanAxis(mean);
    if (axis < 0) continue;
    ir::Tensor* x = mean->inputs[0];
    const Dims& xs = x->dims();
    const Dims tail(xs.begin() + axis, xs.end());
    if (x->type() != DataType::kFloat32 || std::any_of(tail.begin(), tail.end(), [](int64_t d) { return d <= 0; }))
      continue;
    // d = x - mean, read by the square and the division only
    ir::Layer* sub = soleConsumer(consumers, mean->outputs[0]);
    if (!isElementWise(sub, ElementWiseOp::kSub) || sub->inputs[0] != x || sub->inputs[1] != mean->outputs[0]) continue;
    ir::Tensor* d = sub->outputs[0];
    auto dReaders = consumers.find(d);
    if (d->isOutput || dReaders == consumers.end() || dReaders->second.size() != 2) continue;
    ir::Layer* pow = nullptr;
    ir::Layer* div = nullptr;
    for (auto& [reader, index] : dReaders->second) {
      if (isElementWise(reader, ElementWiseOp::kPow) && index == 0 && isScalar(reader->inputs[1], 2.0)) pow = reader;
      else if (isElementWise(reader, ElementWiseOp::kDiv) && index == 0) div = reader;
    }
    if (!pow || !div) continue;
    ir::Layer* variance = soleConsumerOf(consumers, pow->outputs[0], LayerType::kReduce);
    if (trailingMeanAxis(variance) != axis) continue;
    ir::Layer* addEps = soleConsumer(consumers, variance->outputs[0]);
    if (!isElementWise(addEps, ElementWiseOp::kAdd)) continue;
    const Weights* eps = floatConstant(otherInput(addEps, variance->outputs[0]), 1);
    if (!eps) continue;
    ir::Layer* sqrt = soleConsumerOf(consumers, addEps->outputs[0], LayerType::kUnary);
    if (!sqrt || sqrt->as<UnaryParams>().op != UnaryOp::kSqrt) continue;
    if (soleConsumer(consumers, sqrt->outputs[0]) != div || div->inputs[1] != sqrt->outputs[0]) continue;
    // * gamma, then optionally + beta
    ir::Layer* mul = soleConsumer(consumers, div->outputs[0]);
    if (!isElementWise(mul, ElementWiseOp::kMul)) continue;
    std::optional<Weights> gamma = paramOver(otherInput(mul, div->outputs[0]), tail);
    if (!gamma) continue;
    ir::Layer* last = mul;
    std::optional<Weights> beta;
    ir::Layer* addBeta = soleConsumer(consumers, mul->outputs[0]);
    if (isElementWise(addBeta, ElementWiseOp::kAdd)) {
      beta = paramOver(otherInput(addBeta, mul->outputs[0]), tail);
      if (beta) last = addBeta;
    }
    if (last->outputs[0]->dims() != xs) continue;  // nothing broadcast x
    NormalizationParams norm;
    norm.type = NormalizationType::kLayer;
    norm.axis = axis;
    norm.epsilon = eps->as<float>()[0];
    ir::Tensor scaleDesc("scale", DataType::kFloat32, tail), biasDesc("bias", DataType::kFloat32, tail);
    ir::Layer candidate(last->name(), norm);
    candidate.inputs = {x, &scaleDesc};
    if (beta) candidate.inputs.push_back(&biasDesc);
    candidate.outputs = last->outputs;
    if (!context.targetCanRun(candidate)) continue;
    // The last layer becomes the normalization: it sits after x's producer and before every reader.
    std::vector<ir::Tensor*> inputs = {x, addConstantBefore(net, std::move(*gamma), last->name() + "_scale", last)};
    if (beta) inputs.push_back(addConstantBefore(net, std::move(*beta), last->name() + "_bias", last));
    last->mutableParams() = norm;
    last->inputs = inputs;
    for (ir::Layer* l : {mean, sub, pow, variance, addEps, sqrt, div}) removed.push_back(l);
    if (last != mul) removed.push_back(mul);
    ++fusedCount;
  }
  if (removed.empty()) return false;
  context.log.push_back(
      concat("fuse_residual_norm: fused ", fusedCount, " decomposed LayerNorm subgraphs into Normalization(Layer)"));
  net.removeLayers(removed);
  return true;
}

// Whether a and b have the same dims (unknown ones at the same places).
bool sameDims(const ir::Tensor* a, const ir::Tensor* b) { return a->dims() == b->dims(); }

bool fuseResidualAdds(PassContext& context) {
  ir::Network& net = context.network;
  if (!hasLayerOfType(net, LayerType::kNormalization)) return false;
  Consumers consumers = net.consumers();
  std::unordered_map<const ir::Layer*, size_t> position;
  auto renumber = [&] {
    for (size_t i = 0; i < net.layers().size(); ++i) position[net.layers()[i].get()] = i;
  };
  renumber();
  std::vector<ir::Layer*> layers;
  for (auto& l : net.layers()) layers.push_back(l.get());
  std::vector<ir::Layer*> fused;
  int withSum = 0;
  for (ir::Layer* norm : layers) {
    if (norm->type() != LayerType::kNormalization || norm->outputs.size() != 1) continue;
    const auto& params = norm->as<NormalizationParams>();
    const bool rms = params.type == NormalizationType::kRMS;
    if ((!rms && params.type != NormalizationType::kLayer) || params.addsResidual) continue;
    ir::Tensor* sum = norm->inputs[0];
    ir::Layer* add = sum->producerLayer;
    if (!isElementWise(add, ElementWiseOp::kAdd)) continue;
    ir::Tensor* a = add->inputs[0];
    ir::Tensor* b = add->inputs[1];
    if (!sameDims(a, sum) || !sameDims(b, sum) || a->type() != sum->type() || b->type() != sum->type()) continue;
    // The sum must reach the normalization only as x.
    bool onlyAsX = true;
    for (size_t i = 1; i < norm->inputs.size(); ++i) onlyAsX = onlyAsX && norm->inputs[i] != sum;
    if (!onlyAsX) continue;
    const bool sumReadElsewhere = soleConsumer(consumers, sum) != norm;
    NormalizationParams fusedParams = params;
    fusedParams.addsResidual = true;
    ir::Layer candidate(norm->name(), fusedParams);
    candidate.inputs = {a, norm->inputs[1], rms || norm->inputs.size() < 3 ? nullptr : norm->inputs[2], b};
    candidate.outputs = norm->outputs;
    if (sumReadElsewhere) candidate.outputs.push_back(sum);
    if (!context.targetCanRun(candidate)) continue;
    if (sumReadElsewhere) {
      // The sum's other readers follow the Add, maybe before the normalization: it moves to the Add's place,
      // with the Constant layers of its parameters; any other producer of them after the Add stops it.
      bool movable = true;
      std::vector<ir::Layer*> constants;
      for (size_t i = 1; i < norm->inputs.size(); ++i) {
        ir::Layer* producer = norm->inputs[i] ? norm->inputs[i]->producerLayer : nullptr;
        if (!producer || position.at(producer) < position.at(add)) continue;
        if (producer->type() == LayerType::kConstant) constants.push_back(producer);
        else movable = false;
      }
      if (!movable) continue;
      for (ir::Layer* constant : constants) net.moveLayerBefore(constant, add);
      net.moveLayerBefore(norm, add);
      renumber();  // moves are rare (one per transformer block): renumbering keeps the order checks exact
      sum->producerLayer = norm;
      sum->producerOutputIndex = 1;
      ++withSum;
    }
    norm->mutableParams() = fusedParams;
    norm->inputs = candidate.inputs;
    norm->outputs = candidate.outputs;
    fused.push_back(add);
  }
  if (fused.empty()) return false;
  context.log.push_back(concat("fuse_residual_norm: fused ", fused.size(), " residual Adds into normalizations (",
                               withSum, " also write the sum)"));
  net.removeLayers(fused);
  return true;
}

}  // namespace

bool fuseResidualNorm(PassContext& context) {
  const bool decomposed = fuseDecomposedLayerNorms(context);
  if (decomposed) context.network.inferShapes();
  const bool residual = fuseResidualAdds(context);
  return decomposed || residual;
}

}  // namespace kiln::passes
