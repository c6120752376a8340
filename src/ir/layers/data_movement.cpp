// Shape rules of the layers that move or rearrange data: Reshape (flatten, squeeze, unsqueeze), Transpose,
// Concatenation, Slice, Split, Shape, Expand, Tile, Padding, Trilu, SpaceDepth.
#include "ir/layers/shape_rules.h"
#include "ir/layers/shape_value.h"

#include <algorithm>
#include <optional>

namespace kiln::ir::shape_rules {

namespace {

// Reshape to the shape given by input 1.
Outputs inferReshapeToShape(const ShapeInferenceContext& c, const ReshapeParams& p) {
  expectInputs(c, 2, 2);
  const Dims& x = c.shape(0);
  auto v = c.ints(1);
  if (!v) {
    int64_t n = c.length(1);
    SHAPE_SUPPORTED(c, known(n), "the output rank depends on a shape input of unknown length ",
                    dimsToString(c.shape(1)));
    return one(c.type(0), unknownDims(c, n));
  }
  const Dims& shape = *v;
  Dims out(shape.size());
  int inferred = -1;
  std::vector<bool> copied(x.size(), false);
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t s = shape[i];
    if (s == -1) {
      SHAPE_CHECK(c, inferred < 0, "shape ", dimsToString(shape), " has more than one -1");
      inferred = static_cast<int>(i);
    } else if (s == 0 && !p.allowZero) {
      SHAPE_CHECK(c, i < x.size(), "shape ", dimsToString(shape), " copies dim ", i, " (0) but the input ",
                  dimsToString(x), " has rank ", x.size());
      out[i] = x[i];
      copied[i] = true;
    } else {
      SHAPE_CHECK(c, s >= 0, "shape has invalid dim ", s, " in ", dimsToString(shape));
      out[i] = s;
    }
  }
  // Dims copied by 0 cancel out between the input and the output volume.
  int64_t inRest = 1, outRest = 1;
  for (size_t i = 0; i < x.size(); ++i)
    if (!copied[i]) inRest = mulDims(inRest, x[i]);
  for (size_t i = 0; i < out.size(); ++i)
    if (static_cast<int>(i) != inferred && !(i < copied.size() && copied[i])) outRest = mulDims(outRest, out[i]);
  if (inferred >= 0) {
    SHAPE_CHECK(c, !(p.allowZero && std::find(shape.begin(), shape.end(), 0) != shape.end()), "shape ",
                dimsToString(shape), " has both 0 and -1 with allowZero");
    int64_t d = -1;
    if (known(inRest) && known(outRest)) {
      SHAPE_CHECK(c, outRest != 0, "cannot infer the -1 of shape ", dimsToString(shape), " for input ",
                  dimsToString(x), ": the other dims have 0 elements");
      SHAPE_CHECK(c, inRest % outRest == 0, "cannot reshape input ", dimsToString(x), " to ", dimsToString(shape));
      d = inRest / outRest;
    }
    out[inferred] = d;
  } else if (known(inRest) && known(outRest)) {
    SHAPE_CHECK(c, inRest == outRest, "cannot reshape input ", dimsToString(x), " (", volume(x),
                " elements) to ", dimsToString(shape));
  }
  return one(c.type(0), out);
}

Outputs inferFlatten(const ShapeInferenceContext& c, const ReshapeParams& p) {
  expectInputs(c, 1, 1);
  const Dims& x = c.shape(0);
  int64_t r = rankOf(x);
  SHAPE_CHECK(c, p.axis >= -r && p.axis <= r, "axis ", p.axis, " is out of range for rank ", r, " (valid: [", -r,
              ", ", r, "])");
  size_t axis = static_cast<size_t>(p.axis < 0 ? p.axis + r : p.axis);
  return one(c.type(0), {product(x, 0, axis), product(x, axis, x.size())});
}

// Squeeze / Unsqueeze axes from input 1 or params; nullopt when input 1 has no value.
std::optional<Dims> squeezeAxes(const ShapeInferenceContext& c, const ReshapeParams& p) {
  expectInputs(c, 1, 2);
  if (c.has(1)) return c.ints(1);
  return p.axes;
}

Outputs inferSqueeze(const ShapeInferenceContext& c, const ReshapeParams& p) {
  const Dims& x = c.shape(0);
  auto axes = squeezeAxes(c, p);
  if (!axes) {
    int64_t n = c.length(1);
    SHAPE_SUPPORTED(c, known(n) && n > 0, "the output rank depends on axes ", dimsToString(c.shape(1)),
                    " of unknown value");
    SHAPE_CHECK(c, n <= rankOf(x), "has ", n, " axes for input ", dimsToString(x));
    return one(c.type(0), Dims(static_cast<size_t>(rankOf(x) - n), -1));
  }
  Dims out;
  if (axes->empty()) {
    // All size-1 dims. Unknown dims are assumed not to be 1.
    for (int64_t d : x)
      if (d != 1) out.push_back(d);
    return one(c.type(0), out);
  }
  Dims norm = normalizeAxes(c, *axes, rankOf(x));
  for (size_t i = 0; i < x.size(); ++i) {
    bool squeezed = std::find(norm.begin(), norm.end(), static_cast<int64_t>(i)) != norm.end();
    if (!squeezed) out.push_back(x[i]);
    else SHAPE_CHECK(c, !known(x[i]) || x[i] == 1, "cannot squeeze dim ", i, " of size ", x[i], " of input ",
                     dimsToString(x));
  }
  return one(c.type(0), out);
}

Outputs inferUnsqueeze(const ShapeInferenceContext& c, const ReshapeParams& p) {
  const Dims& x = c.shape(0);
  auto axes = squeezeAxes(c, p);
  if (!axes) {
    int64_t n = c.length(1);
    SHAPE_SUPPORTED(c, known(n), "the output rank depends on axes ", dimsToString(c.shape(1)), " of unknown length");
    return one(c.type(0), unknownDims(c, addDims(rankOf(x), n)));
  }
  int64_t outRank = rankOf(x) + rankOf(*axes);
  Dims norm = normalizeAxes(c, *axes, outRank);
  Dims out;
  size_t next = 0;
  for (int64_t i = 0; i < outRank; ++i) {
    if (std::find(norm.begin(), norm.end(), i) != norm.end()) out.push_back(1);
    else out.push_back(x[next++]);
  }
  return one(c.type(0), out);
}

// Number of elements ONNX Slice takes from a dim of size d.
int64_t sliceCount(int64_t d, int64_t start, int64_t end, int64_t step) {
  if (d == 0) return 0;
  if (start < 0) start += d;
  if (end < 0) end += d;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, d);
    end = std::clamp<int64_t>(end, 0, d);
    return end > start ? ceilDiv(end - start, step) : 0;
  }
  start = std::clamp<int64_t>(start, 0, d - 1);
  end = std::clamp<int64_t>(end, -1, d - 1);
  // -INT64_MIN does not exist; any step below -d takes one element.
  return start > end ? ceilDiv(start - end, -std::max(step, -d - 1)) : 0;
}

}  // namespace

