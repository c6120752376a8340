// Shape rules of the layers that index or produce indices: Gather, Scatter, NonZero, OneHot, Unique.
#include "ir/layers/shape_rules.h"

#include <algorithm>

namespace kiln::ir::shape_rules {

Outputs inferGather(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 2);
  const auto& p = c.layer.as<GatherParams>();
  const Dims &data = c.shape(0), &idx = c.shape(1);
  expectIndexType(c, 1, "indices");
  int64_t r = rankOf(data), q = rankOf(idx);
  SHAPE_CHECK(c, r >= 1, "data must have rank >= 1, got ", dimsToString(data));
  switch (p.mode) {
    case GatherMode::kDefault: {
      int64_t axis = normalizeAxis(p.axis, r, c.layer);
      Dims out(data.begin(), data.begin() + axis);
      out.insert(out.end(), idx.begin(), idx.end());
      out.insert(out.end(), data.begin() + axis + 1, data.end());
      return one(c.type(0), out);
    }
    case GatherMode::kElements: {
      normalizeAxis(p.axis, r, c.layer);
      SHAPE_CHECK(c, q == r, "indices ", dimsToString(idx), " must have the rank of data ", dimsToString(data));
      return one(c.type(0), idx);
    }
    case GatherMode::kND: {
      int64_t b = p.batchDims;
      SHAPE_CHECK(c, q >= 1, "indices must have rank >= 1, got ", dimsToString(idx));
      SHAPE_CHECK(c, b >= 0 && b < std::min(r, q), "batch dims ", b, " must be less than the ranks of data ",
                  dimsToString(data), " and indices ", dimsToString(idx));
      for (int64_t i = 0; i < b; ++i)
        mergeDims(c, data[i], idx[i], concat("batch dim ", i, " of data ", dimsToString(data),
                                             " and indices ", dimsToString(idx), " differ").c_str());
      int64_t last = idx.back();
      SHAPE_SUPPORTED(c, known(last), "the output rank depends on the last dim of indices ", dimsToString(idx));
      SHAPE_CHECK(c, last >= 1 && last <= r - b, "last dim of indices ", dimsToString(idx),
                  " must be in [1, ", r - b, "] for data ", dimsToString(data));
      Dims out(idx.begin(), idx.end() - 1);
      out.insert(out.end(), data.begin() + b + last, data.end());
      return one(c.type(0), out);
    }
  }
  fail(ErrorCode::kInternal, concat(c.layer.describe(), ": unknown gather mode"));
}

Outputs inferScatter(const ShapeInferenceContext& c) {
  expectInputs(c, 3, 3);
  const auto& p = c.layer.as<ScatterParams>();
  const Dims &data = c.shape(0), &idx = c.shape(1), &upd = c.shape(2);
  expectIndexType(c, 1, "indices");
  SHAPE_CHECK(c, c.type(2) == c.type(0), "updates type ", dataTypeName(c.type(2)), " differs from data type ",
              dataTypeName(c.type(0)));
  if (p.mode == ScatterMode::kElements) {
    normalizeAxis(p.axis, rankOf(data), c.layer);
    SHAPE_CHECK(c, idx.size() == data.size() && upd.size() == idx.size(), "data ", dimsToString(data), ", indices ",
                dimsToString(idx), " and updates ", dimsToString(upd), " must have the same rank");
    for (size_t i = 0; i < idx.size(); ++i)
      SHAPE_CHECK(c, !known(idx[i]) || !known(upd[i]) || idx[i] == upd[i], "updates ", dimsToString(upd),
                  " must have the shape of indices ", dimsToString(idx));
  } else {
    SHAPE_CHECK(c, !idx.empty(), "indices must have rank >= 1, got ", dimsToString(idx));
    int64_t last = idx.back();
    SHAPE_CHECK(c, !known(last) || last <= rankOf(data), "last dim of indices ", dimsToString(idx),
                " exceeds the rank of data ", dimsToString(data));
    if (known(last))
      SHAPE_CHECK(c, rankOf(upd) == rankOf(idx) - 1 + rankOf(data) - last, "updates ", dimsToString(upd),
                  " do not match indices ", dimsToString(idx), " and data ", dimsToString(data));
  }
  return one(c.type(0), data);
}

Outputs inferNonZero(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  return one(DataType::kInt64, {c.rank(0), -1});
}

Outputs inferOneHot(const ShapeInferenceContext& c) {
  expectInputs(c, 3, 3);
  const Dims& idx = c.shape(0);
  int64_t axis = normalizeAxis(c.layer.as<OneHotParams>().axis, rankOf(idx) + 1, c.layer);
  SHAPE_CHECK(c, volume(c.shape(1)) <= 1, "depth must be a scalar, got shape ", dimsToString(c.shape(1)));
  int64_t nValues = volume(c.shape(2));
  SHAPE_CHECK(c, !known(nValues) || nValues == 2, "values must hold [off, on], got shape ", dimsToString(c.shape(2)));
  int64_t depth = -1;
  if (const HostTensor* v = c.value(1)) {
    std::vector<double> d = readNumbers(*v);
    SHAPE_CHECK(c, d.size() == 1 && d[0] >= 1, "depth must be one value >= 1");
    depth = dimFromDouble(c, d[0], "depth");
  }
  Dims out = idx;
  out.insert(out.begin() + axis, depth);
  return one(c.type(2), out);
}

Outputs inferUnique(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  const auto& p = c.layer.as<UniqueParams>();
  const Dims& x = c.shape(0);
  int outputs = c.numOutputs(4);
  SHAPE_CHECK(c, outputs == 4, "has ", outputs, " outputs; expected y, indices, inverse indices, counts");
  Dims y = {-1};
  int64_t inverse = volume(x);
  if (p.hasAxis) {
    int64_t axis = normalizeAxis(p.axis, rankOf(x), c.layer);
    y = x;
    y[axis] = -1;
    inverse = x[axis];
  }
  return {{c.type(0), y}, {DataType::kInt64, {-1}}, {DataType::kInt64, {inverse}}, {DataType::kInt64, {-1}}};
}

}  // namespace kiln::ir::shape_rules
