// What the CUDA rows' supports() functions share: the type predicates and the reason wording. The checks
// every CUDA kernel needs (tensor values only, rank at most kMaxRank) are tensorReason(), applied once by
// cuda::unsupportedReason before any row is asked (kernel_table.cpp).
#pragma once

#include <string>

#include "backends/cuda/cuda_common.h"

namespace kiln::cuda {

inline bool isFloat(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16; }
inline bool isInt(DataType t) { return t == DataType::kInt32 || t == DataType::kInt64; }
inline bool isNumeric(DataType t) { return isFloat(t) || isInt(t); }
inline bool isIndex(DataType t) { return t == DataType::kInt32 || t == DataType::kInt64; }
inline bool isMovable(DataType t) { return t != DataType::kString; }
inline bool isCastable(DataType t) { return t != DataType::kString && t != DataType::kFP8E4M3; }

// Input i's type (float32 for an omitted input), output i's type, input i's rank (0 when omitted).
inline DataType inType(const ir::Layer& l, size_t i) {
  return i < l.inputs.size() && l.inputs[i] ? l.inputs[i]->type() : DataType::kFloat32;
}
inline DataType outType(const ir::Layer& l, size_t i = 0) {
  return i < l.outputs.size() && l.outputs[i] ? l.outputs[i]->type() : DataType::kFloat32;
}
inline int64_t inRank(const ir::Layer& l, size_t i = 0) {
  return i < l.inputs.size() && l.inputs[i] ? static_cast<int64_t>(l.inputs[i]->dims().size()) : 0;
}

// "no CUDA kernel for int8 (supported: float32, float16)"
inline std::string typeReason(DataType t, const char* wanted) {
  return concat("no CUDA kernel for ", dataTypeName(t), " (supported: ", wanted, ")");
}
// The reason of the many kernels that take float32 and float16 only ("" for those).
inline std::string floatReason(DataType t) { return isFloat(t) ? "" : typeReason(t, "float32, float16"); }
// The same for any type but strings (the data movement kernels).
inline std::string movableReason(DataType t) { return isMovable(t) ? "" : typeReason(t, "any non-string type"); }
// The same for float32, float16, int32 and int64.
inline std::string numericReason(DataType t) {
  return isNumeric(t) ? "" : typeReason(t, "float32, float16, int32, int64");
}

// Empty when every input and output is a tensor (not a sequence or optional, which live on the host)
// of rank at most kMaxRank (the kernels' by-value shape arrays); else why not.
inline std::string tensorReason(const ir::Layer& layer) {
  for (const auto* list : {&layer.inputs, &layer.outputs})
    for (const ir::Tensor* t : *list)
      if (t && t->kind != ValueKind::kTensor) return "sequences and optionals live on the host";
  for (const auto* list : {&layer.inputs, &layer.outputs})
    for (const ir::Tensor* t : *list)
      if (t && t->dims().size() > static_cast<size_t>(kMaxRank)) return concat("rank above ", kMaxRank);
  return "";
}

}  // namespace kiln::cuda
