// quantize_implicit: turns calibrated scales into Q/DQ pairs, the layout an explicitly quantized (QDQ) model has:
//
//   x -> Quantize(scale_x, 0) -> Dequantize(scale_x, 0) -> Conv/MatMul <- Dequantize(s_w, 0) <- W_int8 (constant)
//
// Activations get the per-tensor scale calibration measured (found under the tensor's name, or the name of
// the tensor it is a Transpose/Reshape of); constant weights get scales from their own values: int8 per
// output channel (Convolution axis 0, MatrixMultiply B along N), fp8 per tensor, and are quantized here by
// the Quantize kernel (fold_qdq, first in the next round, wants int8 constants). Until fold_qdq turns the
// pattern into quantized layers it computes in float32 with the quantization error (fake quantization).
// A layer with an input from a Dequantize is quantized (by this pass in an earlier round, or
// by the model) and left alone.
#include <cmath>
#include <unordered_map>

#include "backends/host_eval.h"
#include "builder/calibration/calibration.h"
#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"

namespace kiln::passes {
namespace {

bool isDequantized(const ir::Tensor* t) {
  return t && t->producerLayer && t->producerLayer->type() == LayerType::kDequantize;
}

// The calibrated scale of `t`, or of a tensor it is a Transpose/Reshape of; 0 when none has one.
float activationScale(const ir::Tensor* t, const std::map<std::string, float>& scales) {
  while (t) {
    auto found = scales.find(t->name());
    if (found != scales.end()) return found->second;
    const ir::Layer* producer = t->producerLayer;
    bool view = producer && (producer->type() == LayerType::kTranspose || producer->type() == LayerType::kReshape);
    t = view ? producer->inputs[0] : nullptr;
  }
  return 0.f;
}

// Per-channel (or per-tensor: axis < 0) scales of constant float32 weights: absmax / qmax; 1 for an all-zero
// channel (any scale quantizes zeros exactly).
std::vector<float> weightScales(const Weights& w, int64_t axis, float qmax) {
  const float* v = w.as<float>();
  int64_t channels = axis < 0 ? 1 : w.shape[axis];
  int64_t inner = 1;
  for (size_t d = axis < 0 ? 0 : axis + 1; d < w.shape.size(); ++d) inner *= w.shape[d];
  std::vector<float> absMax(channels, 0.f);
  for (int64_t i = 0; i < w.count(); ++i) {
    int64_t c = axis < 0 ? 0 : (i / inner) % channels;
    float a = std::fabs(v[i]);
    if (std::isfinite(a) && a > absMax[c]) absMax[c] = a;
  }
  for (float& s : absMax) s = s > 0.f ? s / qmax : 1.f;
  return absMax;
}

// The per-channel axis of a constant weight read at `index` of `layer`, -1 for per-tensor.
int64_t weightAxis(const ir::Layer& layer, int index, const Dims& shape, DataType type) {
  if (type == DataType::kFP8E4M3) return -1;  // fp8 GEMMs and convolutions take per-tensor scales
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (layer.type() == LayerType::kConvolution) return index == 1 && rank >= 1 ? 0 : -1;
  if (layer.type() == LayerType::kMatrixMultiply && index == 1 && rank >= 2)
    return layer.as<MatrixMultiplyParams>().transposeB ? rank - 2 : rank - 1;
  return -1;
}

class Quantizer {
 public:
  Quantizer(ir::Network& net, DataType type) : net_(net), type_(type) {}

  // Quantize -> Dequantize of activation `x` with its per-tensor scale, placed before `reader`; one pair
  // per tensor, shared by its quantized readers.
  ir::Tensor* activation(ir::Tensor* x, float scale, ir::Layer* reader) {
    auto found = activations_.find(x);
    if (found != activations_.end()) return found->second;
    ir::Tensor* scaleTensor = nullptr;
    ir::Tensor* zeroPoint = nullptr;
    ir::Layer* quantize = addQuantize(x, {scale}, -1, reader, &scaleTensor, &zeroPoint);
    return activations_[x] = addDequantize(quantize->outputs[0], x->name(), scaleTensor, zeroPoint, -1, reader);
  }

  // Constant weights `w` quantized at build time (by the Quantize kernel, as fold_constants would) into a
  // constant of the quantized type read by a Dequantize: the form quantizers write and fold_qdq folds.
  ir::Tensor* weights(ir::Tensor* w, const std::vector<float>& scales, int64_t axis, ir::Layer* reader) {
    ir::Tensor* scaleTensor = nullptr;
    ir::Tensor* zeroPoint = nullptr;
    ir::Layer* quantize = addQuantize(w, scales, axis, reader, &scaleTensor, &zeroPoint);
    std::vector<const HostTensor*> inputs;
    for (ir::Tensor* in : quantize->inputs) inputs.push_back(constantWeights(in));
    ir::Tensor* quantized = quantize->outputs[0];
    net_.replaceByConstants(quantize, host::evaluateLayer(*quantize, inputs),
                            [&] { return net_.uniqueName(w->name() + "_" + dataTypeName(type_)); });
    folded_.push_back(quantize);
    return addDequantize(quantized, w->name(), scaleTensor, zeroPoint, axis, reader);
  }

  // The Quantize layers replaced by constants, to remove.
  const std::vector<ir::Layer*>& folded() const { return folded_; }

