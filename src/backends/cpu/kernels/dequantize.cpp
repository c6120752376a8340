// Dequantize: y = (x - zero_point) * scale, per tensor, per axis or blocked; the output has the scale's type.
#include "backends/cpu/kernels/convert.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsDequantize(const ir::Layer& layer) {
  return checkTypesPerIndex(layer, {kIntegers | kFP8, kFloats, kIntegers | kFP8}, {kFloats});
}

void runDequantize(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 2);
  const auto& p = layer.as<DequantizeParams>();
  const TensorView& x = args.inputs[0];
  const TensorView& scale = args.inputs[1];
  const TensorView& out = args.outputs[0];
  checkCount(layer, out, x.count(), "output");
  checkSameType(layer, scale, out);
  QuantLayout layout(x.shape, scale.shape, p.axis, p.blockSize, layer);
  const bool hasZp = present(args, 2);
  if (hasZp) {
    KILN_CHECK(args.inputs[2].count() == scale.count(), kInvalidArgument, layer.describe(), ": zero point shape ",
               dimsToString(args.inputs[2].shape), " differs from scale ", dimsToString(scale.shape));
    checkSameType(layer, args.inputs[2], x);
  }
  dispatchType<kFloats>(scale.type, layer, [&](auto tagS) {
    using TS = typename decltype(tagS)::type;
    using C = ComputeType<TS>;
    const TS* ps = scale.as<const TS>();
    TS* po = out.as<TS>();
    if (x.type == DataType::kFP8E4M3) {
      const uint8_t* px = x.as<const uint8_t>();
      const uint8_t* pz = hasZp ? args.inputs[2].as<const uint8_t>() : nullptr;
      layout.forEach(x.count(), [&](int64_t i, int64_t s) {
        C v = static_cast<C>(fp8e4m3ToFloat(px[i])) - (pz ? static_cast<C>(fp8e4m3ToFloat(pz[s])) : C(0));
        po[i] = TS(static_cast<C>(v * static_cast<C>(ps[s])));
      });
      return;
    }
    dispatchType<kSigned | kUnsigned>(x.type, layer, [&](auto tagX) {
      using TX = typename decltype(tagX)::type;
      const TX* px = x.as<const TX>();
      const TX* pz = hasZp ? args.inputs[2].as<const TX>() : nullptr;
      layout.forEach(x.count(), [&](int64_t i, int64_t s) {
        int64_t d = static_cast<int64_t>(px[i]) - (pz ? static_cast<int64_t>(pz[s]) : 0);
        po[i] = TS(static_cast<C>(static_cast<C>(d) * static_cast<C>(ps[s])));
      });
    });
  });
}

}  // namespace kiln::cpu
