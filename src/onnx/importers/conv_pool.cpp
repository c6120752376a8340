// Convolution and pooling: Conv, ConvTranspose, MaxPool, AveragePool, LpPool, Global*Pool.
#include "onnx/importers/importers.h"

namespace kiln::onnx_import {

namespace {

std::string checkAutoPad(const NodeView& n) {
  std::string pad = n.attrString("auto_pad", "NOTSET");
  if (pad != "NOTSET" && pad != "SAME_UPPER" && pad != "SAME_LOWER" && pad != "VALID")
    return concat("auto_pad '", pad, "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  if (n.hasAttr("pads") && n.attrInts("pads").size() % 2 != 0) return "pads must have an even number of values";
  return "";
}

PaddingMode paddingMode(const NodeView& n) {
  std::string pad = n.attrString("auto_pad", "NOTSET");
  if (pad == "SAME_UPPER") return PaddingMode::kSameUpper;
  if (pad == "SAME_LOWER") return PaddingMode::kSameLower;
  if (pad == "VALID") return PaddingMode::kValid;
  return PaddingMode::kExplicit;
}

void splitPads(const NodeView& n, Dims& begin, Dims& end) {
  std::vector<int64_t> pads = n.attrInts("pads");
  size_t half = pads.size() / 2;
  begin.assign(pads.begin(), pads.begin() + half);
  end.assign(pads.begin() + half, pads.end());
}

}  // namespace

std::string checkConv(const NodeView& n) { return checkAutoPad(n); }

ConvolutionParams convolutionParams(const NodeView& n) {
  ConvolutionParams p;
  p.kernelShape = n.attrInts("kernel_shape");
  p.strides = n.attrInts("strides");
  p.dilations = n.attrInts("dilations");
  splitPads(n, p.padsBegin, p.padsEnd);
  p.paddingMode = paddingMode(n);
  p.groups = n.attrInt("group", 1);
  return p;
}

void importConv(ImporterContext& ctx) {
  ctx.setOutput(0, ctx.add(convolutionParams(ctx), {ctx.requireInput(0), ctx.requireInput(1), ctx.input(2)}));
}

void importConvTranspose(ImporterContext& ctx) {
  DeconvolutionParams p;
  p.kernelShape = ctx.attrInts("kernel_shape");
  p.strides = ctx.attrInts("strides");
  p.dilations = ctx.attrInts("dilations");
  splitPads(ctx, p.padsBegin, p.padsEnd);
  p.outputPadding = ctx.attrInts("output_padding");
  p.outputShape = ctx.attrInts("output_shape");
  p.paddingMode = paddingMode(ctx);
  p.groups = ctx.attrInt("group", 1);
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0), ctx.requireInput(1), ctx.input(2)}));
}

std::string checkPool(const NodeView& n) {
  if (std::string r = checkAutoPad(n); !r.empty()) return r;
  if (!n.hasAttr("kernel_shape")) return "kernel_shape is required";
  if (n.opType() != "MaxPool" && n.hasOutput(1)) return "only MaxPool has an indices output";
  return "";
}

void importPool(ImporterContext& ctx) {
  PoolingParams p;
  const std::string& type = ctx.opType();
  p.type = type == "MaxPool" ? PoolingType::kMax : type == "AveragePool" ? PoolingType::kAverage : PoolingType::kLp;
  p.kernelShape = ctx.attrInts("kernel_shape");
  p.strides = ctx.attrInts("strides");
  p.dilations = ctx.attrInts("dilations");
  splitPads(ctx, p.padsBegin, p.padsEnd);
  p.paddingMode = paddingMode(ctx);
  p.ceilMode = ctx.attrInt("ceil_mode", 0) != 0;
  p.countIncludePad = ctx.attrInt("count_include_pad", 0) != 0;
  if (p.type == PoolingType::kLp)
    p.p = ctx.opset() < 2 ? static_cast<int64_t>(ctx.attrFloat("p", 2.f)) : ctx.attrInt("p", 2);
  p.storageOrder = ctx.attrInt("storage_order", 0);
  int outputs = p.type == PoolingType::kMax && ctx.hasOutput(1) ? 2 : 1;
  ctx.setOutputs(ctx.addLayer(p, {ctx.requireInput(0)}, outputs));
}

std::string checkGlobalPool(const NodeView& n) {
  if (n.opType() == "GlobalLpPool") {
    int64_t p = n.opset() < 2 ? static_cast<int64_t>(n.attrFloat("p", 2.f)) : n.attrInt("p", 2);
    if (p != 1 && p != 2) return concat("p = ", p, " is not supported (only 1 and 2)");
  }
  return "";
}

void importGlobalPool(ImporterContext& ctx) {
  ITensor* x = ctx.requireInput(0);
  ReduceParams p;
  const std::string& type = ctx.opType();
  if (type == "GlobalAveragePool") p.op = ReduceOp::kMean;
  else if (type == "GlobalMaxPool") p.op = ReduceOp::kMax;
  else p.op = (ctx.opset() < 2 ? static_cast<int64_t>(ctx.attrFloat("p", 2.f)) : ctx.attrInt("p", 2)) == 1
                  ? ReduceOp::kL1 : ReduceOp::kL2;
  int64_t rank = static_cast<int64_t>(x->dims().size());
  if (rank < 3) ctx.fail(ErrorCode::kInvalidModel, concat("input must be N x C x spatial..., got rank ", rank));
  for (int64_t a = 2; a < rank; ++a) p.axes.push_back(a);
  p.keepDims = true;
  ctx.setOutput(0, ctx.add(p, {x}));
}

}  // namespace kiln::onnx_import
