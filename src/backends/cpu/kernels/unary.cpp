// Unary: one-input math per element (Round is round-half-to-even; IsNaN/IsInf output bool).
#include <cmath>
#include <type_traits>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

template <class TI, class TO, class F>
void unaryLoop(const TensorView& in, const TensorView& out, F f) {
  const TI* x = in.as<const TI>();
  TO* y = out.as<TO>();
  parallelFor(in.count(), kPointwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = TO(f(static_cast<ComputeType<TI>>(x[i])));
  });
}

bool outputsBool(UnaryOp op) {
  return op == UnaryOp::kIsNaN || op == UnaryOp::kIsInf || op == UnaryOp::kIsInfPositive ||
         op == UnaryOp::kIsInfNegative || op == UnaryOp::kNot;
}

}  // namespace

std::string supportsUnary(const ir::Layer& layer) {
  switch (layer.as<UnaryParams>().op) {
    case UnaryOp::kAbs: case UnaryOp::kNeg: case UnaryOp::kSign: return checkTypes(layer, kNumeric, kNumeric);
    case UnaryOp::kNot: return checkTypes(layer, kBoolType, kBoolType);
    case UnaryOp::kBitwiseNot: return checkTypes(layer, kIntegers, kIntegers);
    case UnaryOp::kIsNaN: case UnaryOp::kIsInf: case UnaryOp::kIsInfPositive: case UnaryOp::kIsInfNegative:
      return checkTypes(layer, kFloats, kBoolType);
    default: return checkTypes(layer, kFloats, kFloats);
  }
}

void runUnary(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  const UnaryOp op = layer.as<UnaryParams>().op;
  const TensorView& in = args.inputs[0];
  const TensorView& out = args.outputs[0];
  checkCount(layer, out, in.count(), "output");
  const DataType expectedOut = outputsBool(op) ? DataType::kBool : in.type;
  KILN_CHECK(out.type == expectedOut, kInternal, layer.describe(), ": output type ", dataTypeName(out.type),
             ", expected ", dataTypeName(expectedOut));
  switch (op) {
    case UnaryOp::kNot:
      dispatchType<kBoolType>(in.type, layer, [&](auto) { unaryLoop<bool, bool>(in, out, [](bool v) { return !v; }); });
      return;
    case UnaryOp::kBitwiseNot:
      dispatchType<kSigned | kUnsigned>(in.type, layer, [&](auto tag) {
        using T = typename decltype(tag)::type;
        unaryLoop<T, T>(in, out, [](T v) { return static_cast<T>(~v); });
      });
      return;
    case UnaryOp::kAbs:
    case UnaryOp::kNeg:
    case UnaryOp::kSign:
      dispatchType<kNumeric>(in.type, layer, [&](auto tag) {
        using T = typename decltype(tag)::type;
        using C = ComputeType<T>;
        if (op == UnaryOp::kAbs) {
          unaryLoop<T, T>(in, out, [](C v) -> C {
            if constexpr (std::is_unsigned_v<C>) return v;
            else if constexpr (std::is_integral_v<C>) return v < 0 ? static_cast<C>(0 - static_cast<std::make_unsigned_t<C>>(v)) : v;
            else return std::fabs(v);
          });
        } else if (op == UnaryOp::kNeg) {
          unaryLoop<T, T>(in, out, [](C v) -> C {
            if constexpr (std::is_integral_v<C>) return static_cast<C>(0 - static_cast<std::make_unsigned_t<C>>(v));
            else return -v;
          });
        } else {
          unaryLoop<T, T>(in, out, [](C v) -> C {
            if constexpr (!std::is_integral_v<C>) if (std::isnan(v)) return v;
            return static_cast<C>((C(0) < v) - (v < C(0)));
          });
        }
      });
      return;
    case UnaryOp::kIsNaN:
    case UnaryOp::kIsInf:
    case UnaryOp::kIsInfPositive:
    case UnaryOp::kIsInfNegative:
      dispatchType<kFloats>(in.type, layer, [&](auto tag) {
        using T = typename decltype(tag)::type;
        using C = ComputeType<T>;
        switch (op) {
          case UnaryOp::kIsNaN: unaryLoop<T, bool>(in, out, [](C v) { return std::isnan(v); }); break;
          case UnaryOp::kIsInf: unaryLoop<T, bool>(in, out, [](C v) { return std::isinf(v); }); break;
          case UnaryOp::kIsInfPositive: unaryLoop<T, bool>(in, out, [](C v) { return std::isinf(v) && v > 0; }); break;
          default: unaryLoop<T, bool>(in, out, [](C v) { return std::isinf(v) && v < 0; }); break;
        }
      });
      return;
    default: break;
  }
  dispatchType<kFloats>(in.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = ComputeType<T>;
    switch (op) {
      case UnaryOp::kExp: unaryLoop<T, T>(in, out, [](C v) { return std::exp(v); }); break;
      case UnaryOp::kLog: unaryLoop<T, T>(in, out, [](C v) { return std::log(v); }); break;
      case UnaryOp::kSqrt: unaryLoop<T, T>(in, out, [](C v) { return std::sqrt(v); }); break;
      case UnaryOp::kReciprocal: unaryLoop<T, T>(in, out, [](C v) { return C(1) / v; }); break;
      case UnaryOp::kFloor: unaryLoop<T, T>(in, out, [](C v) { return std::floor(v); }); break;
      case UnaryOp::kCeil: unaryLoop<T, T>(in, out, [](C v) { return std::ceil(v); }); break;
      case UnaryOp::kRound: unaryLoop<T, T>(in, out, [](C v) { return std::nearbyint(v); }); break;
      case UnaryOp::kSin: unaryLoop<T, T>(in, out, [](C v) { return std::sin(v); }); break;
      case UnaryOp::kCos: unaryLoop<T, T>(in, out, [](C v) { return std::cos(v); }); break;
      case UnaryOp::kTan: unaryLoop<T, T>(in, out, [](C v) { return std::tan(v); }); break;
      case UnaryOp::kAsin: unaryLoop<T, T>(in, out, [](C v) { return std::asin(v); }); break;
      case UnaryOp::kAcos: unaryLoop<T, T>(in, out, [](C v) { return std::acos(v); }); break;
      case UnaryOp::kAtan: unaryLoop<T, T>(in, out, [](C v) { return std::atan(v); }); break;
      case UnaryOp::kSinh: unaryLoop<T, T>(in, out, [](C v) { return std::sinh(v); }); break;
      case UnaryOp::kCosh: unaryLoop<T, T>(in, out, [](C v) { return std::cosh(v); }); break;
      case UnaryOp::kAsinh: unaryLoop<T, T>(in, out, [](C v) { return std::asinh(v); }); break;
      case UnaryOp::kAcosh: unaryLoop<T, T>(in, out, [](C v) { return std::acosh(v); }); break;
      case UnaryOp::kAtanh: unaryLoop<T, T>(in, out, [](C v) { return std::atanh(v); }); break;
      case UnaryOp::kErf: unaryLoop<T, T>(in, out, [](C v) { return detail::erfApprox(v); }); break;
      default:
        fail(ErrorCode::kUnsupported, concat(layer.describe(), ": unknown unary op ", static_cast<int>(op)));
    }
  });
}

}  // namespace kiln::cpu
