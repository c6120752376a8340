// Sampling geometry shared by the CPU and CUDA kernels of GridSample and RoiAlign, so that both backends
// land every sample on the same pixels with the same weights. Host and device functions.
#pragma once

#include <cmath>
#include <cstdint>

#include "kiln/layers.h"

#ifdef __CUDACC__
#define KILN_HOST_DEVICE __host__ __device__
#else
#define KILN_HOST_DEVICE
#endif

namespace kiln::sampling {

constexpr int kMaxTaps = 4;

// a * b rounded once, never fused into a following add (the device would contract it into an FMA; the
// host's baseline x86-64 code does not), so both backends compute identical coordinates.
KILN_HOST_DEVICE inline double roundedProduct(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

KILN_HOST_DEVICE inline bool isNaN(double x) { return x != x; }
KILN_HOST_DEVICE inline bool isInfinite(double x) { return x == x && x - x != x - x; }
KILN_HOST_DEVICE inline int64_t clampIndex(int64_t i, int64_t size) { return i < 0 ? 0 : (i >= size ? size - 1 : i); }
KILN_HOST_DEVICE inline double clampCoordinate(double x, double lo, double hi) { return x < lo ? lo : (hi < x ? hi : x); }

// ---- GridSample -------------------------------------------------------------------------------------

// One spatial dim of the input: its size and the coordinate range inside which no padding applies.
struct SampleAxis {
  int64_t size = 0;
  double lo = 0, hi = 0;
};

// Per-dim taps of one coordinate; index -1 reads zero padding.
struct Taps {
  int count = 0;
  int64_t index[kMaxTaps] = {};
  double weight[kMaxTaps] = {};
};

// Reflects a finite x into [lo, hi] by folding at the bounds (ONNX reference _gs_reflect).
KILN_HOST_DEVICE inline double reflectCoordinate(double x, double lo, double hi) {
  const double range = hi - lo;
  if (range <= 0) return lo;
  if (x < lo || x > hi) {
    const double dx = x < lo ? lo - x : x - hi;
    const double folds = ::floor(dx / range), r = dx - folds * range;
    const bool even = ::fmod(folds, 2.0) == 0;
    if (x < lo) return even ? lo + r : hi - r;
    return even ? hi - r : lo + r;
  }
  return x;
}

KILN_HOST_DEVICE inline int64_t resolveIndex(int64_t i, const SampleAxis& axis, GridSamplePadding padding) {
  if (i >= 0 && i < axis.size) return i;
  if (axis.size == 0) return -1;  // no data to clamp to
  switch (padding) {
    case GridSamplePadding::kZeros: return -1;
    case GridSamplePadding::kBorder: return clampIndex(i, axis.size);
    case GridSamplePadding::kReflection:
      return clampIndex(static_cast<int64_t>(reflectCoordinate(static_cast<double>(i), axis.lo, axis.hi)), axis.size);
  }
  return -1;
}

// The taps of a normalized grid coordinate along `axis`: 1 (nearest), 2 (linear) or 4 (cubic, a = -0.75).
KILN_HOST_DEVICE inline Taps tapsFor(double normalized, const SampleAxis& axis, GridSampleMode mode,
                                     GridSamplePadding padding, bool alignCorners) {
  const double n = static_cast<double>(axis.size);
  double x = alignCorners ? (normalized + 1) / 2 * (n - 1) : (roundedProduct(normalized + 1, n) - 1) / 2;
  Taps taps;
  if (isNaN(x) || (isInfinite(x) && padding != GridSamplePadding::kBorder)) {  // reads zero padding
    taps.count = 1;
    taps.index[0] = -1;
    return taps;
  }
  if (mode == GridSampleMode::kNearest) x = ::rint(x);  // round half to even, as np.rint
  if (x < axis.lo || x > axis.hi) {
    if (padding == GridSamplePadding::kBorder) x = clampCoordinate(x, 0.0, n - 1);
    if (padding == GridSamplePadding::kReflection) x = reflectCoordinate(x, axis.lo, axis.hi);
    // Far outside, every tap reads zero padding: keep the index arithmetic in range.
    if (padding == GridSamplePadding::kZeros) x = clampCoordinate(x, axis.lo - kMaxTaps, axis.hi + kMaxTaps);
  }
  const double x0 = ::floor(x);
  if (mode == GridSampleMode::kNearest) {
    taps.count = 1;
    taps.index[0] = static_cast<int64_t>(x);
    taps.weight[0] = 1;
  } else if (mode == GridSampleMode::kLinear) {
    taps.count = 2;
    taps.index[0] = static_cast<int64_t>(x0);
    taps.index[1] = taps.index[0] + 1;
    taps.weight[0] = x0 + 1 - x;
    taps.weight[1] = x - x0;
  } else {  // cubic convolution weights of the taps at -1, 0, 1, 2
    const double a = -0.75, t = x - x0;
    auto outer = [a](double v) { return ((a * v - 5 * a) * v + 8 * a) * v - 4 * a; };
    auto inner = [a](double v) { return ((a + 2) * v - (a + 3)) * v * v + 1; };
    taps.count = 4;
    taps.weight[0] = outer(t + 1);
    taps.weight[1] = inner(t);
    taps.weight[2] = inner(1 - t);
    taps.weight[3] = outer(2 - t);
    for (int i = 0; i < 4; ++i) taps.index[i] = static_cast<int64_t>(x0) - 1 + i;
  }
  for (int i = 0; i < taps.count; ++i) taps.index[i] = resolveIndex(taps.index[i], axis, padding);
  return taps;
}

// ---- RoiAlign ---------------------------------------------------------------------------------------

// A bilinear sample: four flat offsets into one channel plane and their weights (all 0 outside).
struct BilinearSample {
  int64_t offset[4] = {};
  double weight[4] = {};
};

// As ONNX Runtime: beyond one pixel outside the input (or NaN) the sample reads 0; others are clamped to
// the border.
KILN_HOST_DEVICE inline BilinearSample bilinearSample(double y, double x, int64_t height, int64_t width) {
  BilinearSample s;
  if (!(y >= -1.0 && y <= static_cast<double>(height) && x >= -1.0 && x <= static_cast<double>(width))) return s;
  y = y < 0.0 ? 0.0 : y;
  x = x < 0.0 ? 0.0 : x;
  auto yLow = static_cast<int64_t>(y), xLow = static_cast<int64_t>(x);
  int64_t yHigh = yLow + 1, xHigh = xLow + 1;
  if (yLow >= height - 1) {
    yLow = yHigh = height - 1;
    y = static_cast<double>(yLow);
  }
  if (xLow >= width - 1) {
    xLow = xHigh = width - 1;
    x = static_cast<double>(xLow);
  }
  const double ly = y - static_cast<double>(yLow), lx = x - static_cast<double>(xLow), hy = 1 - ly, hx = 1 - lx;
  s.offset[0] = yLow * width + xLow;
  s.offset[1] = yLow * width + xHigh;
  s.offset[2] = yHigh * width + xLow;
  s.offset[3] = yHigh * width + xHigh;
  s.weight[0] = hy * hx;
  s.weight[1] = hy * lx;
  s.weight[2] = ly * hx;
  s.weight[3] = ly * lx;
  return s;
}

}  // namespace kiln::sampling
