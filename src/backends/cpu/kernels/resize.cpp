// Resize (ONNX semantics: nearest/linear/cubic, every coordinate transform, nearest rounding modes,
// cubic coefficient, exclude_outside, tf_crop_and_resize extrapolation, antialias): per resized axis
// the taps (index, weight) of each output coordinate are computed once, then separable 1-D passes.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

struct AxisTaps {
  int64_t inLen = 1, outLen = 1, taps = 1;
  std::vector<int64_t> index;  // outLen * taps
  std::vector<double> weight;  // outLen * taps
  std::vector<char> extrapolate;
  bool identity = false;
};

double transformCoordinate(ResizeCoordinateTransform mode, double o, double scale, int64_t inLen, int64_t outLen,
                           double roiStart, double roiEnd, bool& outside) {
  outside = false;
  switch (mode) {
    case ResizeCoordinateTransform::kHalfPixel: return (o + 0.5) / scale - 0.5;
    case ResizeCoordinateTransform::kPytorchHalfPixel: return outLen > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
    case ResizeCoordinateTransform::kAlignCorners: {
      // The ONNX reference divides by the unrounded resized length (inLen * scale), which differs from
      // outLen when scales (not sizes) are given.
      double resized = scale * static_cast<double>(inLen);
      return std::fabs(resized - 1.0) < 1e-9 ? 0.0 : o * static_cast<double>(inLen - 1) / (resized - 1.0);
    }
    case ResizeCoordinateTransform::kAsymmetric: return o / scale;
    case ResizeCoordinateTransform::kTfHalfPixelForNn: return (o + 0.5) / scale;
    case ResizeCoordinateTransform::kHalfPixelSymmetric: {
      double adjustment = static_cast<double>(outLen) / (scale * static_cast<double>(inLen));
      double center = static_cast<double>(inLen) / 2.0;
      double offset = center * (1.0 - adjustment);
      return offset + (o + 0.5) / scale - 0.5;
    }
    case ResizeCoordinateTransform::kTfCropAndResize: {
      double x = outLen > 1 ? roiStart * (inLen - 1) + o * (roiEnd - roiStart) * (inLen - 1) / (outLen - 1)
                            : 0.5 * (roiStart + roiEnd) * (inLen - 1);
      if (x < 0 || x > static_cast<double>(inLen - 1)) outside = true;
      return x;
    }
  }
  return o;
}

AxisTaps makeTaps(const ResizeParams& p, int64_t inLen, int64_t outLen, double scale, double roiStart, double roiEnd) {
  AxisTaps t;
  t.inLen = inLen;
  t.outLen = outLen;
  const double A = p.cubicCoeffA;
  // Tap window [start, start + taps) relative to base = ceil(x) - 1.
  int64_t start = 0;
  double s = std::min(scale, 1.0);
  bool anti = p.antialias && scale < 1.0;
  if (p.mode == ResizeMode::kNearest) {
    t.taps = 1;
  } else if (p.mode == ResizeMode::kLinear) {
    start = anti ? static_cast<int64_t>(std::floor(-1.0 / s)) + 1 : 0;
    t.taps = 2 - 2 * start;
  } else {
    start = anti ? static_cast<int64_t>(std::floor(-2.0 / s)) + 1 : -1;
    t.taps = 2 - 2 * start;
  }
  t.index.assign(outLen * t.taps, 0);
  t.weight.assign(outLen * t.taps, 0.0);
  t.extrapolate.assign(outLen, 0);
  std::vector<double> c(t.taps);
  auto cubic = [A](double x) {
    x = std::abs(x);
    if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
    if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    return 0.0;
  };
  for (int64_t o = 0; o < outLen; ++o) {
    bool outside = false;
    double x = transformCoordinate(p.coordinateTransform, static_cast<double>(o), scale, inLen, outLen, roiStart,
                                   roiEnd, outside);
    int64_t* idx = t.index.data() + o * t.taps;
    double* w = t.weight.data() + o * t.taps;
    if (outside) {
      t.extrapolate[o] = 1;
      continue;
    }
    if (p.mode == ResizeMode::kNearest) {
      double fl = std::floor(x), frac = x - fl;
      double r;
      switch (p.nearestRounding) {
        case ResizeNearestRounding::kRoundPreferFloor: r = frac == 0.5 ? fl : std::round(x); break;
        case ResizeNearestRounding::kRoundPreferCeil: r = frac == 0.5 ? fl + 1 : std::round(x); break;
        case ResizeNearestRounding::kFloor: r = fl; break;
        default: r = std::ceil(x); break;
      }
      idx[0] = std::clamp<int64_t>(static_cast<int64_t>(r), 0, inLen - 1);
      w[0] = 1.0;
      continue;
    }
    double base = std::ceil(x) - 1;  // ratio in (0, 1]
    double ratio = x - base;
    if (p.mode == ResizeMode::kLinear) {
      if (!anti) {
        c[0] = 1 - ratio;
        c[1] = ratio;
      } else {
        for (int64_t i = 0; i < t.taps; ++i)
          c[i] = std::clamp(1.0 - std::abs((static_cast<double>(start + i) - ratio) * s), 0.0, 1.0);
      }
    } else {
      if (!anti) {
        c[0] = ((A * (ratio + 1) - 5 * A) * (ratio + 1) + 8 * A) * (ratio + 1) - 4 * A;
        c[1] = ((A + 2) * ratio - (A + 3)) * ratio * ratio + 1;
        c[2] = ((A + 2) * (1 - ratio) - (A + 3)) * (1 - ratio) * (1 - ratio) + 1;
        c[3] = ((A * ((1 - ratio) + 1) - 5 * A) * ((1 - ratio) + 1) + 8 * A) * ((1 - ratio) + 1) - 4 * A;
      } else {
        for (int64_t i = 0; i < t.taps; ++i) c[i] = cubic(s * (static_cast<double>(start + i) - ratio));
      }
    }
    if (anti) {
      double sum = 0;
      for (double v : c) sum += v;
      if (sum != 0)
        for (double& v : c) v /= sum;
    }
    int64_t b = static_cast<int64_t>(base);
    if (p.excludeOutside) {
      double sum = 0;
      for (int64_t i = 0; i < t.taps; ++i) {
        int64_t j = b + start + i;
        if (j < 0 || j >= inLen) c[i] = 0;
        sum += c[i];
      }
      if (sum != 0)
        for (double& v : c) v /= sum;
    }
    for (int64_t i = 0; i < t.taps; ++i) {
      idx[i] = std::clamp<int64_t>(b + start + i, 0, inLen - 1);
      w[i] = c[i];
    }
  }
  // Identity axis: every output o reads input o with weight 1.
  t.identity = inLen == outLen;
  for (int64_t o = 0; o < outLen && t.identity; ++o) {
    if (t.extrapolate[o]) { t.identity = false; break; }
    double wo = 0;
    for (int64_t i = 0; i < t.taps; ++i) {
      double w = t.weight[o * t.taps + i];
      if (w == 0) continue;
      if (t.index[o * t.taps + i] != o) { t.identity = false; break; }
      wo += w;
    }
    if (wo != 1.0) t.identity = false;
  }
  return t;
}

