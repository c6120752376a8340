// Tests of the CPU GridSample, NonMaxSuppression, RoiAlign, Unique and Determinant kernels: seeded random
// data on awkward shapes against naive references written from the ONNX reference implementation, and
// hand-computed cases from the ONNX operator documentation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <random>

#include "backends/cpu/cpu_backend.h"
#include "backends/host_eval.h"
#include "backends/cpu/kernels/kernels.h"
#include "cpu_kernels/kernel_test_buffers.h"
#include "core/error.h"
#include "core/half.h"
#include "ir/network.h"

namespace kiln::cpu {
namespace {

// ---- GridSample -------------------------------------------------------------------------------------

// The ONNX reference (op_grid_sample.py) transcribed: per-dim preprocessing of the coordinate, then a
// recursive N-d interpolation whose leaves read pixels with the padding rule.
struct GridSampleReference {
  GridSampleParams p;
  Dims dims;  // spatial dims
  const float* plane;

  double lo(size_t d) const { return p.alignCorners ? 0.0 : -0.5; }
  double hi(size_t d) const { return p.alignCorners ? dims[d] - 1.0 : dims[d] - 0.5; }

  static double reflect(double x, double xMin, double xMax) {
    double rng = xMax - xMin;
    if (x < xMin) {
      double dx = xMin - x;
      int n = static_cast<int>(dx / rng);
      double r = dx - n * rng;
      return n % 2 == 0 ? xMin + r : xMax - r;
    }
    if (x > xMax) {
      double dx = x - xMax;
      int n = static_cast<int>(dx / rng);
      double r = dx - n * rng;
      return n % 2 == 0 ? xMax - r : xMin + r;
    }
    return x;
  }

  double pixel(const std::vector<int64_t>& idx) const {
    int64_t flat = 0;
    for (size_t d = 0; d < dims.size(); ++d) {
      int64_t i = idx[d];
      if (i < 0 || i >= dims[d]) {
        if (p.padding == GridSamplePadding::kZeros) return 0;
        if (p.padding == GridSamplePadding::kBorder) i = std::clamp<int64_t>(i, 0, dims[d] - 1);
        if (p.padding == GridSamplePadding::kReflection) i = static_cast<int64_t>(reflect(i, lo(d), hi(d)));
      }
      flat = flat * dims[d] + i;
    }
    return plane[flat];
  }

  double interpolate(const std::vector<double>& x, std::vector<int64_t> idx) const {
    size_t d = idx.size();
    if (d == dims.size()) return pixel(idx);
    auto at = [&](int64_t i) {
      std::vector<int64_t> next = idx;
      next.push_back(i);
      return interpolate(x, next);
    };
    if (p.mode == GridSampleMode::kNearest) return at(static_cast<int64_t>(x[d]));
    int64_t x0 = static_cast<int64_t>(std::floor(x[d]));
    double t = x[d] - x0;
    if (p.mode == GridSampleMode::kLinear) return (1 - t) * at(x0) + t * at(x0 + 1);
    const double a = -0.75;
    double c0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a;
    double c1 = ((a + 2) * t - (a + 3)) * t * t + 1;
    double c2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1;
    double c3 = ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a;
    return c0 * at(x0 - 1) + c1 * at(x0) + c2 * at(x0 + 1) + c3 * at(x0 + 2);
  }

