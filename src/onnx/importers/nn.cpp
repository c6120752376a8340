// Neural-network ops: Gemm/MatMul, normalizations, softmax family, Dropout, quantization, Einsum.
#include <cmath>
#include <limits>

#include "onnx/importers/importers.h"
#include "onnx/tensor_proto.h"

namespace kiln::onnx_import {

void importMatMul(ImporterContext& ctx) {
  ctx.setOutput(0, ctx.add(MatrixMultiplyParams{}, {ctx.requireInput(0), ctx.requireInput(1)}));
}

void importGemm(ImporterContext& ctx) {
  ITensor* a = ctx.requireInput(0);
  bool ta = ctx.attrInt("transA", 0) != 0, tb = ctx.attrInt("transB", 0) != 0;
  float alpha = ctx.attrFloat("alpha", 1.f), beta = ctx.attrFloat("beta", 1.f);
  ITensor* y = ctx.add(MatrixMultiplyParams{ta, tb}, {a, ctx.requireInput(1)});
  if (alpha != 1.f) y = ctx.elementWise(y, ctx.scalar(y->type(), alpha), ElementWiseOp::kMul);
  if (ctx.hasInput(2) && beta != 0.f) {
    ITensor* c = ctx.input(2);
    if (beta != 1.f) {
      const HostTensor* cv = ctx.constantInput(2);
      if (cv && cv->type == DataType::kFloat32) {  // fold beta into the bias constant
        std::vector<float> scaled(cv->as<float>(), cv->as<float>() + cv->count());
        for (float& v : scaled) v *= beta;
        c = ctx.constant(HostTensor::copyOf(DataType::kFloat32, cv->shape, scaled.data()));
      } else {
        c = ctx.elementWise(c, ctx.scalar(c->type(), beta), ElementWiseOp::kMul);
      }
    }
    y = ctx.elementWise(y, c, ElementWiseOp::kAdd);
  }
  ctx.setOutput(0, y);
}

// Opset 14+ has training_mode; earlier opsets had is_test / training outputs with other meanings.
static bool batchNormTraining(const NodeView& n) { return n.opset() >= 14 && n.attrInt("training_mode", 0) != 0; }

std::string checkBatchNormalization(const NodeView& n) {
  if (batchNormTraining(n)) {
    if (n.hasOutput(3) || n.hasOutput(4)) return "the saved mean / saved variance outputs are not supported";
  } else {
    for (int i = 1; i < n.numOutputs(); ++i)
      if (n.hasOutput(i))
        return n.opset() < 14 ? "training outputs before opset 14 are not supported"
                              : "running mean/var outputs need training_mode = 1";
  }
  if (n.opset() < 9 && n.attrInt("spatial", 1) == 0) return "spatial = 0 is not supported";
  return "";
}

void importBatchNormalization(ImporterContext& ctx) {
  NormalizationParams p;
  p.type = NormalizationType::kBatch;
  p.epsilon = ctx.attrFloat("epsilon", 1e-5f);
  std::vector<ITensor*> in;
  for (int i = 0; i < 5; ++i) in.push_back(ctx.requireInput(i));
  if (!batchNormTraining(ctx)) {
    ctx.setOutput(0, ctx.add(p, in));
    return;
  }
  // Training mode: normalize with the batch statistics (population variance over all dims but the
  // channel dim 1) and output running_mean/var = input * momentum + batch statistic * (1 - momentum).
  ITensor* x = in[0];
  int64_t rank = ctx.inputRank(0);
  if (rank < 2) ctx.fail(ErrorCode::kInvalidModel, concat("input must be N x C x ..., got rank ", rank));
  ReduceParams meanOverBatch;
  meanOverBatch.op = ReduceOp::kMean;
  meanOverBatch.axes = {0};
  for (int64_t d = 2; d < rank; ++d) meanOverBatch.axes.push_back(d);
  ITensor* meanKept = ctx.add(meanOverBatch, {x});
  ITensor* deviation = ctx.elementWise(x, meanKept, ElementWiseOp::kSub);
  ITensor* varKept = ctx.add(meanOverBatch, {ctx.elementWise(deviation, deviation, ElementWiseOp::kMul)});
  ReshapeParams toChannels;
  toChannels.mode = ReshapeMode::kSqueeze;
  toChannels.axes = meanOverBatch.axes;
  ITensor* batchMean = ctx.add(toChannels, {meanKept});
  ITensor* batchVar = ctx.add(toChannels, {varKept});
  ctx.setOutput(0, ctx.add(p, {x, in[1], in[2], batchMean, batchVar}));
  double momentum = ctx.attrFloat("momentum", 0.9f);
  auto running = [&](ITensor* previous, ITensor* batch) {
    ITensor* kept = ctx.elementWise(previous, ctx.scalar(previous->type(), momentum), ElementWiseOp::kMul);
    ITensor* added = ctx.elementWise(batch, ctx.scalar(batch->type(), 1.0 - momentum), ElementWiseOp::kMul);
    return ctx.elementWise(kept, added, ElementWiseOp::kAdd);
  };
  if (ctx.hasOutput(1)) ctx.setOutput(1, running(in[3], batchMean));
  if (ctx.hasOutput(2)) ctx.setOutput(2, running(in[4], batchVar));
}

void importInstanceNormalization(ImporterContext& ctx) {
  NormalizationParams p;
  p.type = NormalizationType::kInstance;
  p.epsilon = ctx.attrFloat("epsilon", 1e-5f);
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0), ctx.requireInput(1), ctx.requireInput(2)}));
}

