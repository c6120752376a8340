// Loss ops: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, lowered onto gathers, selects and
// reductions.
//
// For input [N, C, d...] and target [N, d...]:
//   w[n, d]    = weight[target[n, d]] (1 without weights), 0 where target == ignore_index
//   loss[n, d] = -input[n, target[n, d], d] * w[n, d]
// reduction none: loss; sum: sum(loss); mean: sum(loss) / sum(w) (the element count without weights and
// ignore_index), as the ONNX reference does.
#include "onnx/importers/importers.h"

namespace kiln::onnx_import {

namespace {

ITensor* reduceAll(ImporterContext& ctx, ITensor* x) {
  ReduceParams p;
  p.op = ReduceOp::kSum;
  p.keepDims = false;
  return ctx.add(p, {x});
}

ITensor* reshapeAxis1(ImporterContext& ctx, ITensor* x, ReshapeMode mode) {
  ReshapeParams p;
  p.mode = mode;
  p.axes = {1};
  return ctx.add(p, {x});
}

// The NegativeLogLikelihoodLoss of log-probabilities `logProb` [N, C, d...]; reads the target (input 1),
// the optional weights (input 2) and the attributes of the node in `ctx`.
ITensor* negativeLogLikelihood(ImporterContext& ctx, ITensor* logProb) {
  ITensor* target = ctx.requireInput(1);
  ITensor* weight = ctx.input(2);
  int64_t rank = static_cast<int64_t>(logProb->dims().size());
  if (rank < 2)
    ctx.fail(ErrorCode::kInvalidModel, concat("the input must be [N, C, d...], got rank ", rank));
  if (static_cast<int64_t>(target->dims().size()) != rank - 1)
    ctx.fail(ErrorCode::kInvalidModel, concat("the target must have rank ", rank - 1, " (input rank - 1), got ",
                                              target->dims().size()));
  if (target->type() != DataType::kInt64 && target->type() != DataType::kInt32)
    ctx.fail(ErrorCode::kInvalidModel, "the target must be int32 or int64");
  std::string reduction = ctx.attrString("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    ctx.fail(ErrorCode::kInvalidModel, concat("reduction '", reduction, "' must be none, sum or mean"));
  DataType type = logProb->type();

  // Ignored targets may be out of range: gather with class 0 there and zero their weight.
  ITensor* keep = nullptr;
  if (ctx.hasAttr("ignore_index")) {
    ITensor* ignored = ctx.elementWise(target, ctx.scalar(target->type(), static_cast<double>(ctx.attrInt("ignore_index", 0))),
                                       ElementWiseOp::kEqual);
    keep = ctx.add(UnaryParams{UnaryOp::kNot}, {ignored});
    target = ctx.add(SelectParams{}, {keep, target, ctx.scalar(target->type(), 0)});
  }
  GatherParams gather;
  gather.mode = GatherMode::kElements;
  gather.axis = 1;
  ITensor* picked = ctx.add(gather, {logProb, reshapeAxis1(ctx, target, ReshapeMode::kUnsqueeze)});
  ITensor* loss = ctx.add(UnaryParams{UnaryOp::kNeg}, {reshapeAxis1(ctx, picked, ReshapeMode::kSqueeze)});

  ITensor* w = nullptr;  // the weight of each element; nullptr: all 1
  if (weight) {
    GatherParams byClass;
    byClass.axis = 0;
    w = ctx.add(byClass, {weight, target});
    if (keep) w = ctx.add(SelectParams{}, {keep, w, ctx.scalar(type, 0)});
  } else if (keep) {
    w = ctx.add(CastParams{type}, {keep});
  }
  if (w) loss = ctx.elementWise(loss, w, ElementWiseOp::kMul);

  if (reduction == "none") return loss;
  if (reduction == "sum") return reduceAll(ctx, loss);
  if (!w) {
    ReduceParams mean;
    mean.op = ReduceOp::kMean;
    mean.keepDims = false;
    return ctx.add(mean, {loss});
  }
  return ctx.elementWise(reduceAll(ctx, loss), reduceAll(ctx, w), ElementWiseOp::kDiv);
}

}  // namespace

void importNegativeLogLikelihoodLoss(ImporterContext& ctx) {
  ctx.setOutput(0, negativeLogLikelihood(ctx, ctx.requireInput(0)));
}

void importSoftmaxCrossEntropyLoss(ImporterContext& ctx) {
  SoftmaxParams p;
  p.type = SoftmaxType::kLogSoftmax;
  p.axis = 1;
  ITensor* logProb = ctx.add(p, {ctx.requireInput(0)});
  ctx.setOutput(0, negativeLogLikelihood(ctx, logProb));
  ctx.setOutput(1, logProb);
}

}  // namespace kiln::onnx_import
