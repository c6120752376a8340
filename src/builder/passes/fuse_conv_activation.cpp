// fuse_conv_activation: Convolution -> activation becomes one Convolution that applies the activation in
// its epilogue. Relu and Clip become the output clamp (ConvolutionParams::outputMin/outputMax, which
// combines with an existing clamp); Sigmoid, HardSwish, exact GELU and SiLU (Mul(x, Sigmoid(x))) become
// ConvolutionParams::activation, only on a convolution with neither activation nor clamp yet (the
// epilogue applies the activation before the clamp). Only when the activation alone reads the
// convolution's output and the target backend runs the fused layer.
#include <algorithm>
#include <limits>
#include <unordered_set>

#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"

namespace kiln::passes {
namespace {

// The epilogue activation an Activation layer is, kNone for the clamps and for what has none.
ConvActivation epilogueActivationOf(const ActivationParams& a) {
  switch (a.type) {
    case ActivationType::kSigmoid: return ConvActivation::kSigmoid;
    case ActivationType::kHardSwish: return ConvActivation::kHardSwish;
    case ActivationType::kGelu: return a.alpha == 0.f ? ConvActivation::kGelu : ConvActivation::kNone;
    default: return ConvActivation::kNone;
  }
}

// A float32 Convolution whose output `convOut` nothing but the fusion candidates reads.
ir::Layer* convolutionProducing(const ir::Tensor* convOut) {
  ir::Layer* conv = convOut ? convOut->producerLayer : nullptr;
  if (!conv || conv->type() != LayerType::kConvolution || convOut->isOutput) return nullptr;
  return convOut->type() == DataType::kFloat32 ? conv : nullptr;
}

// For the Mul of a SiLU x * sigmoid(x): the Sigmoid layer reading x alone for this Mul, else nullptr.
ir::Layer* siluSigmoid(const Consumers& consumers, const ir::Layer* mul, ir::Tensor* x) {
  ir::Tensor* s = otherInput(mul, x);
  ir::Layer* sigmoid = s ? s->producerLayer : nullptr;
  if (!sigmoid || sigmoid->type() != LayerType::kActivation || sigmoid->inputs.size() != 1 || sigmoid->inputs[0] != x)
    return nullptr;
  if (sigmoid->as<ActivationParams>().type != ActivationType::kSigmoid) return nullptr;
  return soleConsumer(consumers, s) == mul ? sigmoid : nullptr;
}

}  // namespace

bool fuseConvActivation(PassContext& context) {
  ir::Network& net = context.network;
  if (!hasLayerOfType(net, LayerType::kConvolution)) return false;
  auto consumers = net.consumers();
  std::vector<ir::Layer*> fused;  // the absorbed layers
  std::unordered_set<const ir::Layer*> absorbed;  // the same, to look up
  int fusions = 0;
  for (auto& owned : net.layers()) {
    ir::Layer* act = owned.get();
    if (absorbed.count(act)) continue;
    ir::Tensor* convOut = nullptr;
    ir::Layer* sigmoid = nullptr;  // the SiLU's Sigmoid, absorbed with the Mul
    ConvolutionParams params;
    if (act->type() == LayerType::kActivation && act->inputs.size() == 1) {
      convOut = act->inputs[0];
      ir::Layer* conv = convolutionProducing(convOut);
      if (!conv || consumers[convOut].size() != 1) continue;
      params = conv->as<ConvolutionParams>();
      const auto& a = act->as<ActivationParams>();
      if (a.type == ActivationType::kRelu || a.type == ActivationType::kClip) {
        float lo = a.type == ActivationType::kRelu ? 0.f : a.alpha;
        float hi = a.type == ActivationType::kRelu ? std::numeric_limits<float>::infinity() : a.beta;
        params.outputMin = std::max(params.outputMin, lo);
        params.outputMax = std::min(params.outputMax, hi);
        if (!(params.outputMin <= params.outputMax)) continue;  // an empty or NaN range: keep both layers
      } else {
        ConvActivation epilogue = epilogueActivationOf(a);
        if (epilogue == ConvActivation::kNone || params.hasActivationOrClamp()) continue;
        params.activation = epilogue;
      }
    } else if (isElementWise(act, ElementWiseOp::kMul)) {  // SiLU: Mul(x, Sigmoid(x))
      for (ir::Tensor* x : act->inputs) {
        ir::Layer* conv = convolutionProducing(x);
        if (!conv || consumers[x].size() != 2) continue;
        sigmoid = siluSigmoid(consumers, act, x);
        if (sigmoid) {
          convOut = x;
          break;
        }
      }
      if (!sigmoid) continue;
      params = convOut->producerLayer->as<ConvolutionParams>();
      if (params.hasActivationOrClamp()) continue;
      params.activation = ConvActivation::kSilu;
    } else {
      continue;
    }
    ir::Layer* conv = convOut->producerLayer;
    ir::Layer candidate(conv->name(), params);
    candidate.inputs = conv->inputs;
    candidate.outputs = conv->outputs;
    if (!context.targetCanRun(candidate)) continue;
    conv->mutableParams() = params;
    takeOverOutput(conv, act);
    for (ir::Layer* layer : {act, sigmoid}) {
      if (!layer) continue;
      fused.push_back(layer);
      absorbed.insert(layer);
    }
    ++fusions;
  }
  if (fused.empty()) return false;
  context.log.push_back(concat("fuse_conv_activation: fused ", fusions, " activations into convolutions"));
  net.removeLayers(fused);
  return true;
}

}  // namespace kiln::passes