Outputs inferReshape(const ShapeInferenceContext& c) {
  const auto& p = c.layer.as<ReshapeParams>();
  switch (p.mode) {
    case ReshapeMode::kShapeTensor: return inferReshapeToShape(c, p);
    case ReshapeMode::kFlatten: return inferFlatten(c, p);
    case ReshapeMode::kSqueeze: return inferSqueeze(c, p);
    case ReshapeMode::kUnsqueeze: return inferUnsqueeze(c, p);
  }
  fail(ErrorCode::kInternal, concat(c.layer.describe(), ": unknown reshape mode"));
}

Outputs inferTranspose(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  const Dims& x = c.shape(0);
  Dims perm = c.layer.as<TransposeParams>().perm;
  if (perm.empty())
    for (int64_t i = rankOf(x) - 1; i >= 0; --i) perm.push_back(i);
  SHAPE_CHECK(c, perm.size() == x.size(), "perm ", dimsToString(perm), " does not match the rank of input ",
              dimsToString(x));
  std::vector<bool> seen(x.size(), false);
  Dims out;
  for (int64_t a : perm) {
    SHAPE_CHECK(c, a >= 0 && a < rankOf(x) && !seen[a], "perm ", dimsToString(perm), " is not a permutation of ",
                x.size(), " dims");
    seen[a] = true;
    out.push_back(x[a]);
  }
  return one(c.type(0), out);
}

