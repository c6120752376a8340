// Pooling (max with optional int64 indices, average with count_include_pad, Lp) over 1-D/2-D/3-D
// windows with strides, dilations, pads and ceil mode: a direct window loop parallel over (n, c) planes;
// max pooling without indices runs row-wise over the valid output range of each tap. Max pooling
// propagates NaN (a window holding a NaN gives NaN, its index the first NaN's), as ONNX Runtime and PyTorch.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

struct PoolGeom {
  int64_t in[3], out[3], k[3], s[3], d[3], p[3], pe[3];
  int nsp;
};

PoolGeom makeGeom(const ir::Layer& layer, const PoolingParams& p, const Dims& xs, const Dims& ys) {
  const size_t nsp = xs.size() - 2;
  KILN_CHECK(nsp >= 1 && nsp <= 3, kUnsupported, layer.describe(), ": only 1-D, 2-D and 3-D pooling is supported");
  Dims inSp(xs.begin() + 2, xs.end()), outSp(ys.begin() + 2, ys.end());
  KILN_CHECK(p.kernelShape.size() == nsp, kInvalidArgument, layer.describe(), ": kernel shape ",
             dimsToString(p.kernelShape), " does not match the input rank");
  std::vector<int64_t> pads =
      detail::windowPadsBegin(p.paddingMode, p.padsBegin, inSp, outSp, p.kernelShape, p.strides, p.dilations);
  PoolGeom g;
  g.nsp = static_cast<int>(nsp);
  size_t off = 3 - nsp;
  for (int i = 0; i < 3; ++i) { g.in[i] = g.out[i] = g.k[i] = g.s[i] = g.d[i] = 1; g.p[i] = g.pe[i] = 0; }
  for (size_t i = 0; i < nsp; ++i) {
    g.in[off + i] = inSp[i];
    g.out[off + i] = outSp[i];
    g.k[off + i] = p.kernelShape[i];
    g.s[off + i] = detail::dimOr(p.strides, i, 1);
    g.d[off + i] = detail::dimOr(p.dilations, i, 1);
    g.p[off + i] = pads[i];
    int64_t padEnd;
    if (p.paddingMode == PaddingMode::kExplicit) {
      padEnd = detail::dimOr(p.padsEnd, i, 0);
    } else if (p.paddingMode == PaddingMode::kValid) {
      padEnd = 0;
    } else {
      int64_t total = std::max<int64_t>(0, (outSp[i] - 1) * g.s[off + i] + (p.kernelShape[i] - 1) * g.d[off + i] + 1 -
                                               inSp[i]);
      padEnd = total - pads[i];
    }
    g.pe[off + i] = padEnd;
    KILN_CHECK(g.s[off + i] >= 1 && g.d[off + i] >= 1 && g.k[off + i] >= 1, kInvalidArgument, layer.describe(),
               ": kernel, strides and dilations must be positive");
  }
  return g;
}

