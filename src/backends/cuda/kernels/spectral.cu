// DFT and STFT with the CPU kernels' semantics (backends/cpu/kernels/dft.cpp): a direct transform, one
// thread per output bin (consecutive threads take consecutive bins of one signal, which they all read),
// fp32 accumulation, twiddles from sincospif of ((j * k) mod n) / n so any length (odd, prime) keeps its
// accuracy. DFT: real or complex input, any signal axis, dft_length zero-pads or truncates, inverse scales
// by 1 / n, onesided keeps the first n / 2 + 1 bins. STFT: frames of frame_length every frame_step, times the
// optional window. dft_length, frame_step and frame_length are host-evaluated shape inputs.
#include <cmath>

#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {
namespace {

constexpr int kBlock = 256;

// Bin k of the length-n transform of x_j = x[j * stride] (re, and im when complex), times window[j] when
// given, for j < count (count <= n: the rest is zero padding): sum_j x_j exp(sign 2 pi i j k / n). k < n.
template <class T>
__device__ __forceinline__ float2 dftBin(const T* __restrict__ x, int64_t stride, bool complex,
                                         const T* __restrict__ window, int64_t count, int64_t n, int64_t k,
                                         float sign) {
  float re = 0.f, im = 0.f;
  int64_t m = 0;  // (j * k) mod n
  for (int64_t j = 0; j < count; ++j) {
    const T* v = x + j * stride;
    float xr = toCompute(v[0]), xi = complex ? toCompute(v[1]) : 0.f;
    if (window) {
      float w = toCompute(window[j]);
      xr *= w;
      xi *= w;
    }
    float sn, cs;
    sincospif(static_cast<float>(2 * m) / static_cast<float>(n), &sn, &cs);
    sn *= sign;
    re += xr * cs - xi * sn;
    im += xr * sn + xi * cs;
    m += k;
    if (m >= n) m -= n;
  }
  return make_float2(re, im);
}

// x [outer, inLength, inner, parts] -> y [outer, outLength, inner, 2] along the signal axis.
template <class T>
__global__ void dftKernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, int64_t inner, int64_t inLength,
                          int64_t outLength, int64_t parts, int64_t count, int64_t n, float sign, float scale) {
  KILN_GRID_STRIDE(idx, total) {
    const int64_t k = idx % outLength, signal = idx / outLength;
    const int64_t i = signal % inner, o = signal / inner;
    float2 v = dftBin<T>(x + (o * inLength * inner + i) * parts, inner * parts, parts == 2, nullptr, count, n, k, sign);
    T* out = y + ((o * outLength + k) * inner + i) * 2;
    out[0] = fromCompute<T>(v.x * scale);
    out[1] = fromCompute<T>(v.y * scale);
  }
}

// x [batch, length, parts] -> y [batch, frames, bins, 2].
template <class T>
__global__ void stftKernel(const T* __restrict__ x, const T* __restrict__ window, T* __restrict__ y, int64_t total,
                           int64_t length, int64_t parts, int64_t frames, int64_t bins, int64_t frameStep,
                           int64_t frameLength) {
  KILN_GRID_STRIDE(idx, total) {
    const int64_t k = idx % bins, frame = idx / bins;  // frame = b * frames + f
    const int64_t f = frame % frames, b = frame / frames;
    float2 v = dftBin<T>(x + (b * length + f * frameStep) * parts, parts, parts == 2, window, frameLength,
                         frameLength, k, -1.f);
    y[idx * 2] = fromCompute<T>(v.x);
    y[idx * 2 + 1] = fromCompute<T>(v.y);
  }
}

// The one value of scalar shape input `index`.
int64_t scalarInput(const ir::Layer& layer, const KernelArgs& args, const Constants& constants, size_t index,
                    const char* what) {
  std::vector<int64_t> v = shapeInputValues(layer, args, constants, index);
  KILN_CHECK(v.size() == 1, kInvalidArgument, layer.describe(), ": ", what, " must be a scalar, got ", v.size(),
             " values");
  return v[0];
}

bool hasInput(const ir::Layer& layer, size_t index) {
  return index < layer.inputs.size() && layer.inputs[index] != nullptr;
}