std::string checkLayerNormalization(const NodeView& n) {
  if (n.hasOutput(1) || n.hasOutput(2)) {
    int64_t stash = n.attrInt("stash_type", 1);
    if (stash != 1 && stash != 11) return concat("stash_type ", stash, " is not supported (float or double)");
  }
  return "";
}

void importLayerNormalization(ImporterContext& ctx) {
  NormalizationParams p;
  p.type = NormalizationType::kLayer;
  p.epsilon = ctx.attrFloat("epsilon", 1e-5f);
  p.axis = ctx.attrInt("axis", -1);
  // The layer's optional Mean / InvStdDev outputs are float32, float64 for a float64 input; the ONNX
  // outputs have the stash type.
  int numOutputs = ctx.hasOutput(2) ? 3 : ctx.hasOutput(1) ? 2 : 1;
  ir::Layer* layer = ctx.addLayer(p, {ctx.requireInput(0), ctx.requireInput(1), ctx.input(2)}, numOutputs);
  ctx.setOutput(0, layer->output(0));
  DataType stashType = ctx.attrInt("stash_type", 1) == 11 ? DataType::kFloat64 : DataType::kFloat32;
  for (int i = 1; i < numOutputs; ++i) {
    ITensor* stat = layer->output(i);
    ctx.setOutput(i, stat->type() == stashType ? stat : ctx.add(CastParams{stashType}, {stat}));
  }
}

void importGroupNormalization(ImporterContext& ctx) {
  NormalizationParams p;
  p.type = NormalizationType::kGroup;
  p.epsilon = ctx.attrFloat("epsilon", 1e-5f);
  p.numGroups = ctx.attrInt("num_groups", 0);
  if (p.numGroups <= 0) ctx.fail(ErrorCode::kInvalidModel, "num_groups must be positive");
  ITensor* x = ctx.requireInput(0);
  ITensor* scale = ctx.requireInput(1);
  ITensor* bias = ctx.requireInput(2);
  if (ctx.opset() < 21) {
    // Opset 18: scale and bias are per group; the layer takes them per channel.
    int64_t channels = x->dims().size() > 1 ? x->dims()[1] : -1;
    const HostTensor* s = ctx.constantInput(1);
    const HostTensor* b = ctx.constantInput(2);
    if (!s || !b || channels <= 0 || channels % p.numGroups != 0)
      ctx.fail(ErrorCode::kUnsupported,
               "opset < 21 per-group scale/bias need constant values and a known channel count divisible by "
               "num_groups");
    auto expand = [&](const HostTensor& v) {
      if (v.count() != p.numGroups)
        ctx.fail(ErrorCode::kInvalidModel, concat("scale/bias must have num_groups = ", p.numGroups, " values"));
      std::vector<float> out(static_cast<size_t>(channels));
      for (int64_t c = 0; c < channels; ++c)
        out[c] = static_cast<float>(scalarValue(v, static_cast<size_t>(c / (channels / p.numGroups))));
      HostTensor f = HostTensor::copyOf(DataType::kFloat32, {channels}, out.data());
      ITensor* t = ctx.constant(f);
      if (v.type != DataType::kFloat32) t = ctx.add(CastParams{v.type}, {t});
      return t;
    };
    scale = expand(*s);
    bias = expand(*b);
  }
  ctx.setOutput(0, ctx.add(p, {x, scale, bias}));
}