Outputs inferConcatenation(const ShapeInferenceContext& c) {
  SHAPE_CHECK(c, c.count() >= 1, "needs at least one input");
  for (int i = 0; i < c.count(); ++i) SHAPE_CHECK(c, c.has(i), "input ", i, " is missing");
  Dims out = c.shape(0);
  int64_t axis = normalizeAxis(c.layer.as<ConcatenationParams>().axis, rankOf(out), c.layer);
  for (int i = 1; i < c.count(); ++i) {
    const Dims& s = c.shape(i);
    SHAPE_CHECK(c, c.type(i) == c.type(0), "input ", i, " has type ", dataTypeName(c.type(i)), ", input 0 has ",
                dataTypeName(c.type(0)));
    SHAPE_CHECK(c, s.size() == out.size(), "input ", i, " ", dimsToString(s), " does not have the rank of input 0 ",
                dimsToString(c.shape(0)));
    for (size_t d = 0; d < out.size(); ++d) {
      if (static_cast<int64_t>(d) == axis) {
        out[d] = addDims(out[d], s[d]);
      } else {
        SHAPE_CHECK(c, !known(out[d]) || !known(s[d]) || out[d] == s[d], "input ", i, " ", dimsToString(s),
                    " does not match input 0 ", dimsToString(c.shape(0)), " at dim ", d);
        if (!known(out[d])) out[d] = s[d];
      }
    }
  }
  return one(c.type(0), out);
}

Outputs inferSlice(const ShapeInferenceContext& c) {
  expectInputs(c, 3, 5);
  const Dims& x = c.shape(0);
  int64_t r = rankOf(x);
  for (int i = 1; i < c.count(); ++i)
    if (c.has(i)) expectIndexType(c, i, concat("slice input ", i).c_str());
  auto starts = c.ints(1), ends = c.ints(2);
  std::optional<Dims> axes, steps;
  bool axesKnown = true, stepsKnown = true;
  if (c.has(3)) {
    axes = c.ints(3);
    axesKnown = axes.has_value();
  }
  if (c.has(4)) {
    steps = c.ints(4);
    stepsKnown = steps.has_value();
  }
  if (!axesKnown) return one(c.type(0), Dims(x.size(), -1));  // any dim may be sliced
  // The axes sliced, from the axes input or 0..n-1 for n = number of starts.
  int64_t n = starts ? rankOf(*starts) : ends ? rankOf(*ends) : c.length(1);
  if (axes) {
    SHAPE_CHECK(c, !known(n) || rankOf(*axes) == n, "has ", axes->size(), " axes but ", n, " starts");
    n = rankOf(*axes);
  }
  if (!known(n)) return one(c.type(0), Dims(x.size(), -1));
  SHAPE_CHECK(c, n <= r, "slices ", n, " axes of input ", dimsToString(x));
  Dims ax = axes ? normalizeAxes(c, *axes, r) : Dims();
  if (!axes)
    for (int64_t i = 0; i < n; ++i) ax.push_back(i);
  if (starts) SHAPE_CHECK(c, rankOf(*starts) == n, "has ", starts->size(), " starts for ", n, " axes");
  if (ends) SHAPE_CHECK(c, rankOf(*ends) == n, "has ", ends->size(), " ends for ", n, " axes");
  if (steps) {
    SHAPE_CHECK(c, rankOf(*steps) == n, "has ", steps->size(), " steps for ", n, " axes");
    for (int64_t s : *steps) SHAPE_CHECK(c, s != 0, "steps ", dimsToString(*steps), " contain 0");
  }
  Dims out = x;
  for (int64_t i = 0; i < n; ++i) {
    int64_t a = ax[i];
    if (!starts || !ends || !stepsKnown || !known(x[a])) {
      out[a] = -1;
      continue;
    }
    out[a] = sliceCount(x[a], (*starts)[i], (*ends)[i], steps ? (*steps)[i] : 1);
  }
  return one(c.type(0), out);
}