 private:
  ir::Layer* addQuantize(ir::Tensor* x, const std::vector<float>& scales, int64_t axis, ir::Layer* reader,
                         ir::Tensor** scale, ir::Tensor** zeroPoint) {
    Dims scaleShape = axis < 0 ? Dims{} : Dims{static_cast<int64_t>(scales.size())};
    *scale = addConstantBefore(net_, Weights::copyOf(DataType::kFloat32, scaleShape, scales.data()),
                               x->name() + "_scale", reader);
    *zeroPoint = addConstantBefore(net_, Weights::zeros(type_, scaleShape), x->name() + "_zero_point", reader);
    QuantizeParams q;
    q.axis = axis < 0 ? 1 : axis;
    q.outputType = type_;
    ir::Layer* quantize = net_.addLayerRaw(q, {x, *scale, *zeroPoint}, 1, net_.uniqueName(x->name() + "_quantize"));
    quantize->origin = reader->origin;
    quantize->outputs[0]->setType(type_);
    quantize->outputs[0]->setDims(x->dims());
    net_.moveLayerBefore(quantize, reader);
    return quantize;
  }

  // Dequantize of `q`, the quantized `base`.
  ir::Tensor* addDequantize(ir::Tensor* q, const std::string& base, ir::Tensor* scale, ir::Tensor* zeroPoint,
                            int64_t axis, ir::Layer* reader) {
    DequantizeParams dq;
    dq.axis = axis < 0 ? 1 : axis;
    ir::Layer* dequantize = net_.addLayerRaw(dq, {q, scale, zeroPoint}, 1, net_.uniqueName(base + "_dequantize"));
    dequantize->origin = reader->origin;
    dequantize->outputs[0]->setType(DataType::kFloat32);
    dequantize->outputs[0]->setDims(q->dims());
    net_.moveLayerBefore(dequantize, reader);
    return dequantize->outputs[0];
  }

  ir::Network& net_;
  DataType type_;
  std::unordered_map<ir::Tensor*, ir::Tensor*> activations_;
  std::vector<ir::Layer*> folded_;
};

}  // namespace

bool quantizeImplicit(PassContext& context) {
  PrecisionPolicy* policy = context.precision;
  if (!policy || policy->quantizationScales.empty()) return false;
  const DataType type = policy->quantizedType;
  KILN_CHECK(type == DataType::kInt8 || type == DataType::kFP8E4M3, kInternal,
             "quantize_implicit: the quantized type must be int8 or float8e4m3");
  const float qmax = calibration::quantizedMax(type);
  ir::Network& net = context.network;
  Quantizer quantizer(net, type);
  std::vector<ir::Layer*> layers;
  for (auto& l : net.layers()) layers.push_back(l.get());
  int count = 0;
  for (ir::Layer* layer : layers) {
    std::vector<int> indices = calibration::quantizedInputs(*layer);
    auto pinned = policy->layerPrecisions.find(layer->name());
    bool requested = pinned != policy->layerPrecisions.end();
    if (requested && pinned->second != type) continue;  // pinned to a float type (or the other quantized one)
    if (indices.empty()) {
      KILN_CHECK(!requested || policy->constraints != PrecisionConstraints::kObey, kUnsupported, layer->describe(),
                 " is asked to run in ", dataTypeName(type), ", but only Convolution and MatrixMultiply layers can");
      if (requested && policy->constraints == PrecisionConstraints::kPrefer)
        policy->warnings.push_back(concat(layer->describe(), " stays in float: only Convolution and MatrixMultiply ",
                                          "layers run in ", dataTypeName(type)));
      continue;
    }
    bool quantized = false;
    for (int index : indices) quantized = quantized || (index < layer->numInputs() && isDequantized(layer->inputs[index]));
    if (quantized) continue;
    // Why the layer cannot be quantized; empty when it can.
    std::string why;
    std::vector<float> activationScales(indices.size(), 0.f);
    for (size_t k = 0; k < indices.size() && why.empty(); ++k) {
      const ir::Tensor* in = layer->inputs[indices[k]];
      if (!in || in->type() != DataType::kFloat32) {
        why = concat("input ", indices[k], in ? concat(" is ", dataTypeName(in->type())) : " is missing",
                     ", not float32");
      } else if (!constantWeights(in)) {
        activationScales[k] = activationScale(in, policy->quantizationScales);
        if (activationScales[k] <= 0.f) why = concat("no calibrated scale for tensor '", in->name(), "'");
      }
    }
    if (!why.empty()) {
      KILN_CHECK(!requested || policy->constraints != PrecisionConstraints::kObey, kUnsupported, layer->describe(),
                 " is asked to run in ", dataTypeName(type), ", but ", why);
      if (requested && policy->constraints == PrecisionConstraints::kPrefer)
        policy->warnings.push_back(concat(layer->describe(), " stays in float: ", why));
      continue;
    }
    for (size_t k = 0; k < indices.size(); ++k) {
      ir::Tensor*& in = layer->inputs[indices[k]];
      if (const Weights* w = constantWeights(in)) {
        int64_t axis = weightAxis(*layer, indices[k], w->shape, type);
        in = quantizer.weights(in, weightScales(*w, axis, qmax), axis, layer);
      } else {
        in = quantizer.activation(in, activationScales[k], layer);
      }
    }
    ++count;
  }
  if (count == 0) return false;
  net.removeLayers(quantizer.folded());
  policy->quantizedLayers += count;
  context.log.push_back(concat("quantize_implicit: ", count, " layers get ", dataTypeName(type),
                               " Quantize/Dequantize inputs"));
  return true;
}

}  // namespace kiln::passes
