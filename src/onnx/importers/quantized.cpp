// Integer and quantized ops, lowered exactly onto Cast / ElementWise / MatrixMultiply / Convolution /
// Quantize: ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul, DynamicQuantizeLinear.
//
// Integer products are accumulated in int32 (MatMul) or float64 (Conv: every int8 x int8 sum below 2^53 is
// exact, and the float64 convolution is the fast path of the CPU backend). Requantization follows the ONNX
// reference: y = saturate(round_half_even(acc * (scale_a * scale_b / scale_y) + zero_point_y)), the
// multiplier computed in the scale type and the product in float64 (numpy promotes int32 x float32 so).
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
