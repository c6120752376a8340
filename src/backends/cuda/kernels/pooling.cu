// Max / average / Lp pooling over 1-3 spatial dims (padded to 3), one thread per output element,
// fp32 accumulation; max pooling optionally writes ONNX flat indices (int64, row major).
#include <cmath>

#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {
namespace {

template <class C>
struct PoolShape {
  C in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
};

template <class T, class C>
__global__ void poolKernel(const T* __restrict__ x, T* __restrict__ y, int64_t* __restrict__ idx, C n,
                           PoolShape<C> p, PoolingType type, bool includePad, float lp) {
  KILN_GRID_STRIDE_I(C, i, n) {
    C r = i;
    C o2 = r % p.out[2]; r /= p.out[2];
    C o1 = r % p.out[1]; r /= p.out[1];
    C o0 = r % p.out[0]; r /= p.out[0];
    C plane = r;  // n * C + c
    const T* xp = x + plane * p.in[0] * p.in[1] * p.in[2];
    C b0 = o0 * p.s[0] - p.pb[0], b1 = o1 * p.s[1] - p.pb[1], b2 = o2 * p.s[2] - p.pb[2];
    float acc = type == PoolingType::kMax ? -INFINITY : 0.f;
    C best = -1, count = 0, padCount = 0;
    for (C k0 = 0; k0 < p.k[0]; ++k0) {
      C c0 = b0 + k0 * p.d[0];
      bool in0 = c0 >= 0 && c0 < p.in[0];
      bool pad0 = c0 >= -p.pb[0] && c0 < p.in[0] + p.pe[0];
      for (C k1 = 0; k1 < p.k[1]; ++k1) {
        C c1 = b1 + k1 * p.d[1];
        bool in1 = c1 >= 0 && c1 < p.in[1];
        bool pad1 = c1 >= -p.pb[1] && c1 < p.in[1] + p.pe[1];
        for (C k2 = 0; k2 < p.k[2]; ++k2) {
          C c2 = b2 + k2 * p.d[2];
          bool in2 = c2 >= 0 && c2 < p.in[2];
          bool pad2 = c2 >= -p.pb[2] && c2 < p.in[2] + p.pe[2];
          if (pad0 && pad1 && pad2) ++padCount;
          if (!(in0 && in1 && in2)) continue;
          C off = (c0 * p.in[1] + c1) * p.in[2] + c2;
          float v = toCompute(xp[off]);
          ++count;
          if (type == PoolingType::kMax) {
            if (v > acc || best < 0 || isnan(v)) {
              if (!(isnan(acc) && best >= 0)) { acc = v; best = off; }
            }
          } else if (type == PoolingType::kAverage) {
            acc += v;
          } else {
            acc += powf(fabsf(v), lp);
          }
        }
      }
    }
    float out;
    if (type == PoolingType::kMax) out = acc;
    else if (type == PoolingType::kAverage) {
      C c = includePad ? padCount : count;
      out = c > 0 ? acc / static_cast<float>(c) : 0.f;
    } else out = powf(acc, 1.f / lp);
    y[i] = fromCompute<T>(out);
    if (idx) idx[i] = static_cast<int64_t>(plane) * p.in[0] * p.in[1] * p.in[2] + (best < 0 ? 0 : best);
  }
}

class PoolingKernel final : public NamedKernel {
 public:
  PoolingKernel(std::string name, const ir::Layer& layer)
      : NamedKernel(std::move(name)), layer_(&layer),
        p_(layer.as<PoolingParams>()) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& y = args.outputs[0];
    int64_t n = y.count();
    if (n == 0) return;
    int sr = static_cast<int>(x.shape.size()) - 2;
    KILN_CHECK(sr >= 1 && sr <= 3, kUnsupported, layer_->describe(), ": the CUDA pooling kernel supports 1-3 spatial dims");
    PoolShape<int64_t> s{};
    for (int d = 0; d < 3; ++d) {
      s.in[d] = s.out[d] = s.k[d] = s.s[d] = s.d[d] = 1;
      s.pb[d] = s.pe[d] = 0;
    }
    for (int j = 0; j < sr; ++j) {
      int d = 3 - sr + j;
      s.in[d] = x.shape[2 + j];
      s.out[d] = y.shape[2 + j];
      s.k[d] = j < static_cast<int>(p_.kernelShape.size()) ? p_.kernelShape[j] : 1;
      s.s[d] = j < static_cast<int>(p_.strides.size()) ? p_.strides[j] : 1;
      s.d[d] = j < static_cast<int>(p_.dilations.size()) ? p_.dilations[j] : 1;
      if (p_.paddingMode == PaddingMode::kExplicit) {
        s.pb[d] = j < static_cast<int>(p_.padsBegin.size()) ? p_.padsBegin[j] : 0;
        s.pe[d] = j < static_cast<int>(p_.padsEnd.size()) ? p_.padsEnd[j] : 0;
      } else if (p_.paddingMode != PaddingMode::kValid) {
        int64_t total = std::max<int64_t>(0, (s.out[d] - 1) * s.s[d] + (s.k[d] - 1) * s.d[d] + 1 - s.in[d]);
        s.pb[d] = p_.paddingMode == PaddingMode::kSameUpper ? total / 2 : total - total / 2;
        s.pe[d] = total - s.pb[d];
      }
    }
    int64_t* idx = args.outputs.size() > 1 && args.outputs[1].data ? args.outputs[1].as<int64_t>() : nullptr;
    // 32-bit (signed: window coordinates go below zero) index math when both tensors allow it.
    auto launch = [&](auto tag, auto coordTag) {
      using T = typename decltype(tag)::type;
      using C = typename decltype(coordTag)::type;
      PoolShape<C> sc{};
      for (int d = 0; d < 3; ++d) {
        sc.in[d] = static_cast<C>(s.in[d]); sc.out[d] = static_cast<C>(s.out[d]); sc.k[d] = static_cast<C>(s.k[d]);
        sc.s[d] = static_cast<C>(s.s[d]); sc.d[d] = static_cast<C>(s.d[d]);
        sc.pb[d] = static_cast<C>(s.pb[d]); sc.pe[d] = static_cast<C>(s.pe[d]);
      }
      poolKernel<T, C><<<gridFor(n), 256, 0, streamOf(args)>>>(x.as<const T>(), y.as<T>(), idx, static_cast<C>(n), sc,
                                                               p_.type, p_.countIncludePad, static_cast<float>(p_.p));
    };
    bool narrow = std::max(x.count(), n) < (int64_t(1) << 30);
    dispatchFloat(x.type, [&](auto tag) {
      if (narrow) launch(tag, Tag<int32_t>{});
      else launch(tag, Tag<int64_t>{});
    });
    KILN_CUDA_CHECK_LAUNCH("pooling");
  }

 private:
  const ir::Layer* layer_;
  PoolingParams p_;
};

}  // namespace

std::string supportsPooling(const ir::Layer& layer) {
  const auto& p = layer.as<PoolingParams>();
  DataType t = inType(layer, 0);
  if (!isFloat(t)) return typeReason(t, "float32, float16");
  int64_t r = inRank(layer);
  if (r < 3 || r > 5) return "pooling over more than 3 spatial dims";
  if (layer.outputs.size() > 1 && p.storageOrder != 0) return "column-major max-pool indices";
  return "";
}
std::unique_ptr<Kernel> createPooling(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                      const TacticChoice& tactic) {
  return std::make_unique<PoolingKernel>(tactic.name, layer);
}

}  // namespace kiln::cuda
