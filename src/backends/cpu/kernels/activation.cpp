// Activation: pointwise activation functions computed in float (double for float64). Relu and Clip also
// take integer inputs. NaN stays NaN (Relu, Clip, HardSigmoid and Celu included), as in ONNX Runtime.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/convert.h"
#include "backends/cpu/kernels/gelu.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

template <class T, class F>
void activationLoop(const TensorView& in, const TensorView& out, F f) {
  const T* x = in.as<const T>();
  T* y = out.as<T>();
  parallelFor(in.count(), kPointwiseGrain / 4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = T(f(static_cast<ComputeType<T>>(x[i])));
  });
}

// Exact GELU over float32 rows, compiled for AVX-512 and AVX2 besides the baseline (picked at load
// time): the erf approximation is branch-free, so wider vectors speed it up directly. Not under
// ThreadSanitizer: the clones' ifunc resolver runs before TSan's runtime is set up and crashes the load.
#if defined(__SANITIZE_THREAD__)
#define KILN_GELU_CLONES
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KILN_GELU_CLONES
#endif
#endif
#ifndef KILN_GELU_CLONES
#define KILN_GELU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
}  // namespace

KILN_GELU_CLONES void geluErfFloat(const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    y[i] = 0.5f * v * (1.f + detail::erfApprox(v * 0.70710678118654752440f));
  }
}

KILN_GELU_CLONES void geluErfFloatInPlace(float* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) v[i] = 0.5f * v[i] * (1.f + detail::erfApprox(v[i] * 0.70710678118654752440f));
}

namespace {

template <class C> C softplus(C v) { return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); }

}  // namespace

std::string supportsActivation(const ir::Layer& layer) {
  ActivationType type = layer.as<ActivationParams>().type;
  unsigned classes = type == ActivationType::kRelu || type == ActivationType::kClip ? kNumeric : kFloats;
  return checkTypes(layer, classes, classes);
}

void runActivation(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  const auto& p = layer.as<ActivationParams>();
  const TensorView& in = args.inputs[0];
  const TensorView& out = args.outputs[0];
  checkSameType(layer, in, out);
  checkCount(layer, out, in.count(), "output");
  if (p.type == ActivationType::kRelu || p.type == ActivationType::kClip) {
    dispatchType<kNumeric>(in.type, layer, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = ComputeType<T>;
      if (p.type == ActivationType::kRelu) {
        activationLoop<T>(in, out, [](C v) -> C {
          if constexpr (!std::is_integral_v<C>) if (std::isnan(v)) return v;
          return v < C(0) ? C(0) : v;
        });
      } else if constexpr (std::is_integral_v<C>) {
        // Bounds rounded into the integer range (min up, max down).
        double lo = std::ceil(static_cast<double>(p.alpha)), hi = std::floor(static_cast<double>(p.beta));
        C clo = std::isnan(lo) ? std::numeric_limits<C>::lowest()
                               : (lo <= static_cast<double>(std::numeric_limits<C>::lowest()) ? std::numeric_limits<C>::lowest() : convertValue<C>(lo));
        C chi = std::isnan(hi) ? std::numeric_limits<C>::max()
                               : (hi >= static_cast<double>(std::numeric_limits<C>::max()) ? std::numeric_limits<C>::max() : convertValue<C>(hi));
        activationLoop<T>(in, out, [=](C v) { return std::min(std::max(v, clo), chi); });
      } else {
        const C lo = static_cast<C>(p.alpha), hi = static_cast<C>(p.beta);
        activationLoop<T>(in, out, [=](C v) -> C {
          if (std::isnan(v)) return v;
          return v < lo ? lo : (v > hi ? hi : v);
        });
      }
    });
    return;
  }
  dispatchType<kFloats>(in.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = ComputeType<T>;
    const C alpha = static_cast<C>(p.alpha), beta = static_cast<C>(p.beta);
    switch (p.type) {
      case ActivationType::kSigmoid:
        activationLoop<T>(in, out, [](C v) -> C {
          if (v >= 0) return C(1) / (C(1) + std::exp(-v));
          C e = std::exp(v);
          return e / (C(1) + e);
        });
        break;
      case ActivationType::kTanh: activationLoop<T>(in, out, [](C v) { return std::tanh(v); }); break;
      case ActivationType::kLeakyRelu: activationLoop<T>(in, out, [=](C v) { return v < 0 ? alpha * v : v; }); break;
      case ActivationType::kElu:
        activationLoop<T>(in, out, [=](C v) { return v < 0 ? alpha * std::expm1(v) : v; });
        break;
      case ActivationType::kSelu:
        activationLoop<T>(in, out, [=](C v) { return v <= 0 ? beta * alpha * std::expm1(v) : beta * v; });
        break;
      case ActivationType::kHardSigmoid:
        activationLoop<T>(in, out, [=](C v) {
          C a = alpha * v + beta;
          return a < C(0) ? C(0) : (a > C(1) ? C(1) : a);  // comparisons, not std::min/max: NaN passes
        });
        break;
      case ActivationType::kHardSwish:
        activationLoop<T>(in, out, [](C v) { return v * std::max(C(0), std::min(C(1), v / C(6) + C(0.5))); });
        break;
      case ActivationType::kSoftplus: activationLoop<T>(in, out, [](C v) { return softplus(v); }); break;
      case ActivationType::kSoftsign: activationLoop<T>(in, out, [](C v) { return v / (C(1) + std::fabs(v)); }); break;
      case ActivationType::kThresholdedRelu: activationLoop<T>(in, out, [=](C v) { return v > alpha ? v : C(0); }); break;
      case ActivationType::kGelu:
        if (p.alpha == 0.f && std::is_same_v<T, float> && in.data != out.data) {
          const float* x = in.as<const float>();
          float* y = out.as<float>();
          parallelFor(in.count(), kPointwiseGrain / 4, [&](int64_t b, int64_t e) { geluErfFloat(x + b, y + b, e - b); });
        } else if (p.alpha == 0.f) {
          activationLoop<T>(in, out, [](C v) {
            return C(0.5) * v * (C(1) + detail::erfApprox(v * C(0.70710678118654752440)));
          });
        } else {
          activationLoop<T>(in, out, [](C v) {
            const C k = C(0.79788456080286535588);  // sqrt(2/pi)
            return C(0.5) * v * (C(1) + std::tanh(k * (v + C(0.044715) * v * v * v)));
          });
        }
        break;
      case ActivationType::kMish: activationLoop<T>(in, out, [](C v) { return v * std::tanh(softplus(v)); }); break;
      case ActivationType::kCelu:
        // max(0, v) + min(0, alpha * (exp(v / alpha) - 1)): one of the terms is 0 on each side of 0.
        activationLoop<T>(in, out, [=](C v) { return v > C(0) ? v : alpha * std::expm1(v / alpha); });
        break;
      default:
        fail(ErrorCode::kUnsupported, concat(layer.describe(), ": unknown activation ", static_cast<int>(p.type)));
    }
  });
}

}  // namespace kiln::cpu
