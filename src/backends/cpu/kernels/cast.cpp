// Cast: converts every element between any two types (numpy semantics; float8 e4m3 through float).
#include "backends/cpu/kernels/convert.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"

namespace kiln::cpu {

void runCast(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  const TensorView& in = args.inputs[0];
  const TensorView& out = args.outputs[0];
  const bool saturate = layer.as<CastParams>().saturate;
  const int64_t n = in.count();
  checkCount(layer, out, n, "output");
  if (n == 0) return;
  if (in.type == out.type) {
    elementSize(in.type, layer);
    copyBytes(layer, out, in);
    return;
  }
  if (in.type == DataType::kFP8E4M3 || out.type == DataType::kFP8E4M3) {
    // Through float: fp8 values are exactly representable in float.
    if (in.type == DataType::kFP8E4M3) {
      const uint8_t* src = in.as<const uint8_t>();
      dispatchType(out.type, layer, [&](auto tag) {
        using U = typename decltype(tag)::type;
        U* dst = out.as<U>();
        parallelFor(n, kPointwiseGrain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) dst[i] = convertValue<U>(fp8e4m3ToFloat(src[i]));
        });
      });
    } else {
      uint8_t* dst = out.as<uint8_t>();
      dispatchType(in.type, layer, [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* src = in.as<const T>();
        parallelFor(n, kPointwiseGrain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            if constexpr (std::is_same_v<T, double>) {
              // Avoid double rounding into the narrow format where the float rounding would matter:
              // saturating/NaN cases are the same; the value path goes through float.
              dst[i] = floatToFp8e4m3(static_cast<float>(src[i]), saturate);
            } else {
              dst[i] = floatToFp8e4m3(convertValue<float>(src[i]), saturate);
            }
          }
        });
      });
    }
    return;
  }
  dispatchType(in.type, layer, [&](auto tagIn) {
    using T = typename decltype(tagIn)::type;
    dispatchType(out.type, layer, [&](auto tagOut) {
      using U = typename decltype(tagOut)::type;
      const T* src = in.as<const T>();
      U* dst = out.as<U>();
      parallelFor(n, kPointwiseGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dst[i] = convertValue<U>(src[i]);
      });
    });
  });
}

}  // namespace kiln::cpu