class DFTKernel final : public NamedKernel {
 public:
  DFTKernel(std::string name, const ir::Layer& layer, Constants constants)
      : NamedKernel(std::move(name)), layer_(&layer),
        p_(layer.as<DFTParams>()), constants_(std::move(constants)) {}

  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& y = args.outputs[0];
    if (y.count() == 0) return;
    const int64_t rank = static_cast<int64_t>(x.shape.size());
    const int64_t axis = p_.axis < 0 ? p_.axis + rank : p_.axis;
    KILN_CHECK(rank >= 2 && axis >= 0 && axis < rank - 1 && (x.shape.back() == 1 || x.shape.back() == 2),
               kInvalidArgument, layer_->describe(), ": axis ", p_.axis, " / input ", dimsToString(x.shape),
               " is not a [..., 1 | 2] signal with that axis");
    const int64_t inLength = x.shape[axis];
    const int64_t n = hasInput(*layer_, 1) ? scalarInput(*layer_, args, constants_, 1, "dft_length") : inLength;
    const int64_t outLength = y.shape[axis];
    KILN_CHECK(n >= 1 && outLength <= n, kInvalidArgument, layer_->describe(), ": DFT length ", n, " for ",
               outLength, " output bins");
    const int64_t outer = prodDims(x.shape, 0, axis), inner = prodDims(x.shape, axis + 1, x.shape.size() - 1);
    const int64_t total = outer * inner * outLength;
    const float sign = p_.inverse ? 1.f : -1.f;
    const float scale = p_.inverse ? 1.f / static_cast<float>(n) : 1.f;
    dispatchFloat(x.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      dftKernel<T><<<gridFor(total, kBlock), kBlock, 0, streamOf(args)>>>(
          x.as<const T>(), y.as<T>(), total, inner, inLength, outLength, x.shape.back(), std::min(n, inLength), n,
          sign, scale);
    });
    KILN_CUDA_CHECK_LAUNCH("dft");
  }

 private:
  const ir::Layer* layer_;
  DFTParams p_;
  Constants constants_;
};

class STFTKernel final : public NamedKernel {
 public:
  STFTKernel(std::string name, const ir::Layer& layer, Constants constants)
      : NamedKernel(std::move(name)), layer_(&layer),
        constants_(std::move(constants)) {}

  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& y = args.outputs[0];
    if (y.count() == 0) return;
    KILN_CHECK(x.shape.size() == 3 && (x.shape[2] == 1 || x.shape[2] == 2), kInvalidArgument, layer_->describe(),
               ": signal must be [batch, length, 1 | 2], got ", dimsToString(x.shape));
    const int64_t frameStep = scalarInput(*layer_, args, constants_, 1, "frame_step");
    const bool windowed = present(args, 2);
    int64_t frameLength = windowed ? args.inputs[2].count() : -1;
    if (hasInput(*layer_, 3)) frameLength = scalarInput(*layer_, args, constants_, 3, "frame_length");
    const int64_t length = x.shape[1], frames = y.shape[1], bins = y.shape[2];
    KILN_CHECK(frameStep >= 1 && frameLength >= 1 && frameLength <= length && bins <= frameLength &&
                   (frames - 1) * frameStep + frameLength <= length,
               kInvalidArgument, layer_->describe(), ": frame step ", frameStep, " / frame length ", frameLength,
               " do not fit signal ", dimsToString(x.shape), " and output ", dimsToString(y.shape));
    KILN_CHECK(!windowed || args.inputs[2].count() == frameLength, kInvalidArgument, layer_->describe(),
               ": window of ", args.inputs[2].count(), " values for frames of ", frameLength);
    const int64_t total = y.count() / 2;
    dispatchFloat(x.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      stftKernel<T><<<gridFor(total, kBlock), kBlock, 0, streamOf(args)>>>(
          x.as<const T>(), windowed ? args.inputs[2].as<const T>() : nullptr, y.as<T>(), total, length, x.shape[2],
          frames, bins, frameStep, frameLength);
    });
    KILN_CUDA_CHECK_LAUNCH("stft");
  }

 private:
  const ir::Layer* layer_;
  Constants constants_;
};

}  // namespace

std::string supportsDFT(const ir::Layer& layer) { return floatReason(inType(layer, 0)); }
std::unique_ptr<Kernel> createDFT(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                  const Constants& constants, const TacticChoice& tactic) {
  return std::make_unique<DFTKernel>(tactic.name, layer, constants);
}

std::string supportsSTFT(const ir::Layer& layer) {
  DataType t = inType(layer, 0);
  if (!isFloat(t)) return typeReason(t, "float32, float16");
  if (layer.inputs.size() > 2 && layer.inputs[2] && inType(layer, 2) != t) return "a window of another type than the signal";
  return "";
}
std::unique_ptr<Kernel> createSTFT(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                   const Constants& constants, const TacticChoice& tactic) {
  return std::make_unique<STFTKernel>(tactic.name, layer, constants);
}

}  // namespace kiln::cuda
