// Quantize: y = saturate(round_half_even(x / scale) + zero_point), per tensor, per axis or blocked;
// float8 e4m3 outputs convert x / scale with the saturate flag.
#include <cmath>
#include <limits>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernels/convert.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

// The per-tensor float32 -> int8/uint8 case (activations between quantized layers) as one loop the compiler
// vectorizes: the same float32 division, then a clamp to the output range (integer bounds, so clamping
// before rounding is the same) and round half to even by adding and subtracting 1.5 * 2^23 (exact in the
// default rounding mode for |v| < 2^22, which the clamp ensures). NaN gives 0, as the general path.
template <class TY>
void quantizeFloatPerTensor(const float* x, float scale, float zeroPoint, TY* y, int64_t n) {
  const float lo = static_cast<float>(std::numeric_limits<TY>::lowest()) - zeroPoint;
  const float hi = static_cast<float>(std::numeric_limits<TY>::max()) - zeroPoint;
  constexpr float kRound = 12582912.f;  // 1.5 * 2^23
  parallelFor(n, kPointwiseGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float v = x[i] / scale;
      v = v == v ? v : -zeroPoint;  // NaN -> an output of 0
      v = v < lo ? lo : v;
      v = v > hi ? hi : v;
      v = (v + kRound) - kRound;
      y[i] = static_cast<TY>(v + zeroPoint);
    }
  });
}

}  // namespace

std::string supportsQuantize(const ir::Layer& layer) {
  return checkTypesPerIndex(layer, {kFloats | kSigned, kFloats, kIntegers | kFP8}, {kIntegers | kFP8});
}

void runQuantize(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 2);
  const auto& p = layer.as<QuantizeParams>();
  const TensorView& x = args.inputs[0];
  const TensorView& scale = args.inputs[1];
  const TensorView& out = args.outputs[0];
  checkCount(layer, out, x.count(), "output");
  QuantLayout layout(x.shape, scale.shape, p.axis, p.blockSize, layer);
  const bool hasZp = present(args, 2);
  if (hasZp) {
    KILN_CHECK(args.inputs[2].shape == scale.shape || args.inputs[2].count() == scale.count(), kInvalidArgument,
               layer.describe(), ": zero point shape ", dimsToString(args.inputs[2].shape), " differs from scale ",
               dimsToString(scale.shape));
    KILN_CHECK(args.inputs[2].type == out.type, kInvalidArgument, layer.describe(), ": zero point type ",
               dataTypeName(args.inputs[2].type), " differs from the output ", dataTypeName(out.type));
  }
  if (x.type == DataType::kFloat32 && scale.type == DataType::kFloat32 && scale.count() == 1 && p.blockSize <= 0 &&
      (out.type == DataType::kInt8 || out.type == DataType::kUInt8)) {
    const float s = scale.as<const float>()[0];
    if (out.type == DataType::kInt8) {
      const float zp = hasZp ? args.inputs[2].as<const int8_t>()[0] : 0.f;
      quantizeFloatPerTensor(x.as<const float>(), s, zp, out.as<int8_t>(), x.count());
    } else {
      const float zp = hasZp ? args.inputs[2].as<const uint8_t>()[0] : 0.f;
      quantizeFloatPerTensor(x.as<const float>(), s, zp, out.as<uint8_t>(), x.count());
    }
    return;
  }
  dispatchType<kFloats | kSigned>(x.type, layer, [&](auto tagX) {
    using TX = typename decltype(tagX)::type;
    using C = std::conditional_t<std::is_same_v<TX, double>, double, float>;
    dispatchType<kFloats>(scale.type, layer, [&](auto tagS) {
      using TS = typename decltype(tagS)::type;
      const TX* px = x.as<const TX>();
      const TS* ps = scale.as<const TS>();
      if (out.type == DataType::kFP8E4M3) {
        if (hasZp)
          for (int64_t i = 0; i < args.inputs[2].count(); ++i)
            KILN_CHECK((args.inputs[2].as<const uint8_t>()[i] & 0x7f) == 0, kUnsupported, layer.describe(),
                       ": float8 zero points must be 0");
        uint8_t* po = out.as<uint8_t>();
        layout.forEach(x.count(), [&](int64_t i, int64_t s) {
          C v = static_cast<C>(static_cast<ComputeType<TX>>(px[i])) / static_cast<C>(static_cast<ComputeType<TS>>(ps[s]));
          po[i] = floatToFp8e4m3(static_cast<float>(v), p.saturate);
        });
        return;
      }
      dispatchType<kSigned | kUnsigned>(out.type, layer, [&](auto tagY) {
        using TY = typename decltype(tagY)::type;
        const TY* pz = hasZp ? args.inputs[2].as<const TY>() : nullptr;
        TY* po = out.as<TY>();
        const double lo = static_cast<double>(std::numeric_limits<TY>::lowest());
        const double hi = static_cast<double>(std::numeric_limits<TY>::max());
        layout.forEach(x.count(), [&](int64_t i, int64_t s) {
          C v = static_cast<C>(static_cast<ComputeType<TX>>(px[i])) / static_cast<C>(static_cast<ComputeType<TS>>(ps[s]));
          double q = static_cast<double>(std::nearbyint(v)) + (pz ? static_cast<double>(pz[s]) : 0.0);
          if (std::isnan(q)) q = 0;
          po[i] = static_cast<TY>(std::clamp(q, lo, hi));
        });
      });
    });
  });
}

}  // namespace kiln::cpu