// MeanVarianceNormalization: (x - mean) / (sqrt(var) + 1e-9) over `axes`, as the ONNX function body
// (which adds its epsilon to the standard deviation).
void importMeanVarianceNormalization(ImporterContext& ctx) {
  ITensor* x = ctx.requireInput(0);
  ReduceParams mean;
  mean.op = ReduceOp::kMean;
  mean.axes = ctx.attrInts("axes", {0, 2, 3});
  ITensor* deviation = ctx.elementWise(x, ctx.add(mean, {x}), ElementWiseOp::kSub);
  ITensor* variance = ctx.add(mean, {ctx.elementWise(deviation, deviation, ElementWiseOp::kMul)});
  ITensor* stdDev = ctx.add(UnaryParams{UnaryOp::kSqrt}, {variance});
  ITensor* denominator = ctx.elementWise(stdDev, ctx.scalar(x->type(), 1e-9), ElementWiseOp::kAdd);
  ctx.setOutput(0, ctx.elementWise(deviation, denominator, ElementWiseOp::kDiv));
}

// RMSNormalization (opset 23): X / sqrt(mean(X^2 over axes [axis, rank)) + epsilon) * scale, the first
// stage in the stash type (float32 by default), as ONNX's function body defines it.
void importRMSNormalization(ImporterContext& ctx) {
  ITensor* x = ctx.requireInput(0);
  int64_t rank = ctx.inputRank(0);
  int64_t axis = ctx.attrInt("axis", -1);
  if (axis < -rank || axis >= rank)
    ctx.fail(ErrorCode::kInvalidModel, concat("axis ", axis, " is out of range for an input of rank ", rank));
  if (axis < 0) axis += rank;
  int64_t stash = ctx.attrInt("stash_type", 1);
  DataType stashType = fromOnnxType(static_cast<int32_t>(stash), ctx.where() + " stash_type");
  if (!isFloatType(stashType))
    ctx.fail(ErrorCode::kInvalidModel, concat("stash_type ", stash, " is not a floating-point type"));
  ITensor* xs = x->type() == stashType ? x : ctx.add(CastParams{stashType}, {x});
  ReduceParams mean;
  mean.op = ReduceOp::kMean;
  for (int64_t a = axis; a < rank; ++a) mean.axes.push_back(a);
  ITensor* meanSquare = ctx.add(mean, {ctx.elementWise(xs, xs, ElementWiseOp::kMul)});
  double epsilon = ctx.attrFloat("epsilon", 1e-5f);
  ITensor* rms = ctx.add(UnaryParams{UnaryOp::kSqrt},
                         {ctx.elementWise(meanSquare, ctx.scalar(stashType, epsilon), ElementWiseOp::kAdd)});
  ITensor* normalized = ctx.elementWise(xs, rms, ElementWiseOp::kDiv);
  if (normalized->type() != x->type()) normalized = ctx.add(CastParams{x->type()}, {normalized});
  ctx.setOutput(0, ctx.elementWise(normalized, ctx.requireInput(1), ElementWiseOp::kMul));
}

// LpNormalization: x / ||x||_p along `axis` (p 1 or 2), 0 where the norm is 0 (ONNX's reference).
void importLpNormalization(ImporterContext& ctx) {
  ITensor* x = ctx.requireInput(0);
  int64_t p = ctx.attrInt("p", 2);
  if (p != 1 && p != 2) ctx.fail(ErrorCode::kInvalidModel, concat("p must be 1 or 2, got ", p));
  int64_t rank = ctx.inputRank(0), axis = ctx.attrInt("axis", -1);
  if (axis < -rank || axis >= rank)
    ctx.fail(ErrorCode::kInvalidModel, concat("axis ", axis, " is out of range for an input of rank ", rank));
  ReduceParams norm;
  norm.op = p == 1 ? ReduceOp::kL1 : ReduceOp::kL2;
  norm.axes = {axis < 0 ? axis + rank : axis};
  ITensor* n = ctx.add(norm, {x});
  ITensor* zero = ctx.scalar(x->type(), 0);
  ITensor* isZero = ctx.elementWise(n, zero, ElementWiseOp::kEqual);
  ctx.setOutput(0, ctx.add(SelectParams{}, {isZero, zero, ctx.elementWise(x, n, ElementWiseOp::kDiv)}));
}

