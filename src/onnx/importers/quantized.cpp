// Integer and quantized ops, lowered exactly onto Cast / ElementWise / MatrixMultiply / Convolution /
// Quantize: ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul, DynamicQuantizeLinear.
// QLinearConv and QLinearMatMul with constant scales and zero points and constant symmetric int8 weights
// (what quantizers write) become one QuantizedConvolution / QuantizedMatrixMultiply instead: int8 compute.
//
// Integer products are accumulated in int32 (MatMul) or float64 (Conv: every int8 x int8 sum below 2^53 is
// exact, and the float64 convolution is the fast path of the CPU backend). Requantization follows the ONNX
// reference: y = saturate(round_half_even(acc * (scale_a * scale_b / scale_y) + zero_point_y)), the
// multiplier computed in the scale type and the product in float64 (numpy promotes int32 x float32 so).
#include <optional>

#include "onnx/importers/importers.h"

namespace kiln::onnx_import {

namespace {

// A 1-D per-axis tensor [n] reshaped to [n, 1, ..., 1] (`trailingOnes` ones) so it broadcasts along an
// axis that is not the last; scalars and other ranks are returned unchanged.
ITensor* alongAxis(ImporterContext& ctx, ITensor* v, int64_t trailingOnes) {
  if (v->dims().size() != 1 || trailingOnes <= 0) return v;
  ReshapeParams p;
  p.mode = ReshapeMode::kUnsqueeze;
  for (int64_t i = 1; i <= trailingOnes; ++i) p.axes.push_back(i);
  return ctx.add(p, {v});
}

// Cast(x, type) - Cast(zeroPoint, type), the zero point reshaped by alongAxis; x alone when omitted.
ITensor* centered(ImporterContext& ctx, ITensor* x, ITensor* zeroPoint, DataType type, int64_t trailingOnes) {
  ITensor* y = ctx.add(CastParams{type}, {x});
  if (!zeroPoint) return y;
  ITensor* zp = ctx.add(CastParams{type}, {alongAxis(ctx, zeroPoint, trailingOnes)});
  return ctx.elementWise(y, zp, ElementWiseOp::kSub);
}

void checkIntegerInput(ImporterContext& ctx, int i, const char* name) {
  ITensor* t = ctx.requireInput(i);
  if (t->type() != DataType::kInt8 && t->type() != DataType::kUInt8)
    ctx.fail(ErrorCode::kInvalidModel, concat(name, " must be int8 or uint8, got ", dataTypeName(t->type())));
}

// saturate(round_half_even(acc64 * multiplier + zeroPoint)) as `outType` (int8 or uint8). acc64 is float64.
ITensor* requantize(ImporterContext& ctx, ITensor* acc64, ITensor* multiplier, ITensor* zeroPoint, DataType outType) {
  ITensor* y = ctx.elementWise(acc64, ctx.add(CastParams{DataType::kFloat64}, {multiplier}), ElementWiseOp::kMul);
  if (zeroPoint) y = ctx.elementWise(y, ctx.add(CastParams{DataType::kFloat64}, {zeroPoint}), ElementWiseOp::kAdd);
  y = ctx.add(UnaryParams{UnaryOp::kRound}, {y});
  float lo = outType == DataType::kInt8 ? -128.f : 0.f, hi = outType == DataType::kInt8 ? 127.f : 255.f;
  y = ctx.add(ActivationParams{ActivationType::kClip, lo, hi}, {y});
  return ctx.add(CastParams{outType}, {y});
}

// A constant per-tensor scale (float32, one element), else nullopt.
std::optional<float> constantScale(ImporterContext& ctx, int i) {
  const HostTensor* v = ctx.constantInput(i);
  if (!v || v->type != DataType::kFloat32 || v->count() != 1) return std::nullopt;
  return v->as<float>()[0];
}

// A constant one-element zero point (absent: 0) as int64, else nullopt.
std::optional<int64_t> constantZeroPoint(ImporterContext& ctx, int i) {
  if (!ctx.hasInput(i)) return 0;
  const HostTensor* v = ctx.constantInput(i);
  if (!v || v->count() != 1) return std::nullopt;
  if (v->type == DataType::kInt8) return v->as<int8_t>()[0];
  if (v->type == DataType::kUInt8) return v->as<uint8_t>()[0];
  return std::nullopt;
}

// The quantized layers' operands of a QLinearConv / QLinearMatMul whose scales and zero points are
// constants, weights a constant int8 tensor with zero points 0 and scales per tensor or per `channels`.
struct QLinearOperands {
  float inputScale = 1.f, outputScale = 1.f;
  int64_t inputZeroPoint = 0, outputZeroPoint = 0;
  DataType outputType = DataType::kInt8;
  std::vector<float> weightScales;
};
std::optional<QLinearOperands> qlinearOperands(ImporterContext& ctx, int64_t channels) {
  QLinearOperands q;
  std::optional<float> xs = constantScale(ctx, 1), ys = constantScale(ctx, 6);
  std::optional<int64_t> xz = constantZeroPoint(ctx, 2), yz = constantZeroPoint(ctx, 7);
  const HostTensor* w = ctx.constantInput(3);
  const HostTensor* ws = ctx.constantInput(4);
  if (!xs || !ys || !xz || !yz || !w || w->type != DataType::kInt8 || !ws || ws->type != DataType::kFloat32 ||
      (ws->count() != 1 && ws->count() != channels))
    return std::nullopt;
  if (ctx.hasInput(5)) {  // symmetric weights only
    const HostTensor* wz = ctx.constantInput(5);
    if (!wz || wz->type != DataType::kInt8) return std::nullopt;
    for (int64_t i = 0; i < wz->count(); ++i)
      if (wz->as<int8_t>()[i] != 0) return std::nullopt;
  }
  q.inputScale = *xs;
  q.outputScale = *ys;
  q.inputZeroPoint = *xz;
  q.outputZeroPoint = *yz;
  q.outputType = ctx.hasInput(7) ? ctx.requireInput(7)->type() : ctx.requireInput(0)->type();
  q.weightScales.assign(ws->as<float>(), ws->as<float>() + ws->count());
  return q;
}

// QLinearConv as one QuantizedConvolution: constant scales and zero points, constant symmetric int8
// weights, an absent or constant int32 bias (real bias = B * x_scale * w_scale[m]).
bool importQLinearConvAsQuantized(ImporterContext& ctx) {
  const HostTensor* w = ctx.constantInput(3);
  if (!w || w->shape.size() < 3) return false;
  const int64_t channels = w->shape[0];
  std::optional<QLinearOperands> q = qlinearOperands(ctx, channels);
  if (!q) return false;
  std::vector<ITensor*> inputs{ctx.requireInput(0), ctx.requireInput(3)};
  if (ctx.hasInput(8)) {
    const HostTensor* b = ctx.constantInput(8);
    if (!b || b->type != DataType::kInt32 || b->count() != channels) return false;
    std::vector<float> bias(static_cast<size_t>(channels));
    for (int64_t m = 0; m < channels; ++m)
      bias[m] = static_cast<float>(static_cast<double>(b->as<int32_t>()[m]) * q->inputScale *
                                   q->weightScales[q->weightScales.size() == 1 ? 0 : m]);
    inputs.push_back(ctx.constant(HostTensor::copyOf(DataType::kFloat32, {channels}, bias.data())));
  }
  QuantizedConvolutionParams p;
  p.conv = convolutionParams(ctx);
  p.inputScale = q->inputScale;
  p.inputZeroPoint = q->inputZeroPoint;
  p.weightScales = q->weightScales;
  p.outputType = q->outputType;
  p.outputScale = q->outputScale;
  p.outputZeroPoint = q->outputZeroPoint;
  ctx.setOutput(0, ctx.add(p, inputs));
  return true;
}

// QLinearMatMul as one QuantizedMatrixMultiply: a of rank >= 2, b a constant 2-D symmetric int8 tensor,
// constant scales (b's per tensor or per column) and zero points.
bool importQLinearMatMulAsQuantized(ImporterContext& ctx) {
  const HostTensor* b = ctx.constantInput(3);
  if (!b || b->shape.size() != 2 || ctx.inputRank(0) < 2) return false;
  std::optional<QLinearOperands> q = qlinearOperands(ctx, b->shape[1]);
  if (!q) return false;
  QuantizedMatrixMultiplyParams p;
  p.inputScale = q->inputScale;
  p.inputZeroPoint = q->inputZeroPoint;
  p.weightScales = q->weightScales;
  p.outputType = q->outputType;
  p.outputScale = q->outputScale;
  p.outputZeroPoint = q->outputZeroPoint;
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0), ctx.requireInput(3)}));
  return true;
}

}  // namespace