Outputs inferSplit(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 2);
  const auto& p = c.layer.as<SplitParams>();
  const Dims& x = c.shape(0);
  int64_t axis = normalizeAxis(p.axis, rankOf(x), c.layer);
  int64_t dim = x[axis];
  std::optional<Dims> sizes = p.sizes;
  if (c.has(1)) sizes = c.ints(1);
  int n = c.numOutputs(sizes && !sizes->empty() ? static_cast<int>(sizes->size()) : 1);
  SHAPE_CHECK(c, n >= 1, "needs at least one output");
  Dims parts(static_cast<size_t>(n), -1);
  if (sizes && !sizes->empty()) {
    SHAPE_CHECK(c, rankOf(*sizes) == n, "split sizes ", dimsToString(*sizes), " do not match its ", n, " outputs");
    int64_t sum = 0;
    for (int64_t s : *sizes) {
      SHAPE_CHECK(c, s >= 0, "split sizes ", dimsToString(*sizes), " must be >= 0");
      sum = addOrThrow(sum, s, "split sizes sum");
    }
    SHAPE_CHECK(c, !known(dim) || sum == dim, "split sizes ", dimsToString(*sizes), " do not add up to dim ", axis,
                " of input ", dimsToString(x));
    parts = *sizes;
  } else if (sizes && known(dim)) {  // equal parts, the last one smaller
    int64_t chunk = ceilDiv(dim, n);
    int64_t last = dim - chunk * (n - 1);
    SHAPE_CHECK(c, last >= 0, "cannot split dim ", axis, " of input ", dimsToString(x), " into ", n, " parts");
    std::fill(parts.begin(), parts.end(), chunk);
    parts.back() = last;
  }
  Outputs result;
  for (int64_t part : parts) {
    Dims s = x;
    s[axis] = part;
    result.push_back({c.type(0), s});
  }
  return result;
}

namespace {
// The [start, end) range of dims a Shape layer reports for an input of `rank` (clamped as ONNX does).
std::pair<int64_t, int64_t> shapeRange(const ShapeParams& p, int64_t rank) {
  auto clampIndex = [rank](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + rank : i, 0, rank); };
  int64_t start = clampIndex(p.start), end = clampIndex(p.end);
  return {start, std::max(start, end)};
}
}  // namespace

Outputs inferShape(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  auto [start, end] = shapeRange(c.layer.as<ShapeParams>(), c.rank(0));
  return one(DataType::kInt64, {end - start});
}

Outputs inferExpand(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 2);
  const Dims& x = c.shape(0);
  expectIndexType(c, 1, "shape");
  auto v = c.ints(1);
  if (v) return one(c.type(0), broadcastShapes(x, *v, c.layer));
  int64_t n = c.length(1);
  SHAPE_SUPPORTED(c, known(n), "the output rank depends on a shape input of unknown length ",
                  dimsToString(c.shape(1)));
  Dims out = unknownDims(c, std::max(rankOf(x), n));
  size_t rank = out.size();
  // A dim of x other than 1 survives the broadcast (the shape's dim must be 1 or equal to it).
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i] != 1) out[rank - x.size() + i] = x[i];
  return one(c.type(0), out);
}