// RotaryEmbedding (opset 23), as ONNX's reference computes it, on the layout [batch, seq, heads, head_size]:
// the first rotary_embedding_dim values of each head are rotated by the (position-gathered) cos/sin caches,
// as halves or (interleaved) as even/odd pairs; the rest pass through.
void importRotaryEmbedding(ImporterContext& ctx) {
  ITensor* x = ctx.requireInput(0);
  const Dims& dims = x->dims();
  int64_t rank = ctx.inputRank(0);
  int64_t numHeads = ctx.attrInt("num_heads", 0);
  if (rank != 3 && rank != 4) ctx.fail(ErrorCode::kInvalidModel, concat("input must be 3-D or 4-D, got ", dimsToString(dims)));
  if (rank == 3 && numHeads <= 0) ctx.fail(ErrorCode::kInvalidModel, "a 3-D input needs a positive num_heads");
  int64_t headSize = rank == 4 ? dims[3] : dims[2] < 0 ? -1 : dims[2] / numHeads;
  if (headSize < 0)
    ctx.fail(ErrorCode::kUnsupported, concat("the head size of input ", dimsToString(dims), " must be known at build time"));
  if (rank == 3 && dims[2] % numHeads != 0)
    ctx.fail(ErrorCode::kInvalidModel, concat("hidden size ", dims[2], " is not a multiple of num_heads ", numHeads));
  int64_t rotaryDim = ctx.attrInt("rotary_embedding_dim", 0);
  if (rotaryDim == 0) rotaryDim = headSize;
  if (rotaryDim < 0 || rotaryDim > headSize || rotaryDim % 2 != 0)
    ctx.fail(ErrorCode::kInvalidModel, concat("rotary_embedding_dim ", rotaryDim, " must be even and at most the head size ", headSize));
  bool interleaved = ctx.attrInt("interleaved", 0) != 0;

  auto reshape = [&](ITensor* t, const std::vector<int64_t>& shape) {
    return ctx.add(ReshapeParams{}, {t, ctx.constantInt64(shape)});  // 0 keeps the input's dim
  };
  auto transposeHeads = [&](ITensor* t) { return ctx.add(TransposeParams{{0, 2, 1, 3}}, {t}); };
  auto slice = [&](ITensor* t, int64_t start, int64_t end, int64_t axis, int64_t step) {
    return ctx.add(SliceParams{}, {t, ctx.constantInt64({start}), ctx.constantInt64({end}), ctx.constantInt64({axis}),
                                   ctx.constantInt64({step})});
  };
  auto unsqueeze = [&](ITensor* t, int64_t axis) {
    ReshapeParams p;
    p.mode = ReshapeMode::kUnsqueeze;
    p.axes = {axis};
    return ctx.add(p, {t});
  };
  auto concat2 = [&](ITensor* a, ITensor* b, int64_t axis) { return ctx.add(ConcatenationParams{axis}, {a, b}); };

  ITensor* heads = rank == 4 ? transposeHeads(x) : reshape(x, {0, 0, numHeads, headSize});
  ITensor* cosCache = ctx.requireInput(1);
  ITensor* sinCache = ctx.requireInput(2);
  if (ITensor* positions = ctx.input(3)) {
    cosCache = ctx.add(GatherParams{}, {cosCache, positions});
    sinCache = ctx.add(GatherParams{}, {sinCache, positions});
  }
  ITensor* cos = unsqueeze(cosCache, 2);  // [batch, seq, 1, rotaryDim / 2]
  ITensor* sin = unsqueeze(sinCache, 2);
  ITensor* rotated = rotaryDim == headSize ? heads : slice(heads, 0, rotaryDim, 3, 1);
  int64_t half = rotaryDim / 2;
  ITensor* x1 = interleaved ? slice(rotated, 0, rotaryDim, 3, 2) : slice(rotated, 0, half, 3, 1);
  ITensor* x2 = interleaved ? slice(rotated, 1, rotaryDim, 3, 2) : slice(rotated, half, rotaryDim, 3, 1);
  auto mul = [&](ITensor* a, ITensor* b) { return ctx.elementWise(a, b, ElementWiseOp::kMul); };
  ITensor* real = ctx.elementWise(mul(cos, x1), mul(sin, x2), ElementWiseOp::kSub);
  ITensor* imag = ctx.elementWise(mul(sin, x1), mul(cos, x2), ElementWiseOp::kAdd);
  ITensor* out = interleaved ? reshape(concat2(unsqueeze(real, 4), unsqueeze(imag, 4), 4), {0, 0, 0, rotaryDim})
                             : concat2(real, imag, 3);
  if (rotaryDim < headSize) out = concat2(out, slice(heads, rotaryDim, headSize, 3, 1), 3);
  ctx.setOutput(0, rank == 4 ? transposeHeads(out) : reshape(out, {0, 0, -1}));
}