  // g: the grid's coordinates in grid order (innermost spatial dim first).
  double sample(const std::vector<double>& g) const {
    size_t k = dims.size();
    std::vector<double> x(k);
    for (size_t d = 0; d < k; ++d) {
      double n = g[k - 1 - d];
      x[d] = p.alignCorners ? (n + 1) / 2 * (dims[d] - 1) : ((n + 1) * dims[d] - 1) / 2;
      if (p.mode == GridSampleMode::kNearest) x[d] = std::nearbyint(x[d]);
      if (x[d] < lo(d) || x[d] > hi(d)) {
        if (p.padding == GridSamplePadding::kBorder) x[d] = std::clamp(x[d], 0.0, dims[d] - 1.0);
        if (p.padding == GridSamplePadding::kReflection) x[d] = reflect(x[d], lo(d), hi(d));
      }
    }
    return interpolate(x, {});
  }
};

void checkGridSample(const GridSampleParams& p, const Dims& xShape, const Dims& gridShape, uint32_t seed) {
  const int64_t n = xShape[0], c = xShape[1], k = static_cast<int64_t>(xShape.size()) - 2;
  Dims spatial(xShape.begin() + 2, xShape.end()), outShape = {n, c};
  outShape.insert(outShape.end(), gridShape.begin() + 1, gridShape.end() - 1);
  std::vector<float> xv = randomFloats(volume(xShape), seed, -3.f, 3.f);
  std::vector<float> gv = randomFloats(volume(gridShape), seed + 1, -1.4f, 1.4f);  // some points outside
  Buf x = f32(xShape, xv), grid = f32(gridShape, gv), y = outBuf(DataType::kFloat32, outShape);
  ir::Layer layer("gs", p);
  runGridSample(layer, argsOf({&x, &grid}, {&y}));
  std::vector<float> got = y.get<float>();
  const int64_t inSpatial = volume(spatial), outSpatial = volume(outShape) / std::max<int64_t>(n * c, 1);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t o = 0; o < outSpatial; ++o) {
        GridSampleReference ref{p, spatial, xv.data() + (b * c + ch) * inSpatial};
        std::vector<double> g(gv.begin() + (b * outSpatial + o) * k, gv.begin() + (b * outSpatial + o + 1) * k);
        double expected = ref.sample(g);
        ASSERT_NEAR(got[(b * c + ch) * outSpatial + o], expected, 1e-4)
            << "mode " << int(p.mode) << " padding " << int(p.padding) << " align " << p.alignCorners << " x "
            << dimsToString(xShape) << " at n=" << b << " c=" << ch << " o=" << o;
      }
}

TEST(CpuGridSample, AllModesAndPaddingsVersusReference) {
  uint32_t seed = 1;
  for (auto mode : {GridSampleMode::kLinear, GridSampleMode::kNearest, GridSampleMode::kCubic})
    for (auto padding : {GridSamplePadding::kZeros, GridSamplePadding::kBorder, GridSamplePadding::kReflection})
      for (bool align : {false, true}) {
        GridSampleParams p;
        p.mode = mode;
        p.padding = padding;
        p.alignCorners = align;
        checkGridSample(p, {2, 3, 5, 7}, {2, 4, 9, 2}, seed += 2);
        checkGridSample(p, {1, 2, 2, 3}, {1, 13, 1, 2}, seed += 2);
        checkGridSample(p, {1, 1, 4}, {1, 11, 1}, seed += 2);                // 1 spatial dim
        checkGridSample(p, {1, 2, 3, 4, 5}, {1, 2, 3, 5, 3}, seed += 2);     // 3 spatial dims
        if (!align) checkGridSample(p, {1, 2, 1, 6}, {1, 3, 4, 2}, seed += 2);  // a dim of size 1
      }
}

TEST(CpuGridSample, HandComputedBilinear) {
  // Bilinear, zeros padding, align_corners = 0 on a 4x4 ramp.
  std::vector<float> xv(16);
  for (int i = 0; i < 16; ++i) xv[i] = static_cast<float>(i);
  Buf x = f32({1, 1, 4, 4}, xv);
  Buf grid = f32({1, 1, 2, 2}, {-1.f, -1.f, 0.5f, 0.5f});
  Buf y = outBuf(DataType::kFloat32, {1, 1, 1, 2});
  ir::Layer layer("gs", GridSampleParams{});
  runGridSample(layer, argsOf({&x, &grid}, {&y}));
  std::vector<float> got = y.get<float>();
  EXPECT_NEAR(got[0], 0.0f * 0.25f, 1e-6);  // corner: a quarter of pixel (0, 0), the rest zero padding
  EXPECT_NEAR(got[1], 12.5f, 1e-5);         // (x, y) = (2.5, 2.5): mean of 10, 11, 14, 15
}

TEST(CpuGridSample, RejectsMismatchedGrid) {
  Buf x = f32({1, 1, 2, 2}, {1, 2, 3, 4}), grid = f32({1, 1, 1, 3}, {0, 0, 0});
  Buf y = outBuf(DataType::kFloat32, {1, 1, 1, 1});
  ir::Layer layer("gs", GridSampleParams{});
  EXPECT_THROW(runGridSample(layer, argsOf({&x, &grid}, {&y})), Error);
}

TEST(CpuGridSample, NonFiniteAndFarCoordinatesAndHalf) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  Buf x = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  Buf grid = f32({1, 1, 4, 2}, {nan, 0, inf, 0, 1e30f, -1e30f, -inf, -inf});
  for (auto padding : {GridSamplePadding::kZeros, GridSamplePadding::kBorder, GridSamplePadding::kReflection})
    for (auto mode : {GridSampleMode::kLinear, GridSampleMode::kNearest, GridSampleMode::kCubic}) {
      GridSampleParams p;
      p.mode = mode;
      p.padding = padding;
      Buf y = outBuf(DataType::kFloat32, {1, 1, 1, 4});
      ir::Layer layer("gs", p);
      runGridSample(layer, argsOf({&x, &grid}, {&y}));
      std::vector<float> got = y.get<float>();
      EXPECT_EQ(got[0], 0.f);  // NaN reads zero padding in every mode
      if (padding == GridSamplePadding::kZeros) {
        for (float v : got) EXPECT_EQ(v, 0.f);
      } else if (padding == GridSamplePadding::kBorder) {
        EXPECT_TRUE(std::isfinite(got[1]) && std::isfinite(got[2]) && std::isfinite(got[3]));
        if (mode != GridSampleMode::kCubic) {
          EXPECT_NEAR(got[3], 1.f, 1e-6);  // (-inf, -inf) clamps to the first pixel
          EXPECT_NEAR(got[2], 2.f, 1e-6);  // (x, y) = (+huge, -huge) clamps to row 0, last column
        }
      } else {
        EXPECT_TRUE(std::isfinite(got[2]));  // a huge finite coordinate still folds into the input
      }
    }
  // float16 data and grid: the same values as float32 within half precision.
  GridSampleParams p;
  p.mode = GridSampleMode::kCubic;
  p.padding = GridSamplePadding::kReflection;
  std::vector<float> xv = randomFloats(2 * 3 * 4 * 5, 91, -2.f, 2.f), gv = randomFloats(2 * 3 * 2 * 2, 92, -1.2f, 1.2f);
  std::vector<uint16_t> xh, gh;
  for (float& v : xv) xh.push_back(floatToHalf(v)), v = halfToFloat(xh.back());
  for (float& v : gv) gh.push_back(floatToHalf(v)), v = halfToFloat(gh.back());
  Buf x32 = f32({2, 3, 4, 5}, xv), g32 = f32({2, 3, 2, 2}, gv), y32 = outBuf(DataType::kFloat32, {2, 3, 3, 2});
  Buf x16 = make(DataType::kFloat16, {2, 3, 4, 5}, xh), g16 = make(DataType::kFloat16, {2, 3, 2, 2}, gh);
  Buf y16 = outBuf(DataType::kFloat16, {2, 3, 3, 2});
  ir::Layer layer("gs", p);
  runGridSample(layer, argsOf({&x32, &g32}, {&y32}));
  runGridSample(layer, argsOf({&x16, &g16}, {&y16}));
  std::vector<float> a = y32.get<float>();
  std::vector<uint16_t> b = y16.get<uint16_t>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(halfToFloat(b[i]), a[i], 1e-2) << i;
}