void importMatMulInteger(ImporterContext& ctx) {
  checkIntegerInput(ctx, 0, "A");
  checkIntegerInput(ctx, 1, "B");
  // A per-row zero point [M] applies along the rows of A: [M, 1].
  int64_t rowOnes = ctx.inputRank(0) >= 2 ? 1 : 0;
  ITensor* a = centered(ctx, ctx.requireInput(0), ctx.input(2), DataType::kInt32, rowOnes);
  ITensor* b = centered(ctx, ctx.requireInput(1), ctx.input(3), DataType::kInt32, 0);
  ctx.setOutput(0, ctx.add(MatrixMultiplyParams{}, {a, b}));
}

void importConvInteger(ImporterContext& ctx) {
  checkIntegerInput(ctx, 0, "x");
  checkIntegerInput(ctx, 1, "w");
  const int64_t weightOnes = ctx.inputRank(1) - 1;  // a per-output-channel zero point [M] -> [M, 1, ...]
  ITensor* x = centered(ctx, ctx.requireInput(0), ctx.input(2), DataType::kFloat64, 0);
  ITensor* w = centered(ctx, ctx.requireInput(1), ctx.input(3), DataType::kFloat64, weightOnes);
  ITensor* y = ctx.add(convolutionParams(ctx), {x, w});
  ctx.setOutput(0, ctx.add(CastParams{DataType::kInt32}, {y}));
}