template <class CT>
void resizePass(const AxisTaps& t, const CT* in, CT* out, int64_t outer, int64_t inner, CT extrapolation) {
  const int64_t rows = outer * t.outLen;
  parallelFor(rows, std::max<int64_t>(1, 2048 / std::max<int64_t>(inner, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t oi = r / t.outLen, o = r % t.outLen;
      CT* __restrict dst = out + r * inner;
      if (t.extrapolate[o]) {
        std::fill(dst, dst + inner, extrapolation);
        continue;
      }
      const int64_t* idx = t.index.data() + o * t.taps;
      const double* w = t.weight.data() + o * t.taps;
      if (inner == 1) {
        CT s = 0;
        for (int64_t k = 0; k < t.taps; ++k) s += static_cast<CT>(w[k]) * in[oi * t.inLen + idx[k]];
        dst[0] = s;
        continue;
      }
      std::fill(dst, dst + inner, CT(0));
      for (int64_t k = 0; k < t.taps; ++k) {
        if (w[k] == 0) continue;
        CT wk = static_cast<CT>(w[k]);
        const CT* __restrict src = in + (oi * t.inLen + idx[k]) * inner;
        for (int64_t i = 0; i < inner; ++i) dst[i] += wk * src[i];
      }
    }
  });
}

template <class T>
void resizeTyped(const ir::Layer& layer, const ResizeParams& p, const TensorView& xv, const TensorView& yv,
                 const std::vector<AxisTaps>& taps) {
  using CT = std::conditional_t<std::is_same_v<T, double> || !detail::kIsFloating<T>, double, float>;
  const Dims& xs = xv.shape;
  const size_t rank = xs.size();
  const T* x = xv.as<const T>();
  T* y = yv.as<T>();
  std::vector<CT> cur(static_cast<size_t>(xv.count())), next;
  for (int64_t i = 0; i < xv.count(); ++i) cur[i] = static_cast<CT>(static_cast<ComputeType<T>>(x[i]));
  Dims shape = xs;
  for (size_t a = 0; a < rank; ++a) {
    if (taps[a].identity) continue;
    int64_t outer = detail::product(shape, 0, a), inner = detail::product(shape, a + 1, rank);
    next.assign(static_cast<size_t>(outer * taps[a].outLen * inner), CT(0));
    resizePass<CT>(taps[a], cur.data(), next.data(), outer, inner, static_cast<CT>(p.extrapolationValue));
    shape[a] = taps[a].outLen;
    cur.swap(next);
  }
  KILN_CHECK(static_cast<int64_t>(cur.size()) == yv.count(), kInvalidArgument, layer.describe(),
             ": resize output shape mismatch");
  for (int64_t i = 0; i < yv.count(); ++i) {
    if constexpr (detail::kIsFloating<T>) {
      y[i] = static_cast<T>(cur[i]);
    } else {
      double v = std::nearbyint(static_cast<double>(cur[i]));
      v = std::clamp(v, static_cast<double>(std::numeric_limits<T>::lowest()),
                     static_cast<double>(std::numeric_limits<T>::max()));
      y[i] = static_cast<T>(v);
    }
  }
}

}  // namespace

