// fold_qdq: explicit quantization as integer compute. A Convolution or MatMul whose input is a per-tensor
// DequantizeLinear of an int8/uint8 tensor and whose weights are a DequantizeLinear of a constant int8
// tensor (symmetric, per tensor or per output channel) becomes one QuantizedConvolution /
// QuantizedMatrixMultiply reading the quantized tensors directly. It absorbs a following bias Add (MatMul;
// a float32 constant or a DequantizeLinear of an int32 constant, as quantizers write biases), Relu/Clip,
// and a per-tensor QuantizeLinear reading the result alone, which makes the output quantized (requantized
// in the epilogue); without that QuantizeLinear the output is real (float32). Q/DQ propagation: a
// DequantizeLinear -> MaxPool/Reshape/Transpose -> QuantizeLinear with equal scale and zero point runs the
// layer on the quantized tensor, which keeps chains in int8. The DequantizeLinear layers
// left unread are removed by eliminate_dead_layers. Runs before fold_constants, which would turn the weight
// DequantizeLinear into float32 constants; only when the target backend runs the fused layer.
#include <cmath>
#include <limits>
#include <optional>
#include <unordered_set>

#include "builder/passes/passes.h"
#include "builder/passes/patterns.h"
#include "core/error.h"

namespace kiln::passes {
namespace {

bool isQuantizedType(DataType t) { return t == DataType::kInt8 || t == DataType::kUInt8; }

// An integer constant's element i as int64 (int8, uint8, int32).
std::optional<int64_t> integerAt(const Weights& w, int64_t i) {
  switch (w.type) {
    case DataType::kInt8: return w.as<int8_t>()[i];
    case DataType::kUInt8: return w.as<uint8_t>()[i];
    case DataType::kInt32: return w.as<int32_t>()[i];
    default: return std::nullopt;
  }
}

// The scale and zero point of a Quantize/Dequantize layer with one constant float32 scale and an absent or
// one-element constant zero point; nullopt otherwise (per-axis, blocked, or computed at run time).
struct PerTensor {
  float scale = 1.f;
  int64_t zeroPoint = 0;
};
std::optional<PerTensor> perTensorQuantization(const ir::Layer* layer) {
  if (!layer || layer->inputs.size() < 2) return std::nullopt;
  int64_t blockSize = layer->type() == LayerType::kQuantize ? layer->as<QuantizeParams>().blockSize
                                                              : layer->as<DequantizeParams>().blockSize;
  const Weights* scale = floatConstant(layer->inputs[1], 1);
  if (blockSize != 0 || !scale) return std::nullopt;
  PerTensor q{scale->as<float>()[0], 0};
  if (!(q.scale > 0.f) || !std::isfinite(q.scale)) return std::nullopt;
  if (layer->inputs.size() > 2 && layer->inputs[2]) {
    const Weights* zp = constantWeights(layer->inputs[2]);
    if (!zp || zp->count() != 1 || !zp->data()) return std::nullopt;
    std::optional<int64_t> value = integerAt(*zp, 0);
    if (!value) return std::nullopt;
    q.zeroPoint = *value;
  }
  return q;
}

// The Dequantize producing the float32 tensor `t` from an int8/uint8 tensor, per tensor; else nullptr.
const ir::Layer* activationDequantize(const ir::Tensor* t) {
  const ir::Layer* dq = t ? t->producerLayer : nullptr;
  if (!dq || dq->type() != LayerType::kDequantize || t->type() != DataType::kFloat32) return nullptr;
  if (!isQuantizedType(dq->inputs[0]->type()) || !perTensorQuantization(dq)) return nullptr;
  return dq;
}

// Weights as a Dequantize of a constant int8 tensor with zero points 0 and constant float32 scales, one or
// one per index of `channelAxis`.
struct QuantizedWeights {
  ir::Tensor* values = nullptr;  // the int8 constant
  std::vector<float> scales;
};
std::optional<QuantizedWeights> quantizedWeights(const ir::Tensor* t, int64_t channelAxis) {
  const ir::Layer* dq = t ? t->producerLayer : nullptr;
  if (!dq || dq->type() != LayerType::kDequantize || dq->inputs.size() < 2 || t->type() != DataType::kFloat32)
    return std::nullopt;
  const auto& p = dq->as<DequantizeParams>();
  const Weights* w = constantWeights(dq->inputs[0]);
  const Weights* scale = constantWeights(dq->inputs[1]);
  if (p.blockSize != 0 || !w || w->type != DataType::kInt8 || !w->data() || !scale ||
      scale->type != DataType::kFloat32 || !scale->data())
    return std::nullopt;
  const int64_t rank = static_cast<int64_t>(w->shape.size());
  const int64_t axis = p.axis < 0 ? p.axis + rank : p.axis;
  const bool perTensor = scale->count() == 1;
  if (!perTensor && !(scale->shape.size() == 1 && axis == channelAxis && channelAxis < rank &&
                      scale->shape[0] == w->shape[static_cast<size_t>(channelAxis)]))
    return std::nullopt;
  if (dq->inputs.size() > 2 && dq->inputs[2]) {  // symmetric only: every zero point 0
    const Weights* zp = constantWeights(dq->inputs[2]);
    if (!zp || !zp->data() || zp->count() != scale->count()) return std::nullopt;
    for (int64_t i = 0; i < zp->count(); ++i)
      if (integerAt(*zp, i).value_or(1) != 0) return std::nullopt;
  }
  QuantizedWeights q{dq->inputs[0], std::vector<float>(scale->as<float>(), scale->as<float>() + scale->count())};
  for (float s : q.scales)
    if (!(s > 0.f) || !std::isfinite(s)) return std::nullopt;
  return q;
}

// A real bias of `channels` values: a float32 constant ([N] or [1, N]), or a Dequantize of an int32 (or
// int8) constant with constant scales (one, or one per channel) and zero points.
std::optional<std::vector<float>> realBias(const ir::Tensor* t, int64_t channels) {
  if (!t || t->type() != DataType::kFloat32) return std::nullopt;
  auto shapeFits = [&](const Dims& d) {
    return volume(d) == channels && (d.size() == 1 || (d.size() == 2 && d[0] == 1));
  };
  if (const Weights* w = floatConstant(t, channels)) {
    if (!shapeFits(w->shape)) return std::nullopt;
    return std::vector<float>(w->as<float>(), w->as<float>() + channels);
  }
  const ir::Layer* dq = t->producerLayer;
  if (!dq || dq->type() != LayerType::kDequantize || dq->inputs.size() < 2 || dq->as<DequantizeParams>().blockSize)
    return std::nullopt;
  const Weights* q = constantWeights(dq->inputs[0]);
  const Weights* scale = constantWeights(dq->inputs[1]);
  const Weights* zp = dq->inputs.size() > 2 && dq->inputs[2] ? constantWeights(dq->inputs[2]) : nullptr;
  if (!q || !q->data() || !shapeFits(q->shape) || !integerAt(*q, 0) || !scale || !scale->data() ||
      scale->type != DataType::kFloat32 || (scale->count() != 1 && scale->count() != channels))
    return std::nullopt;
  if (dq->inputs.size() > 2 && dq->inputs[2] && (!zp || !zp->data() || zp->count() != scale->count()))
    return std::nullopt;
  std::vector<float> bias(static_cast<size_t>(channels));
  for (int64_t i = 0; i < channels; ++i) {
    int64_t s = scale->count() == 1 ? 0 : i;
    int64_t zero = zp ? integerAt(*zp, s).value_or(0) : 0;
    bias[i] = static_cast<float>(static_cast<double>(*integerAt(*q, i) - zero) * scale->as<float>()[s]);
  }
  return bias;
}

// What follows a fused layer's float output: an optional Relu/Clip, then an optional per-tensor Quantize,
// each alone reading its input.
struct Epilogue {
  float outputMin = -std::numeric_limits<float>::infinity();
  float outputMax = std::numeric_limits<float>::infinity();
  ir::Layer* clampLayer = nullptr;
  ir::Layer* quantize = nullptr;
  PerTensor output;
  ir::Layer* last = nullptr;  // the layer whose output the fused layer takes over (nullptr: its own)
};
Epilogue followingEpilogue(const Consumers& consumers, ir::Tensor* out, float outputMin, float outputMax) {
  Epilogue e;
  e.outputMin = outputMin;
  e.outputMax = outputMax;
  ir::Layer* next = soleConsumer(consumers, out);
  if (next && next->type() == LayerType::kActivation && next->inputs.size() == 1) {
    const auto& a = next->as<ActivationParams>();
    if (a.type == ActivationType::kRelu || a.type == ActivationType::kClip) {
      float lo = a.type == ActivationType::kRelu ? 0.f : a.alpha;
      float hi = a.type == ActivationType::kRelu ? std::numeric_limits<float>::infinity() : a.beta;
      float newMin = std::max(e.outputMin, lo), newMax = std::min(e.outputMax, hi);
      if (newMin <= newMax) {
        e.outputMin = newMin;
        e.outputMax = newMax;
        e.clampLayer = e.last = next;
        out = next->outputs[0];
        next = soleConsumer(consumers, out);
      }
    }
  }
  if (next && next->type() == LayerType::kQuantize && next->inputs[0] == out &&
      isQuantizedType(next->as<QuantizeParams>().outputType)) {
    if (std::optional<PerTensor> q = perTensorQuantization(next)) {
      e.quantize = e.last = next;
      e.output = *q;
    }
  }
  return e;
}

// The pass's state: the network, its consumers, and what each fusion absorbed.
struct Folder {
  explicit Folder(PassContext& c) : context(c), net(c.network), consumers(c.network.consumers()) {}
  PassContext& context;
  ir::Network& net;
  Consumers consumers;
  std::vector<ir::Layer*> absorbed;
  std::unordered_set<const ir::Layer*> absorbedSet;
  int convolutions = 0, matrixMultiplies = 0, propagated = 0;