// Attention (opsets 23..25), as ONNX's reference computes it: softmax(Q K^T * scale (softcapped) + bias) V on
// [batch, heads, seq, head_size], K and V after the past cache and repeated over query heads (GQA). The bias
// is the attention mask (bool: -inf where false; float: added) and the causal mask (offset by the past
// length); rows that the bias masks entirely give 0. nonpad_kv_seqlen and the sliding window are refused.
// The ONNX Attention as one Attention layer, when it maps exactly: no past key/value, no present or
// qk_matmul outputs, no softcap, the softmax in float32 or the input type (the layer computes it in
// float32), a mask covering every key. ONNX's is_causal is bottom-right aligned to the past length, which
// is 0 here, so it is the layer's top-left causal; a row with every key masked gives 0 (zeroMaskedRows).
// 3-D inputs [B, S, H*D] are read as [B, S, H, D] (kBSHD). Returns false, having added nothing, otherwise.
bool importAsAttentionLayer(ImporterContext& ctx) {
  if (ctx.hasInput(4) || ctx.hasOutput(1) || ctx.hasOutput(2) || ctx.hasOutput(3) || ctx.attrFloat("softcap", 0.f) != 0.f)
    return false;
  ITensor* q = ctx.requireInput(0);
  ITensor* k = ctx.requireInput(1);
  ITensor* v = ctx.requireInput(2);
  const DataType type = q->type();
  if ((type != DataType::kFloat32 && type != DataType::kFloat16 && type != DataType::kBFloat16) || k->type() != type ||
      v->type() != type)
    return false;
  if (int64_t precision = ctx.attrInt("softmax_precision", 0); precision != 0) {
    DataType softmaxType = fromOnnxType(static_cast<int32_t>(precision), ctx.where() + " softmax_precision");
    if (softmaxType != DataType::kFloat32 && softmaxType != type) return false;
  }
  const int64_t rank = ctx.inputRank(0);
  if (rank != ctx.inputRank(1) || rank != ctx.inputRank(2)) return false;
  AttentionParams params;
  params.causal = ctx.attrInt("is_causal", 0) != 0;
  params.zeroMaskedRows = true;
  if (ctx.hasAttr("scale")) {
    params.scale = ctx.attrFloat("scale", 1.f);
    if (params.scale == 0.f) return false;  // the layer's 0 means 1/sqrt(D)
  }
  // [B, H, Sq, Skv] of the scores, from the inputs as [B, H, S, D].
  int64_t batch = q->dims()[0], qLength = q->dims()[rank == 3 ? 1 : 2], kvLength = k->dims()[rank == 3 ? 1 : 2];
  int64_t qHeads = q->dims()[1], kvHeads = k->dims()[1];
  if (rank == 3) {
    params.layout = AttentionLayout::kBSHD;
    qHeads = ctx.attrInt("q_num_heads", 0);
    kvHeads = ctx.attrInt("kv_num_heads", 0);
    if (qHeads <= 0 || kvHeads <= 0) return false;
  } else if (rank != 4) {
    return false;
  }
  if (qHeads <= 0 || kvHeads <= 0 || qHeads % kvHeads != 0 || kvLength < 0) return false;
  ITensor* mask = ctx.input(3);
  if (mask) {
    const Dims& m = mask->dims();
    const int64_t full[] = {batch, qHeads, qLength, kvLength};
    if (m.empty() || m.size() > 4 || m.back() != kvLength) return false;
    for (size_t d = 0; d + 1 < m.size(); ++d) {
      int64_t want = full[4 - m.size() + d];
      if (m[d] >= 0 && want >= 0 && m[d] != 1 && m[d] != want) return false;
    }
  }
  auto reshape = [&](ITensor* t, const std::vector<int64_t>& shape) {
    return ctx.add(ReshapeParams{}, {t, ctx.constantInt64(shape)});  // 0 keeps the input's dim
  };
  if (rank == 3) {
    q = reshape(q, {0, 0, qHeads, -1});
    k = reshape(k, {0, 0, kvHeads, -1});
    v = reshape(v, {0, 0, kvHeads, -1});
  }
  std::vector<ITensor*> inputs = {q, k, v};
  if (mask) {
    if (mask->dims().size() < 4) {  // leading 1s: ONNX broadcasts the mask from the right
      ReshapeParams unsqueeze;
      unsqueeze.mode = ReshapeMode::kUnsqueeze;
      for (int64_t a = 0; a < 4 - static_cast<int64_t>(mask->dims().size()); ++a) unsqueeze.axes.push_back(a);
      mask = ctx.add(unsqueeze, {mask});
    }
    if (mask->type() != DataType::kBool && mask->type() != type) mask = ctx.add(CastParams{type}, {mask});
    inputs.push_back(mask);
  }
  ITensor* y = ctx.add(params, inputs);
  ctx.setOutput(0, rank == 3 ? reshape(y, {0, 0, -1}) : y);
  return true;
}

