// fuse_conv_residual: Add(conv(x), z) becomes one Convolution with the residual input z (index 3),
// y = conv(x) + bias + z, so that a following activation (fuse_conv_activation) joins the same epilogue.
// Only when: the convolution has no activation, clamp or residual yet (they apply after the sum); the Add
// alone reads its output; z has exactly the output's static shape and type (no broadcast); z is computed
// before the convolution in the network's order (when both Add operands are convolutions, the later one
// takes the other as its residual); and the target backend runs the fused layer.
#include <unordered_map>

#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"

namespace kiln::passes {
namespace {

bool staticEqualShapes(const ir::Tensor* a, const ir::Tensor* b) {
  if (a->dims() != b->dims()) return false;
  for (int64_t d : a->dims())
    if (d < 0) return false;
  return true;
}

}  // namespace

bool fuseConvResidual(PassContext& context) {
  ir::Network& net = context.network;
  if (!hasLayerOfType(net, LayerType::kConvolution)) return false;
  auto consumers = net.consumers();
  std::unordered_map<const ir::Layer*, size_t> position;
  for (size_t i = 0; i < net.layers().size(); ++i) position[net.layers()[i].get()] = i;
  std::vector<ir::Layer*> fused;
  for (auto& owned : net.layers()) {
    ir::Layer* add = owned.get();
    if (!isElementWise(add, ElementWiseOp::kAdd) || add->inputs[0] == add->inputs[1]) continue;
    for (int operand = 0; operand < 2; ++operand) {
      ir::Tensor* convOut = add->inputs[operand];
      ir::Tensor* z = add->inputs[1 - operand];
      ir::Layer* conv = convOut ? convOut->producerLayer : nullptr;
      if (!conv || !z || conv->type() != LayerType::kConvolution || soleConsumer(consumers, convOut) != add) continue;
      if (convOut->type() != DataType::kFloat32 || z->type() != convOut->type()) continue;
      if (!staticEqualShapes(convOut, z) || !staticEqualShapes(convOut, add->outputs[0])) continue;
      const auto& params = conv->as<ConvolutionParams>();
      if (params.hasActivationOrClamp() || (conv->inputs.size() > 3 && conv->inputs[3])) continue;
      // z must exist when the convolution runs: a network input, or produced earlier.
      if (z->producerLayer && position.at(z->producerLayer) > position.at(conv)) continue;
      ir::Layer candidate(conv->name(), params);
      candidate.inputs = conv->inputs;
      candidate.inputs.resize(4, nullptr);
      candidate.inputs[3] = z;
      candidate.outputs = conv->outputs;
      if (!context.targetCanRun(candidate)) continue;
      conv->inputs = candidate.inputs;
      takeOverOutput(conv, add);
      fused.push_back(add);
      break;
    }
  }
  if (fused.empty()) return false;
  context.log.push_back(concat("fuse_conv_residual: fused ", fused.size(), " residual Adds into convolutions"));
  net.removeLayers(fused);
  return true;
}

}  // namespace kiln::passes