  void absorb(ir::Layer* layer) {
    if (layer && absorbedSet.insert(layer).second) absorbed.push_back(layer);
  }

  // Makes `layer` the fused layer `params` with `inputs` when the target runs it; `added` are the Constant
  // layers made for it (removed again when the target does not run it).
  bool replace(ir::Layer* layer, const LayerParams& params, const std::vector<ir::Tensor*>& inputs,
               const Epilogue& e, const std::vector<ir::Layer*>& added) {
    ir::Layer candidate(layer->name(), params);
    candidate.inputs = inputs;
    candidate.outputs = {e.last ? e.last->outputs[0] : layer->outputs[0]};
    if (!context.targetCanRun(candidate)) {
      if (!added.empty()) net.removeLayers(added);
      return false;
    }
    layer->mutableParams() = params;
    layer->inputs = inputs;
    if (e.last) takeOverOutput(layer, e.last);
    absorb(e.clampLayer);
    absorb(e.quantize);
    return true;
  }

  ir::Tensor* biasConstant(const std::vector<float>& bias, ir::Layer* before) {
    return addConstantBefore(net, Weights::copyOf(DataType::kFloat32, {static_cast<int64_t>(bias.size())}, bias.data()),
                             before->name() + "_bias", before);
  }

  void foldConvolution(ir::Layer* conv) {
    const auto& p = conv->as<ConvolutionParams>();
    if (p.channelsLast || (conv->inputs.size() > 3 && conv->inputs[3]) || conv->outputs[0]->type() != DataType::kFloat32)
      return;
    const ir::Layer* dqx = activationDequantize(conv->inputs[0]);
    std::optional<QuantizedWeights> w = quantizedWeights(conv->inputs[1], 0);
    if (!dqx || !w) return;
    const int64_t channels = w->values->dims()[0];
    std::optional<std::vector<float>> bias;
    if (conv->inputs.size() > 2 && conv->inputs[2]) {
      bias = realBias(conv->inputs[2], channels);
      if (!bias) return;
    }
    Epilogue e = followingEpilogue(consumers, conv->outputs[0], p.outputMin, p.outputMax);
    QuantizedConvolutionParams q;
    q.conv = p;
    q.conv.outputMin = e.outputMin;
    q.conv.outputMax = e.outputMax;
    const PerTensor in = *perTensorQuantization(dqx);
    q.inputScale = in.scale;
    q.inputZeroPoint = in.zeroPoint;
    q.weightScales = w->scales;
    q.outputType = e.quantize ? e.quantize->as<QuantizeParams>().outputType : DataType::kFloat32;
    if (e.quantize) {
      q.outputScale = e.output.scale;
      q.outputZeroPoint = e.output.zeroPoint;
    }
    std::vector<ir::Tensor*> inputs{dqx->inputs[0], w->values};
    std::vector<ir::Layer*> added;
    if (bias) {
      inputs.push_back(biasConstant(*bias, conv));
      added.push_back(inputs.back()->producerLayer);
    }
    if (replace(conv, q, inputs, e, added)) ++convolutions;
  }

