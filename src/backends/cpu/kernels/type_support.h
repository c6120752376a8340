// Which element types a CPU kernel row takes, checked against a layer's tensor types: each kernel file's
// supports() states its type classes (TypeSet, dispatch.h) with these helpers.
#pragma once

#include <initializer_list>
#include <string>

#include "backends/cpu/kernels/dispatch.h"
#include "ir/network.h"
#include "ir/shape_inference.h"

namespace kiln::cpu {

inline unsigned typeClassOf(DataType type) {
  switch (type) {
    case DataType::kFloat32: case DataType::kFloat16: case DataType::kBFloat16: case DataType::kFloat64: return kFloats;
    case DataType::kInt8: case DataType::kInt16: case DataType::kInt32: case DataType::kInt64: return kSigned;
    case DataType::kUInt8: case DataType::kUInt16: case DataType::kUInt32: case DataType::kUInt64: return kUnsigned;
    case DataType::kBool: return kBoolType;
    case DataType::kFP8E4M3: return kFP8;
    case DataType::kString: return kStrings;
    default: return 0;
  }
}

inline std::string typeClassNames(unsigned classes) {
  static const std::pair<unsigned, const char*> names[] = {
      {kFloats, "float32/float16/bfloat16/float64"}, {kSigned, "signed integers"}, {kUnsigned, "unsigned integers"},
      {kBoolType, "bool"}, {kFP8, "float8e4m3"}, {kStrings, "string"}};
  std::string all;
  for (auto& [c, name] : names)
    if (classes & c) all += concat(all.empty() ? "" : ", ", name);
  return all;
}

// Empty when `t` (nullptr: an omitted optional input) has a type in `allowed`; else why not.
inline std::string checkType(const ir::Tensor* t, unsigned allowed, const char* role, int index) {
  if (t == nullptr || (typeClassOf(t->type()) & allowed)) return {};
  return concat("no CPU kernel for ", dataTypeName(t->type()), " ", role, " ", index, " (supported: ",
                typeClassNames(allowed), ")");
}

// Empty when each input has a type in `data`, except the shape inputs (ir::isShapeInput: values read on
// the host), which take `shapeInputs`, and each output a type in `outputs`; else why not.
inline std::string checkTypes(const ir::Layer& layer, unsigned data, unsigned outputs, unsigned shapeInputs = kIntegers) {
  for (int i = 0; i < layer.numInputs(); ++i) {
    std::string why = checkType(layer.inputs[i], ir::isShapeInput(layer, i) ? shapeInputs : data, "input", i);
    if (!why.empty()) return why;
  }
  for (int i = 0; i < layer.numOutputs(); ++i) {
    std::string why = checkType(layer.outputs[i], outputs, "output", i);
    if (!why.empty()) return why;
  }
  return {};
}

// The same with the classes of each input and output index; a list's last entry applies to the later
// indices too.
inline std::string checkTypesPerIndex(const ir::Layer& layer, std::initializer_list<unsigned> inputs,
                                      std::initializer_list<unsigned> outputs) {
  auto classAt = [](std::initializer_list<unsigned> list, int i) {
    return list.begin()[std::min<size_t>(static_cast<size_t>(i), list.size() - 1)];
  };
  for (int i = 0; i < layer.numInputs(); ++i) {
    std::string why = checkType(layer.inputs[i], classAt(inputs, i), "input", i);
    if (!why.empty()) return why;
  }
  for (int i = 0; i < layer.numOutputs(); ++i) {
    std::string why = checkType(layer.outputs[i], classAt(outputs, i), "output", i);
    if (!why.empty()) return why;
  }
  return {};
}

// Empty when every input and output is float32 (kernels of libraries with float32 paths only).
inline std::string checkFloat32(const ir::Layer& layer) {
  auto check = [](const ir::Tensor* t, const char* role, int i) -> std::string {
    if (t == nullptr || t->type() == DataType::kFloat32) return {};
    return concat("float32 only, not ", dataTypeName(t->type()), " for ", role, " ", i);
  };
  for (int i = 0; i < layer.numInputs(); ++i)
    if (std::string why = check(layer.inputs[i], "input", i); !why.empty()) return why;
  for (int i = 0; i < layer.numOutputs(); ++i)
    if (std::string why = check(layer.outputs[i], "output", i); !why.empty()) return why;
  return {};
}

}  // namespace kiln::cpu
