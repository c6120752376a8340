#include "ir/pointwise_program.h"

#include "core/error.h"

namespace kiln::ir {

bool isPointwiseFloatType(DataType type) {
  return type == DataType::kFloat32 || type == DataType::kFloat16 || type == DataType::kBFloat16;
}

bool isPointwiseCastSource(DataType type) {
  return type == DataType::kInt32 || type == DataType::kInt64 || type == DataType::kBool;
}

bool isPointwiseElementWiseOp(ElementWiseOp op) {
  switch (op) {
    case ElementWiseOp::kAdd: case ElementWiseOp::kSub: case ElementWiseOp::kMul: case ElementWiseOp::kDiv:
    case ElementWiseOp::kPow: case ElementWiseOp::kMax: case ElementWiseOp::kMin: case ElementWiseOp::kMod:
    case ElementWiseOp::kFMod: case ElementWiseOp::kPRelu:
      return true;
    default:
      return false;
  }
}

bool isPointwiseUnaryOp(UnaryOp op) {
  switch (op) {
    case UnaryOp::kNot: case UnaryOp::kIsNaN: case UnaryOp::kIsInf: case UnaryOp::kIsInfPositive:
    case UnaryOp::kIsInfNegative: case UnaryOp::kBitwiseNot:
      return false;
    default:
      return static_cast<int>(op) <= static_cast<int>(UnaryOp::kBitwiseNot);
  }
}

std::string checkPointwiseProgram(const PointwiseParams& p, const std::vector<DataType>& inputTypes) {
  const size_t n = p.kinds.size();
  if (n == 0) return "the program is empty";
  if (p.codes.size() != n || p.a.size() != n || p.b.size() != n || p.alpha.size() != n || p.beta.size() != n ||
      p.types.size() != n)
    return concat("the program's vectors differ in length (", n, " kinds, ", p.codes.size(), " codes, ", p.a.size(),
                  " a, ", p.b.size(), " b, ", p.alpha.size(), " alpha, ", p.beta.size(), " beta, ", p.types.size(),
                  " types)");
  if (p.output < 0 || p.output >= static_cast<int64_t>(n))
    return concat("output register ", p.output, " is not one of the ", n, " registers");
  if (!isPointwiseFloatType(p.types[p.output]))
    return concat("output register ", p.output, " is ", dataTypeName(p.types[p.output]), ", not a float type");
  for (size_t i = 0; i < n; ++i) {
    const int64_t code = p.codes[i];
    const DataType type = p.types[i];
    auto where = [&] { return concat("instruction ", i, ": "); };
    auto operand = [&](int64_t r) { return r >= 0 && r < static_cast<int64_t>(i); };
    if (p.kinds[i] == PointwiseOpKind::kInput) {
      if (code < 0 || code >= static_cast<int64_t>(inputTypes.size()))
        return concat(where(), "loads input ", code, " of ", inputTypes.size());
      if (inputTypes[code] != type)
        return concat(where(), "loads input ", code, " as ", dataTypeName(type), " but it is ",
                      dataTypeName(inputTypes[code]));
      if (!isPointwiseFloatType(type) && !isPointwiseCastSource(type))
        return concat(where(), "loads input ", code, " of unsupported type ", dataTypeName(type));
      continue;
    }
    if (!isPointwiseFloatType(type)) return concat(where(), "computes ", dataTypeName(type), ", not a float type");
    switch (p.kinds[i]) {
      case PointwiseOpKind::kConstant:
        break;
      case PointwiseOpKind::kElementWise:
        if (!operand(p.a[i]) || !operand(p.b[i])) return concat(where(), "reads a register that is not earlier");
        if (code < 0 || code > static_cast<int64_t>(ElementWiseOp::kPRelu) ||
            !isPointwiseElementWiseOp(static_cast<ElementWiseOp>(code)))
          return concat(where(), "element-wise op ", code, " cannot be in a program");
        if (p.types[p.a[i]] != type || p.types[p.b[i]] != type)
          return concat(where(), "operand types differ from the result type ", dataTypeName(type));
        break;
      case PointwiseOpKind::kUnary:
        if (!operand(p.a[i])) return concat(where(), "reads a register that is not earlier");
        if (code < 0 || code > static_cast<int64_t>(UnaryOp::kBitwiseNot) ||
            !isPointwiseUnaryOp(static_cast<UnaryOp>(code)))
          return concat(where(), "unary op ", code, " cannot be in a program");
        if (p.types[p.a[i]] != type) return concat(where(), "operand type differs from the result type");
        break;
      case PointwiseOpKind::kActivation:
        if (!operand(p.a[i])) return concat(where(), "reads a register that is not earlier");
        if (code < 0 || code > static_cast<int64_t>(ActivationType::kCelu))
          return concat(where(), "activation ", code, " is out of range");
        if (p.types[p.a[i]] != type) return concat(where(), "operand type differs from the result type");
        break;
      case PointwiseOpKind::kCast: {
        if (!operand(p.a[i])) return concat(where(), "reads a register that is not earlier");
        DataType from = p.types[p.a[i]];
        if (!isPointwiseFloatType(from) && type != DataType::kFloat32)
          return concat(where(), "casts ", dataTypeName(from), " to ", dataTypeName(type),
                        " (integer and bool registers cast to float32 only)");
        break;
      }
      default:
        return concat(where(), "unknown kind ", static_cast<int>(p.kinds[i]));
    }
    // Non-cast instructions read float registers only (the cast's source was checked above).
    if (p.kinds[i] != PointwiseOpKind::kCast && p.kinds[i] != PointwiseOpKind::kConstant &&
        !isPointwiseFloatType(p.types[p.a[i]]))
      return concat(where(), "reads a ", dataTypeName(p.types[p.a[i]]), " register");
  }
  return "";
}

std::string checkPointwiseLayer(const PointwiseParams& p, const std::vector<DataType>& inputTypes, DataType outputType) {
  std::string why = checkPointwiseProgram(p, inputTypes);
  if (!why.empty()) return why;
  if (p.types[p.output] != outputType)
    return concat("the output is ", dataTypeName(outputType), " but the program computes ",
                  dataTypeName(p.types[p.output]));
  return "";
}

}  // namespace kiln::ir