  void foldMatrixMultiply(ir::Layer* mm) {
    const auto& p = mm->as<MatrixMultiplyParams>();
    if (p.transposeA || mm->outputs[0]->type() != DataType::kFloat32) return;
    const ir::Layer* dqa = activationDequantize(mm->inputs[0]);
    if (!dqa || dqa->inputs[0]->dims().size() < 2) return;
    std::optional<QuantizedWeights> w = quantizedWeights(mm->inputs[1], p.transposeB ? 0 : 1);
    if (!w || w->values->dims().size() != 2) return;
    const Dims& ws = w->values->dims();
    const int64_t channels = p.transposeB ? ws[0] : ws[1];
    // The bias: MatMul's own third input, or an Add of a constant that alone reads its output.
    std::optional<std::vector<float>> bias;
    ir::Layer* biasAdd = nullptr;
    ir::Tensor* out = mm->outputs[0];
    if (mm->inputs.size() > 2 && mm->inputs[2]) {
      bias = realBias(mm->inputs[2], channels);
      if (!bias) return;
    } else if (ir::Layer* add = soleConsumer(consumers, out); isElementWise(add, ElementWiseOp::kAdd)) {
      const Dims& outDims = out->dims();
      ir::Tensor* other = otherInput(add, out);
      if (other && other != out && add->outputs[0]->type() == DataType::kFloat32 && add->outputs[0]->dims() == outDims) {
        bias = realBias(other, channels);
        if (bias) {
          biasAdd = add;
          out = add->outputs[0];
        }
      }
    }
    Epilogue e = followingEpilogue(consumers, out, -std::numeric_limits<float>::infinity(),
                                   std::numeric_limits<float>::infinity());
    if (!e.last && biasAdd) e.last = biasAdd;
    QuantizedMatrixMultiplyParams q;
    const PerTensor in = *perTensorQuantization(dqa);
    q.inputScale = in.scale;
    q.inputZeroPoint = in.zeroPoint;
    q.weightScales = w->scales;
    q.outputMin = e.outputMin;
    q.outputMax = e.outputMax;
    q.outputType = e.quantize ? e.quantize->as<QuantizeParams>().outputType : DataType::kFloat32;
    if (e.quantize) {
      q.outputScale = e.output.scale;
      q.outputZeroPoint = e.output.zeroPoint;
    }
    std::vector<ir::Layer*> added;
    ir::Tensor* weights = w->values;
    if (p.transposeB) {  // [N, K] -> [K, N], once at build time
      const Weights& nk = *constantWeights(w->values);
      const int64_t n = ws[0], k = ws[1];
      std::vector<int8_t> kn(static_cast<size_t>(n * k));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < k; ++j) kn[j * n + i] = nk.as<int8_t>()[i * k + j];
      weights = addConstantBefore(net, Weights::copyOf(DataType::kInt8, {k, n}, kn.data()), mm->name() + "_weights", mm);
      added.push_back(weights->producerLayer);
    }
    std::vector<ir::Tensor*> inputs{dqa->inputs[0], weights};
    if (bias) {
      inputs.push_back(biasConstant(*bias, mm));
      added.push_back(inputs.back()->producerLayer);
    }
    if (!replace(mm, q, inputs, e, added)) return;
    absorb(biasAdd);
    ++matrixMultiplies;
  }