// ---- NonMaxSuppression ------------------------------------------------------------------------------

// Naive greedy NMS: repeatedly take the best remaining box, then drop every box overlapping it.
std::vector<int64_t> naiveNms(const std::vector<float>& boxes, const std::vector<float>& scores, int64_t batches,
                              int64_t classes, int64_t count, int64_t maxPerClass, float iouThreshold,
                              float scoreThreshold, bool center) {
  auto corners = [&](int64_t b, int64_t i) {
    const float* v = boxes.data() + (b * count + i) * 4;
    if (center) return std::array<double, 4>{v[0] - v[2] / 2.0, v[1] - v[3] / 2.0, v[0] + v[2] / 2.0, v[1] + v[3] / 2.0};
    return std::array<double, 4>{std::min(v[1], v[3]), std::min(v[0], v[2]), std::max(v[1], v[3]),
                                 std::max(v[0], v[2])};
  };
  auto iou = [&](int64_t b, int64_t i, int64_t j) {
    auto p = corners(b, i), q = corners(b, j);
    double w = std::min(p[2], q[2]) - std::max(p[0], q[0]), h = std::min(p[3], q[3]) - std::max(p[1], q[1]);
    if (w <= 0 || h <= 0) return 0.0;
    double inter = w * h, a = (p[2] - p[0]) * (p[3] - p[1]), bb = (q[2] - q[0]) * (q[3] - q[1]);
    return inter / (a + bb - inter);
  };
  std::vector<int64_t> out;
  for (int64_t b = 0; b < batches; ++b)
    for (int64_t c = 0; c < classes; ++c) {
      const float* s = scores.data() + (b * classes + c) * count;  // not &scores[...]: empty when count is 0
      std::vector<bool> alive(count);
      for (int64_t i = 0; i < count; ++i) alive[i] = s[i] > scoreThreshold;
      for (int64_t taken = 0; taken < maxPerClass; ++taken) {
        int64_t best = -1;
        for (int64_t i = 0; i < count; ++i)
          if (alive[i] && (best < 0 || s[i] > s[best])) best = i;
        if (best < 0) break;
        out.insert(out.end(), {b, c, best});
        for (int64_t i = 0; i < count; ++i)
          if (alive[i] && iou(b, best, i) > iouThreshold) alive[i] = false;
        alive[best] = false;
      }
    }
  return out;
}

