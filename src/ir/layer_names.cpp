// Printable names of layer types (from the layer table) and of their enums.
#include <type_traits>

#include "ir/layer_table.h"
#include "kiln/layers.h"

namespace kiln {

namespace {
// Each params struct's kType must equal its index in LayerParams.
template <size_t... I>
constexpr bool typesMatchIndices(std::index_sequence<I...>) {
  return ((std::variant_alternative_t<I, LayerParams>::kType == static_cast<LayerType>(I)) && ...);
}
static_assert(typesMatchIndices(std::make_index_sequence<std::variant_size_v<LayerParams>>{}),
              "LayerParams alternatives must be in LayerType order");
}  // namespace

const char* layerTypeName(LayerType type) {
  return static_cast<size_t>(type) < static_cast<size_t>(LayerType::kCount) ? ir::layerInfo(type).name : "Unknown";
}

const char* elementWiseOpName(ElementWiseOp op) {
  static const char* names[] = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "FMod",
                                "And", "Or", "Xor", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
                                "BitShiftLeft", "BitShiftRight", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "PRelu"};
  return names[static_cast<size_t>(op)];
}

const char* unaryOpName(UnaryOp op) {
  static const char* names[] = {"Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round",
                                "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh",
                                "Atanh", "Erf", "Sign", "Not", "IsNaN", "IsInf", "IsInfPositive", "IsInfNegative",
                                "BitwiseNot"};
  return names[static_cast<size_t>(op)];
}

const char* activationTypeName(ActivationType type) {
  static const char* names[] = {"Relu", "Sigmoid", "Tanh", "LeakyRelu", "Elu", "Selu", "Clip", "HardSigmoid",
                                "HardSwish", "Softplus", "Softsign", "ThresholdedRelu", "Gelu", "Mish", "Celu"};
  return names[static_cast<size_t>(type)];
}

const char* reduceOpName(ReduceOp op) {
  static const char* names[] = {"Sum", "Mean", "Max", "Min", "Prod", "L1", "L2", "LogSum", "LogSumExp", "SumSquare"};
  return names[static_cast<size_t>(op)];
}

}  // namespace kiln
