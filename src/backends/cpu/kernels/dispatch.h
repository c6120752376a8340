// Element-type dispatch for CPU kernels.
//
//   dispatchType(type, layer, [&](auto tag) { using T = typename decltype(tag)::type; ... });
//
// Half types (float16, bfloat16) are dispatched as kiln::cpu::Half / BHalf wrappers that convert
// to and from float, so a kernel written for T computes them in float.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "core/error.h"
#include "core/half.h"
#include "ir/network.h"

namespace kiln::cpu {

struct Half {
  uint16_t bits;
  Half() = default;
  Half(float f) : bits(floatToHalf(f)) {}
  operator float() const { return halfToFloat(bits); }
};
struct BHalf {
  uint16_t bits;
  BHalf() = default;
  BHalf(float f) : bits(floatToBfloat16(f)) {}
  operator float() const { return bfloat16ToFloat(bits); }
};

template <class T> struct TypeTag { using type = T; };

// The type used for arithmetic on T: float for the half types, T otherwise.
template <class T> using ComputeType = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BHalf>, float, T>;

// Classes of element types: what dispatchType instantiates, and what a kernel row supports
// (type_support.h).
enum TypeSet : unsigned {
  kFloats = 1,     // float32, float16, bfloat16, float64
  kSigned = 2,     // int8, int16, int32, int64
  kUnsigned = 4,   // uint8, uint16, uint32, uint64
  kBoolType = 8,   // bool (as uint8_t-backed bool)
  kFP8 = 16,       // float8 e4m3 (quantized storage; never dispatched)
  kStrings = 32,   // string: std::string objects, copied element by element (never dispatched)
  kIntegers = kSigned | kUnsigned,
  kNumeric = kFloats | kSigned | kUnsigned,
  kAll = kNumeric | kBoolType,
  kBytes = kAll | kFP8,  // layers that only move elements
};

[[noreturn]] inline void unsupportedType(DataType type, const ir::Layer& layer) {
  fail(ErrorCode::kUnsupported, concat(layer.describe(), ": the CPU backend does not support ", dataTypeName(type)));
}

template <unsigned Set = kAll, class F>
decltype(auto) dispatchType(DataType type, const ir::Layer& layer, F&& f) {
  switch (type) {
    case DataType::kFloat32: if constexpr (Set & kFloats) return f(TypeTag<float>{}); break;
    case DataType::kFloat64: if constexpr (Set & kFloats) return f(TypeTag<double>{}); break;
    case DataType::kFloat16: if constexpr (Set & kFloats) return f(TypeTag<Half>{}); break;
    case DataType::kBFloat16: if constexpr (Set & kFloats) return f(TypeTag<BHalf>{}); break;
    case DataType::kInt8: if constexpr (Set & kSigned) return f(TypeTag<int8_t>{}); break;
    case DataType::kInt16: if constexpr (Set & kSigned) return f(TypeTag<int16_t>{}); break;
    case DataType::kInt32: if constexpr (Set & kSigned) return f(TypeTag<int32_t>{}); break;
    case DataType::kInt64: if constexpr (Set & kSigned) return f(TypeTag<int64_t>{}); break;
    case DataType::kUInt8: if constexpr (Set & kUnsigned) return f(TypeTag<uint8_t>{}); break;
    case DataType::kUInt16: if constexpr (Set & kUnsigned) return f(TypeTag<uint16_t>{}); break;
    case DataType::kUInt32: if constexpr (Set & kUnsigned) return f(TypeTag<uint32_t>{}); break;
    case DataType::kUInt64: if constexpr (Set & kUnsigned) return f(TypeTag<uint64_t>{}); break;
    case DataType::kBool: if constexpr (Set & kBoolType) return f(TypeTag<bool>{}); break;
    default: break;
  }
  unsupportedType(type, layer);
}

}  // namespace kiln::cpu