std::vector<int64_t> runNms(bool center, Buf& boxes, Buf& scores, Buf* maxCount, Buf* iou, Buf* score) {
  ir::Network net;
  ir::Layer layer("nms", NonMaxSuppressionParams{center});
  std::vector<Buf*> ins = {&boxes, &scores, maxCount, iou, score};
  while (!ins.empty() && ins.back() == nullptr) ins.pop_back();
  std::vector<HostTensor> values;
  for (Buf* b : ins) values.push_back(b ? Weights::copyOf(b->type, b->shape, b->bytes.data()) : HostTensor{});
  std::vector<const HostTensor*> pointers;
  for (size_t i = 0; i < ins.size(); ++i) {
    pointers.push_back(ins[i] ? &values[i] : nullptr);
    layer.inputs.push_back(ins[i] ? net.addTensor("t" + std::to_string(i), ins[i]->type, ins[i]->shape) : nullptr);
  }
  layer.outputs = {net.addTensor("selected", DataType::kInt64, {-1, 3})};
  std::vector<HostTensor> outs = host::evaluateLayer(layer, pointers);  // resolves the data-dependent shape
  EXPECT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].shape.size(), 2u);
  EXPECT_EQ(outs[0].shape[1], 3);
  return std::vector<int64_t>(outs[0].as<int64_t>(), outs[0].as<int64_t>() + outs[0].count());
}

TEST(CpuNonMaxSuppression, OnnxSuppressByIou) {
  Buf boxes = f32({1, 6, 4}, {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, -0.1f, 1, 0.9f,
                              0, 10, 1, 11, 0, 10.1f, 1, 11.1f, 0, 100, 1, 101});
  Buf scores = f32({1, 1, 6}, {0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.3f});
  Buf maxCount = i64({1}, {3}), iou = f32({1}, {0.5f}), score = f32({1}, {0.f});
  EXPECT_EQ(runNms(false, boxes, scores, &maxCount, &iou, &score), (std::vector<int64_t>{0, 0, 3, 0, 0, 0, 0, 0, 5}));
  Buf two = i64({1}, {2});
  EXPECT_EQ(runNms(false, boxes, scores, &two, &iou, &score), (std::vector<int64_t>{0, 0, 3, 0, 0, 0}));
  Buf high = f32({1}, {0.4f});
  EXPECT_EQ(runNms(false, boxes, scores, &maxCount, &iou, &high), (std::vector<int64_t>{0, 0, 3, 0, 0, 0}));
  // Omitted max count selects nothing.
  EXPECT_TRUE(runNms(false, boxes, scores, nullptr, nullptr, nullptr).empty());
}

TEST(CpuNonMaxSuppression, IdenticalBoxesPreferTheFirst) {
  std::vector<float> b, s;
  for (int i = 0; i < 10; ++i) {
    b.insert(b.end(), {0, 0, 1, 1});
    s.push_back(0.9f);
  }
  Buf boxes = f32({1, 10, 4}, b), scores = f32({1, 1, 10}, s);
  Buf maxCount = i64({1}, {3}), iou = f32({1}, {0.5f});
  EXPECT_EQ(runNms(false, boxes, scores, &maxCount, &iou, nullptr), (std::vector<int64_t>{0, 0, 0}));
}

TEST(CpuNonMaxSuppression, RandomVersusNaive) {
  uint32_t seed = 100;
  for (bool center : {false, true})
    for (auto [batches, classes, count] : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {2, 3, 17}, {3, 2, 40}, {1, 4, 0}}) {
      std::vector<float> raw = randomFloats(batches * count * 4, seed++, 0.f, 10.f);
      std::vector<float> b(raw.size());
      for (int64_t i = 0; i < batches * count; ++i) {
        float* v = &b[i * 4];
        const float* r = &raw[i * 4];
        if (center) {  // centers anywhere, sizes in (0.5, 3.5)
          v[0] = r[0];
          v[1] = r[1];
          v[2] = 0.5f + r[2] * 0.3f;
          v[3] = 0.5f + r[3] * 0.3f;
        } else {  // corners in either order
          v[0] = r[0];
          v[1] = r[1];
          v[2] = r[0] + (r[2] - 5.f) * 0.6f + 0.1f;
          v[3] = r[1] + (r[3] - 5.f) * 0.6f + 0.1f;
        }
      }
      std::vector<float> s = randomFloats(batches * classes * count, seed++, 0.f, 1.f);
      for (int64_t maxPerClass : {int64_t{1}, int64_t{4}, int64_t{1000}})
        for (float iouThreshold : {0.f, 0.3f, 0.7f})
          for (float scoreThreshold : {-1.f, 0.4f}) {
            Buf boxes = f32({batches, count, 4}, b), scores = f32({batches, classes, count}, s);
            Buf m = i64({}, {maxPerClass}), iou = f32({}, {iouThreshold}), st = f32({}, {scoreThreshold});
            std::vector<int64_t> expected =
                naiveNms(b, s, batches, classes, count, maxPerClass, iouThreshold, scoreThreshold, center);
            EXPECT_EQ(runNms(center, boxes, scores, &m, &iou, &st), expected)
                << "center " << center << " shape " << batches << "x" << classes << "x" << count << " max "
                << maxPerClass << " iou " << iouThreshold << " score " << scoreThreshold;
          }
    }
}

