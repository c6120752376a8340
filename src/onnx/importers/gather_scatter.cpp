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

// TensorScatter (opset 24): the cache with `update` written along `axis` from write_indices[batch] (0 without
// them), wrapping around in mode circular: ScatterElements with the write position of every update element.
void importTensorScatter(ImporterContext& ctx) {
  ITensor* cache = ctx.requireInput(0);
  ITensor* update = ctx.requireInput(1);
  const Dims& cacheDims = cache->dims();
  const Dims& updateDims = update->dims();
  int64_t rank = ctx.inputRank(0), axis = ctx.attrInt("axis", -2);
  if (axis < -rank || axis >= rank)
    ctx.fail(ErrorCode::kInvalidModel, concat("axis ", axis, " is out of range for a cache of rank ", rank));
  if (axis < 0) axis += rank;
  if (axis == 0) ctx.fail(ErrorCode::kInvalidModel, "axis must not be the batch dimension 0");
  std::string mode = ctx.attrString("mode", "linear");
  if (mode != "linear" && mode != "circular")
    ctx.fail(ErrorCode::kInvalidModel, concat("mode '", mode, "' is not linear or circular"));
  if (static_cast<int64_t>(updateDims.size()) != rank || updateDims[axis] < 0 || cacheDims[axis] < 0)
    ctx.fail(ErrorCode::kUnsupported, concat("the sequence lengths of cache ", dimsToString(cacheDims), " and update ",
                                             dimsToString(updateDims), " must be known at build time"));
  // positions[..., s, ...] = s along `axis`, 1 elsewhere; plus each batch's write index.
  Dims positionShape(static_cast<size_t>(rank), 1);
  positionShape[axis] = updateDims[axis];
  std::vector<int64_t> positions(static_cast<size_t>(updateDims[axis]));
  for (size_t i = 0; i < positions.size(); ++i) positions[i] = static_cast<int64_t>(i);
  ITensor* index = ctx.constant(HostTensor::copyOf(DataType::kInt64, positionShape, positions.data()));
  if (ITensor* writeIndices = ctx.input(2)) {
    std::vector<int64_t> batchShape(static_cast<size_t>(rank), 1);
    batchShape[0] = -1;
    ITensor* start = ctx.add(ReshapeParams{}, {writeIndices, ctx.constantInt64(batchShape)});
    if (start->type() != DataType::kInt64) start = ctx.add(CastParams{DataType::kInt64}, {start});
    index = ctx.elementWise(index, start, ElementWiseOp::kAdd);
  }
  if (mode == "circular") index = ctx.elementWise(index, ctx.scalar(DataType::kInt64, cacheDims[axis]), ElementWiseOp::kMod);
  ShapeParams updateShape;
  index = ctx.add(ExpandParams{}, {index, ctx.add(updateShape, {update})});
  ScatterParams p;
  p.mode = ScatterMode::kElements;
  p.axis = axis;
  ctx.setOutput(0, ctx.add(p, {cache, index, update}));
}

}  // namespace kiln::onnx_import
