// fold_batchnorm_into_conv: Convolution -> BatchNormalization (inference statistics) becomes one
// Convolution with w'[m] = w[m] * s[m] and b'[m] = (b[m] - mean[m]) * s[m] + beta[m], where
// s = scale / sqrt(var + epsilon). float32 constants only; new constants leave shared ones untouched.
#include <cmath>
#include <unordered_set>

#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"

namespace kiln::passes {

bool foldBatchNormIntoConv(PassContext& context) {
  ir::Network& net = context.network;
  if (!hasLayerOfType(net, LayerType::kConvolution)) return false;
  auto consumers = net.consumers();
  std::vector<ir::Layer*> folded;
  std::vector<ir::Layer*> layers;
  for (auto& l : net.layers()) layers.push_back(l.get());
  for (ir::Layer* bn : layers) {
    if (bn->type() != LayerType::kNormalization) continue;
    if (bn->as<NormalizationParams>().type != NormalizationType::kBatch || bn->inputs.size() != 5) continue;
    ir::Tensor* convOut = bn->inputs[0];
    ir::Layer* conv = convOut ? convOut->producerLayer : nullptr;
    if (!conv || conv->type() != LayerType::kConvolution || convOut->isOutput) continue;
    if (consumers[convOut].size() != 1 || conv->inputs.size() < 2 || conv->inputs.size() > 3) continue;
    // A fused epilogue (activation, clamp; a residual is input 3) comes after the bias: BatchNorm cannot fold in.
    if (conv->as<ConvolutionParams>().hasActivationOrClamp()) continue;
    const ir::Tensor* wTensor = conv->inputs[1];
    const Dims& wShape = wTensor->dims();
    if (wShape.size() < 3 || wShape[0] <= 0) continue;
    const int64_t M = wShape[0];
    const Weights* w = floatConstant(wTensor, volume(wShape));
    const ir::Tensor* biasTensor = conv->inputs.size() > 2 ? conv->inputs[2] : nullptr;
    const Weights* bias = biasTensor ? floatConstant(biasTensor, M) : nullptr;
    const Weights* scale = floatConstant(bn->inputs[1], M);
    const Weights* beta = floatConstant(bn->inputs[2], M);
    const Weights* mean = floatConstant(bn->inputs[3], M);
    const Weights* var = floatConstant(bn->inputs[4], M);
    if (!w || (biasTensor && !bias) || !scale || !beta || !mean || !var) continue;

    const float epsilon = bn->as<NormalizationParams>().epsilon;
    const int64_t perChannel = volume(wShape) / M;
    Weights newW = Weights::zeros(DataType::kFloat32, wShape);
    Weights newB = Weights::zeros(DataType::kFloat32, {M});
    auto* wOut = reinterpret_cast<float*>(const_cast<uint8_t*>(newW.bytes->data()));
    auto* bOut = reinterpret_cast<float*>(const_cast<uint8_t*>(newB.bytes->data()));
    for (int64_t m = 0; m < M; ++m) {
      // In double: the folded constants are as exact as float32 allows.
      double s = static_cast<double>(scale->as<float>()[m]) / std::sqrt(static_cast<double>(var->as<float>()[m]) + epsilon);
      for (int64_t i = 0; i < perChannel; ++i)
        wOut[m * perChannel + i] = static_cast<float>(w->as<float>()[m * perChannel + i] * s);
      double b = bias ? bias->as<float>()[m] : 0.0;
      bOut[m] = static_cast<float>((b - mean->as<float>()[m]) * s + beta->as<float>()[m]);
    }
    ir::Tensor* wFolded = addConstantBefore(net, std::move(newW), conv->name() + "_w_bn", conv);
    ir::Tensor* bFolded = addConstantBefore(net, std::move(newB), conv->name() + "_b_bn", conv);
    conv->inputs.resize(3);
    conv->inputs[1] = wFolded;
    conv->inputs[2] = bFolded;
    takeOverOutput(conv, bn);
    folded.push_back(bn);
  }
  if (folded.empty()) return false;
  context.log.push_back(concat("fold_batchnorm_into_conv: folded ", folded.size(), " BatchNormalization layers"));
  net.removeLayers(folded);
  return true;
}

}  // namespace kiln::passes
