// GridSample: per output location, the grid coordinates are denormalized, clamped or reflected into the
// input as the ONNX reference does, then the output is the sum over the tensor product of per-dim taps
// (1 nearest, 2 linear, 4 cubic) whose out-of-range indices the padding mode resolves. 1 to 3 spatial dims.
#include <cmath>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"

namespace kiln::cpu {
namespace {

constexpr int kMaxTaps = 4;

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
double reflect(double x, double lo, double hi) {
  double range = hi - lo;
  if (range <= 0) return lo;
  if (x < lo || x > hi) {
    double dx = x < lo ? lo - x : x - hi;
    double folds = std::floor(dx / range), r = dx - folds * range;
    bool even = std::fmod(folds, 2.0) == 0;
    if (x < lo) return even ? lo + r : hi - r;
    return even ? hi - r : lo + r;
  }
  return x;
}

// Cubic convolution weights (a = -0.75) of the taps at -1, 0, 1, 2 for a fraction t in [0, 1).
void cubicWeights(double t, double* w) {
  const double a = -0.75;
  auto outer = [&](double x) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; };
  auto inner = [&](double x) { return ((a + 2) * x - (a + 3)) * x * x + 1; };
  w[0] = outer(t + 1);
  w[1] = inner(t);
  w[2] = inner(1 - t);
  w[3] = outer(2 - t);
}

int64_t resolveIndex(int64_t i, const SampleAxis& axis, GridSamplePadding padding) {
  if (i >= 0 && i < axis.size) return i;
  switch (padding) {
    case GridSamplePadding::kZeros: return -1;
    case GridSamplePadding::kBorder: return std::clamp<int64_t>(i, 0, axis.size - 1);
    case GridSamplePadding::kReflection:
      return std::clamp<int64_t>(static_cast<int64_t>(reflect(static_cast<double>(i), axis.lo, axis.hi)), 0,
                                 axis.size - 1);
  }
  return -1;
}

Taps tapsFor(double normalized, const SampleAxis& axis, const GridSampleParams& p) {
  double n = static_cast<double>(axis.size);
  double x = p.alignCorners ? (normalized + 1) / 2 * (n - 1) : ((normalized + 1) * n - 1) / 2;
  Taps taps;
  if (std::isnan(x) || (std::isinf(x) && p.padding != GridSamplePadding::kBorder)) {  // reads zero padding
    taps.count = 1;
    taps.index[0] = -1;
    return taps;
  }
  if (p.mode == GridSampleMode::kNearest) x = std::nearbyint(x);  // round half to even, as np.rint
  if (x < axis.lo || x > axis.hi) {
    if (p.padding == GridSamplePadding::kBorder) x = std::clamp(x, 0.0, n - 1);
    if (p.padding == GridSamplePadding::kReflection) x = reflect(x, axis.lo, axis.hi);
    // Far outside, every tap reads zero padding: keep the index arithmetic in range.
    if (p.padding == GridSamplePadding::kZeros) x = std::clamp(x, axis.lo - kMaxTaps, axis.hi + kMaxTaps);
  }
  if (p.mode == GridSampleMode::kNearest) {
    taps.count = 1;
    taps.index[0] = static_cast<int64_t>(x);
    taps.weight[0] = 1;
  } else if (p.mode == GridSampleMode::kLinear) {
    double x0 = std::floor(x);
    taps.count = 2;
    taps.index[0] = static_cast<int64_t>(x0);
    taps.index[1] = taps.index[0] + 1;
    taps.weight[0] = x0 + 1 - x;
    taps.weight[1] = x - x0;
  } else {
    double x0 = std::floor(x);
    taps.count = 4;
    cubicWeights(x - x0, taps.weight);
    for (int i = 0; i < 4; ++i) taps.index[i] = static_cast<int64_t>(x0) - 1 + i;
  }
  for (int i = 0; i < taps.count; ++i) taps.index[i] = resolveIndex(taps.index[i], axis, p.padding);
  return taps;
}

std::vector<double> readDoubles(const TensorView& v, const ir::Layer& layer) {
  std::vector<double> out(static_cast<size_t>(v.count()));
  dispatchType<kFloats>(v.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = v.as<const T>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(static_cast<ComputeType<T>>(p[i]));
  });
  return out;
}

}  // namespace

void runGridSample(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 2);
  const auto& p = layer.as<GridSampleParams>();
  const TensorView &x = args.inputs[0], &gridView = args.inputs[1], &y = args.outputs[0];
  const int k = static_cast<int>(x.shape.size()) - 2;
  KILN_CHECK(k >= 1 && k <= 3 && gridView.shape.size() == x.shape.size() && gridView.shape.back() == k &&
                 gridView.shape[0] == x.shape[0],
             kInvalidArgument, layer.describe(), ": input ", dimsToString(x.shape), " and grid ",
             dimsToString(gridView.shape), " do not match");
  if (y.count() == 0) return;
  const int64_t batch = x.shape[0], channels = x.shape[1];
  const int64_t inSpatial = prodDims(x.shape, 2, x.shape.size());
  const int64_t outSpatial = prodDims(gridView.shape, 1, gridView.shape.size() - 1);
  checkCount(layer, y, batch * channels * outSpatial, "output");
  std::vector<SampleAxis> axes(k);
  Dims spatialStrides(k, 1);
  for (int d = k - 1; d >= 0; --d) {
    SampleAxis& a = axes[d];
    a.size = x.shape[2 + d];
    a.lo = p.alignCorners ? 0.0 : -0.5;
    a.hi = p.alignCorners ? static_cast<double>(a.size) - 1 : static_cast<double>(a.size) - 0.5;
    if (d + 1 < k) spatialStrides[d] = spatialStrides[d + 1] * x.shape[3 + d];
  }
  const std::vector<double> grid = readDoubles(gridView, layer);
  dispatchType<kFloats>(x.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = x.as<const T>();
    T* out = y.as<T>();
    parallelFor(batch * outSpatial, 64, [&](int64_t begin, int64_t end) {
      std::vector<std::pair<int64_t, double>> terms, next;  // (spatial offset, weight)
      for (int64_t pos = begin; pos < end; ++pos) {
        const int64_t n = pos / outSpatial, o = pos % outSpatial;
        const double* g = grid.data() + pos * k;
        terms.assign(1, {0, 1.0});
        for (int d = 0; d < k; ++d) {
          Taps taps = tapsFor(g[k - 1 - d], axes[d], p);  // the grid lists the innermost dim first
          next.clear();
          for (const auto& [offset, weight] : terms)
            for (int t = 0; t < taps.count; ++t)
              if (taps.index[t] >= 0) next.emplace_back(offset + taps.index[t] * spatialStrides[d], weight * taps.weight[t]);
          terms.swap(next);
        }
        for (int64_t c = 0; c < channels; ++c) {
          const T* plane = in + (n * channels + c) * inSpatial;
          double sum = 0;
          for (const auto& [offset, weight] : terms)
            sum += weight * static_cast<double>(static_cast<ComputeType<T>>(plane[offset]));
          out[(n * channels + c) * outSpatial + o] = static_cast<T>(static_cast<ComputeType<T>>(sum));
        }
      }
    });
  });
}

}  // namespace kiln::cpu
