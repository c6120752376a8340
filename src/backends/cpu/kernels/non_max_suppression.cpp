// NonMaxSuppression: per (batch, class), the boxes scoring above the score threshold are visited by
// descending score (ties: lower box index first) and selected unless their IoU with a box already
// selected for that class exceeds the IoU threshold, up to the per-class limit. IoU as ONNX Runtime
// computes it (empty or degenerate boxes never suppress). NaN scores are never selected.
// O(candidates * selected) per class.
#include <array>
#include <cmath>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

struct Corners {
  float xMin, yMin, xMax, yMax;
};

Corners cornersOf(const float* b, bool centerPointBox) {
  if (centerPointBox) {  // [x_center, y_center, width, height]
    float halfW = b[2] / 2, halfH = b[3] / 2;
    return {b[0] - halfW, b[1] - halfH, b[0] + halfW, b[1] + halfH};
  }
  // [y1, x1, y2, x2], any diagonal
  return {std::min(b[1], b[3]), std::min(b[0], b[2]), std::max(b[1], b[3]), std::max(b[0], b[2])};
}

bool suppresses(const Corners& a, const Corners& b, float iouThreshold) {
  float xMin = std::max(a.xMin, b.xMin), xMax = std::min(a.xMax, b.xMax);
  float yMin = std::max(a.yMin, b.yMin), yMax = std::min(a.yMax, b.yMax);
  if (xMax <= xMin || yMax <= yMin) return false;
  float intersection = (xMax - xMin) * (yMax - yMin);
  float areaA = (a.xMax - a.xMin) * (a.yMax - a.yMin), areaB = (b.xMax - b.xMin) * (b.yMax - b.yMin);
  float unionArea = areaA + areaB - intersection;
  if (intersection <= 0 || areaA <= 0 || areaB <= 0 || unionArea <= 0) return false;
  return intersection / unionArea > iouThreshold;
}

// The selected (batch, class, box) rows in output order.
std::vector<std::array<int64_t, 3>> selectBoxes(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 2, 0);  // also called before outputs exist, to size them
  const TensorView &boxesView = args.inputs[0], &scoresView = args.inputs[1];
  KILN_CHECK(boxesView.shape.size() == 3 && boxesView.shape[2] == 4 && scoresView.shape.size() == 3 &&
                 scoresView.shape[0] == boxesView.shape[0] && scoresView.shape[2] == boxesView.shape[1],
             kInvalidArgument, layer.describe(), ": boxes ", dimsToString(boxesView.shape), " and scores ",
             dimsToString(scoresView.shape), " must be [B, n, 4] and [B, classes, n]");
  const int64_t batches = boxesView.shape[0], count = boxesView.shape[1], classes = scoresView.shape[1];
  int64_t maxPerClass = 0;
  if (present(args, 2)) maxPerClass = readScalarInt(args.inputs[2], layer, "max_output_boxes_per_class");
  KILN_CHECK(maxPerClass >= 0, kInvalidArgument, layer.describe(), ": max_output_boxes_per_class ", maxPerClass,
             " is negative");
  auto readThreshold = [&](size_t i, const char* what) {
    std::vector<float> v = detail::readFloats(args.inputs[i], layer);
    KILN_CHECK(v.size() == 1, kInvalidArgument, layer.describe(), ": ", what, " must hold one value, got shape ",
               dimsToString(args.inputs[i].shape));
    return v[0];
  };
  const float iouThreshold = present(args, 3) ? readThreshold(3, "iou_threshold") : 0.f;
  const bool filterScores = present(args, 4);
  const float scoreThreshold = filterScores ? readThreshold(4, "score_threshold") : 0.f;
  if (maxPerClass == 0 || batches * classes * count == 0) return {};

  const std::vector<float> boxes = detail::readFloats(boxesView, layer);
  const std::vector<float> scores = detail::readFloats(scoresView, layer);
  const bool center = layer.as<NonMaxSuppressionParams>().centerPointBox;
  std::vector<Corners> corners(boxes.size() / 4);
  for (size_t i = 0; i < corners.size(); ++i) corners[i] = cornersOf(&boxes[i * 4], center);

  std::vector<std::vector<int64_t>> selectedPerClass(static_cast<size_t>(batches * classes));
  parallelFor(batches * classes, 1, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> candidates;
    for (int64_t bc = begin; bc < end; ++bc) {
      const int64_t b = bc / classes;
      const float* s = scores.data() + bc * count;
      const Corners* c = corners.data() + b * count;
      candidates.clear();
      for (int64_t i = 0; i < count; ++i)
        if (!std::isnan(s[i]) && (!filterScores || s[i] > scoreThreshold)) candidates.push_back(i);
      std::stable_sort(candidates.begin(), candidates.end(), [&](int64_t l, int64_t r) { return s[l] > s[r]; });
      std::vector<int64_t>& selected = selectedPerClass[bc];
      for (int64_t i : candidates) {
        if (static_cast<int64_t>(selected.size()) >= maxPerClass) break;
        bool keep = std::none_of(selected.begin(), selected.end(),
                                 [&](int64_t j) { return suppresses(c[i], c[j], iouThreshold); });
        if (keep) selected.push_back(i);
      }
    }
  });
  std::vector<std::array<int64_t, 3>> rows;
  for (int64_t bc = 0; bc < batches * classes; ++bc)
    for (int64_t i : selectedPerClass[bc]) rows.push_back({bc / classes, bc % classes, i});
  return rows;
}

}  // namespace

int64_t countSelectedBoxes(const ir::Layer& layer, const KernelArgs& args) {
  return static_cast<int64_t>(selectBoxes(layer, args).size());
}

std::string supportsNonMaxSuppression(const ir::Layer& layer) {
  return checkTypesPerIndex(layer, {kFloats, kFloats, kIntegers, kFloats}, {kSigned});  // input 2: max boxes per class
}

void runNonMaxSuppression(const ir::Layer& layer, const KernelArgs& args) {
  std::vector<std::array<int64_t, 3>> rows = selectBoxes(layer, args);
  const TensorView& out = args.outputs[0];
  KILN_CHECK(out.type == DataType::kInt64 && out.shape == Dims({static_cast<int64_t>(rows.size()), 3}), kInternal,
             layer.describe(), ": output ", dataTypeName(out.type), " ", dimsToString(out.shape), ", expected int64 [",
             rows.size(), ", 3]");
  int64_t* o = out.as<int64_t>();
  for (size_t r = 0; r < rows.size(); ++r)
    for (int j = 0; j < 3; ++j) o[r * 3 + j] = rows[r][j];
}

}  // namespace kiln::cpu
