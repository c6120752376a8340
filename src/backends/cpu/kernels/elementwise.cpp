// ElementWise: binary ops with numpy broadcasting. Shapes are merged into runs (BroadcastPlan) whose
// inner loop is specialized for equal shapes, scalar and row broadcasts; large outputs run in parallel.
// Integer semantics follow ONNX (C): Div truncates, Mod takes the divisor's sign, FMod the dividend's;
// integer division by zero is an error.
#include <atomic>
#include <cmath>
#include <type_traits>

#include "backends/cpu/kernels/convert.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

template <class C>
using Unsigned = std::make_unsigned_t<std::conditional_t<std::is_same_v<C, bool>, uint8_t, C>>;

template <class C> C wrapAdd(C a, C b) {
  if constexpr (std::is_integral_v<C>) return static_cast<C>(static_cast<Unsigned<C>>(a) + static_cast<Unsigned<C>>(b));
  else return a + b;
}
template <class C> C wrapSub(C a, C b) {
  if constexpr (std::is_integral_v<C>) return static_cast<C>(static_cast<Unsigned<C>>(a) - static_cast<Unsigned<C>>(b));
  else return a - b;
}
template <class C> C wrapMul(C a, C b) {
  if constexpr (std::is_integral_v<C>) {
    using U = std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, Unsigned<C>>;
    return static_cast<C>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

// Runs out[i] = f(a[i], b[i]) over the broadcast plan; f sees compute types.
template <class TA, class TB, class TO, class F>
void binaryLoop(const BroadcastPlan<2>& plan, const TensorView& va, const TensorView& vb, const TensorView& vo, F f) {
  const TA* a = va.as<const TA>();
  const TB* b = vb.as<const TB>();
  TO* o = vo.as<TO>();
  using CA = ComputeType<TA>;
  using CB = ComputeType<TB>;
  plan.forAll([&](int64_t pos, const int64_t* offs, int64_t count, const int64_t* inner) {
    const TA* pa = a + offs[0];
    const TB* pb = b + offs[1];
    TO* po = o + pos;
    if (inner[0] == 1 && inner[1] == 1) {
      for (int64_t i = 0; i < count; ++i) po[i] = TO(f(static_cast<CA>(pa[i]), static_cast<CB>(pb[i])));
    } else if (inner[0] == 1 && inner[1] == 0) {
      const CB bv = static_cast<CB>(pb[0]);
      for (int64_t i = 0; i < count; ++i) po[i] = TO(f(static_cast<CA>(pa[i]), bv));
    } else if (inner[0] == 0 && inner[1] == 1) {
      const CA av = static_cast<CA>(pa[0]);
      for (int64_t i = 0; i < count; ++i) po[i] = TO(f(av, static_cast<CB>(pb[i])));
    } else {
      for (int64_t i = 0; i < count; ++i)
        po[i] = TO(f(static_cast<CA>(pa[i * inner[0]]), static_cast<CB>(pb[i * inner[1]])));
    }
  });
}

template <class CA, class CB>
CA powValue(CA a, CB b) {
  if constexpr (std::is_integral_v<CA> && std::is_integral_v<CB>) {
    if constexpr (std::is_signed_v<CB>) {
      if (b < 0) {
        if (a == 1) return 1;
        if constexpr (std::is_signed_v<CA>)
          if (a == -1) return (b % 2 == 0) ? 1 : static_cast<CA>(-1);
        return 0;  // truncation of a fraction (a == 0: infinity, undefined; 0 here)
      }
    }
    using U = std::conditional_t<(sizeof(CA) < sizeof(unsigned)), unsigned, Unsigned<CA>>;
    U result = 1, base = static_cast<U>(a);
    auto e = static_cast<std::make_unsigned_t<CB>>(b);
    while (e) {
      if (e & 1) result *= base;
      base *= base;
      e >>= 1;
    }
    return static_cast<CA>(result);
  } else if constexpr (std::is_integral_v<CA>) {
    return convertValue<CA>(std::pow(static_cast<double>(a), static_cast<double>(b)));
  } else {
    return static_cast<CA>(std::pow(a, static_cast<CA>(b)));
  }
}

enum class Group { kArith, kLogic, kCompare, kBits, kPow };

Group groupOf(ElementWiseOp op) {
  switch (op) {
    case ElementWiseOp::kAnd: case ElementWiseOp::kOr: case ElementWiseOp::kXor: return Group::kLogic;
    case ElementWiseOp::kEqual: case ElementWiseOp::kLess: case ElementWiseOp::kGreater:
    case ElementWiseOp::kLessOrEqual: case ElementWiseOp::kGreaterOrEqual: return Group::kCompare;
    case ElementWiseOp::kBitShiftLeft: case ElementWiseOp::kBitShiftRight: case ElementWiseOp::kBitwiseAnd:
    case ElementWiseOp::kBitwiseOr: case ElementWiseOp::kBitwiseXor: return Group::kBits;
    case ElementWiseOp::kPow: return Group::kPow;
    default: return Group::kArith;
  }
}

}  // namespace

std::string supportsElementWise(const ir::Layer& layer) {
  switch (layer.as<ElementWiseParams>().op) {
    case ElementWiseOp::kAnd: case ElementWiseOp::kOr: case ElementWiseOp::kXor:
      return checkTypes(layer, kBoolType, kBoolType);
    case ElementWiseOp::kEqual: case ElementWiseOp::kLess: case ElementWiseOp::kGreater:
    case ElementWiseOp::kLessOrEqual: case ElementWiseOp::kGreaterOrEqual:
      return checkTypes(layer, kAll, kBoolType);
    case ElementWiseOp::kBitShiftLeft: case ElementWiseOp::kBitShiftRight:
      return checkTypes(layer, kIntegers, kIntegers);
    case ElementWiseOp::kBitwiseAnd: case ElementWiseOp::kBitwiseOr: case ElementWiseOp::kBitwiseXor:
      return checkTypes(layer, kIntegers | kBoolType, kIntegers | kBoolType);
    default: return checkTypes(layer, kNumeric, kNumeric);
  }
}

void runElementWise(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 2);
  const ElementWiseOp op = layer.as<ElementWiseParams>().op;
  const TensorView& a = args.inputs[0];
  const TensorView& b = args.inputs[1];
  const TensorView& o = args.outputs[0];
  const Group group = groupOf(op);
  if (group != Group::kPow) checkSameType(layer, a, b);
  const DataType expectedOut = (group == Group::kCompare || group == Group::kLogic) ? DataType::kBool : a.type;
  KILN_CHECK(o.type == expectedOut, kInternal, layer.describe(), ": output type ", dataTypeName(o.type),
             ", expected ", dataTypeName(expectedOut));
  const Dims* shapes[2] = {&a.shape, &b.shape};
  BroadcastPlan<2> plan(o.shape, shapes, layer);
  std::atomic<bool> divByZero{false};

  switch (group) {
    case Group::kLogic:
      dispatchType<kBoolType>(a.type, layer, [&](auto) {
        switch (op) {
          case ElementWiseOp::kAnd: binaryLoop<bool, bool, bool>(plan, a, b, o, [](bool x, bool y) { return x && y; }); break;
          case ElementWiseOp::kOr: binaryLoop<bool, bool, bool>(plan, a, b, o, [](bool x, bool y) { return x || y; }); break;
          default: binaryLoop<bool, bool, bool>(plan, a, b, o, [](bool x, bool y) { return x != y; }); break;
        }
      });
      break;
    case Group::kCompare:
      dispatchType<kAll>(a.type, layer, [&](auto tag) {
        using T = typename decltype(tag)::type;
        using C = ComputeType<T>;
        switch (op) {
          case ElementWiseOp::kEqual: binaryLoop<T, T, bool>(plan, a, b, o, [](C x, C y) { return x == y; }); break;
          case ElementWiseOp::kLess: binaryLoop<T, T, bool>(plan, a, b, o, [](C x, C y) { return x < y; }); break;
          case ElementWiseOp::kGreater: binaryLoop<T, T, bool>(plan, a, b, o, [](C x, C y) { return x > y; }); break;
          case ElementWiseOp::kLessOrEqual: binaryLoop<T, T, bool>(plan, a, b, o, [](C x, C y) { return x <= y; }); break;
          default: binaryLoop<T, T, bool>(plan, a, b, o, [](C x, C y) { return x >= y; }); break;
        }
      });
      break;
    case Group::kBits:
      dispatchType<kSigned | kUnsigned | kBoolType>(a.type, layer, [&](auto tag) {
        using T = typename decltype(tag)::type;
        if constexpr (std::is_same_v<T, bool>) {
          switch (op) {
            case ElementWiseOp::kBitwiseAnd: binaryLoop<T, T, T>(plan, a, b, o, [](bool x, bool y) { return x && y; }); break;
            case ElementWiseOp::kBitwiseOr: binaryLoop<T, T, T>(plan, a, b, o, [](bool x, bool y) { return x || y; }); break;
            case ElementWiseOp::kBitwiseXor: binaryLoop<T, T, T>(plan, a, b, o, [](bool x, bool y) { return x != y; }); break;
            default: unsupportedType(a.type, layer);
          }
        } else {
          using U = Unsigned<T>;
          constexpr int64_t bits = sizeof(T) * 8;
          switch (op) {
            case ElementWiseOp::kBitShiftLeft:
              binaryLoop<T, T, T>(plan, a, b, o, [](T x, T y) {
                auto s = static_cast<int64_t>(y);
                return (s < 0 || s >= bits) ? T(0) : static_cast<T>(static_cast<U>(static_cast<U>(x) << s));
              });
              break;
            case ElementWiseOp::kBitShiftRight:
              binaryLoop<T, T, T>(plan, a, b, o, [](T x, T y) {
                auto s = static_cast<int64_t>(y);
                return (s < 0 || s >= bits) ? T(0) : static_cast<T>(static_cast<U>(x) >> s);
              });
              break;
            case ElementWiseOp::kBitwiseAnd: binaryLoop<T, T, T>(plan, a, b, o, [](T x, T y) { return static_cast<T>(x & y); }); break;
            case ElementWiseOp::kBitwiseOr: binaryLoop<T, T, T>(plan, a, b, o, [](T x, T y) { return static_cast<T>(x | y); }); break;
            default: binaryLoop<T, T, T>(plan, a, b, o, [](T x, T y) { return static_cast<T>(x ^ y); }); break;
          }
        }
      });
      break;
    case Group::kPow:
      dispatchType<kNumeric>(a.type, layer, [&](auto tagA) {
        using TA = typename decltype(tagA)::type;
        dispatchType<kNumeric>(b.type, layer, [&](auto tagB) {
          using TB = typename decltype(tagB)::type;
          binaryLoop<TA, TB, TA>(plan, a, b, o,
                                 [](ComputeType<TA> x, ComputeType<TB> y) { return powValue(x, y); });
        });
      });
      break;
    case Group::kArith:
      dispatchType<kNumeric>(a.type, layer, [&](auto tag) {
        using T = typename decltype(tag)::type;
        using C = ComputeType<T>;
        constexpr bool isInt = std::is_integral_v<C>;
        switch (op) {
          case ElementWiseOp::kAdd: binaryLoop<T, T, T>(plan, a, b, o, [](C x, C y) { return wrapAdd(x, y); }); break;
          case ElementWiseOp::kSub: binaryLoop<T, T, T>(plan, a, b, o, [](C x, C y) { return wrapSub(x, y); }); break;
          case ElementWiseOp::kMul: binaryLoop<T, T, T>(plan, a, b, o, [](C x, C y) { return wrapMul(x, y); }); break;
          case ElementWiseOp::kDiv:
            binaryLoop<T, T, T>(plan, a, b, o, [&](C x, C y) -> C {
              if constexpr (isInt) {
                if (y == 0) { divByZero = true; return 0; }
                if constexpr (std::is_signed_v<C>) if (y == -1) return wrapSub(C(0), x);
                return static_cast<C>(x / y);
              } else {
                return x / y;
              }
            });
            break;
          case ElementWiseOp::kMod:
            binaryLoop<T, T, T>(plan, a, b, o, [&](C x, C y) -> C {
              if constexpr (isInt) {
                if (y == 0) { divByZero = true; return 0; }
                if constexpr (std::is_signed_v<C>) {
                  if (y == -1) return 0;
                  C r = static_cast<C>(x % y);
                  if (r != 0 && ((r < 0) != (y < 0))) r = static_cast<C>(r + y);
                  return r;
                } else {
                  return static_cast<C>(x % y);
                }
              } else {
                C r = std::fmod(x, y);
                if (r != 0 && ((r < 0) != (y < 0))) r += y;
                return r;
              }
            });
            break;
          case ElementWiseOp::kFMod:
            binaryLoop<T, T, T>(plan, a, b, o, [&](C x, C y) -> C {
              if constexpr (isInt) {
                if (y == 0) { divByZero = true; return 0; }
                if constexpr (std::is_signed_v<C>) if (y == -1) return 0;
                return static_cast<C>(x % y);
              } else {
                return std::fmod(x, y);
              }
            });
            break;
          case ElementWiseOp::kMax:
            binaryLoop<T, T, T>(plan, a, b, o, [](C x, C y) -> C {
              if constexpr (!isInt) if (std::isnan(x) || std::isnan(y)) return x + y;
              return x < y ? y : x;
            });
            break;
          case ElementWiseOp::kMin:
            binaryLoop<T, T, T>(plan, a, b, o, [](C x, C y) -> C {
              if constexpr (!isInt) if (std::isnan(x) || std::isnan(y)) return x + y;
              return y < x ? y : x;
            });
            break;
          case ElementWiseOp::kPRelu:
            binaryLoop<T, T, T>(plan, a, b, o, [](C x, C y) -> C { return x < 0 ? wrapMul(x, y) : x; });
            break;
          default:
            fail(ErrorCode::kUnsupported, concat(layer.describe(), ": unknown element-wise op ", static_cast<int>(op)));
        }
      });
      break;
  }
  KILN_CHECK(!divByZero, kInvalidArgument, layer.describe(), ": integer ", elementWiseOpName(op), " by zero");
}

}  // namespace kiln::cpu
