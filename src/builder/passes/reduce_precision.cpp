// reduce_precision: runs float32 layers in float16 (or bfloat16) where their backend has a kernel for it.
//
// A layer is reduced when (1) it computes on device data (not host-evaluated shape arithmetic, not a
// Constant/Cast/Shape/index-producing or quantization layer), (2) it has a float32 data tensor, and
// (3) the backend that runs it at float32 (the device, else the CPU fallback) also accepts it with every
// float32 data input and output switched to the reduced type. Shape inputs (isShapeInput) keep their types.
// Sensitive layers (Softmax, Normalization, Reduce, LRN) are reduced too: their kernels accumulate in
// float32 and round only the result.
#include <unordered_map>
#include <unordered_set>

#include "backends/backend.h"
#include "builder/passes/passes.h"
#include "core/error.h"
#include "core/half.h"
#include "builder/passes/patterns.h"
#include "ir/shape_inference.h"

namespace kiln::passes {
namespace {

// Layers that always keep their types: they produce shapes, indices or quantized data, or convert
// explicitly (a Cast's output type is its contract).
bool keepsTypes(LayerType type) {
  switch (type) {
    case LayerType::kConstant: case LayerType::kCast: case LayerType::kShape: case LayerType::kConstantOfShape:
    case LayerType::kRange: case LayerType::kOneHot: case LayerType::kQuantize: case LayerType::kDequantize:
    case LayerType::kNonZero:
      return true;
    default:
      return false;
  }
}

bool isDataInput(const ir::Layer& layer, int index) { return !ir::isShapeInput(layer, index); }


// The backend that runs `layer` as typed now: the device when it can, else the fallback; null if neither.
const Backend* backendFor(const ir::Layer& layer, const PrecisionPolicy& policy) {
  if (policy.device && policy.device->unsupportedReason(layer).empty()) return policy.device;
  if (policy.fallback && policy.fallback->unsupportedReason(layer).empty()) return policy.fallback;
  return nullptr;
}

// Whether `layer` can run with its float32 data tensors in `reduced`, on the backend that runs it now.
bool canReduce(const ir::Layer& layer, const PrecisionPolicy& policy,
               const std::unordered_set<const ir::Tensor*>& hostValued) {
  if (keepsTypes(layer.type())) return false;
  for (auto* out : layer.outputs)
    if (hostValued.count(out)) return false;
  const Backend* backend = backendFor(layer, policy);
  if (!backend) return false;
  // A copy of the layer over stand-in tensors with the reduced types.
  std::vector<ir::Tensor> standIns;
  standIns.reserve(layer.inputs.size() + layer.outputs.size());
  bool changes = false;
  auto standIn = [&](const ir::Tensor* t, bool data) -> ir::Tensor* {
    if (!t) return nullptr;
    bool reduce = data && t->type() == DataType::kFloat32;
    changes = changes || reduce;
    standIns.emplace_back(t->name(), reduce ? policy.reduced : t->type(), t->dims());
    return &standIns.back();
  };
  ir::Layer trial(layer.name(), layer.params());
  trial.origin = layer.origin;
  for (int i = 0; i < layer.numInputs(); ++i) trial.inputs.push_back(standIn(layer.inputs[i], isDataInput(layer, i)));
  for (auto* out : layer.outputs) trial.outputs.push_back(standIn(out, true));
  return changes && backend->unsupportedReason(trial).empty();
}

Weights convertWeights(const Weights& w, DataType to) {
  Weights out = Weights::zeros(to, w.shape);
  auto* dst = reinterpret_cast<uint16_t*>(const_cast<uint8_t*>(out.bytes->data()));
  const float* src = w.as<float>();
  for (int64_t i = 0; i < w.count(); ++i) dst[i] = to == DataType::kFloat16 ? floatToHalf(src[i]) : floatToBfloat16(src[i]);
  return out;
}

const char* typeSuffix(DataType t) {
  switch (t) {
    case DataType::kFloat16: return "_fp16";
    case DataType::kBFloat16: return "_bf16";
    default: return "_fp32";
  }
}

}  // namespace

bool reducePrecision(PassContext& context) {
  PrecisionPolicy* policy = context.precision;
  if (!policy || policy->reduced == DataType::kFloat32) return false;
  KILN_CHECK(policy->reduced == DataType::kFloat16 || policy->reduced == DataType::kBFloat16, kInternal,
             "reduce_precision: reduced type must be float16 or bfloat16");
  ir::Network& net = context.network;
  auto hostValued = hostValuedTensors(net);
  std::unordered_set<const ir::Layer*> reduced;
  for (auto& layer : net.layers()) {
    // Per-layer precisions (BuilderConfig::layerPrecisions): a layer pinned to another type keeps its types;
    // one pinned to the reduced type that cannot run in it (and is not reduced yet) is refused or warned of.
    auto pin = policy->layerPrecisions.find(layer->name());
    bool pinned = pin != policy->layerPrecisions.end();
    if (pinned && pin->second != policy->reduced) continue;
    if (!pinned && policy->onlyPinnedLayers) continue;
    if (canReduce(*layer, *policy, hostValued)) {
      reduced.insert(layer.get());
      continue;
    }
    bool hasFloat32 = false;
    for (auto* t : layer->outputs) hasFloat32 = hasFloat32 || t->type() == DataType::kFloat32;
    if (!pinned || !hasFloat32 || policy->constraints == PrecisionConstraints::kNone) continue;
    std::string why = concat(layer->describe(), " has no ", dataTypeName(policy->reduced), " kernel");
    KILN_CHECK(policy->constraints != PrecisionConstraints::kObey, kUnsupported, why,
               " (precision constraints: obey)");
    policy->warnings.push_back(concat(why, ": it stays in float32"));
  }
  if (reduced.empty()) return false;

  auto consumers = net.consumers();
  std::unordered_map<ir::Tensor*, ir::Tensor*> reducedCopy;  // float32 tensor -> its reduced version
  std::unordered_map<ir::Tensor*, ir::Tensor*> float32Copy;  // reduced tensor -> its float32 version
  std::unordered_set<ir::Tensor*> switched;                  // outputs of reduced layers, now reduced
  int casts = 0, constantsConverted = 0;

  auto addCast = [&](ir::Tensor* from, DataType to, ir::Layer* before) {
    CastParams params;
    params.to = to;
    std::string base = from->name();
    ir::Layer* cast = net.addLayerRaw(params, {from}, 1, net.uniqueName(base + "_cast" + typeSuffix(to)));
    ir::Tensor* out = cast->outputs[0];
    out->setType(to);
    out->setDims(from->dims());
    if (before) net.moveLayerBefore(cast, before);
    ++casts;
    return out;
  };
  // The reduced version of float32 tensor `t`, read by reduced layer `reader`.
  auto reducedVersion = [&](ir::Tensor* t, ir::Layer* reader) {
    auto found = reducedCopy.find(t);
    if (found != reducedCopy.end()) return found->second;
    ir::Layer* producer = t->producerLayer;
    ir::Tensor* result = nullptr;
    if (producer && producer->type() == LayerType::kConstant) {
      // Converted once here. In place when every reader is a reduced layer reading data.
      bool onlyReducedReaders = !t->isOutput;
      for (auto& [consumer, index] : consumers[t])
        if (!reduced.count(consumer) || !isDataInput(*consumer, index)) onlyReducedReaders = false;
      Weights converted = convertWeights(producer->as<ConstantParams>().weights, policy->reduced);
      if (onlyReducedReaders) {
        producer->as<ConstantParams>().weights = converted;
        t->setType(policy->reduced);
        result = t;
      } else {
        ir::Layer* copy = net.addLayerRaw(ConstantParams{converted}, {}, 1,
                                          net.uniqueName(producer->name() + typeSuffix(policy->reduced)));
        copy->outputs[0]->setType(policy->reduced);
        copy->outputs[0]->setDims(t->dims());
        net.moveLayerBefore(copy, reader);
        result = copy->outputs[0];
      }
      ++constantsConverted;
    } else {
      result = addCast(t, policy->reduced, reader);
    }
    reducedCopy[t] = result;
    return result;
  };
  auto float32Version = [&](ir::Tensor* t, ir::Layer* reader) {
    auto found = float32Copy.find(t);
    if (found != float32Copy.end()) return found->second;
    return float32Copy[t] = addCast(t, DataType::kFloat32, reader);
  };

  std::vector<ir::Layer*> order;
  for (auto& layer : net.layers()) order.push_back(layer.get());
  for (ir::Layer* layer : order) {
    bool isReduced = reduced.count(layer) > 0;
    for (int i = 0; i < layer->numInputs(); ++i) {
      ir::Tensor*& in = layer->inputs[i];
      if (!in) continue;
      bool wantsReduced = isReduced && isDataInput(*layer, i);
      bool readsShapeOnly = layer->type() == LayerType::kShape;  // any type will do: no Cast back
      if (switched.count(in) && !wantsReduced && !readsShapeOnly) in = float32Version(in, layer);
      else if (wantsReduced && in->type() == DataType::kFloat32) in = reducedVersion(in, layer);
    }
    if (!isReduced) continue;
    for (ir::Tensor* out : layer->outputs)
      if (out->type() == DataType::kFloat32) {
        out->setType(policy->reduced);
        switched.insert(out);
      }
  }
  // Network outputs keep their names and types: a Cast back at the end takes over the name.
  for (ir::Tensor*& out : net.mutableOutputs()) {
    if (!switched.count(out)) continue;
    std::string name = out->name();
    ir::Tensor* reducedOut = out;
    reducedOut->setName(net.uniqueName(name + typeSuffix(policy->reduced)));
    auto existing = float32Copy.find(reducedOut);  // a float32 reader already has a Cast back: share it
    ir::Tensor* restored =
        existing != float32Copy.end() ? existing->second : addCast(reducedOut, DataType::kFloat32, nullptr);
    restored->setName(name);
    reducedOut->isOutput = false;
    restored->isOutput = true;
    out = restored;
  }
  policy->castsInserted += casts;
  context.log.push_back(concat("reduce_precision: ", reduced.size(), " layers to ", dataTypeName(policy->reduced), ", ",
                               casts, " casts inserted, ", constantsConverted, " constants converted"));
  return true;
}

}  // namespace kiln::passes
