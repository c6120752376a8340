// Shape rules of the layers that create values rather than transform an input: Constant,
// ConstantOfShape, Range, Random.
#include "ir/layers/shape_rules.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace kiln::ir::shape_rules {

Outputs inferConstant(const ShapeInferenceContext& c) {
  expectInputs(c, 0, 0);
  const Weights& w = c.layer.as<ConstantParams>().weights;
  return one(w.type, w.shape);
}

Outputs inferConstantOfShape(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  DataType type = c.layer.as<ConstantOfShapeParams>().value.type;
  expectIndexType(c, 0, "shape");
  auto v = c.ints(0);
  if (!v) {
    int64_t n = c.length(0);
    SHAPE_SUPPORTED(c, known(n), "the output rank depends on a shape input of unknown length ",
                    dimsToString(c.shape(0)));
    return one(type, unknownDims(c, n));
  }
  for (int64_t d : *v) SHAPE_CHECK(c, d >= 0, "shape ", dimsToString(*v), " has a negative dim");
  return one(type, *v);
}

Outputs inferRange(const ShapeInferenceContext& c) {
  expectInputs(c, 3, 3);
  DataType type = c.type(0);
  for (int i = 0; i < 3; ++i) {
    SHAPE_CHECK(c, volume(c.shape(i)) <= 1, "input ", i, " must be a scalar, got ", dimsToString(c.shape(i)));
    SHAPE_CHECK(c, c.type(i) == type, "input types differ: ", dataTypeName(type), " vs ", dataTypeName(c.type(i)));
  }
  const HostTensor *start = c.value(0), *limit = c.value(1), *delta = c.value(2);
  if (!start || !limit || !delta) return one(type, {-1});
  for (const HostTensor* v : {start, limit, delta})
    SHAPE_CHECK(c, v->count() == 1, "input of shape ", dimsToString(v->shape), " must hold one value");
  int64_t count;
  if (isIntegerType(type)) {
    int64_t s = readIntegers(*start)[0], l = readIntegers(*limit)[0], d = readIntegers(*delta)[0];
    SHAPE_CHECK(c, d != 0, "delta is 0");
    int64_t span = 0;
    bool fits = !__builtin_sub_overflow(l, s, &span) && !(span == INT64_MIN && d == -1);  // INT64_MIN / -1
    KILN_CHECK(fits, kInvalidArgument, c.layer.describe(), ": size overflow: range start ", s, " limit ", l,
               " delta ", d, " has more elements than fit in 64 bits");
    count = ceilDiv(span, d);
  } else {
    double s = readNumbers(*start)[0], l = readNumbers(*limit)[0], d = readNumbers(*delta)[0];
    SHAPE_CHECK(c, d != 0 && std::isfinite(s) && std::isfinite(l) && std::isfinite(d), "invalid range start ", s,
                " limit ", l, " delta ", d);
    double n = std::ceil((l - s) / d);  // -inf, never NaN, for an empty range whose span overflows
    count = dimFromDouble(c, std::max(n, 0.0), "range element count");
  }
  return one(type, {std::max<int64_t>(count, 0)});
}

Outputs inferRandom(const ShapeInferenceContext& c) {
  const auto& p = c.layer.as<RandomParams>();
  switch (p.distribution) {
    case RandomDistribution::kUniform:
    case RandomDistribution::kNormal:
      expectInputs(c, 0, 1);
      SHAPE_CHECK(c, isFloatType(p.outputType), "uniform/normal samples must be a float type, got ",
                  dataTypeName(p.outputType));
      return one(p.outputType, c.has(0) ? c.shape(0) : p.shape);
    case RandomDistribution::kBernoulli:
      expectInputs(c, 1, 1);
      SHAPE_CHECK(c, isFloatType(c.type(0)), "probabilities must be a float tensor, got ", dataTypeName(c.type(0)));
      return one(p.outputType, c.shape(0));
    case RandomDistribution::kMultinomial:
      expectInputs(c, 1, 1);
      SHAPE_CHECK(c, c.rank(0) == 2, "input must be [batch, classes], got ", dimsToString(c.shape(0)));
      SHAPE_CHECK(c, p.outputType == DataType::kInt32 || p.outputType == DataType::kInt64,
                  "samples must be int32 or int64, got ", dataTypeName(p.outputType));
      SHAPE_CHECK(c, p.sampleSize >= 1, "sample_size must be >= 1, got ", p.sampleSize);
      return one(p.outputType, {c.shape(0)[0], p.sampleSize});
  }
  fail(ErrorCode::kInvalidModel, concat(c.layer.describe(), ": unknown distribution"));
}

}  // namespace kiln::ir::shape_rules