void importAttention(ImporterContext& ctx) {
  if (ctx.hasInput(6)) ctx.fail(ErrorCode::kUnsupported, "nonpad_kv_seqlen (opset 24) is not supported");
  if (ctx.attrInt("left_window_size", -1) != -1 || ctx.attrInt("right_window_size", -1) != -1)
    ctx.fail(ErrorCode::kUnsupported, "the sliding window (left/right_window_size, opset 25) is not supported");
  if (ctx.hasInput(4) != ctx.hasInput(5)) ctx.fail(ErrorCode::kInvalidModel, "past_key and past_value go together");
  if (importAsAttentionLayer(ctx)) return;
  ITensor* q = ctx.requireInput(0);
  ITensor* k = ctx.requireInput(1);
  ITensor* v = ctx.requireInput(2);
  int64_t rank = ctx.inputRank(0);
  if (rank != 3 && rank != 4) ctx.fail(ErrorCode::kInvalidModel, concat("Q must be 3-D or 4-D, got ", dimsToString(q->dims())));
  DataType type = q->type();
  auto reshape = [&](ITensor* t, const std::vector<int64_t>& shape) {
    return ctx.add(ReshapeParams{}, {t, ctx.constantInt64(shape)});  // 0 keeps the input's dim
  };
  auto transposeHeads = [&](ITensor* t) { return ctx.add(TransposeParams{{0, 2, 1, 3}}, {t}); };
  auto mul = [&](ITensor* a, ITensor* b) { return ctx.elementWise(a, b, ElementWiseOp::kMul); };
  auto add = [&](ITensor* a, ITensor* b) { return ctx.elementWise(a, b, ElementWiseOp::kAdd); };
  auto cast = [&](ITensor* t, DataType to) { return t->type() == to ? t : ctx.add(CastParams{to}, {t}); };
  const double inf = std::numeric_limits<double>::infinity();

  if (rank == 3) {
    int64_t qHeads = ctx.attrInt("q_num_heads", 0), kvHeads = ctx.attrInt("kv_num_heads", 0);
    if (qHeads <= 0 || kvHeads <= 0) ctx.fail(ErrorCode::kInvalidModel, "3-D inputs need q_num_heads and kv_num_heads");
    q = transposeHeads(reshape(q, {0, 0, qHeads, -1}));
    k = transposeHeads(reshape(k, {0, 0, kvHeads, -1}));
    v = transposeHeads(reshape(v, {0, 0, kvHeads, -1}));
  }
  if (ctx.hasInput(4)) {
    k = ctx.add(ConcatenationParams{2}, {ctx.requireInput(4), k});
    v = ctx.add(ConcatenationParams{2}, {ctx.requireInput(5), v});
  }
  ctx.setOutput(1, k);
  ctx.setOutput(2, v);
  const Dims& qd = q->dims();
  const Dims& kd = k->dims();
  int64_t qHeads = qd[1], kvHeads = kd[1], headSize = qd[3], qLength = qd[2], kvLength = kd[2];
  if (qHeads < 0 || kvHeads < 0 || headSize < 0)
    ctx.fail(ErrorCode::kUnsupported, concat("head counts and size must be known at build time: Q ", dimsToString(qd),
                                             ", K ", dimsToString(kd)));
  if (qHeads != kvHeads) {  // grouped-query attention: each K/V head serves qHeads / kvHeads query heads
    if (qHeads % kvHeads != 0)
      ctx.fail(ErrorCode::kInvalidModel, concat(qHeads, " query heads are not a multiple of ", kvHeads, " key/value heads"));
    auto repeatHeads = [&](ITensor* t) {
      ReshapeParams unsqueeze;
      unsqueeze.mode = ReshapeMode::kUnsqueeze;
      unsqueeze.axes = {2};
      ITensor* one = ctx.add(unsqueeze, {t});
      std::vector<ITensor*> copies(static_cast<size_t>(qHeads / kvHeads), one);
      return reshape(ctx.add(ConcatenationParams{2}, copies), {0, qHeads, -1, t->dims()[3]});
    };
    k = repeatHeads(k);
    v = repeatHeads(v);
  }

  double scale = ctx.hasAttr("scale") ? ctx.attrFloat("scale", 1.f) : 1.0 / std::sqrt(static_cast<double>(headSize));
  MatrixMultiplyParams qkT;
  qkT.transposeB = true;
  ITensor* scores = mul(ctx.add(qkT, {q, k}), ctx.scalar(type, scale));
  if (double softcap = ctx.attrFloat("softcap", 0.f); softcap > 0) {
    ActivationParams tanh;
    tanh.type = ActivationType::kTanh;
    scores = mul(ctx.add(tanh, {ctx.elementWise(scores, ctx.scalar(type, softcap), ElementWiseOp::kDiv)}),
                 ctx.scalar(type, softcap));
  }
  ITensor* capped = scores;

  // The bias: the mask (bool -> 0 / -inf) plus the causal mask, [.., qLength, kvLength].
  ITensor* bias = nullptr;
  if (ITensor* mask = ctx.input(3)) {
    int64_t maskLength = mask->dims().empty() ? -1 : mask->dims().back();
    if (maskLength != kvLength || kvLength < 0)
      ctx.fail(ErrorCode::kUnsupported, concat("attn_mask ", dimsToString(mask->dims()), " must cover the ", kvLength,
                                               " keys (past and new) exactly"));
    bias = mask->type() == DataType::kBool
               ? ctx.add(SelectParams{}, {mask, ctx.scalar(type, 0), ctx.scalar(type, -inf)})
               : cast(mask, type);
  }
  if (ctx.attrInt("is_causal", 0) != 0) {
    if (qLength < 0 || kvLength < 0)
      ctx.fail(ErrorCode::kUnsupported, "is_causal needs sequence lengths known at build time");
    // Query i sees keys up to i + the past length (top-left aligned without a past).
    int64_t offset = ctx.hasInput(4) ? ctx.requireInput(4)->dims()[2] : 0;
    if (offset < 0) ctx.fail(ErrorCode::kUnsupported, "is_causal needs the past length known at build time");
    std::vector<float> causal(static_cast<size_t>(qLength * kvLength));
    for (int64_t i = 0; i < qLength; ++i)
      for (int64_t j = 0; j < kvLength; ++j)
        causal[static_cast<size_t>(i * kvLength + j)] = j <= i + offset ? 0.f : -std::numeric_limits<float>::infinity();
    ITensor* causalBias = cast(ctx.constant(HostTensor::copyOf(DataType::kFloat32, {qLength, kvLength}, causal.data())), type);
    bias = bias ? add(bias, causalBias) : causalBias;
  }
  if (bias) scores = add(scores, bias);

  DataType softmaxType = type;
  if (int64_t precision = ctx.attrInt("softmax_precision", 0); precision != 0)
    softmaxType = fromOnnxType(static_cast<int32_t>(precision), ctx.where() + " softmax_precision");
  SoftmaxParams softmax;
  softmax.axis = -1;
  ITensor* probabilities = cast(ctx.add(softmax, {cast(scores, softmaxType)}), type);
  if (bias) {  // rows the bias masks entirely: 0 (softmax of all -inf is NaN)
    ReduceParams rowMax;
    rowMax.op = ReduceOp::kMax;
    rowMax.axes = {static_cast<int64_t>(bias->dims().size()) - 1};
    ITensor* masked = ctx.elementWise(ctx.add(rowMax, {bias}), ctx.scalar(type, -inf), ElementWiseOp::kEqual);
    probabilities = ctx.add(SelectParams{}, {masked, ctx.scalar(type, 0), probabilities});
  }
  ITensor* y = ctx.add(MatrixMultiplyParams{}, {probabilities, v});
  ctx.setOutput(0, rank == 3 ? reshape(transposeHeads(y), {0, 0, -1}) : y);
  if (ctx.hasOutput(3)) {
    int64_t mode = ctx.attrInt("qk_matmul_output_mode", 0);
    if (mode < 0 || mode > 3) ctx.fail(ErrorCode::kInvalidModel, concat("qk_matmul_output_mode ", mode, " is not 0..3"));
    ctx.setOutput(3, mode == 3 ? probabilities : mode == 2 ? scores : capped);
  }
}

