// Elementwise ops: binary arithmetic/logic, variadic Max/Min/Sum/Mean, unary math, activations, Clip, PRelu, Where.
#include <limits>
#include <map>

#include "onnx/importers/importers.h"

namespace kiln::onnx_import {

namespace {

const std::map<std::string, ElementWiseOp>& binaryOps() {
  static const std::map<std::string, ElementWiseOp> ops = {
      {"Add", ElementWiseOp::kAdd},
      {"Sub", ElementWiseOp::kSub},
      {"Mul", ElementWiseOp::kMul},
      {"Div", ElementWiseOp::kDiv},
      {"Pow", ElementWiseOp::kPow},
      {"And", ElementWiseOp::kAnd},
      {"Or", ElementWiseOp::kOr},
      {"Xor", ElementWiseOp::kXor},
      {"Equal", ElementWiseOp::kEqual},
      {"Less", ElementWiseOp::kLess},
      {"Greater", ElementWiseOp::kGreater},
      {"LessOrEqual", ElementWiseOp::kLessOrEqual},
      {"GreaterOrEqual", ElementWiseOp::kGreaterOrEqual},
      {"BitwiseAnd", ElementWiseOp::kBitwiseAnd},
      {"BitwiseOr", ElementWiseOp::kBitwiseOr},
      {"BitwiseXor", ElementWiseOp::kBitwiseXor},
  };
  return ops;
}

const std::map<std::string, UnaryOp>& unaryOps() {
  static const std::map<std::string, UnaryOp> ops = {
      {"Abs", UnaryOp::kAbs},     {"Neg", UnaryOp::kNeg},     {"Exp", UnaryOp::kExp},
      {"Log", UnaryOp::kLog},     {"Sqrt", UnaryOp::kSqrt},   {"Reciprocal", UnaryOp::kReciprocal},
      {"Floor", UnaryOp::kFloor}, {"Ceil", UnaryOp::kCeil},   {"Round", UnaryOp::kRound},
      {"Sin", UnaryOp::kSin},     {"Cos", UnaryOp::kCos},     {"Tan", UnaryOp::kTan},
      {"Asin", UnaryOp::kAsin},   {"Acos", UnaryOp::kAcos},   {"Atan", UnaryOp::kAtan},
      {"Sinh", UnaryOp::kSinh},   {"Cosh", UnaryOp::kCosh},   {"Asinh", UnaryOp::kAsinh},
      {"Acosh", UnaryOp::kAcosh}, {"Atanh", UnaryOp::kAtanh}, {"Erf", UnaryOp::kErf},
      {"Sign", UnaryOp::kSign},   {"Not", UnaryOp::kNot},     {"IsNaN", UnaryOp::kIsNaN},
      {"IsInf", UnaryOp::kIsInf}, {"BitwiseNot", UnaryOp::kBitwiseNot},
  };
  return ops;
}

// Opset < 7 binary ops broadcast only with broadcast=1, aligning B at `axis` of A.
ITensor* legacyBroadcast(ImporterContext& ctx, ITensor* a, ITensor* b) {
  if (ctx.opset() >= 7 || ctx.attrInt("broadcast", 0) == 0 || !ctx.hasAttr("axis")) return b;
  int64_t rankA = static_cast<int64_t>(a->dims().size()), rankB = static_cast<int64_t>(b->dims().size());
  int64_t axis = ctx.attrInt("axis", 0);
  if (axis < 0) axis += rankA;
  int64_t trailing = rankA - axis - rankB;
  if (trailing <= 0) return b;
  ReshapeParams p;
  p.mode = ReshapeMode::kUnsqueeze;
  for (int64_t i = 0; i < trailing; ++i) p.axes.push_back(rankB + i);
  return ctx.add(p, {b});
}

}  // namespace

std::string checkBinary(const NodeView& n) {
  if (n.opType() == "BitShift") {
    std::string dir = n.attrString("direction", "");
    if (dir != "LEFT" && dir != "RIGHT") return concat("direction '", dir, "' must be LEFT or RIGHT");
  }
  return "";
}

void importBinary(ImporterContext& ctx) {
  ElementWiseOp op;
  const std::string& type = ctx.opType();
  if (type == "Mod") {
    op = ctx.attrInt("fmod", 0) ? ElementWiseOp::kFMod : ElementWiseOp::kMod;
  } else if (type == "BitShift") {
    op = ctx.attrString("direction", "") == "LEFT" ? ElementWiseOp::kBitShiftLeft : ElementWiseOp::kBitShiftRight;
  } else {
    op = binaryOps().at(type);
  }
  ITensor* a = ctx.requireInput(0);
  // BitShift 28 allows signed integers (arithmetic right shift, shifts past the width): not implemented.
  if (type == "BitShift" && a->type() != DataType::kUInt8 && a->type() != DataType::kUInt16 &&
      a->type() != DataType::kUInt32 && a->type() != DataType::kUInt64)
    ctx.fail(ErrorCode::kUnsupported, concat("BitShift on ", dataTypeName(a->type()),
                                             " (signed integers, opset 28) is not supported: only unsigned integers"));
  ITensor* b = legacyBroadcast(ctx, a, ctx.requireInput(1));
  ctx.setOutput(0, ctx.elementWise(a, b, op));
}

void importVariadic(ImporterContext& ctx) {
  const std::string& type = ctx.opType();
  ElementWiseOp op = type == "Max" ? ElementWiseOp::kMax : type == "Min" ? ElementWiseOp::kMin : ElementWiseOp::kAdd;
  std::vector<ITensor*> inputs;
  for (int i = 0; i < ctx.numInputs(); ++i)
    if (ctx.hasInput(i)) inputs.push_back(ctx.input(i));
  if (inputs.empty()) ctx.fail(ErrorCode::kInvalidModel, "needs at least one input");
  ITensor* acc = inputs[0];
  for (size_t i = 1; i < inputs.size(); ++i) acc = ctx.elementWise(acc, inputs[i], op);
  if (type == "Mean" && inputs.size() > 1)
    acc = ctx.elementWise(acc, ctx.scalar(acc->type(), static_cast<double>(inputs.size())), ElementWiseOp::kDiv);
  ctx.setOutput(0, acc);
}

std::string checkUnary(const NodeView& n) {
  if (n.opType() == "IsInf" && !n.attrInt("detect_positive", 1) && !n.attrInt("detect_negative", 1))
    return "detect_positive = detect_negative = 0 (always false) is not supported";
  return "";
}

void importUnary(ImporterContext& ctx) {
  UnaryOp op = unaryOps().at(ctx.opType());
  if (op == UnaryOp::kIsInf) {
    bool pos = ctx.attrInt("detect_positive", 1) != 0, neg = ctx.attrInt("detect_negative", 1) != 0;
    op = pos && neg ? UnaryOp::kIsInf : pos ? UnaryOp::kIsInfPositive : UnaryOp::kIsInfNegative;
  }
  ctx.setOutput(0, ctx.add(UnaryParams{op}, {ctx.requireInput(0)}));
}

std::string checkActivation(const NodeView& n) {
  if (n.opType() == "Gelu") {
    std::string approx = n.attrString("approximate", "none");
    if (approx != "none" && approx != "tanh") return concat("approximate '", approx, "' must be none or tanh");
  }
  return "";
}

namespace {
// x * sigmoid(alpha * x): ONNX's Swish, and SwiGLU's gate.
ITensor* swish(ImporterContext& ctx, ITensor* x) {
  double alpha = ctx.attrFloat("alpha", 1.f);
  ITensor* scaled = alpha == 1.0 ? x : ctx.elementWise(x, ctx.scalar(x->type(), alpha), ElementWiseOp::kMul);
  ActivationParams sigmoid;
  sigmoid.type = ActivationType::kSigmoid;
  return ctx.elementWise(x, ctx.add(sigmoid, {scaled}), ElementWiseOp::kMul);
}
}  // namespace

// Swish (opset 24).
void importSwish(ImporterContext& ctx) { ctx.setOutput(0, swish(ctx, ctx.requireInput(0))); }

// SwiGLU (opset 28): Swish(A) * B, A and B of one shape (no broadcasting).
void importSwiGLU(ImporterContext& ctx) {
  ITensor* a = ctx.requireInput(0);
  ITensor* b = ctx.requireInput(1);
  if (a->dims().size() != b->dims().size())
    ctx.fail(ErrorCode::kInvalidModel, concat("A ", dimsToString(a->dims()), " and B ", dimsToString(b->dims()),
                                              " must have the same shape"));
  for (size_t i = 0; i < a->dims().size(); ++i)
    if (a->dims()[i] >= 0 && b->dims()[i] >= 0 && a->dims()[i] != b->dims()[i])
      ctx.fail(ErrorCode::kInvalidModel, concat("A ", dimsToString(a->dims()), " and B ", dimsToString(b->dims()),
                                                " must have the same shape"));
  ctx.setOutput(0, ctx.elementWise(swish(ctx, a), b, ElementWiseOp::kMul));
}

void importActivation(ImporterContext& ctx) {
  const std::string& type = ctx.opType();
  ActivationParams p;
  if (type == "Relu") p.type = ActivationType::kRelu;
  else if (type == "Sigmoid") p.type = ActivationType::kSigmoid;
  else if (type == "Tanh") p.type = ActivationType::kTanh;
  else if (type == "LeakyRelu") { p.type = ActivationType::kLeakyRelu; p.alpha = ctx.attrFloat("alpha", 0.01f); }
  else if (type == "Elu") { p.type = ActivationType::kElu; p.alpha = ctx.attrFloat("alpha", 1.f); }
  else if (type == "Selu") {
    p.type = ActivationType::kSelu;
    p.alpha = ctx.attrFloat("alpha", 1.67326319217681884765625f);
    p.beta = ctx.attrFloat("gamma", 1.05070102214813232421875f);
  } else if (type == "HardSigmoid") {
    p.type = ActivationType::kHardSigmoid;
    p.alpha = ctx.attrFloat("alpha", 0.2f);
    p.beta = ctx.attrFloat("beta", 0.5f);
  } else if (type == "HardSwish") p.type = ActivationType::kHardSwish;
  else if (type == "Softplus") p.type = ActivationType::kSoftplus;
  else if (type == "Softsign") p.type = ActivationType::kSoftsign;
  else if (type == "ThresholdedRelu") { p.type = ActivationType::kThresholdedRelu; p.alpha = ctx.attrFloat("alpha", 1.f); }
  else if (type == "Gelu") { p.type = ActivationType::kGelu; p.alpha = ctx.attrString("approximate", "none") == "tanh" ? 1.f : 0.f; }
  else if (type == "Mish") p.type = ActivationType::kMish;
  else if (type == "Celu") { p.type = ActivationType::kCelu; p.alpha = ctx.attrFloat("alpha", 1.f); }
  else ctx.fail(ErrorCode::kInternal, "not an activation");
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0)}));
}

