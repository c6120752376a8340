// Shape rules of the image and detection layers: Resize, GridSample, NonMaxSuppression, RoiAlign.
#include "ir/layers/shape_rules.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::ir::shape_rules {

Outputs inferResize(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 4);
  const auto& p = c.layer.as<ResizeParams>();
  const Dims& x = c.shape(0);
  int64_t r = rankOf(x);
  Dims axes = normalizeAxes(c, p.axes, r);
  if (axes.empty())
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  int64_t naxes = rankOf(axes);
  // An omitted input or an empty tensor means "not given"; a tensor of unknown length counts as given.
  auto given = [&](int i) { return c.has(i) && volume(c.shape(i)) != 0; };
  bool scales = given(2), sizes = given(3);
  if (scales && sizes) {
    if (!known(volume(c.shape(2)))) scales = false;
    else if (!known(volume(c.shape(3)))) sizes = false;
  }
  SHAPE_CHECK(c, scales != sizes, "needs exactly one of scales and sizes");
  int input = scales ? 2 : 3;
  int64_t n = c.length(input);
  SHAPE_CHECK(c, !known(n) || n == naxes, scales ? "scales " : "sizes ", dimsToString(c.shape(input)),
              " must have one value per resized axis (", naxes, ") of input ", dimsToString(x));
  Dims out = x;
  const HostTensor* v = c.value(input);
  if (!v) {
    for (int64_t a : axes) out[a] = -1;
    return one(c.type(0), out);
  }
  if (scales) {
    std::vector<double> s = readNumbers(*v);
    for (int64_t i = 0; i < naxes; ++i) {
      SHAPE_CHECK(c, s[i] > 0, "scales must be positive, got ", s[i]);
      int64_t a = axes[i];
      out[a] = known(x[a]) ? dimFromDouble(c, std::floor(static_cast<double>(x[a]) * s[i]), "scaled dim") : -1;
    }
    return one(c.type(0), out);
  }
  SHAPE_CHECK(c, isIntegerType(v->type), "sizes must be integers, got ", dataTypeName(v->type));
  std::vector<int64_t> s = readIntegers(*v);
  for (int64_t d : s) SHAPE_CHECK(c, d >= 0, "sizes ", dimsToString(s), " must be >= 0");
  if (p.aspectPolicy == ResizeAspectPolicy::kStretch) {
    for (int64_t i = 0; i < naxes; ++i) out[axes[i]] = s[i];
    return one(c.type(0), out);
  }
  // Keep the aspect ratio: one scale for all axes, the smallest (not larger) or largest (not smaller).
  bool allKnown = true;
  double scale = p.aspectPolicy == ResizeAspectPolicy::kNotLarger ? std::numeric_limits<double>::max() : 0.0;
  for (int64_t i = 0; i < naxes; ++i) {
    int64_t in = x[axes[i]];
    if (!known(in) || in == 0) {
      allKnown = false;
      continue;
    }
    double si = static_cast<double>(s[i]) / static_cast<double>(in);
    scale = p.aspectPolicy == ResizeAspectPolicy::kNotLarger ? std::min(scale, si) : std::max(scale, si);
  }
  for (int64_t i = 0; i < naxes; ++i) {
    int64_t a = axes[i];
    out[a] = allKnown ? dimFromDouble(c, std::floor(scale * static_cast<double>(x[a]) + 0.5), "scaled dim") : -1;
  }
  return one(c.type(0), out);
}

Outputs inferGridSample(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 2);
  const Dims &x = c.shape(0), &grid = c.shape(1);
  SHAPE_CHECK(c, x.size() >= 3 && x.size() <= 5, "input must be [N, C, D1..Dk] with k = 1..3 spatial dims, got ",
              dimsToString(x));
  SHAPE_CHECK(c, isFloatType(c.type(1)), "grid must be a float tensor, got ", dataTypeName(c.type(1)));
  int64_t k = rankOf(x) - 2;
  SHAPE_CHECK(c, grid.size() == x.size() && (!known(grid.back()) || grid.back() == k), "grid ", dimsToString(grid),
              " must be [N, O1..O", k, ", ", k, "] for input ", dimsToString(x));
  Dims out = {mergeDims(c, x[0], grid[0], "batch of input and grid"), x[1]};
  out.insert(out.end(), grid.begin() + 1, grid.end() - 1);
  return one(c.type(0), out);
}

Outputs inferNonMaxSuppression(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 5);
  const Dims &boxes = c.shape(0), &scores = c.shape(1);
  SHAPE_CHECK(c, boxes.size() == 3 && (!known(boxes[2]) || boxes[2] == 4), "boxes must be [batches, boxes, 4], got ",
              dimsToString(boxes));
  SHAPE_CHECK(c, scores.size() == 3, "scores must be [batches, classes, boxes], got ", dimsToString(scores));
  mergeDims(c, boxes[0], scores[0], "batches of boxes and scores");
  mergeDims(c, boxes[1], scores[2], "boxes of boxes and scores");
  for (int i = 2; i < 5; ++i)
    if (c.has(i))
      SHAPE_CHECK(c, !known(volume(c.shape(i))) || volume(c.shape(i)) == 1, "input ", i,
                  " must hold one value, got shape ", dimsToString(c.shape(i)));
  if (c.has(2)) expectIndexType(c, 2, "max boxes per class");
  return one(DataType::kInt64, {-1, 3});
}

Outputs inferRoiAlign(const ShapeInferenceContext& c) {
  expectInputs(c, 3, 3);
  const auto& p = c.layer.as<RoiAlignParams>();
  const Dims &x = c.shape(0), &rois = c.shape(1), &batch = c.shape(2);
  SHAPE_CHECK(c, x.size() == 4, "input must be NCHW, got ", dimsToString(x));
  SHAPE_CHECK(c, rois.size() == 2 && (!known(rois[1]) || rois[1] == 4), "rois must be [rois, 4], got ",
              dimsToString(rois));
  SHAPE_CHECK(c, batch.size() == 1, "batch indices must be 1-D, got ", dimsToString(batch));
  expectIndexType(c, 2, "batch indices");
  SHAPE_CHECK(c, p.outputHeight >= 1 && p.outputWidth >= 1 && p.samplingRatio >= 0, "output size ", p.outputHeight,
              "x", p.outputWidth, " must be >= 1 and sampling ratio ", p.samplingRatio, " >= 0");
  int64_t r = mergeDims(c, rois[0], batch[0], "rois and batch indices");
  return one(c.type(0), {r, x[1], p.outputHeight, p.outputWidth});
}

}  // namespace kiln::ir::shape_rules