TEST(CpuNonMaxSuppression, NaNScoresAreNeverSelected) {
  Buf boxes = f32({1, 3, 4}, {0, 0, 1, 1, 0, 2, 1, 3, 0, 4, 1, 5});
  Buf scores = f32({1, 1, 3}, {0.5f, std::numeric_limits<float>::quiet_NaN(), 0.7f});
  Buf maxCount = i64({1}, {10});
  EXPECT_EQ(runNms(false, boxes, scores, &maxCount, nullptr, nullptr), (std::vector<int64_t>{0, 0, 2, 0, 0, 0}));
  Buf negative = i64({1}, {-1});
  EXPECT_THROW(runNms(false, boxes, scores, &negative, nullptr, nullptr), Error);
}

// ---- RoiAlign ---------------------------------------------------------------------------------------

// Straight from the definition: every output value computed on its own.
double naiveRoiAlignValue(const std::vector<float>& x, const Dims& s, const float* roi, int64_t b, int64_t c,
                          int64_t ph, int64_t pw, const RoiAlignParams& p) {
  const int64_t H = s[2], W = s[3];
  const double off = p.halfPixel ? 0.5 : 0;
  double x1 = roi[0] * p.spatialScale - off, y1 = roi[1] * p.spatialScale - off;
  double w = roi[2] * p.spatialScale - off - x1, h = roi[3] * p.spatialScale - off - y1;
  if (!p.halfPixel) {
    w = std::max(w, 1.0);
    h = std::max(h, 1.0);
  }
  double bh = h / p.outputHeight, bw = w / p.outputWidth;
  int64_t gh = p.samplingRatio > 0 ? p.samplingRatio : static_cast<int64_t>(std::ceil(h / p.outputHeight));
  int64_t gw = p.samplingRatio > 0 ? p.samplingRatio : static_cast<int64_t>(std::ceil(w / p.outputWidth));
  auto at = [&](int64_t yy, int64_t xx) { return static_cast<double>(x[((b * s[1] + c) * H + yy) * W + xx]); };
  double sum = 0, best = 0;
  bool first = true;
  for (int64_t iy = 0; iy < gh; ++iy)
    for (int64_t ix = 0; ix < gw; ++ix) {
      double yy = y1 + ph * bh + (iy + 0.5) * bh / gh, xx = x1 + pw * bw + (ix + 0.5) * bw / gw;
      double corner[4] = {0, 0, 0, 0};
      if (!(yy < -1 || yy > H || xx < -1 || xx > W)) {
        yy = std::max(yy, 0.0);
        xx = std::max(xx, 0.0);
        int64_t y0 = static_cast<int64_t>(yy), x0 = static_cast<int64_t>(xx);
        int64_t y1i = std::min(y0 + 1, H - 1), x1i = std::min(x0 + 1, W - 1);
        if (y0 >= H - 1) yy = y0 = H - 1;
        if (x0 >= W - 1) xx = x0 = W - 1;
        double ly = yy - y0, lx = xx - x0;
        corner[0] = (1 - ly) * (1 - lx) * at(y0, x0);
        corner[1] = (1 - ly) * lx * at(y0, x1i);
        corner[2] = ly * (1 - lx) * at(y1i, x0);
        corner[3] = ly * lx * at(y1i, x1i);
      }
      sum += corner[0] + corner[1] + corner[2] + corner[3];
      double m = std::max({corner[0], corner[1], corner[2], corner[3]});
      best = first ? m : std::max(best, m);
      first = false;
    }
  return p.mode == RoiAlignMode::kAverage ? sum / std::max<int64_t>(gh * gw, 1) : best;
}

TEST(CpuRoiAlign, RandomVersusNaive) {
  uint32_t seed = 300;
  const Dims xs = {2, 3, 7, 9};
  std::vector<float> xv = randomFloats(volume(xs), seed++, -2.f, 2.f);
  const int64_t numRois = 6;
  // ROIs inside, partly outside and far outside the image; one degenerate; one reversed in both dims
  // (adaptive sampling then takes no samples).
  std::vector<float> rois = {0, 0, 8, 6, 7, 6, 1, 2, 1.5f, 2.2f, 4.1f, 3.3f, -3, -2, 4, 12, 20, 20, 25, 30,
                             3, 3, 3, 3};
  std::vector<int64_t> batch = {0, 0, 1, 1, 0, 1};
  for (auto mode : {RoiAlignMode::kAverage, RoiAlignMode::kMax})
    for (bool halfPixel : {true, false})
      for (int64_t ratio : {0, 1, 3})
        for (float scale : {1.f, 0.5f}) {
          RoiAlignParams p;
          p.mode = mode;
          p.halfPixel = halfPixel;
          p.samplingRatio = ratio;
          p.spatialScale = scale;
          p.outputHeight = 3;
          p.outputWidth = 4;
          Buf x = f32(xs, xv), r = f32({numRois, 4}, rois), bi = i64({numRois}, batch);
          Buf y = outBuf(DataType::kFloat32, {numRois, xs[1], 3, 4});
          ir::Layer layer("ra", p);
          runRoiAlign(layer, argsOf({&x, &r, &bi}, {&y}));
          std::vector<float> got = y.get<float>();
          for (int64_t k = 0; k < numRois; ++k)
            for (int64_t c = 0; c < xs[1]; ++c)
              for (int64_t ph = 0; ph < 3; ++ph)
                for (int64_t pw = 0; pw < 4; ++pw) {
                  double expected = naiveRoiAlignValue(xv, xs, &rois[k * 4], batch[k], c, ph, pw, p);
                  ASSERT_NEAR(got[((k * xs[1] + c) * 3 + ph) * 4 + pw], expected, 1e-5)
                      << "roi " << k << " c " << c << " bin " << ph << "," << pw << " mode " << int(mode)
                      << " halfPixel " << halfPixel << " ratio " << ratio << " scale " << scale;
                }
        }
}