  // Q/DQ propagation: DQ -> MaxPool/Reshape/Transpose -> Q with the same scale, zero point and type runs the
  // layer on the quantized tensor itself (exact: these layers only move or select values, and Q(DQ(v)) = v).
  void propagateThrough(ir::Layer* layer) {
    if (layer->outputs.size() != 1 || layer->outputs[0]->isOutput) return;
    if (layer->type() == LayerType::kPooling && layer->as<PoolingParams>().type != PoolingType::kMax) return;
    const ir::Layer* dq = activationDequantize(layer->inputs[0]);
    ir::Layer* q = soleConsumer(consumers, layer->outputs[0]);
    if (!dq || !q || q->type() != LayerType::kQuantize || q->inputs[0] != layer->outputs[0] ||
        q->as<QuantizeParams>().outputType != dq->inputs[0]->type())
      return;
    std::optional<PerTensor> in = perTensorQuantization(dq), out = perTensorQuantization(q);
    if (!out || in->scale != out->scale || in->zeroPoint != out->zeroPoint) return;
    ir::Layer candidate(layer->name(), layer->params());
    candidate.inputs = layer->inputs;
    candidate.inputs[0] = dq->inputs[0];
    candidate.outputs = q->outputs;
    if (!context.targetCanRun(candidate)) return;
    layer->inputs[0] = dq->inputs[0];
    takeOverOutput(layer, q);
    absorb(q);
    ++propagated;
  }
};

bool isLayoutOnly(const ir::Layer& layer) {
  return layer.type() == LayerType::kPooling || layer.type() == LayerType::kReshape ||
         layer.type() == LayerType::kTranspose;
}

}  // namespace

bool foldQdq(PassContext& context) {
  ir::Network& net = context.network;
  if (!hasLayerOfType(net, LayerType::kDequantize)) return false;
  Folder folder(context);
  std::vector<ir::Layer*> candidates;  // before the pass adds Constant layers to the list
  for (auto& layer : net.layers())
    if (layer->type() == LayerType::kConvolution || layer->type() == LayerType::kMatrixMultiply ||
        isLayoutOnly(*layer))
      candidates.push_back(layer.get());
  for (ir::Layer* layer : candidates) {
    if (folder.absorbedSet.count(layer)) continue;
    if (layer->type() == LayerType::kConvolution) folder.foldConvolution(layer);
    else if (layer->type() == LayerType::kMatrixMultiply) folder.foldMatrixMultiply(layer);
    else folder.propagateThrough(layer);
  }
  if (folder.convolutions + folder.matrixMultiplies + folder.propagated == 0) return false;
  net.removeLayers(folder.absorbed);
  context.log.push_back(concat("fold_qdq: ", folder.convolutions, " quantized convolutions, ",
                               folder.matrixMultiplies, " quantized matrix multiplies, ", folder.propagated,
                               " layout layers run on quantized tensors"));
  return true;
}

}  // namespace kiln::passes
