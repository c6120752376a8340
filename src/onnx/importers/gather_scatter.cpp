// Gather / scatter family: Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND.
#include "onnx/importers/importers.h"

namespace kiln::onnx_import {

void importGather(ImporterContext& ctx) {
  GatherParams p;
  const std::string& type = ctx.opType();
  p.mode = type == "Gather" ? GatherMode::kDefault : type == "GatherElements" ? GatherMode::kElements : GatherMode::kND;
  p.axis = ctx.attrInt("axis", 0);
  p.batchDims = ctx.attrInt("batch_dims", 0);
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0), ctx.requireInput(1)}));
}

namespace {
bool reductionOf(const std::string& s, ScatterReduction& r) {
  if (s == "none") r = ScatterReduction::kNone;
  else if (s == "add") r = ScatterReduction::kAdd;
  else if (s == "mul") r = ScatterReduction::kMul;
  else if (s == "max") r = ScatterReduction::kMax;
  else if (s == "min") r = ScatterReduction::kMin;
  else return false;
  return true;
}
}  // namespace

std::string checkScatter(const NodeView& n) {
  ScatterReduction r;
  std::string s = n.attrString("reduction", "none");
  if (!reductionOf(s, r)) return concat("reduction '", s, "' is not one of none, add, mul, max, min");
  return "";
}

void importScatter(ImporterContext& ctx) {
  ScatterParams p;
  p.mode = ctx.opType() == "ScatterND" ? ScatterMode::kND : ScatterMode::kElements;
  p.axis = ctx.attrInt("axis", 0);
  reductionOf(ctx.attrString("reduction", "none"), p.reduction);
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0), ctx.requireInput(1), ctx.requireInput(2)}));
}

}  // namespace kiln::onnx_import
