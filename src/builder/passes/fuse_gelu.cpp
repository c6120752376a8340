// fuse_gelu: the exported erf form of GELU, x * 0.5 * (1 + erf(x / sqrt(2))), becomes one Activation
// (kGelu, exact). Matches Div(x, sqrt 2) or Mul(x, 1/sqrt 2), Erf, Add 1, and the two Muls in either
// order: Mul(Mul(x, a), 0.5) (torch.nn.GELU), Mul(Mul(x, 0.5), a) (HuggingFace's gelu) or
// Mul(x, Mul(0.5, a)) (torch.export / the dynamo ONNX exporter).
#include <cmath>

#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"

namespace kiln::passes {

bool fuseGelu(PassContext& context) {
  ir::Network& net = context.network;
  Consumers consumers = net.consumers();
  std::vector<ir::Layer*> removed;
  int fusedCount = 0;
  for (auto& owned : net.layers()) {
    ir::Layer* erf = owned.get();
    if (erf->type() != LayerType::kUnary || erf->as<UnaryParams>().op != UnaryOp::kErf) continue;
    // x / sqrt(2) or x * (1 / sqrt(2))
    ir::Tensor* scaled = erf->inputs[0];
    ir::Layer* scale = scaled->producerLayer;
    ir::Tensor* x = nullptr;
    if (isElementWise(scale, ElementWiseOp::kDiv) && isScalar(scale->inputs[1], std::sqrt(2.0))) {
      x = scale->inputs[0];
    } else if (isElementWise(scale, ElementWiseOp::kMul)) {
      if (isScalar(scale->inputs[1], std::sqrt(0.5))) x = scale->inputs[0];
      else if (isScalar(scale->inputs[0], std::sqrt(0.5))) x = scale->inputs[1];
    }
    if (!x || x->type() != DataType::kFloat32 || soleConsumer(consumers, scaled) != erf) continue;
    // 1 + erf(...)
    ir::Layer* addOne = soleConsumer(consumers, erf->outputs[0]);
    if (!isElementWise(addOne, ElementWiseOp::kAdd) || !isScalar(otherInput(addOne, erf->outputs[0]), 1.0)) continue;
    ir::Layer* mul = soleConsumer(consumers, addOne->outputs[0]);
    if (!isElementWise(mul, ElementWiseOp::kMul)) continue;
    ir::Tensor* partner = otherInput(mul, addOne->outputs[0]);
    ir::Layer* last = nullptr;   // the layer whose output is the GELU
    ir::Layer* inner = nullptr;  // the other Mul
    if (partner == x) {          // Mul(Mul(x, a), 0.5)
      inner = mul;
      last = soleConsumer(consumers, mul->outputs[0]);
      if (!isElementWise(last, ElementWiseOp::kMul) || !isScalar(otherInput(last, mul->outputs[0]), 0.5)) continue;
    } else if (isScalar(partner, 0.5)) {  // Mul(x, Mul(0.5, a)) (torch.export's decomposition)
      inner = mul;
      last = soleConsumer(consumers, mul->outputs[0]);
      if (!isElementWise(last, ElementWiseOp::kMul) || otherInput(last, mul->outputs[0]) != x) continue;
    } else if (partner && partner->producerLayer) {  // Mul(Mul(x, 0.5), a)
      inner = partner->producerLayer;
      last = mul;
      if (!isElementWise(inner, ElementWiseOp::kMul) || !isScalar(otherInput(inner, x), 0.5) ||
          soleConsumer(consumers, partner) != mul)
        continue;
    } else {
      continue;
    }
    // The GELU keeps x's shape only when nothing broadcast x: every other operand is a one-element
    // constant, so an output of x's rank has x's shape (dynamic dims included).
    if (last->outputs[0]->dims().size() != x->dims().size()) continue;
    ActivationParams gelu;
    gelu.type = ActivationType::kGelu;
    ir::Layer candidate(last->name(), gelu);
    candidate.inputs = {x};
    candidate.outputs = last->outputs;
    if (!context.targetCanRun(candidate)) continue;
    // The last Mul becomes the activation: it already sits after x's producer and before every consumer.
    last->mutableParams() = gelu;
    last->inputs = {x};
    for (ir::Layer* l : {scale, erf, addOne, inner}) removed.push_back(l);
    ++fusedCount;
  }
  if (removed.empty()) return false;
  context.log.push_back(concat("fuse_gelu: fused ", fusedCount, " erf GELU subgraphs into Activation(Gelu)"));
  net.removeLayers(removed);
  return true;
}

}  // namespace kiln::passes
