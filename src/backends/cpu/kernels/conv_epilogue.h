// The convolution epilogue after the bias, y = clamp(act(y + z)) (ConvolutionParams), on the host: the CPU
// kernels' reference form, one pass over the output. NaN passes through the clamp.
#pragma once

#include <algorithm>
#include <cmath>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernels/indexing.h"
#include "kiln/layers.h"

namespace kiln::cpu {

template <class T>
inline T convActivation(ConvActivation activation, T v) {
  switch (activation) {
    case ConvActivation::kNone: return v;
    case ConvActivation::kSilu: return v / (T(1) + std::exp(-v));
    case ConvActivation::kHardSwish: return v * std::min(std::max(v + T(3), T(0)), T(6)) / T(6);
    case ConvActivation::kSigmoid: return T(1) / (T(1) + std::exp(-v));
    case ConvActivation::kGelu: return T(0.5) * v * (T(1) + std::erf(v * T(0.70710678118654752440)));
  }
  return v;
}

// Whether the epilogue does anything beyond the bias: a residual, an activation or a clamp.
inline bool hasConvEpilogue(const ConvolutionParams& p, const void* residual) {
  return residual != nullptr || p.hasActivationOrClamp();
}

// y[i] = clamp(act(y[i] + z[i])) for i < count; z may be nullptr (no residual).
template <class T>
void applyConvEpilogue(const ConvolutionParams& p, T* y, const T* z, int64_t count) {
  if (!hasConvEpilogue(p, z)) return;
  const T lo = static_cast<T>(p.outputMin), hi = static_cast<T>(p.outputMax);
  const ConvActivation activation = p.activation;
  parallelFor(count, kPointwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T v = z ? y[i] + z[i] : y[i];
      v = convActivation(activation, v);
      v = v < lo ? lo : v;
      y[i] = v > hi ? hi : v;
    }
  });
}

}  // namespace kiln::cpu