// Max without indices, an output row at a time: for each valid (kd, kh, kw) tap, the range of output
// columns whose input lies inside the row is updated without per-element bounds checks.
template <class T>
void maxPoolRows(const PoolGeom& g, const T* x, T* y, int64_t planes) {
  const int64_t inSize = g.in[0] * g.in[1] * g.in[2], outSize = g.out[0] * g.out[1] * g.out[2];
  using CT = ComputeType<T>;
  CT lowest = std::numeric_limits<CT>::lowest();
  if constexpr (std::numeric_limits<CT>::has_infinity) lowest = -std::numeric_limits<CT>::infinity();
  parallelFor(planes * g.out[0] * g.out[1], std::max<int64_t>(1, 4096 / std::max<int64_t>(1, g.out[2])),
              [&](int64_t r0, int64_t r1) {
    std::vector<CT> best(static_cast<size_t>(g.out[2]));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t oh = r % g.out[1], od = (r / g.out[1]) % g.out[0], plane = r / (g.out[1] * g.out[0]);
      const T* xp = x + plane * inSize;
      std::fill(best.begin(), best.end(), lowest);
      for (int64_t kd = 0; kd < g.k[0]; ++kd) {
        int64_t id = od * g.s[0] - g.p[0] + kd * g.d[0];
        if (id < 0 || id >= g.in[0]) continue;
        for (int64_t kh = 0; kh < g.k[1]; ++kh) {
          int64_t ih = oh * g.s[1] - g.p[1] + kh * g.d[1];
          if (ih < 0 || ih >= g.in[1]) continue;
          const T* xr = xp + (id * g.in[1] + ih) * g.in[2];
          for (int64_t kw = 0; kw < g.k[2]; ++kw) {
            const int64_t iw0 = -g.p[2] + kw * g.d[2], s = g.s[2];
            // Valid ow: 0 <= ow * s + iw0 < W.
            int64_t owBegin = iw0 >= 0 ? 0 : (-iw0 + s - 1) / s;
            int64_t owEnd = g.in[2] - iw0 <= 0 ? 0 : std::min(g.out[2], (g.in[2] - iw0 + s - 1) / s);
            CT* __restrict b = best.data();
            for (int64_t ow = owBegin; ow < owEnd; ++ow) {
              CT v = static_cast<CT>(xr[ow * s + iw0]);
              b[ow] = (v > b[ow] || detail::isNaN(v)) ? v : b[ow];  // a NaN sticks: nothing compares greater
            }
          }
        }
      }
      T* yr = y + plane * outSize + (od * g.out[1] + oh) * g.out[2];
      for (int64_t ow = 0; ow < g.out[2]; ++ow) yr[ow] = static_cast<T>(best[ow]);
    }
  });
}

template <class T>
void maxPool(const PoolGeom& g, const T* x, T* y, int64_t* indices, int64_t planes, bool columnMajor) {
  if (indices == nullptr) {
    maxPoolRows(g, x, y, planes);
    return;
  }
  const int64_t inSize = g.in[0] * g.in[1] * g.in[2], outSize = g.out[0] * g.out[1] * g.out[2];
  using CT = ComputeType<T>;
  parallelFor(planes, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      const T* xp = x + plane * inSize;
      T* yp = y + plane * outSize;
      int64_t* ip = indices ? indices + plane * outSize : nullptr;
      int64_t o = 0;
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
            CT best = std::numeric_limits<CT>::lowest();
            if constexpr (std::numeric_limits<CT>::has_infinity) best = -std::numeric_limits<CT>::infinity();
            int64_t bestIdx = -1;
            for (int64_t kd = 0; kd < g.k[0]; ++kd) {
              int64_t id = od * g.s[0] - g.p[0] + kd * g.d[0];
              if (id < 0 || id >= g.in[0]) continue;
              for (int64_t kh = 0; kh < g.k[1]; ++kh) {
                int64_t ih = oh * g.s[1] - g.p[1] + kh * g.d[1];
                if (ih < 0 || ih >= g.in[1]) continue;
                const T* xr = xp + (id * g.in[1] + ih) * g.in[2];
                for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                  int64_t iw = ow * g.s[2] - g.p[2] + kw * g.d[2];
                  if (iw < 0 || iw >= g.in[2]) continue;
                  CT v = static_cast<CT>(xr[iw]);
                  // The first NaN wins and stays.
                  if (bestIdx < 0 || (!detail::isNaN(best) && (v > best || detail::isNaN(v)))) {
                    best = v;
                    bestIdx = (id * g.in[1] + ih) * g.in[2] + iw;
                  }
                }
              }
            }
            yp[o] = static_cast<T>(best);
            if (ip) {
              if (bestIdx < 0) {
                ip[o] = -1;
              } else {
                int64_t idx = bestIdx;
                if (columnMajor) {
                  int64_t iw = idx % g.in[2], ih = (idx / g.in[2]) % g.in[1], id = idx / (g.in[2] * g.in[1]);
                  // Column-major over the spatial dims (first spatial dim fastest).
                  if (g.nsp == 3) idx = id + g.in[0] * (ih + g.in[1] * iw);
                  else if (g.nsp == 2) idx = ih + g.in[1] * iw;
                  else idx = iw;
                }
                ip[o] = plane * inSize + idx;
              }
            }
          }
    }
  });
}

