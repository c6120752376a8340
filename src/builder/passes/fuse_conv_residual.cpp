// fuse_conv_residual: Add(conv(x), z) becomes one Convolution with the residual input z (index 3),
// y = conv(x) + bias + z, so that a following activation (fuse_conv_activation) joins the same epilogue.
// Only when: the convolution has no activation, clamp or residual yet (they apply after the sum); the Add
// alone reads its output; z has exactly the output's shape and type (no broadcast: dims unknown at build
// time, such as a dynamic batch, must be copies of one same dim, see DimOrigins); z is computed
// before the convolution in the network's order (when both Add operands are convolutions, the later one
// takes the other as its residual); and the target backend runs the fused layer.
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"

namespace kiln::passes {
namespace {

// Where dim `d` of a tensor comes from: the (tensor, dim) it is copied from through layers that keep it,
// so that two dims unknown at build time (a dynamic batch) are known equal at run time when their origins
// are the same. Layers followed: element-wise-like layers keep every dim of same-rank inputs; convolution
// and pooling keep the batch (dim 0). Anything else is its own origin.
class DimOrigins {
 public:
  using Origin = std::pair<const ir::Tensor*, size_t>;

  Origin of(const ir::Tensor* t, size_t d) {
    auto key = std::make_pair(t, d);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    Origin origin = key;
    const ir::Layer* layer = t->producerLayer;
    if (layer && layer->numOutputs() == 1 && !layer->inputs.empty() && layer->inputs[0]) {
      switch (layer->type()) {
        case LayerType::kActivation:
        case LayerType::kUnary:
        case LayerType::kCast:
        case LayerType::kIdentity:
          if (sameRank(layer->inputs[0], t)) origin = of(layer->inputs[0], d);
          break;
        case LayerType::kConvolution:
        case LayerType::kPooling:
          if (d == 0 && sameRank(layer->inputs[0], t)) origin = of(layer->inputs[0], 0);
          break;
        case LayerType::kElementWise: origin = elementWiseOrigin(*layer, t, d).value_or(key); break;
        default: break;
      }
    }
    memo_[key] = origin;
    return origin;
  }

  // Dims equal where known, and each unknown dim of the same origin.
  bool sameShapeAtRunTime(const ir::Tensor* a, const ir::Tensor* b) {
    if (a->dims() != b->dims()) return false;
    for (size_t d = 0; d < a->dims().size(); ++d)
      if (a->dims()[d] < 0 && of(a, d) != of(b, d)) return false;
    return true;
  }

 private:
  static bool sameRank(const ir::Tensor* a, const ir::Tensor* b) { return a->dims().size() == b->dims().size(); }

  // An element-wise output's dim d is its inputs' common origin, inputs whose dim d is a static 1
  // (broadcast) aside.
  std::optional<Origin> elementWiseOrigin(const ir::Layer& layer, const ir::Tensor* out, size_t d) {
    std::optional<Origin> common;
    for (const ir::Tensor* in : layer.inputs) {
      if (!in || !sameRank(in, out)) return std::nullopt;
      if (in->dims()[d] == 1 && out->dims()[d] != 1) continue;
      Origin o = of(in, d);
      if (common && *common != o) return std::nullopt;
      common = o;
    }
    return common;
  }

  std::map<Origin, Origin> memo_;
};

}  // namespace

bool fuseConvResidual(PassContext& context) {
  ir::Network& net = context.network;
  if (!hasLayerOfType(net, LayerType::kConvolution)) return false;
  auto consumers = net.consumers();
  std::unordered_map<const ir::Layer*, size_t> position;
  for (size_t i = 0; i < net.layers().size(); ++i) position[net.layers()[i].get()] = i;
  std::vector<ir::Layer*> fused;
  DimOrigins origins;
  for (auto& owned : net.layers()) {
    ir::Layer* add = owned.get();
    if (!isElementWise(add, ElementWiseOp::kAdd) || add->inputs[0] == add->inputs[1]) continue;
    for (int operand = 0; operand < 2; ++operand) {
      ir::Tensor* convOut = add->inputs[operand];
      ir::Tensor* z = add->inputs[1 - operand];
      ir::Layer* conv = convOut ? convOut->producerLayer : nullptr;
      if (!conv || !z || conv->type() != LayerType::kConvolution || soleConsumer(consumers, convOut) != add) continue;
      if (convOut->type() != DataType::kFloat32 || z->type() != convOut->type()) continue;
      if (!origins.sameShapeAtRunTime(convOut, z) || !origins.sameShapeAtRunTime(convOut, add->outputs[0])) continue;
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