std::string supportsResize(const ir::Layer& layer) {
  return checkTypes(layer, kNumeric, kNumeric, /*shapeInputs=*/kFloats | kIntegers);  // roi, scales, sizes
}

void runResize(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<ResizeParams>();
  KILN_CHECK(!args.inputs.empty() && !args.outputs.empty(), kInvalidArgument, layer.describe(), ": resize needs x");
  const TensorView& xv = args.inputs[0];
  const TensorView& yv = args.outputs[0];
  const Dims& xs = xv.shape;
  const Dims& ys = yv.shape;
  const int64_t rank = static_cast<int64_t>(xs.size());
  KILN_CHECK(static_cast<int64_t>(ys.size()) == rank, kInvalidArgument, layer.describe(), ": resize rank mismatch");
  if (yv.count() == 0) return;
  KILN_CHECK(xv.count() > 0, kInvalidArgument, layer.describe(), ": cannot resize an empty tensor to a non-empty one");
  std::vector<int64_t> axes;
  if (p.axes.empty()) {
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  } else {
    for (int64_t a : p.axes) axes.push_back(detail::normAxis(a, rank, layer));
  }
  const size_t na = axes.size();
  std::vector<double> scales(rank, 1.0), roiStart(rank, 0.0), roiEnd(rank, 1.0);
  const TensorView* roiV = detail::optionalInput(args, 1);
  const TensorView* scalesV = detail::optionalInput(args, 2);
  const TensorView* sizesV = detail::optionalInput(args, 3);
  if (roiV && roiV->count() > 0) {
    std::vector<float> roi = detail::readFloats(*roiV, layer);
    if (roi.size() == 2 * na) {
      for (size_t i = 0; i < na; ++i) { roiStart[axes[i]] = roi[i]; roiEnd[axes[i]] = roi[na + i]; }
    } else if (roi.size() == 2 * static_cast<size_t>(rank)) {
      for (int64_t i = 0; i < rank; ++i) { roiStart[i] = roi[i]; roiEnd[i] = roi[rank + i]; }
    } else {
      fail(ErrorCode::kInvalidArgument, concat(layer.describe(), ": roi has ", roi.size(), " values"));
    }
  }
  if (scalesV && scalesV->count() > 0) {
    std::vector<float> sc = detail::readFloats(*scalesV, layer);
    if (sc.size() == na) {
      for (size_t i = 0; i < na; ++i) scales[axes[i]] = sc[i];
    } else if (sc.size() == static_cast<size_t>(rank)) {
      for (int64_t i = 0; i < rank; ++i) scales[i] = sc[i];
    } else {
      fail(ErrorCode::kInvalidArgument, concat(layer.describe(), ": scales has ", sc.size(), " values"));
    }
  } else {
    std::vector<int64_t> sizes;
    if (sizesV && sizesV->count() > 0) {
      std::vector<int64_t> sz = detail::readInts(*sizesV, layer);
      sizes.assign(rank, 0);
      for (int64_t i = 0; i < rank; ++i) sizes[i] = xs[i];
      if (sz.size() == na) {
        for (size_t i = 0; i < na; ++i) sizes[axes[i]] = sz[i];
      } else if (sz.size() == static_cast<size_t>(rank)) {
        sizes = sz;
      } else {
        fail(ErrorCode::kInvalidArgument, concat(layer.describe(), ": sizes has ", sz.size(), " values"));
      }
    } else {
      sizes = ys;
    }
    if (p.aspectPolicy != ResizeAspectPolicy::kStretch) {
      double s = p.aspectPolicy == ResizeAspectPolicy::kNotLarger ? std::numeric_limits<double>::infinity() : 0.0;
      for (int64_t a : axes) {
        double r = static_cast<double>(sizes[a]) / static_cast<double>(xs[a]);
        s = p.aspectPolicy == ResizeAspectPolicy::kNotLarger ? std::min(s, r) : std::max(s, r);
      }
      for (int64_t a : axes) scales[a] = s;
    } else {
      for (int64_t a : axes) scales[a] = static_cast<double>(sizes[a]) / static_cast<double>(xs[a]);
    }
  }
  std::vector<AxisTaps> taps(rank);
  for (int64_t a = 0; a < rank; ++a) {
    if (std::find(axes.begin(), axes.end(), a) == axes.end() && xs[a] == ys[a]) {
      taps[a].identity = true;
      continue;
    }
    KILN_CHECK(scales[a] > 0, kInvalidArgument, layer.describe(), ": resize scales must be positive");
    taps[a] = makeTaps(p, xs[a], ys[a], scales[a], roiStart[a], roiEnd[a]);
  }
  dispatchType<kNumeric>(xv.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    resizeTyped<T>(layer, p, xv, yv, taps);
  });
}

}  // namespace kiln::cpu
