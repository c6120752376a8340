// fuse_gelu: the exported forms of GELU become one Activation(kGelu):
//  - exact (alpha 0): x * 0.5 * (1 + erf(x / sqrt(2))), with Div(x, sqrt 2) or Mul(x, 1/sqrt 2);
//  - tanh approximation (alpha 1): x * 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))), with Pow(x, 3)
//    (HuggingFace's gelu_new as GPT-2 exports it, torch's GELU(approximate='tanh') below opset 20).
// Both end in Add 1 and the two Muls in either order: Mul(Mul(x, a), 0.5) (torch.nn.GELU), Mul(Mul(x, 0.5), a)
// (HuggingFace's gelu) or Mul(x, Mul(0.5, a)) / Mul(0.5, Mul(x, a)) (torch.export, torch's tanh symbolic).
#include <cmath>

#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"

namespace kiln::passes {
namespace {

// x * c or c * x for a scalar constant c: x, else nullptr.
ir::Tensor* scaledBy(const ir::Layer* mul, double c) {
  if (!isElementWise(mul, ElementWiseOp::kMul)) return nullptr;
  if (isScalar(mul->inputs[1], c)) return mul->inputs[0];
  if (isScalar(mul->inputs[0], c)) return mul->inputs[1];
  return nullptr;
}

// The common tail: from a = 1 + f(x) (the output of `addOne`), the two Muls forming x * 0.5 * a. Returns
// the layer whose output is the GELU and sets `inner` to the other Mul, or nullptr.
ir::Layer* matchHalfXTimes(const Consumers& consumers, ir::Tensor* x, ir::Layer* addOne, ir::Layer*& inner) {
  ir::Layer* mul = soleConsumer(consumers, addOne->outputs[0]);
  if (!isElementWise(mul, ElementWiseOp::kMul)) return nullptr;
  ir::Tensor* partner = otherInput(mul, addOne->outputs[0]);
  ir::Layer* last = nullptr;
  if (partner == x) {  // Mul(Mul(x, a), 0.5)
    inner = mul;
    last = soleConsumer(consumers, mul->outputs[0]);
    if (!isElementWise(last, ElementWiseOp::kMul) || !isScalar(otherInput(last, mul->outputs[0]), 0.5)) return nullptr;
  } else if (isScalar(partner, 0.5)) {  // Mul(x, Mul(0.5, a))
    inner = mul;
    last = soleConsumer(consumers, mul->outputs[0]);
    if (!isElementWise(last, ElementWiseOp::kMul) || otherInput(last, mul->outputs[0]) != x) return nullptr;
  } else if (partner && partner->producerLayer) {  // Mul(Mul(x, 0.5), a)
    inner = partner->producerLayer;
    last = mul;
    if (!isElementWise(inner, ElementWiseOp::kMul) || !isScalar(otherInput(inner, x), 0.5) ||
        soleConsumer(consumers, partner) != mul)
      return nullptr;
  } else {
    return nullptr;
  }
  // The GELU keeps x's shape only when nothing broadcast x: every other operand is a one-element
  // constant, so an output of x's rank has x's shape (dynamic dims included).
  return last->outputs[0]->dims().size() == x->dims().size() ? last : nullptr;
}

// 1 + f: the Add that alone reads f's output and adds the constant 1, else nullptr.
ir::Layer* onePlus(const Consumers& consumers, const ir::Layer* f) {
  ir::Layer* add = soleConsumer(consumers, f->outputs[0]);
  return isElementWise(add, ElementWiseOp::kAdd) && isScalar(otherInput(add, f->outputs[0]), 1.0) ? add : nullptr;
}

// A matched GELU: x, the layer that becomes the Activation, and the layers to remove.
struct GeluMatch {
  ir::Tensor* x = nullptr;
  ir::Layer* last = nullptr;
  std::vector<ir::Layer*> removed;
  float alpha = 0.f;  // 0: exact, 1: tanh
};

bool matchErfGelu(const Consumers& consumers, ir::Layer* erf, GeluMatch& m) {
  if (erf->type() != LayerType::kUnary || erf->as<UnaryParams>().op != UnaryOp::kErf) return false;
  ir::Tensor* scaled = erf->inputs[0];
  ir::Layer* scale = scaled->producerLayer;
  ir::Tensor* x = nullptr;
  if (isElementWise(scale, ElementWiseOp::kDiv) && isScalar(scale->inputs[1], std::sqrt(2.0))) x = scale->inputs[0];
  else x = scaledBy(scale, std::sqrt(0.5));
  if (!x || soleConsumer(consumers, scaled) != erf) return false;
  ir::Layer* addOne = onePlus(consumers, erf);
  ir::Layer* inner = nullptr;
  ir::Layer* last = addOne ? matchHalfXTimes(consumers, x, addOne, inner) : nullptr;
  if (!last) return false;
  m = {x, last, {scale, erf, addOne, inner}, 0.f};
  return true;
}

bool matchTanhGelu(const Consumers& consumers, ir::Layer* tanh, GeluMatch& m) {
  if (tanh->type() != LayerType::kActivation || tanh->as<ActivationParams>().type != ActivationType::kTanh) return false;
  // sqrt(2/pi) * (x + 0.044715 * x^3)
  ir::Tensor* scaledSum = tanh->inputs[0];
  ir::Layer* scale = scaledSum->producerLayer;
  ir::Tensor* sum = scaledBy(scale, std::sqrt(2.0 / M_PI));
  if (!sum || soleConsumer(consumers, scaledSum) != tanh) return false;
  ir::Layer* add = sum->producerLayer;
  if (!isElementWise(add, ElementWiseOp::kAdd) || soleConsumer(consumers, sum) != scale) return false;
  for (int side = 0; side < 2; ++side) {
    ir::Tensor* x = add->inputs[side];
    ir::Tensor* cubic = add->inputs[1 - side];
    ir::Layer* kappa = cubic->producerLayer;
    ir::Tensor* cube = scaledBy(kappa, 0.044715);
    if (!cube || soleConsumer(consumers, cubic) != add) continue;
    ir::Layer* pow = cube->producerLayer;
    if (!isElementWise(pow, ElementWiseOp::kPow) || pow->inputs[0] != x || !isScalar(pow->inputs[1], 3.0) ||
        soleConsumer(consumers, cube) != kappa)
      continue;
    ir::Layer* addOne = onePlus(consumers, tanh);
    ir::Layer* inner = nullptr;
    ir::Layer* last = addOne ? matchHalfXTimes(consumers, x, addOne, inner) : nullptr;
    if (!last) return false;
    m = {x, last, {pow, kappa, add, scale, tanh, addOne, inner}, 1.f};
    return true;
  }
  return false;
}

}  // namespace

bool fuseGelu(PassContext& context) {
  ir::Network& net = context.network;
  Consumers consumers = net.consumers();
  std::vector<ir::Layer*> removed;
  int fused[2] = {0, 0};  // exact, tanh
  for (auto& owned : net.layers()) {
    GeluMatch m;
    if (!matchErfGelu(consumers, owned.get(), m) && !matchTanhGelu(consumers, owned.get(), m)) continue;
    if (m.x->type() != DataType::kFloat32) continue;
    ActivationParams gelu;
    gelu.type = ActivationType::kGelu;
    gelu.alpha = m.alpha;
    ir::Layer candidate(m.last->name(), gelu);
    candidate.inputs = {m.x};
    candidate.outputs = m.last->outputs;
    if (!context.targetCanRun(candidate)) continue;
    // The last Mul becomes the activation: it already sits after x's producer and before every consumer.
    m.last->mutableParams() = gelu;
    m.last->inputs = {m.x};
    removed.insert(removed.end(), m.removed.begin(), m.removed.end());
    ++fused[m.alpha == 0.f ? 0 : 1];
  }
  if (removed.empty()) return false;
  context.log.push_back(concat("fuse_gelu: fused ", fused[0], " erf and ", fused[1],
                               " tanh GELU subgraphs into Activation(Gelu)"));
  net.removeLayers(removed);
  return true;
}

}  // namespace kiln::passes
