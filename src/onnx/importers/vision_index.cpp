// Vision, detection and index ops: GridSample, RoiAlign, NonMaxSuppression, Unique, Det (core layers);
// Compress (NonZero + Gather), MaxUnpool (ConstantOfShape + ScatterElements + Pad) and ReverseSequence
// (GatherElements with computed time indices) lowered onto existing layers.
#include "onnx/importers/importers.h"

namespace kiln::onnx_import {

namespace {

ITensor* reshape(ImporterContext& ctx, ITensor* x, ITensor* shape) {
  ReshapeParams p;
  p.mode = ReshapeMode::kShapeTensor;
  return ctx.add(p, {x, shape});
}

std::optional<GridSampleMode> gridSampleMode(const std::string& s) {
  if (s == "bilinear" || s == "linear") return GridSampleMode::kLinear;
  if (s == "nearest") return GridSampleMode::kNearest;
  if (s == "bicubic" || s == "cubic") return GridSampleMode::kCubic;
  return std::nullopt;
}

std::optional<GridSamplePadding> gridSamplePadding(const std::string& s) {
  if (s == "zeros") return GridSamplePadding::kZeros;
  if (s == "border") return GridSamplePadding::kBorder;
  if (s == "reflection") return GridSamplePadding::kReflection;
  return std::nullopt;
}

}  // namespace

std::string checkGridSample(const NodeView& n) {
  std::string mode = n.attrString("mode", n.opset() < 20 ? "bilinear" : "linear");
  if (!gridSampleMode(mode)) return concat("unknown mode '", mode, "'");
  std::string padding = n.attrString("padding_mode", "zeros");
  if (!gridSamplePadding(padding)) return concat("unknown padding_mode '", padding, "'");
  return "";
}

void importGridSample(ImporterContext& ctx) {
  GridSampleParams p;
  p.mode = *gridSampleMode(ctx.attrString("mode", ctx.opset() < 20 ? "bilinear" : "linear"));
  p.padding = *gridSamplePadding(ctx.attrString("padding_mode", "zeros"));
  p.alignCorners = ctx.attrInt("align_corners", 0) != 0;
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0), ctx.requireInput(1)}));
}

std::string checkRoiAlign(const NodeView& n) {
  std::string mode = n.attrString("mode", "avg");
  if (mode != "avg" && mode != "max") return concat("unknown mode '", mode, "'");
  std::string transform = n.attrString("coordinate_transformation_mode", "half_pixel");
  if (transform != "half_pixel" && transform != "output_half_pixel")
    return concat("unknown coordinate_transformation_mode '", transform, "'");
  return "";
}

void importRoiAlign(ImporterContext& ctx) {
  RoiAlignParams p;
  p.mode = ctx.attrString("mode", "avg") == "max" ? RoiAlignMode::kMax : RoiAlignMode::kAverage;
  p.outputHeight = ctx.attrInt("output_height", 1);
  p.outputWidth = ctx.attrInt("output_width", 1);
  p.samplingRatio = ctx.attrInt("sampling_ratio", 0);
  p.spatialScale = ctx.attrFloat("spatial_scale", 1.f);
  // Opset 10 had no attribute and behaved as output_half_pixel.
  p.halfPixel = ctx.attrString("coordinate_transformation_mode", ctx.opset() < 16 ? "output_half_pixel"
                                                                                   : "half_pixel") == "half_pixel";
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0), ctx.requireInput(1), ctx.requireInput(2)}));
}

void importNonMaxSuppression(ImporterContext& ctx) {
  NonMaxSuppressionParams p;
  p.centerPointBox = ctx.attrInt("center_point_box", 0) != 0;
  std::vector<ITensor*> inputs = {ctx.requireInput(0), ctx.requireInput(1)};
  for (int i = 2; i < ctx.numInputs(); ++i) inputs.push_back(ctx.input(i));
  ctx.setOutput(0, ctx.add(p, inputs));
}

void importUnique(ImporterContext& ctx) {
  UniqueParams p;
  p.hasAxis = ctx.hasAttr("axis");
  p.axis = ctx.attrInt("axis", 0);
  p.sorted = ctx.attrInt("sorted", 1) != 0;
  ctx.setOutputs(ctx.addLayer(p, {ctx.requireInput(0)}, 4));
}

void importDet(ImporterContext& ctx) { ctx.setOutput(0, ctx.add(DeterminantParams{}, {ctx.requireInput(0)})); }

// Compress(x, condition) = Gather(x, NonZero(condition)[0]) along the axis, or over the flattened input.
void importCompress(ImporterContext& ctx) {
  ITensor* x = ctx.requireInput(0);
  ReshapeParams squeeze;
  squeeze.mode = ReshapeMode::kSqueeze;
  squeeze.axes = {0};
  ITensor* selected = ctx.add(squeeze, {ctx.add(NonZeroParams{}, {ctx.requireInput(1)})});
  GatherParams gather;
  if (ctx.hasAttr("axis")) {
    gather.axis = ctx.attrInt("axis", 0);
  } else {
    x = reshape(ctx, x, ctx.constantInt64({-1}));
  }
  ctx.setOutput(0, ctx.add(gather, {x, selected}));
}