void importLRN(ImporterContext& ctx) {
  LRNParams p;
  p.size = ctx.attrInt("size", 1);
  p.alpha = ctx.attrFloat("alpha", 1e-4f);
  p.beta = ctx.attrFloat("beta", 0.75f);
  p.bias = ctx.attrFloat("bias", 1.f);
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0)}));
}

void importSoftmax(ImporterContext& ctx) {
  SoftmaxParams p;
  const std::string& type = ctx.opType();
  p.type = type == "Softmax" ? SoftmaxType::kSoftmax : type == "LogSoftmax" ? SoftmaxType::kLogSoftmax
                                                                             : SoftmaxType::kHardmax;
  p.coerce2d = ctx.opset() < 13;
  p.axis = ctx.attrInt("axis", p.coerce2d ? 1 : -1);
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0)}));
}

std::string checkDropout(const NodeView& n) {
  if (n.opset() < 7 && n.attrInt("is_test", 0) == 0 && n.hasOutput(1))
    return "training-mode mask output (is_test = 0) is not supported";
  return "";
}

void importDropout(ImporterContext& ctx) {
  ITensor* x = ctx.requireInput(0);
  // Opset 12+: the training_mode input (default false) turns dropout on; earlier opsets only infer here.
  ITensor* training = ctx.opset() >= 12 ? ctx.input(2) : nullptr;
  const HostTensor* trainingValue = training ? ctx.constantInput(2) : nullptr;
  if (!training || (trainingValue && scalarValue(*trainingValue) == 0)) {
    ctx.setOutput(0, ctx.identity(x));
    if (ctx.hasOutput(1)) {
      ITensor* shape = ctx.add(ShapeParams{}, {x});
      ConstantOfShapeParams p;
      p.value = makeScalar(DataType::kBool, 1, false);
      ctx.setOutput(1, ctx.add(p, {shape}));
    }
    return;
  }
  // Training: mask = uniform[0, 1) >= ratio, y = x * mask / (1 - ratio); the ratio is 0 where training_mode
  // is false at run time, which keeps every element and scales by 1.
  DataType type = x->type();
  ITensor* ratio = ctx.hasInput(1) ? ctx.input(1) : ctx.scalar(type, 0.5);
  if (ratio->type() != type) ratio = ctx.add(CastParams{type}, {ratio});
  if (!trainingValue) ratio = ctx.add(SelectParams{}, {training, ratio, ctx.scalar(type, 0)});
  RandomParams random;  // uniform [0, 1) shaped like x
  random.outputType = type;
  random.hasSeed = ctx.hasAttr("seed");
  random.seed = static_cast<float>(ctx.attrInt("seed", 0));
  ITensor* uniform = ctx.add(random, {x});
  ITensor* mask = ctx.elementWise(uniform, ratio, ElementWiseOp::kGreaterOrEqual);
  ITensor* keepScale =
      ctx.elementWise(ctx.scalar(type, 1), ctx.elementWise(ctx.scalar(type, 1), ratio, ElementWiseOp::kSub),
                      ElementWiseOp::kDiv);
  ITensor* kept = ctx.elementWise(x, ctx.add(CastParams{type}, {mask}), ElementWiseOp::kMul);
  ctx.setOutput(0, ctx.elementWise(kept, keepScale, ElementWiseOp::kMul));
  ctx.setOutput(1, mask);
}

