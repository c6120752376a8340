// Shape rules of the elementwise layers: Identity, Cast, ElementWise, Unary, Activation, Select,
// Quantize/Dequantize (elementwise maps whose scale broadcasts per tensor, per axis or per block), and
// Pointwise (a fused program; its inputs broadcast to the output).
#include "ir/layers/shape_rules.h"
#include "ir/pointwise_program.h"

namespace kiln::ir::shape_rules {

namespace {

// Checks a (de)quantization scale against the input: per tensor, per axis or blocked.
void checkQuantScale(const ShapeInferenceContext& c, int64_t axisParam, int64_t blockSize) {
  const Dims &x = c.shape(0), &scale = c.shape(1);
  // A one-element zero point goes with any one-element scale ([] and [1] alike, as onnxruntime's quantizer
  // writes them).
  auto oneElement = [](const Dims& d) { return d.empty() || (d.size() == 1 && d[0] == 1); };
  if (c.has(2))
    SHAPE_CHECK(c, c.shape(2) == scale || (oneElement(c.shape(2)) && oneElement(scale)), "zero point ",
                dimsToString(c.shape(2)), " must have the shape of scale ", dimsToString(scale));
  if (scale.empty() || (scale.size() == 1 && scale[0] == 1 && blockSize == 0)) return;  // per tensor
  int64_t axis = normalizeAxis(axisParam, rankOf(x), c.layer);
  if (blockSize == 0) {
    SHAPE_CHECK(c, scale.size() == 1 && (!known(scale[0]) || !known(x[axis]) || scale[0] == x[axis]), "scale ",
                dimsToString(scale), " does not match dim ", axis, " of input ", dimsToString(x));
    return;
  }
  SHAPE_CHECK(c, blockSize > 0 && scale.size() == x.size(), "blocked scale ", dimsToString(scale),
              " must have the rank of input ", dimsToString(x));
  for (size_t i = 0; i < x.size(); ++i) {
    if (!known(x[i]) || !known(scale[i])) continue;
    int64_t expected = static_cast<int64_t>(i) == axis ? ceilDiv(x[i], blockSize) : x[i];
    SHAPE_CHECK(c, scale[i] == expected, "blocked scale ", dimsToString(scale), " does not match input ",
                dimsToString(x), " with block size ", blockSize);
  }
}

}  // namespace

Outputs inferIdentity(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  return {c.in(0)};  // tensors, sequences and optionals alike
}

Outputs inferCast(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  return one(c.layer.as<CastParams>().to, c.shape(0));
}

Outputs inferElementWise(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 2);
  ElementWiseOp op = c.layer.as<ElementWiseParams>().op;
  DataType a = c.type(0), b = c.type(1);
  bool mixedOk = op == ElementWiseOp::kPRelu || op == ElementWiseOp::kPow;
  SHAPE_CHECK(c, mixedOk || a == b, "input types differ: ", dataTypeName(a), " ", dimsToString(c.shape(0)), " vs ",
              dataTypeName(b), " ", dimsToString(c.shape(1)));
  Dims shape = broadcastShapes(c.shape(0), c.shape(1), c.layer);
  switch (op) {
    case ElementWiseOp::kAnd: case ElementWiseOp::kOr: case ElementWiseOp::kXor: case ElementWiseOp::kEqual:
    case ElementWiseOp::kLess: case ElementWiseOp::kGreater: case ElementWiseOp::kLessOrEqual:
    case ElementWiseOp::kGreaterOrEqual:
      return one(DataType::kBool, shape);
    default:
      return one(a, shape);
  }
}

Outputs inferUnary(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  switch (c.layer.as<UnaryParams>().op) {
    case UnaryOp::kNot: case UnaryOp::kIsNaN: case UnaryOp::kIsInf: case UnaryOp::kIsInfPositive:
    case UnaryOp::kIsInfNegative:
      return one(DataType::kBool, c.shape(0));
    default:
      return one(c.type(0), c.shape(0));
  }
}

Outputs inferActivation(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  return one(c.type(0), c.shape(0));
}

Outputs inferSelect(const ShapeInferenceContext& c) {
  expectInputs(c, 3, 3);
  SHAPE_CHECK(c, c.type(0) == DataType::kBool, "condition must be bool, got ", dataTypeName(c.type(0)));
  SHAPE_CHECK(c, c.type(1) == c.type(2), "input types differ: ", dataTypeName(c.type(1)), " ",
              dimsToString(c.shape(1)), " vs ", dataTypeName(c.type(2)), " ", dimsToString(c.shape(2)));
  Dims out = broadcastShapes(broadcastShapes(c.shape(0), c.shape(1), c.layer), c.shape(2), c.layer);
  return one(c.type(1), out);
}

Outputs inferQuantize(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 3);
  const auto& p = c.layer.as<QuantizeParams>();
  checkQuantScale(c, p.axis, p.blockSize);
  return one(p.outputType, c.shape(0));
}

Outputs inferDequantize(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 3);
  const auto& p = c.layer.as<DequantizeParams>();
  DataType x = c.type(0);
  SHAPE_CHECK(c, x == DataType::kFP8E4M3 || (!isFloatType(x) && x != DataType::kBool && x != DataType::kString),
              "input type ", dataTypeName(x), " is not a quantized type (integers or float8e4m3)");
  checkQuantScale(c, p.axis, p.blockSize);
  DataType scaleType = c.type(1);
  return one(isFloatType(scaleType) ? scaleType : DataType::kFloat32, c.shape(0));
}

Outputs inferPointwise(const ShapeInferenceContext& c) {
  SHAPE_CHECK(c, c.count() >= 1, "a Pointwise layer needs at least one input");
  std::vector<DataType> types;
  Dims shape = c.shape(0);
  for (int i = 0; i < c.count(); ++i) {
    SHAPE_CHECK(c, c.has(i), "input ", i, " is omitted");
    types.push_back(c.type(i));
    shape = broadcastShapes(shape, c.shape(i), c.layer);
  }
  const auto& p = c.layer.as<PointwiseParams>();
  std::string why = checkPointwiseProgram(p, types);
  SHAPE_CHECK(c, why.empty(), why);
  return one(p.types[p.output], shape);
}

}  // namespace kiln::ir::shape_rules