// MaxUnpool: x scattered to its flat indices in zeros of the inferred shape (in - 1) * stride - pads + kernel;
// with an output_shape input the pads are ignored and the result is zero-padded at the end to that shape
// (as the ONNX reference does).
void importMaxUnpool(ImporterContext& ctx) {
  ITensor *x = ctx.requireInput(0), *indices = ctx.requireInput(1), *outputShape = ctx.input(2);
  const int64_t rank = ctx.inputRank(0), spatial = rank - 2;
  KILN_CHECK(spatial >= 1, kInvalidModel, ctx.where(), ": input must be [N, C, D1...], got rank ", rank);
  std::vector<int64_t> kernel = ctx.attrInts("kernel_shape");
  std::vector<int64_t> strides = ctx.attrInts("strides", std::vector<int64_t>(spatial, 1));
  std::vector<int64_t> pads = ctx.attrInts("pads", std::vector<int64_t>(2 * spatial, 0));
  KILN_CHECK(static_cast<int64_t>(kernel.size()) == spatial && static_cast<int64_t>(strides.size()) == spatial &&
                 static_cast<int64_t>(pads.size()) == 2 * spatial,
             kInvalidModel, ctx.where(), ": kernel_shape, strides and pads must have ", spatial, ", ", spatial,
             " and ", 2 * spatial, " values for a rank-", rank, " input");
  if (outputShape) pads.assign(2 * spatial, 0);
  // The inferred shape as in * scale + shift, computed from Shape(x) so it follows dynamic dims.
  std::vector<int64_t> scale(rank, 1), shift(rank, 0);
  for (int64_t d = 0; d < spatial; ++d) {
    scale[2 + d] = strides[d];
    shift[2 + d] = kernel[d] - strides[d] - pads[d] - pads[spatial + d];
  }
  ITensor* inferred = ctx.elementWise(
      ctx.elementWise(ctx.add(ShapeParams{}, {x}), ctx.constantInt64(scale), ElementWiseOp::kMul),
      ctx.constantInt64(shift), ElementWiseOp::kAdd);
  ConstantOfShapeParams zeros;
  zeros.value = makeScalar(x->type(), 0, false);
  ITensor* flat = ctx.constantInt64({-1});
  ScatterParams scatter;  // elements along axis 0 of the flattened tensors
  ITensor* scattered = ctx.add(scatter, {reshape(ctx, ctx.add(zeros, {inferred}), flat),
                                         reshape(ctx, indices, flat), reshape(ctx, x, flat)});
  ITensor* y = reshape(ctx, scattered, inferred);
  if (outputShape) {
    ITensor* padsEnd = ctx.elementWise(outputShape, inferred, ElementWiseOp::kSub);
    ConcatenationParams concatPads;
    ITensor* allPads = ctx.add(concatPads, {ctx.constantInt64(std::vector<int64_t>(rank, 0)), padsEnd});
    y = ctx.add(PaddingParams{}, {y, allPads});
  }
  ctx.setOutput(0, y);
}

// ReverseSequence: GatherElements along the time axis with index t < len[b] ? len[b] - 1 - t : t.
void importReverseSequence(ImporterContext& ctx) {
  ITensor *x = ctx.requireInput(0), *lengths = ctx.requireInput(1);
  const int64_t rank = ctx.inputRank(0);
  const int64_t timeAxis = ctx.attrInt("time_axis", 0), batchAxis = ctx.attrInt("batch_axis", 1);
  KILN_CHECK(rank >= 2 && ((timeAxis == 0 && batchAxis == 1) || (timeAxis == 1 && batchAxis == 0)), kInvalidModel,
             ctx.where(), ": time_axis ", timeAxis, " and batch_axis ", batchAxis,
             " must be 0 and 1 (either way) of an input of rank >= 2, got rank ", rank);
  KILN_CHECK(lengths->type() == DataType::kInt64, kInvalidModel, ctx.where(), ": sequence_lens must be int64, got ",
             dataTypeName(lengths->type()));
  ShapeParams timeDim;
  timeDim.start = timeAxis;
  timeDim.end = timeAxis + 1;
  ITensor* steps = ctx.add(RangeParams{}, {ctx.scalar(DataType::kInt64, 0), ctx.add(timeDim, {x}),
                                          ctx.scalar(DataType::kInt64, 1)});
  // Time steps [T] and lengths [B] as rank-`rank` tensors along their axes, so they broadcast to [T, B].
  std::vector<int64_t> timeShape(rank, 1), batchShape(rank, 1);
  timeShape[timeAxis] = -1;
  batchShape[batchAxis] = -1;
  ITensor* t = reshape(ctx, steps, ctx.constantInt64(timeShape));
  ITensor* len = reshape(ctx, lengths, ctx.constantInt64(batchShape));
  ITensor* reversed = ctx.elementWise(ctx.elementWise(len, ctx.scalar(DataType::kInt64, 1), ElementWiseOp::kSub), t,
                                      ElementWiseOp::kSub);
  ITensor* index = ctx.add(SelectParams{}, {ctx.elementWise(t, len, ElementWiseOp::kLess), reversed, t});
  ITensor* fullIndex = ctx.add(ExpandParams{}, {index, ctx.add(ShapeParams{}, {x})});
  GatherParams gather;
  gather.mode = GatherMode::kElements;
  gather.axis = timeAxis;
  ctx.setOutput(0, ctx.add(gather, {x, fullIndex}));
}

}  // namespace kiln::onnx_import