void importQLinearConv(ImporterContext& ctx) {
  // Inputs: x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, optional B (int32).
  checkIntegerInput(ctx, 0, "x");
  checkIntegerInput(ctx, 3, "w");
  if (importQLinearConvAsQuantized(ctx)) return;
  // Per-output-channel w zero point [M] -> [M, 1, ...] against w; w scale [M] -> [M, 1, ...] against y [N, M, ...].
  const int64_t weightOnes = ctx.inputRank(3) - 1, outputOnes = ctx.inputRank(3) - 2;
  ITensor* x = centered(ctx, ctx.requireInput(0), ctx.input(2), DataType::kFloat64, 0);
  ITensor* w = centered(ctx, ctx.requireInput(3), ctx.input(5), DataType::kFloat64, weightOnes);
  std::vector<ITensor*> convInputs{x, w};
  if (ctx.hasInput(8)) convInputs.push_back(ctx.add(CastParams{DataType::kFloat64}, {ctx.input(8)}));
  ITensor* acc = ctx.add(convolutionParams(ctx), convInputs);
  ITensor* wScale = alongAxis(ctx, ctx.requireInput(4), outputOnes);
  ITensor* multiplier = ctx.elementWise(ctx.elementWise(ctx.requireInput(1), wScale, ElementWiseOp::kMul),
                                        ctx.requireInput(6), ElementWiseOp::kDiv);
  ITensor* yZeroPoint = ctx.input(7);
  DataType outType = yZeroPoint ? yZeroPoint->type() : ctx.requireInput(0)->type();
  ctx.setOutput(0, requantize(ctx, acc, multiplier, yZeroPoint, outType));
}

void importQLinearMatMul(ImporterContext& ctx) {
  // Inputs: a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point.
  checkIntegerInput(ctx, 0, "a");
  checkIntegerInput(ctx, 3, "b");
  if (importQLinearMatMulAsQuantized(ctx)) return;
  int64_t rowOnes = ctx.inputRank(0) >= 2 ? 1 : 0;
  ITensor* a = centered(ctx, ctx.requireInput(0), ctx.input(2), DataType::kInt32, rowOnes);
  ITensor* b = centered(ctx, ctx.requireInput(3), ctx.input(5), DataType::kInt32, 0);
  ITensor* acc = ctx.add(CastParams{DataType::kFloat64}, {ctx.add(MatrixMultiplyParams{}, {a, b})});
  ITensor* aScale = alongAxis(ctx, ctx.requireInput(1), rowOnes);
  ITensor* multiplier = ctx.elementWise(ctx.elementWise(aScale, ctx.requireInput(4), ElementWiseOp::kMul),
                                        ctx.requireInput(6), ElementWiseOp::kDiv);
  ITensor* yZeroPoint = ctx.input(7);
  DataType outType = yZeroPoint ? yZeroPoint->type() : ctx.requireInput(0)->type();
  ctx.setOutput(0, requantize(ctx, acc, multiplier, yZeroPoint, outType));
}

void importDynamicQuantizeLinear(ImporterContext& ctx) {
  // The ONNX function body: scale = (max(x, 0) - min(x, 0)) / 255, zero point = round(clip(-min / scale)),
  // y = QuantizeLinear(x, scale, zero point) as uint8.
  ITensor* x = ctx.requireInput(0);
  if (x->type() != DataType::kFloat32)
    ctx.fail(ErrorCode::kInvalidModel, concat("x must be float32, got ", dataTypeName(x->type())));
  ReduceParams reduce;
  reduce.keepDims = false;
  reduce.op = ReduceOp::kMin;
  ITensor* minimum = ctx.elementWise(ctx.add(reduce, {x}), ctx.scalar(DataType::kFloat32, 0), ElementWiseOp::kMin);
  reduce.op = ReduceOp::kMax;
  ITensor* maximum = ctx.elementWise(ctx.add(reduce, {x}), ctx.scalar(DataType::kFloat32, 0), ElementWiseOp::kMax);
  ITensor* scale = ctx.elementWise(ctx.elementWise(maximum, minimum, ElementWiseOp::kSub),
                                   ctx.scalar(DataType::kFloat32, 255), ElementWiseOp::kDiv);
  ITensor* zeroPoint = ctx.elementWise(ctx.scalar(DataType::kFloat32, 0),
                                       ctx.elementWise(minimum, scale, ElementWiseOp::kDiv), ElementWiseOp::kSub);
  zeroPoint = ctx.add(ActivationParams{ActivationType::kClip, 0.f, 255.f}, {zeroPoint});
  zeroPoint = ctx.add(CastParams{DataType::kUInt8}, {ctx.add(UnaryParams{UnaryOp::kRound}, {zeroPoint})});
  QuantizeParams q;
  q.outputType = DataType::kUInt8;
  ctx.setOutput(0, ctx.add(q, {x, scale, zeroPoint}));
  ctx.setOutput(1, scale);
  ctx.setOutput(2, zeroPoint);
}

}  // namespace kiln::onnx_import
