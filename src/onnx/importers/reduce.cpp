// Reductions and index ops: Reduce*, ArgMax/ArgMin, TopK, CumSum.
#include <map>

#include "onnx/importers/importers.h"

namespace kiln::onnx_import {

void importReduce(ImporterContext& ctx) {
  static const std::map<std::string, ReduceOp> ops = {
      {"ReduceSum", ReduceOp::kSum},       {"ReduceMean", ReduceOp::kMean},
      {"ReduceMax", ReduceOp::kMax},       {"ReduceMin", ReduceOp::kMin},
      {"ReduceProd", ReduceOp::kProd},     {"ReduceL1", ReduceOp::kL1},
      {"ReduceL2", ReduceOp::kL2},         {"ReduceLogSum", ReduceOp::kLogSum},
      {"ReduceLogSumExp", ReduceOp::kLogSumExp}, {"ReduceSumSquare", ReduceOp::kSumSquare},
  };
  ReduceParams p;
  p.op = ops.at(ctx.opType());
  p.keepDims = ctx.attrInt("keepdims", 1) != 0;
  p.noopWithEmptyAxes = ctx.attrInt("noop_with_empty_axes", 0) != 0;
  int64_t axesInputSince = p.op == ReduceOp::kSum ? 13 : 18;
  std::vector<ITensor*> inputs{ctx.requireInput(0)};
  if (ctx.opset() < axesInputSince) {
    p.axes = ctx.attrInts("axes");
  } else if (ctx.hasInput(1)) {
    if (auto axes = ctx.constantInts(1)) p.axes = *axes;
    else inputs.push_back(ctx.input(1));
  }
  ctx.setOutput(0, ctx.add(p, inputs));
}

void importArgMinMax(ImporterContext& ctx) {
  ArgMinMaxParams p;
  p.max = ctx.opType() == "ArgMax";
  p.axis = ctx.attrInt("axis", 0);
  p.keepDims = ctx.attrInt("keepdims", 1) != 0;
  p.selectLastIndex = ctx.attrInt("select_last_index", 0) != 0;
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0)}));
}

void importTopK(ImporterContext& ctx) {
  TopKParams p;
  p.axis = ctx.attrInt("axis", -1);
  p.largest = ctx.attrInt("largest", 1) != 0;
  p.sorted = ctx.attrInt("sorted", 1) != 0;
  ITensor* k = ctx.opset() < 10 ? ctx.constantInt64({ctx.attrInt("k", 0)}) : ctx.requireInput(1);
  ctx.setOutputs(ctx.addLayer(p, {ctx.requireInput(0), k}, 2));
}

void importCumSum(ImporterContext& ctx) {
  CumSumParams p;
  p.exclusive = ctx.attrInt("exclusive", 0) != 0;
  p.reverse = ctx.attrInt("reverse", 0) != 0;
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0), ctx.requireInput(1)}));
}

}  // namespace kiln::onnx_import
