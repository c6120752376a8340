// fuse_matmul_bias: MatMul -> Add(bias) becomes one MatrixMultiply with a bias input (added to every
// output row in the GEMM epilogue: cuBLASLt's bias epilogue on the GPU, the packed GEMM's column bias
// on the CPU), as Linear/Gemm layers export. The bias is a constant with N values along the output's
// last dim (shape [N] or [1, ..., 1, N]), the Add the MatMul output's only reader, and the target
// backend runs the fused layer.
#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"

namespace kiln::passes {

bool fuseMatMulBias(PassContext& context) {
  ir::Network& net = context.network;
  Consumers consumers = net.consumers();
  std::vector<ir::Layer*> fused;
  std::vector<ir::Layer*> layers;
  for (auto& l : net.layers()) layers.push_back(l.get());
  for (ir::Layer* matmul : layers) {
    if (matmul->type() != LayerType::kMatrixMultiply || matmul->inputs.size() != 2) continue;
    // An Add after an epilogue activation is not the epilogue's bias (that comes before the activation).
    if (matmul->as<MatrixMultiplyParams>().activation != MatMulActivation::kNone) continue;
    ir::Tensor* product = matmul->outputs[0];
    const Dims& out = product->dims();
    // A 1-D right operand drops N from the output: nothing to add a row bias to.
    if (out.empty() || matmul->inputs[1]->dims().size() < 2 || out.back() <= 0) continue;
    if (product->type() != DataType::kFloat32 && product->type() != DataType::kFloat16) continue;
    ir::Layer* add = soleConsumer(consumers, product);
    if (!isElementWise(add, ElementWiseOp::kAdd)) continue;
    ir::Tensor* biasTensor = otherInput(add, product);
    const Weights* bias = constantWeights(biasTensor);
    const int64_t N = out.back();
    if (!bias || bias->type != product->type() || bias->count() != N || bias->shape.size() > out.size()) continue;
    if (add->outputs[0]->dims() != out) continue;  // the bias must not broadcast the product
    ir::Layer candidate(matmul->name(), matmul->params());
    candidate.inputs = {matmul->inputs[0], matmul->inputs[1], biasTensor};
    candidate.outputs = add->outputs;
    // Checked with the bias as [N] (its shape after the fusion).
    ir::Tensor flatBias(biasTensor->name(), bias->type, {N});
    candidate.inputs[2] = &flatBias;
    if (!context.targetCanRun(candidate)) continue;
    // A [N] copy (the values are shared) placed before the MatMul; the old constant dies if unused.
    Weights flat = *bias;
    flat.shape = {N};
    matmul->inputs.push_back(addConstantBefore(net, std::move(flat), matmul->name() + "_bias", matmul));
    takeOverOutput(matmul, add);
    fused.push_back(add);
  }
  if (fused.empty()) return false;
  context.log.push_back(concat("fuse_matmul_bias: fused ", fused.size(), " bias Adds into MatMul epilogues"));
  net.removeLayers(fused);
  return true;
}

}  // namespace kiln::passes
