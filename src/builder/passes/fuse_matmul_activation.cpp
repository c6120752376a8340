// fuse_matmul_activation: MatMul (with or without its bias) -> Activation becomes one MatrixMultiply with
// the activation in its GEMM epilogue, y = act(a b + bias): Relu, exact GELU (Activation kGelu, alpha 0,
// which fuse_gelu makes from the erf subgraph) and tanh GELU (alpha 1). Only when the activation alone
// reads the MatMul's output, the MatMul has no epilogue activation yet, and the target backend runs the
// fused layer (cuBLASLt, for one, has no exact GELU epilogue). Runs after fuse_matmul_bias, which leaves a
// MatMul with an activation alone: a bias added after the activation is not the epilogue's bias.
#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"

namespace kiln::passes {
namespace {

// The epilogue form of an Activation layer, or kNone when it has none.
MatMulActivation epilogueOf(const ActivationParams& p) {
  switch (p.type) {
    case ActivationType::kRelu: return MatMulActivation::kRelu;
    case ActivationType::kGelu:
      if (p.alpha == 0.f) return MatMulActivation::kGelu;
      if (p.alpha == 1.f) return MatMulActivation::kGeluTanh;
      return MatMulActivation::kNone;
    default: return MatMulActivation::kNone;
  }
}

}  // namespace

bool fuseMatMulActivation(PassContext& context) {
  ir::Network& net = context.network;
  if (!hasLayerOfType(net, LayerType::kMatrixMultiply)) return false;
  Consumers consumers = net.consumers();
  std::vector<ir::Layer*> fused;
  for (auto& owned : net.layers()) {
    ir::Layer* matmul = owned.get();
    if (matmul->type() != LayerType::kMatrixMultiply) continue;
    const auto& params = matmul->as<MatrixMultiplyParams>();
    if (params.activation != MatMulActivation::kNone) continue;
    ir::Tensor* product = matmul->outputs[0];
    ir::Layer* activation = soleConsumer(consumers, product);
    if (!activation || activation->type() != LayerType::kActivation) continue;
    const MatMulActivation epilogue = epilogueOf(activation->as<ActivationParams>());
    if (epilogue == MatMulActivation::kNone) continue;
    const DataType type = product->type();
    if (type != DataType::kFloat32 && type != DataType::kFloat16 && type != DataType::kBFloat16) continue;
    if (activation->outputs[0]->type() != type || activation->outputs[0]->dims() != product->dims()) continue;
    MatrixMultiplyParams withActivation = params;
    withActivation.activation = epilogue;
    ir::Layer candidate(matmul->name(), withActivation);
    candidate.inputs = matmul->inputs;
    candidate.outputs = activation->outputs;
    if (!context.targetCanRun(candidate)) continue;
    matmul->mutableParams() = withActivation;
    takeOverOutput(matmul, activation);
    fused.push_back(activation);
  }
  if (fused.empty()) return false;
  context.log.push_back(concat("fuse_matmul_activation: fused ", fused.size(), " activations into MatMul epilogues"));
  net.removeLayers(fused);
  return true;
}

}  // namespace kiln::passes