void importClip(ImporterContext& ctx) {
  ITensor* x = ctx.requireInput(0);
  constexpr float lo = std::numeric_limits<float>::lowest(), hi = std::numeric_limits<float>::max();
  if (ctx.opset() < 11) {
    ctx.setOutput(0, ctx.add(ActivationParams{ActivationType::kClip, ctx.attrFloat("min", lo), ctx.attrFloat("max", hi)},
                             {x}));
    return;
  }
  const HostTensor* minV = ctx.constantInput(1);
  const HostTensor* maxV = ctx.constantInput(2);
  bool minOk = !ctx.hasInput(1) || (minV && minV->count() == 1);
  bool maxOk = !ctx.hasInput(2) || (maxV && maxV->count() == 1);
  if (minOk && maxOk && isFloatType(x->type())) {
    float a = minV ? static_cast<float>(scalarValue(*minV)) : lo;
    float b = maxV ? static_cast<float>(scalarValue(*maxV)) : hi;
    ctx.setOutput(0, ctx.add(ActivationParams{ActivationType::kClip, a, b}, {x}));
    return;
  }
  ITensor* y = x;
  if (ctx.hasInput(1)) y = ctx.elementWise(y, ctx.input(1), ElementWiseOp::kMax);
  if (ctx.hasInput(2)) y = ctx.elementWise(y, ctx.input(2), ElementWiseOp::kMin);
  ctx.setOutput(0, y);
}

