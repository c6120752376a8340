// Convolution epilogue: one grid-stride pointwise pass y = clamp(act(y + bias[c] + z)), float math, 32-bit
// indices when they fit. Channel index (i / inner) % c serves NC[D]HW (inner = spatial size) and
// channels-last (inner = 1).
#include "backends/cuda/kernels/conv_epilogue.h"
#include "backends/cuda/kernels/device_utils.cuh"

namespace kiln::cuda {
namespace {

__device__ __forceinline__ float activate(ConvActivation activation, float v) {
  switch (activation) {
    case ConvActivation::kNone: return v;
    case ConvActivation::kSilu: return v / (1.f + expf(-v));
    case ConvActivation::kHardSwish: return v * fminf(fmaxf(v + 3.f, 0.f), 6.f) / 6.f;
    case ConvActivation::kSigmoid: return 1.f / (1.f + expf(-v));
    case ConvActivation::kGelu: return 0.5f * v * (1.f + erff(v * 0.70710678118654752440f));
  }
  return v;
}

template <class T, class I>
__global__ void convEpilogueKernel(T* y, const T* __restrict__ bias, const T* z, I n, I c,
                                   I inner, ConvActivation activation, float lo, float hi) {
  KILN_GRID_STRIDE_I(I, i, n) {
    float v = static_cast<float>(toCompute(y[i]));
    if (bias) v += static_cast<float>(toCompute(bias[(i / inner) % c]));
    if (z) v += static_cast<float>(toCompute(z[i]));
    v = activate(activation, v);
    y[i] = fromCompute<T>(v < lo ? lo : (v > hi ? hi : v));  // NaN stays NaN
  }
}

}  // namespace

void launchConvEpilogue(void* y, const void* bias, const void* z, DataType type, int64_t n, int64_t c, int64_t inner,
                        ConvActivation activation, float lo, float hi, cudaStream_t stream) {
  const int64_t total = n * c * inner;
  if (total == 0) return;
  dispatchFloat(type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto* yt = static_cast<T*>(y);
    const auto* bt = static_cast<const T*>(bias);
    const auto* zt = static_cast<const T*>(z);
    withIndexType(total, [&](auto index) {
      using I = typename decltype(index)::type;
      convEpilogueKernel<T, I><<<gridFor(total), 256, 0, stream>>>(yt, bt, zt, static_cast<I>(total), static_cast<I>(c),
                                                                  static_cast<I>(inner), activation, lo, hi);
    });
  });
  KILN_CUDA_CHECK_LAUNCH("convolution epilogue");
}

}  // namespace kiln::cuda
