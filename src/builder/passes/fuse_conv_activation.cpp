// fuse_conv_activation: Convolution -> Relu / Clip becomes one Convolution whose output clamp
// (ConvolutionParams::outputMin/outputMax) applies the activation in the GEMM epilogue. Only when the
// activation alone reads the convolution's output and the target backend runs the fused layer.
#include <algorithm>

#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"

namespace kiln::passes {

bool fuseConvActivation(PassContext& context) {
  ir::Network& net = context.network;
  auto consumers = net.consumers();
  std::vector<ir::Layer*> fused;
  for (auto& owned : net.layers()) {
    ir::Layer* act = owned.get();
    if (act->type() != LayerType::kActivation || act->inputs.size() != 1) continue;
    const auto& a = act->as<ActivationParams>();
    if (a.type != ActivationType::kRelu && a.type != ActivationType::kClip) continue;
    ir::Tensor* convOut = act->inputs[0];
    ir::Layer* conv = convOut ? convOut->producerLayer : nullptr;
    if (!conv || conv->type() != LayerType::kConvolution || convOut->isOutput) continue;
    if (consumers[convOut].size() != 1 || convOut->type() != DataType::kFloat32) continue;
    ConvolutionParams params = conv->as<ConvolutionParams>();
    float lo = a.type == ActivationType::kRelu ? 0.f : a.alpha;
    float hi = a.type == ActivationType::kRelu ? std::numeric_limits<float>::infinity() : a.beta;
    params.outputMin = std::max(params.outputMin, lo);
    params.outputMax = std::min(params.outputMax, hi);
    if (!(params.outputMin <= params.outputMax)) continue;  // an empty or NaN range: keep both layers
    ir::Layer candidate(conv->name(), params);
    candidate.inputs = conv->inputs;
    candidate.outputs = conv->outputs;
    if (!context.targetCanRun(candidate)) continue;
    conv->mutableParams() = params;
    takeOverOutput(conv, act);
    fused.push_back(act);
  }
  if (fused.empty()) return false;
  context.log.push_back(concat("fuse_conv_activation: fused ", fused.size(), " activations into convolutions"));
  net.removeLayers(fused);
  return true;
}

}  // namespace kiln::passes
