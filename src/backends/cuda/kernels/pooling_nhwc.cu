// Channels-last 2-D pooling (max, average, Lp) on N,H,W,C: one thread per output, channel innermost so a
// warp reads consecutive channels of one window position (coalesced). Pads (explicit or SAME), strides,
// dilations, ceil mode as in the channels-first kernel; max pooling propagates NaN; no indices output.
#include "backends/cuda/kernels/channels_last.h"
#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {
namespace {

template <class C>
struct PoolWindow {
  C h, w, c, outH, outW, kh, kw, sh, sw, dh, dw, padTop, padLeft, padBottom, padRight;
};

template <class T, class C>
__global__ void poolNhwcKernel(const T* __restrict__ x, T* __restrict__ y, C n, PoolWindow<C> p, PoolingType type,
                               bool includePad, float lp) {
  KILN_GRID_STRIDE_I(C, i, n) {
    C r = i;
    const C c = r % p.c; r /= p.c;
    const C ow = r % p.outW; r /= p.outW;
    const C oh = r % p.outH;
    const C batch = r / p.outH;
    const T* xb = x + batch * p.h * p.w * p.c + c;
    const C top = oh * p.sh - p.padTop, left = ow * p.sw - p.padLeft;
    float acc = type == PoolingType::kMax ? -INFINITY : 0.f;
    C count = 0, padCount = 0;
    for (C kh = 0; kh < p.kh; ++kh) {
      const C ih = top + kh * p.dh;
      const bool rowIn = ih >= 0 && ih < p.h;
      const bool rowPad = ih >= -p.padTop && ih < p.h + p.padBottom;
      for (C kw = 0; kw < p.kw; ++kw) {
        const C iw = left + kw * p.dw;
        if (rowPad && iw >= -p.padLeft && iw < p.w + p.padRight) ++padCount;
        if (!rowIn || iw < 0 || iw >= p.w) continue;
        const float v = static_cast<float>(toCompute(xb[(ih * p.w + iw) * p.c]));
        ++count;
        if (type == PoolingType::kMax) {
          if (v > acc || isnan(v)) acc = isnan(acc) ? acc : v;  // the first NaN stays
        } else if (type == PoolingType::kAverage) {
          acc += v;
        } else {
          acc += powf(fabsf(v), lp);
        }
      }
    }
    float out = acc;
    if (type == PoolingType::kAverage) {
      const C divisor = includePad ? padCount : count;
      out = divisor > 0 ? acc / static_cast<float>(divisor) : 0.f;
    } else if (type == PoolingType::kLp) {
      out = powf(acc, 1.f / lp);
    }
    y[i] = fromCompute<T>(out);
  }
}

class PoolingNhwcKernel final : public NamedKernel {
 public:
  PoolingNhwcKernel(std::string name, const ir::Layer& layer)
      : NamedKernel(std::move(name)), layer_(&layer), p_(layer.as<PoolingParams>()) {}

  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& y = args.outputs[0];
    KILN_CHECK(x.shape.size() == 4 && y.shape.size() == 4 && x.shape[0] == y.shape[0] && x.shape[3] == y.shape[3],
               kInvalidArgument, layer_->describe(), ": channels-last pooling expects NHWC input and output, got ",
               dimsToString(x.shape), " and ", dimsToString(y.shape));
    const int64_t n = y.count();
    if (n == 0) return;
    PoolWindow<int64_t> w{};
    w.h = x.shape[1];
    w.w = x.shape[2];
    w.c = x.shape[3];
    w.outH = y.shape[1];
    w.outW = y.shape[2];
    auto at = [](const Dims& d, size_t i, int64_t def) { return i < d.size() ? d[i] : def; };
    w.kh = at(p_.kernelShape, 0, 1);
    w.kw = at(p_.kernelShape, 1, 1);
    w.sh = at(p_.strides, 0, 1);
    w.sw = at(p_.strides, 1, 1);
    w.dh = at(p_.dilations, 0, 1);
    w.dw = at(p_.dilations, 1, 1);
    int64_t pads[2][2] = {{0, 0}, {0, 0}};  // [dim][begin, end]
    const int64_t in[2] = {w.h, w.w}, out[2] = {w.outH, w.outW}, k[2] = {w.kh, w.kw}, s[2] = {w.sh, w.sw},
                  d[2] = {w.dh, w.dw};
    for (size_t j = 0; j < 2; ++j) {
      if (p_.paddingMode == PaddingMode::kExplicit) {
        pads[j][0] = at(p_.padsBegin, j, 0);
        pads[j][1] = at(p_.padsEnd, j, 0);
      } else if (p_.paddingMode != PaddingMode::kValid) {
        const int64_t total = std::max<int64_t>(0, (out[j] - 1) * s[j] + (k[j] - 1) * d[j] + 1 - in[j]);
        pads[j][0] = p_.paddingMode == PaddingMode::kSameUpper ? total / 2 : total - total / 2;
        pads[j][1] = total - pads[j][0];
      }
    }
    w.padTop = pads[0][0];
    w.padBottom = pads[0][1];
    w.padLeft = pads[1][0];
    w.padRight = pads[1][1];
    auto launch = [&](auto tag, auto coordTag) {
      using T = typename decltype(tag)::type;
      using C = typename decltype(coordTag)::type;
      PoolWindow<C> wc{static_cast<C>(w.h),     static_cast<C>(w.w),       static_cast<C>(w.c),
                       static_cast<C>(w.outH),  static_cast<C>(w.outW),    static_cast<C>(w.kh),
                       static_cast<C>(w.kw),    static_cast<C>(w.sh),      static_cast<C>(w.sw),
                       static_cast<C>(w.dh),    static_cast<C>(w.dw),      static_cast<C>(w.padTop),
                       static_cast<C>(w.padLeft), static_cast<C>(w.padBottom), static_cast<C>(w.padRight)};
      poolNhwcKernel<T, C><<<gridFor(n), 256, 0, streamOf(args)>>>(x.as<const T>(), y.as<T>(), static_cast<C>(n), wc,
                                                                   p_.type, p_.countIncludePad,
                                                                   static_cast<float>(p_.p));
    };
    // 32-bit (signed: window coordinates go below zero) index math when both tensors allow it.
    const bool narrow = std::max(x.count(), n) < (int64_t(1) << 30);
    dispatchFloat(x.type, [&](auto tag) {
      if (narrow) launch(tag, Tag<int32_t>{});
      else launch(tag, Tag<int64_t>{});
    });
    KILN_CUDA_CHECK_LAUNCH("channels-last pooling");
  }

 private:
  const ir::Layer* layer_;
  PoolingParams p_;
};

}  // namespace

std::string supportsPoolingChannelsFirst(const ir::Layer& layer) {
  if (layer.as<PoolingParams>().channelsLast) return "channels-last pooling runs in cuda.pool.nhwc_thread_per_output";
  return supportsPooling(layer);
}

std::string supportsPoolingChannelsLast(const ir::Layer& layer) {
  const auto& p = layer.as<PoolingParams>();
  if (!p.channelsLast) return "channels-first pooling runs in cuda.pool.thread_per_output";
  DataType t = inType(layer, 0);
  if (!isFloat(t)) return typeReason(t, "float32, float16");
  if (inRank(layer) != 4) return "channels-last pooling is 2-D (NHWC) only";
  if (layer.outputs.size() != 1) return "channels-last max pooling has no indices output";
  return "";
}

std::unique_ptr<Kernel> createPoolingChannelsLast(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                                  const Constants&, const TacticChoice& tactic) {
  return std::make_unique<PoolingNhwcKernel>(tactic.name, layer);
}

}  // namespace kiln::cuda