Outputs inferTile(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 2);
  const Dims& x = c.shape(0);
  expectIndexType(c, 1, "repeats");
  int64_t n = c.length(1);
  SHAPE_CHECK(c, !known(n) || n == rankOf(x), "repeats ", dimsToString(c.shape(1)),
              " must have one value per dim of input ", dimsToString(x));
  auto v = c.ints(1);
  if (!v) return one(c.type(0), Dims(x.size(), -1));
  SHAPE_CHECK(c, v->size() == x.size(), "repeats ", dimsToString(*v), " must have one value per dim of input ",
              dimsToString(x));
  Dims out;
  for (size_t i = 0; i < x.size(); ++i) {
    SHAPE_CHECK(c, (*v)[i] >= 0, "repeats ", dimsToString(*v), " must be >= 0");
    out.push_back((*v)[i] == 0 ? 0 : mulDims(x[i], (*v)[i]));
  }
  return one(c.type(0), out);
}

Outputs inferPadding(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 4);
  const Dims& x = c.shape(0);
  int64_t r = rankOf(x);
  expectIndexType(c, 1, "pads");
  Dims axes;
  if (c.has(3)) {
    expectIndexType(c, 3, "axes");
    auto v = c.ints(3);
    if (!v) return one(c.type(0), Dims(x.size(), -1));
    axes = normalizeAxes(c, *v, r);
  } else {
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  }
  int64_t naxes = rankOf(axes);
  int64_t n = c.length(1);
  SHAPE_CHECK(c, !known(n) || n == 2 * naxes, "pads ", dimsToString(c.shape(1)), " must have 2 * ", naxes,
              " values for input ", dimsToString(x));
  Dims out = x;
  auto pads = c.ints(1);
  for (int64_t i = 0; i < naxes; ++i) {
    int64_t a = axes[i];
    if (!pads) {
      out[a] = -1;
      continue;
    }
    if (!known(x[a])) {
      out[a] = -1;
      continue;
    }
    out[a] = addOrThrow(addOrThrow(x[a], (*pads)[i], "padded dim"), (*pads)[i + naxes], "padded dim");
    SHAPE_CHECK(c, out[a] >= 0, "pads ", dimsToString(*pads), " make dim ", a, " of input ", dimsToString(x),
                " negative");
  }
  return one(c.type(0), out);
}

Outputs inferTrilu(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 2);
  expectRank(c, 0, 2, concat("input ", dimsToString(c.shape(0))).c_str());
  if (c.has(1)) {
    expectIndexType(c, 1, "k");
    SHAPE_CHECK(c, volume(c.shape(1)) <= 1, "k must be a scalar, got shape ", dimsToString(c.shape(1)));
  }
  return one(c.type(0), c.shape(0));
}

Outputs inferSpaceDepth(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  const auto& p = c.layer.as<SpaceDepthParams>();
  const Dims& x = c.shape(0);
  SHAPE_CHECK(c, x.size() == 4, "input must be NCHW, got ", dimsToString(x));
  int64_t b = p.blockSize;
  SHAPE_CHECK(c, b >= 1, "block size must be >= 1, got ", b);
  auto divide = [&](int64_t d, int64_t by, const char* what) -> int64_t {
    if (!known(d)) return -1;
    SHAPE_CHECK(c, d % by == 0, what, " ", d, " of input ", dimsToString(x), " is not divisible by ", by);
    return d / by;
  };
  int64_t area = mulOrThrow(b, b, "block area");
  if (p.toDepth)
    return one(c.type(0), {x[0], mulDims(x[1], area), divide(x[2], b, "height"), divide(x[3], b, "width")});
  return one(c.type(0), {x[0], divide(x[1], area, "channels"), mulDims(x[2], b), mulDims(x[3], b)});
}

}  // namespace kiln::ir::shape_rules

namespace kiln::ir {

bool shapeValueKnown(const Layer& shapeLayer, const Dims& inputDims) {
  KILN_CHECK(shapeLayer.type() == LayerType::kShape, kInternal, shapeLayer.describe(), " is not a Shape layer");
  auto [start, end] = shape_rules::shapeRange(shapeLayer.as<ShapeParams>(), static_cast<int64_t>(inputDims.size()));
  return std::all_of(inputDims.begin() + start, inputDims.begin() + end, [](int64_t d) { return d >= 0; });
}

}  // namespace kiln::ir