std::string checkQuantizeLinear(const NodeView& n) {
  // Opset 23: 'precision' sets the type of the division by the scale; Kiln divides in the scale's type (0).
  if (int64_t precision = n.attrInt("precision", 0); precision != 0)
    return concat("precision ", precision, " is not supported (Kiln divides in the scale's type: 0)");
  if (int64_t t = n.attrInt("output_dtype", 0); t != 0) {
    try {
      fromOnnxType(static_cast<int32_t>(t), "output_dtype");
    } catch (const Error& e) {
      return e.what();
    }
  }
  return "";
}

void importQuantizeLinear(ImporterContext& ctx) {
  QuantizeParams p;
  p.axis = ctx.attrInt("axis", 1);
  p.blockSize = ctx.attrInt("block_size", 0);
  p.saturate = ctx.attrInt("saturate", 1) != 0;
  ITensor* zp = ctx.input(2);
  if (zp) p.outputType = zp->type();
  else if (int64_t t = ctx.attrInt("output_dtype", 0); t != 0) p.outputType = fromOnnxType(static_cast<int32_t>(t), ctx.where());
  else p.outputType = DataType::kUInt8;
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0), ctx.requireInput(1), zp}));
}

// Opset 23: 'output_dtype' sets the output type; Kiln's output has the scale's type (0).
std::string checkDequantizeLinear(const NodeView& n) {
  if (int64_t t = n.attrInt("output_dtype", 0); t != 0)
    return concat("output_dtype ", t, " is not supported (Kiln's output has the scale's type: 0)");
  return "";
}

void importDequantizeLinear(ImporterContext& ctx) {
  DequantizeParams p;
  p.axis = ctx.attrInt("axis", 1);
  p.blockSize = ctx.attrInt("block_size", 0);
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0), ctx.requireInput(1), ctx.input(2)}));
}

void importEinsum(ImporterContext& ctx) {
  EinsumParams p;
  p.equation = ctx.attrString("equation", "");
  std::vector<ITensor*> in;
  for (int i = 0; i < ctx.numInputs(); ++i) in.push_back(ctx.requireInput(i));
  ctx.setOutput(0, ctx.add(p, in));
}

}  // namespace kiln::onnx_import