template <class T>
void avgLpPool(const PoolGeom& g, const PoolingParams& p, const T* x, T* y, int64_t planes) {
  const int64_t inSize = g.in[0] * g.in[1] * g.in[2], outSize = g.out[0] * g.out[1] * g.out[2];
  using CT = ComputeType<T>;
  const bool lp = p.type == PoolingType::kLp;
  const CT pw = static_cast<CT>(p.p);
  parallelFor(planes, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      const T* xp = x + plane * inSize;
      T* yp = y + plane * outSize;
      int64_t o = 0;
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
            CT sum = 0;
            int64_t count = 0, padded = 1;
            int64_t base[3] = {od * g.s[0] - g.p[0], oh * g.s[1] - g.p[1], ow * g.s[2] - g.p[2]};
            // Window extent clipped to the padded input (ceil mode windows may run past it).
            for (int a = 0; a < 3; ++a) {
              int64_t n = 0;
              for (int64_t kk = 0; kk < g.k[a]; ++kk) {
                int64_t i = base[a] + kk * g.d[a];
                if (i < g.in[a] + g.pe[a] && i >= -g.p[a]) ++n;
              }
              padded *= n;
            }
            for (int64_t kd = 0; kd < g.k[0]; ++kd) {
              int64_t id = base[0] + kd * g.d[0];
              if (id < 0 || id >= g.in[0]) continue;
              for (int64_t kh = 0; kh < g.k[1]; ++kh) {
                int64_t ih = base[1] + kh * g.d[1];
                if (ih < 0 || ih >= g.in[1]) continue;
                const T* xr = xp + (id * g.in[1] + ih) * g.in[2];
                for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                  int64_t iw = base[2] + kw * g.d[2];
                  if (iw < 0 || iw >= g.in[2]) continue;
                  CT v = static_cast<CT>(xr[iw]);
                  if (lp) {
                    CT a = std::abs(v);
                    sum += p.p == 1 ? a : p.p == 2 ? a * a : static_cast<CT>(std::pow(a, pw));
                  } else {
                    sum += v;
                  }
                  ++count;
                }
              }
            }
            CT r;
            if (lp) {
              r = p.p == 1 ? sum : p.p == 2 ? std::sqrt(sum) : static_cast<CT>(std::pow(sum, CT(1) / pw));
            } else {
              int64_t div = p.countIncludePad ? padded : count;
              r = div > 0 ? sum / static_cast<CT>(div) : CT(0);
            }
            yp[o] = static_cast<T>(r);
          }
    }
  });
}

}  // namespace

std::string supportsPooling(const ir::Layer& layer) {
  return checkTypesPerIndex(layer, {kNumeric}, {kNumeric, kSigned});  // output 1: max indices
}

void runPooling(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<PoolingParams>();
  KILN_CHECK(!args.inputs.empty() && !args.outputs.empty(), kInvalidArgument, layer.describe(), ": pooling needs x");
  const TensorView& xv = args.inputs[0];
  const TensorView& yv = args.outputs[0];
  KILN_CHECK(xv.shape.size() >= 3 && yv.shape.size() == xv.shape.size(), kInvalidArgument, layer.describe(),
             ": pooling expects NC[D]HW input");
  if (yv.count() == 0) return;
  PoolGeom g = makeGeom(layer, p, xv.shape, yv.shape);
  const int64_t planes = xv.shape[0] * xv.shape[1];
  if (p.type == PoolingType::kMax) {
    int64_t* indices = nullptr;
    if (args.outputs.size() > 1 && args.outputs[1].data != nullptr) {
      KILN_CHECK(args.outputs[1].type == DataType::kInt64, kInvalidArgument, layer.describe(),
                 ": max pooling indices must be int64");
      indices = args.outputs[1].as<int64_t>();
    }
    dispatchType<kFloats | kSigned | kUnsigned>(xv.type, layer, [&](auto tag) {
      using T = typename decltype(tag)::type;
      maxPool<T>(g, xv.as<const T>(), yv.as<T>(), indices, planes, p.storageOrder == 1);
    });
    return;
  }
  dispatchType<kFloats>(xv.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    avgLpPool<T>(g, p, xv.as<const T>(), yv.as<T>(), planes);
  });
}

}  // namespace kiln::cpu