TEST(CpuRoiAlign, RejectsBadBatchIndexAndNonFiniteRois) {
  Buf x = f32({1, 1, 2, 2}, {1, 2, 3, 4}), r = f32({1, 4}, {0, 0, 1, 1}), bi = i64({1}, {1});
  Buf y = outBuf(DataType::kFloat32, {1, 1, 1, 1});
  ir::Layer layer("ra", RoiAlignParams{});
  EXPECT_THROW(runRoiAlign(layer, argsOf({&x, &r, &bi}, {&y})), Error);
  Buf zero = i64({1}, {0}), nanRoi = f32({1, 4}, {0, std::numeric_limits<float>::quiet_NaN(), 1, 1});
  EXPECT_THROW(runRoiAlign(layer, argsOf({&x, &nanRoi, &zero}, {&y})), Error);
}

// ---- Unique -----------------------------------------------------------------------------------------

struct UniqueResult {
  Dims yShape;
  std::vector<float> y;
  std::vector<int64_t> indices, inverse, counts;
};

UniqueResult runUniqueOnHost(const UniqueParams& p, const Dims& shape, const std::vector<float>& values) {
  ir::Network net;
  ir::Layer layer("u", p);
  layer.inputs = {net.addTensor("x", DataType::kFloat32, shape)};
  for (int i = 0; i < 4; ++i)
    layer.outputs.push_back(net.addTensor("o" + std::to_string(i), i ? DataType::kInt64 : DataType::kFloat32, {}));
  HostTensor x = Weights::copyOf(DataType::kFloat32, shape, values.data());
  std::vector<HostTensor> outs = host::evaluateLayer(layer, {&x});
  EXPECT_EQ(outs.size(), 4u);
  auto ints = [](const HostTensor& t) { return std::vector<int64_t>(t.as<int64_t>(), t.as<int64_t>() + t.count()); };
  return {outs[0].shape, std::vector<float>(outs[0].as<float>(), outs[0].as<float>() + outs[0].count()),
          ints(outs[1]), ints(outs[2]), ints(outs[3])};
}

// Naive: slices as vectors; a map (sorted) or a linear scan (first occurrence) finds each slice's group.
UniqueResult naiveUnique(const UniqueParams& p, const Dims& shape, const std::vector<float>& values) {
  int64_t outer = 1, n = volume(shape), inner = 1, axis = 0;
  if (p.hasAxis) {
    axis = p.axis < 0 ? p.axis + static_cast<int64_t>(shape.size()) : p.axis;
    outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= shape[d];
    n = shape[axis];
    for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  }
  std::vector<std::vector<float>> slices(n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0; k < inner; ++k) slices[i].push_back(values[(o * n + i) * inner + k]);
  std::vector<std::vector<float>> uniques;
  UniqueResult r;
  for (int64_t i = 0; i < n; ++i) {
    auto it = std::find(uniques.begin(), uniques.end(), slices[i]);
    if (it == uniques.end()) {
      uniques.push_back(slices[i]);
      r.indices.push_back(i);
      r.counts.push_back(0);
      it = uniques.end() - 1;
    }
    r.counts[it - uniques.begin()]++;
  }
  std::vector<int64_t> order(uniques.size());
  for (size_t g = 0; g < order.size(); ++g) order[g] = static_cast<int64_t>(g);
  if (p.sorted) std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return uniques[a] < uniques[b]; });
  std::vector<int64_t> position(order.size());
  for (size_t g = 0; g < order.size(); ++g) position[order[g]] = static_cast<int64_t>(g);
  UniqueResult sorted;
  for (int64_t g : order) {
    sorted.indices.push_back(r.indices[g]);
    sorted.counts.push_back(r.counts[g]);
  }
  for (int64_t i = 0; i < n; ++i)
    sorted.inverse.push_back(position[std::find(uniques.begin(), uniques.end(), slices[i]) - uniques.begin()]);
  const int64_t u = static_cast<int64_t>(order.size());
  sorted.yShape = p.hasAxis ? shape : Dims{u};
  if (p.hasAxis) sorted.yShape[axis] = u;
  sorted.y.resize(outer * u * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t g = 0; g < u; ++g)
      for (int64_t k = 0; k < inner; ++k) sorted.y[(o * u + g) * inner + k] = uniques[order[g]][o * inner + k];
  return sorted;
}

