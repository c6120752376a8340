#include <algorithm>

#include "backends/host_eval.h"
#include "builder/passes/passes.h"
#include "core/checked_math.h"
#include "core/error.h"
#include "ir/layers/shape_value.h"
#include "ir/shape_inference.h"

namespace kiln::passes {

// Folding stops at outputs larger than this, so plans do not balloon (e.g. a large ConstantOfShape).
constexpr int64_t kMaxFoldedBytes = 64 << 20;

static bool isConstant(const ir::Tensor* t) {
  return t && t->producerLayer && t->producerLayer->type() == LayerType::kConstant;
}

bool foldConstants(PassContext& context) {
  ir::Network& net = context.network;
  std::vector<ir::Layer*> folded;
  int count = 0;
  // Iterate over a snapshot: new Constant layers are inserted while we go.
  std::vector<ir::Layer*> layers;
  for (auto& l : net.layers()) layers.push_back(l.get());
  for (ir::Layer* layer : layers) {
    // Random draws, control flow, sequences and optionals stay (see producesRunTimeValues).
    if (layer->type() == LayerType::kConstant || ir::producesRunTimeValues(*layer)) continue;
    // A Shape layer needs only the dims it reports, known (ir::shapeValueKnown); other layers need every
    // input constant.
    std::vector<HostTensor> shapeOnly;
    std::vector<const HostTensor*> inputs;
    bool foldable = !layer->inputs.empty();
    if (layer->type() == LayerType::kShape) {
      const ir::Tensor* in = layer->inputs[0];
      foldable = ir::shapeValueKnown(*layer, in->dims());
      shapeOnly.push_back(Weights::shapeOnly(in->type(), in->dims()));
      inputs.push_back(&shapeOnly[0]);
    } else {
      for (auto* in : layer->inputs) {
        if (in && !isConstant(in)) foldable = false;
        inputs.push_back(in && isConstant(in) ? &in->producerLayer->as<ConstantParams>().weights : nullptr);
      }
    }
    if (!foldable) continue;
    bool small = true;
    for (auto* out : layer->outputs) {
      int64_t bytes = checkedByteSize(out->type(), out->dims());  // -1: unknown (size seen when run) or overflow
      bool allKnown = std::all_of(out->dims().begin(), out->dims().end(), [](int64_t d) { return d >= 0; });
      if (allKnown && (bytes < 0 || bytes > kMaxFoldedBytes)) small = false;
    }
    if (!small) continue;
    std::vector<HostTensor> values;
    try {
      values = host::evaluateLayer(*layer, inputs);
    } catch (const Error&) {
      continue;  // leave it to run time, where the error is reported with real inputs
    }
    net.replaceByConstants(layer, values, [&] { return net.uniqueName(layer->name() + "_folded"); });
    folded.push_back(layer);
    ++count;
  }
  if (!folded.empty()) {
    net.removeLayers(folded);
    context.log.push_back(concat("fold_constants: folded ", count, " layers into constants"));
  }
  return !folded.empty();
}

}  // namespace kiln::passes