void importPRelu(ImporterContext& ctx) {
  ITensor* x = ctx.requireInput(0);
  ITensor* slope = ctx.requireInput(1);
  // Old opsets: a 1-D slope of size C is per channel.
  if (ctx.opset() < 7 && slope->dims().size() == 1 && x->dims().size() > 2 && slope->dims()[0] > 1 &&
      slope->dims()[0] == x->dims()[1]) {
    ReshapeParams p;
    p.mode = ReshapeMode::kUnsqueeze;
    for (size_t i = 1; i + 1 < x->dims().size(); ++i) p.axes.push_back(static_cast<int64_t>(i));
    slope = ctx.add(p, {slope});
  }
  ctx.setOutput(0, ctx.elementWise(x, slope, ElementWiseOp::kPRelu));
}

void importWhere(ImporterContext& ctx) {
  ctx.setOutput(0, ctx.add(SelectParams{}, {ctx.requireInput(0), ctx.requireInput(1), ctx.requireInput(2)}));
}

// Shrink: x < -lambd ? x + bias : (x > lambd ? x - bias : 0).
void importShrink(ImporterContext& ctx) {
  ITensor* x = ctx.requireInput(0);
  double lambd = ctx.attrFloat("lambd", 0.5f), bias = ctx.attrFloat("bias", 0.f);
  ITensor* below = ctx.elementWise(x, ctx.scalar(x->type(), -lambd), ElementWiseOp::kLess);
  ITensor* above = ctx.elementWise(x, ctx.scalar(x->type(), lambd), ElementWiseOp::kGreater);
  ITensor* raised = ctx.elementWise(x, ctx.scalar(x->type(), bias), ElementWiseOp::kAdd);
  ITensor* lowered = ctx.elementWise(x, ctx.scalar(x->type(), bias), ElementWiseOp::kSub);
  ITensor* upper = ctx.add(SelectParams{}, {above, lowered, ctx.scalar(x->type(), 0)});
  ctx.setOutput(0, ctx.add(SelectParams{}, {below, raised, upper}));
}

}  // namespace kiln::onnx_import