TEST(CpuUnique, OnnxExamples) {
  UniqueParams p;
  p.sorted = false;
  UniqueResult r = runUniqueOnHost(p, {6}, {2, 1, 1, 3, 4, 3});
  EXPECT_EQ(r.y, (std::vector<float>{2, 1, 3, 4}));
  EXPECT_EQ(r.indices, (std::vector<int64_t>{0, 1, 3, 4}));
  EXPECT_EQ(r.inverse, (std::vector<int64_t>{0, 1, 1, 2, 3, 2}));
  EXPECT_EQ(r.counts, (std::vector<int64_t>{1, 2, 2, 1}));
  p.sorted = true;
  p.hasAxis = true;
  p.axis = 0;
  r = runUniqueOnHost(p, {3, 3}, {1, 0, 0, 1, 0, 0, 2, 3, 4});
  EXPECT_EQ(r.yShape, (Dims{2, 3}));
  EXPECT_EQ(r.y, (std::vector<float>{1, 0, 0, 2, 3, 4}));
  EXPECT_EQ(r.indices, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(r.inverse, (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(r.counts, (std::vector<int64_t>{2, 1}));
}

TEST(CpuUnique, RandomVersusNaive) {
  uint32_t seed = 500;
  const std::vector<Dims> shapes = {{1}, {17}, {4, 5}, {3, 4, 2}, {2, 7, 3}, {0, 3}};
  for (const Dims& shape : shapes) {
    const auto rank = static_cast<int64_t>(shape.size());
    std::vector<std::optional<int64_t>> axes = {std::nullopt, -1};  // flattened, and a negative axis
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
    for (const std::optional<int64_t>& axisChoice : axes)
      for (bool sorted : {true, false}) {
        UniqueParams p;
        p.sorted = sorted;
        p.hasAxis = axisChoice.has_value();
        p.axis = axisChoice.value_or(0);
        // Few distinct values so slices repeat.
        std::vector<float> v = randomFloats(volume(shape), seed++, 0.f, 3.f);
        for (float& f : v) f = std::floor(f);
        if (p.hasAxis && volume(shape) > 0) {  // duplicate slice 0 into the last slice
          int64_t axis = p.axis < 0 ? p.axis + static_cast<int64_t>(shape.size()) : p.axis;
          int64_t outer = 1, inner = 1, n = shape[axis];
          for (int64_t d = 0; d < axis; ++d) outer *= shape[d];
          for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
          for (int64_t o = 0; o < outer; ++o)
            for (int64_t k = 0; k < inner; ++k) v[(o * n + n - 1) * inner + k] = v[(o * n) * inner + k];
        }
        UniqueResult got = runUniqueOnHost(p, shape, v), expected = naiveUnique(p, shape, v);
        std::string what = concat("shape ", dimsToString(shape), " axis ", p.hasAxis ? concat(p.axis) : "none",
                                  " sorted ", sorted);
        EXPECT_EQ(got.yShape, expected.yShape) << what;
        EXPECT_EQ(got.y, expected.y) << what;
        EXPECT_EQ(got.indices, expected.indices) << what;
        EXPECT_EQ(got.inverse, expected.inverse) << what;
        EXPECT_EQ(got.counts, expected.counts) << what;
      }
  }
}

TEST(CpuUnique, NaNsIntegersAndBools) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  UniqueResult r = runUniqueOnHost(UniqueParams{}, {6}, {nan, 2, nan, 1, 2, -1});
  ASSERT_EQ(r.y.size(), 4u);  // NaNs form one value, sorted after the numbers
  EXPECT_EQ(std::vector<float>(r.y.begin(), r.y.begin() + 3), (std::vector<float>{-1, 1, 2}));
  EXPECT_TRUE(std::isnan(r.y[3]));
  EXPECT_EQ(r.indices, (std::vector<int64_t>{5, 3, 1, 0}));
  EXPECT_EQ(r.inverse, (std::vector<int64_t>{3, 2, 3, 1, 2, 0}));
  EXPECT_EQ(r.counts, (std::vector<int64_t>{1, 1, 2, 2}));

  ir::Layer layer("u", UniqueParams{});
  Buf x = make(DataType::kInt32, {7}, std::vector<int32_t>{5, -3, 5, 0, -3, 9, 5});
  Buf y = outBuf(DataType::kInt32, {4}), idx = outBuf(DataType::kInt64, {4}), inv = outBuf(DataType::kInt64, {7}),
      cnt = outBuf(DataType::kInt64, {4});
  runUnique(layer, argsOf({&x}, {&y, &idx, &inv, &cnt}));
  EXPECT_EQ(y.get<int32_t>(), (std::vector<int32_t>{-3, 0, 5, 9}));
  EXPECT_EQ(idx.get<int64_t>(), (std::vector<int64_t>{1, 3, 0, 5}));
  EXPECT_EQ(inv.get<int64_t>(), (std::vector<int64_t>{2, 0, 2, 1, 0, 3, 2}));
  EXPECT_EQ(cnt.get<int64_t>(), (std::vector<int64_t>{2, 1, 3, 1}));

  UniqueParams unsorted;
  unsorted.sorted = false;
  ir::Layer boolLayer("u", unsorted);
  Buf b = make(DataType::kBool, {5}, std::vector<uint8_t>{1, 1, 0, 1, 0});
  Buf by = outBuf(DataType::kBool, {2}), bi = outBuf(DataType::kInt64, {2}), binv = outBuf(DataType::kInt64, {5}),
      bc = outBuf(DataType::kInt64, {2});
  runUnique(boolLayer, argsOf({&b}, {&by, &bi, &binv, &bc}));
  EXPECT_EQ(by.get<uint8_t>(), (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(bi.get<int64_t>(), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(binv.get<int64_t>(), (std::vector<int64_t>{0, 0, 1, 0, 1}));
  EXPECT_EQ(bc.get<int64_t>(), (std::vector<int64_t>{3, 2}));
}

// ---- Determinant ------------------------------------------------------------------------------------

// Laplace expansion along the first row.
double naiveDet(const std::vector<double>& a, int64_t m) {
  if (m == 0) return 1;
  if (m == 1) return a[0];
  double det = 0;
  for (int64_t j = 0; j < m; ++j) {
    std::vector<double> minor;
    for (int64_t r = 1; r < m; ++r)
      for (int64_t c = 0; c < m; ++c)
        if (c != j) minor.push_back(a[r * m + c]);
    det += (j % 2 ? -1 : 1) * a[j] * naiveDet(minor, m - 1);
  }
  return det;
}

TEST(CpuDeterminant, RandomVersusLaplace) {
  uint32_t seed = 700;
  for (const Dims& shape : std::vector<Dims>{{1, 1}, {2, 2}, {3, 3}, {4, 3, 3}, {2, 3, 5, 5}, {6, 6}, {0, 4, 4}}) {
    const int64_t m = shape.back(), matrices = volume(shape) / std::max<int64_t>(m * m, 1);
    std::vector<float> v = randomFloats(volume(shape), seed++, -2.f, 2.f);
    Buf x = f32(shape, v), y = outBuf(DataType::kFloat32, Dims(shape.begin(), shape.end() - 2));
    ir::Layer layer("det", DeterminantParams{});
    runDeterminant(layer, argsOf({&x}, {&y}));
    std::vector<float> got = y.get<float>();
    ASSERT_EQ(static_cast<int64_t>(got.size()), matrices);
    for (int64_t k = 0; k < matrices; ++k) {
      std::vector<double> a(v.begin() + k * m * m, v.begin() + (k + 1) * m * m);
      double expected = naiveDet(a, m);
      EXPECT_NEAR(got[k], expected, 1e-4 * std::max(1.0, std::fabs(expected))) << dimsToString(shape) << " #" << k;
    }
  }
}

TEST(CpuDeterminant, SingularPivotingAndErrors) {
  // Needs a row swap (zero leading entry); a singular matrix; a rank-deficient 3x3.
  Buf x = f32({3, 3, 3}, {0, 1, 2, 1, 0, 3, 4, -3, 8, 1, 2, 3, 2, 4, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  Buf y = outBuf(DataType::kFloat32, {3});
  ir::Layer layer("det", DeterminantParams{});
  runDeterminant(layer, argsOf({&x}, {&y}));
  std::vector<float> got = y.get<float>();
  EXPECT_NEAR(got[0], -2.f, 1e-5);
  EXPECT_NEAR(got[1], 0.f, 1e-5);
  EXPECT_NEAR(got[2], 0.f, 1e-5);
  Buf bad = f32({2, 3}, {1, 2, 3, 4, 5, 6}), out = outBuf(DataType::kFloat32, {});
  EXPECT_THROW(runDeterminant(layer, argsOf({&bad}, {&out})), Error);
  // float64 keeps full precision.
  Buf d = make(DataType::kFloat64, {2, 2}, std::vector<double>{1e-9, 2, 3, 4}), dOut = outBuf(DataType::kFloat64, {});
  runDeterminant(layer, argsOf({&d}, {&dOut}));
  EXPECT_NEAR(dOut.get<double>()[0], 4e-9 - 6, 1e-15);
}

}  // namespace
}  // namespace kiln::cpu
