// Shape rules of the layers that reduce or scan along axes: Reduce, TopK, ArgMinMax, CumSum.
#include "ir/layers/shape_rules.h"

#include <algorithm>

namespace kiln::ir::shape_rules {

Outputs inferReduce(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 2);
  const auto& p = c.layer.as<ReduceParams>();
  const Dims& x = c.shape(0);
  int64_t r = rankOf(x);
  Dims axes = p.axes;
  if (c.has(1)) {
    auto v = c.ints(1);
    if (!v) {
      int64_t n = c.length(1);
      if (n != 0) {
        if (p.keepDims) {  // each dim is either kept or becomes 1
          Dims out = x;
          for (int64_t& d : out)
            if (d != 1) d = -1;
          return one(c.type(0), out);
        }
        SHAPE_SUPPORTED(c, known(n), "the output rank depends on axes of unknown length");
        SHAPE_CHECK(c, n <= r, "has ", n, " axes for input ", dimsToString(x));
        return one(c.type(0), Dims(static_cast<size_t>(r - n), -1));
      }
      axes.clear();
    } else {
      axes = *v;
    }
  }
  if (axes.empty()) {
    if (p.noopWithEmptyAxes) return one(c.type(0), x);
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  }
  axes = normalizeAxes(c, axes, r);
  Dims out;
  for (int64_t i = 0; i < r; ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (!reduced) out.push_back(x[i]);
    else if (p.keepDims) out.push_back(1);
  }
  return one(c.type(0), out);
}

Outputs inferTopK(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 2);
  const Dims& x = c.shape(0);
  int64_t axis = normalizeAxis(c.layer.as<TopKParams>().axis, rankOf(x), c.layer);
  expectIndexType(c, 1, "k");
  int64_t n = c.length(1);
  SHAPE_CHECK(c, !known(n) || n == 1, "k must hold one value, got shape ", dimsToString(c.shape(1)));
  Dims out = x;
  out[axis] = -1;
  if (auto k = c.ints(1)) {
    SHAPE_CHECK(c, k->size() == 1, "k must hold one value, got ", dimsToString(*k));
    int64_t kv = (*k)[0];
    SHAPE_CHECK(c, kv >= 0 && (!known(x[axis]) || kv <= x[axis]), "k ", kv, " is out of range for dim ", axis,
                " of input ", dimsToString(x));
    out[axis] = kv;
  }
  int outputs = c.numOutputs(2);
  SHAPE_CHECK(c, outputs == 1 || outputs == 2, "has ", outputs, " outputs; expected values and indices");
  Outputs result = one(c.type(0), out);
  if (outputs == 2) result.push_back({DataType::kInt64, out});
  return result;
}

Outputs inferArgMinMax(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  const auto& p = c.layer.as<ArgMinMaxParams>();
  Dims out = c.shape(0);
  int64_t axis = normalizeAxis(p.axis, rankOf(out), c.layer);
  if (p.keepDims) out[axis] = 1;
  else out.erase(out.begin() + axis);
  return one(DataType::kInt64, out);
}

Outputs inferCumSum(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 2);
  expectIndexType(c, 1, "axis");
  SHAPE_CHECK(c, volume(c.shape(1)) <= 1, "axis must be a scalar, got shape ", dimsToString(c.shape(1)));
  if (auto axis = c.ints(1)) {
    SHAPE_CHECK(c, axis->size() == 1, "axis must hold one value");
    normalizeAxis((*axis)[0], c.rank(0), c.layer);
  }
  return one(c.type(0), c.shape(0));
}

}  // namespace kiln::ir::shape_rules
