// The helpers the shape rules share (see shape_rules.h).
#include "ir/layers/shape_rules.h"

#include <algorithm>

#include "core/half.h"

namespace kiln::ir {

const TensorDesc& ShapeInferenceContext::in(int i) const {
  KILN_CHECK(has(i), kInvalidModel, layer.describe(), ": input ", i, " is missing");
  return *inputs[i];
}

const HostTensor* ShapeInferenceContext::value(int i) const {
  if (!has(i) || i >= static_cast<int>(values.size()) || values[i] == nullptr) return nullptr;
  const HostTensor* v = values[i];
  if (!v->bytes && volume(v->shape) != 0) return nullptr;
  return v;
}

std::optional<std::vector<int64_t>> ShapeInferenceContext::ints(int i) const {
  const HostTensor* v = value(i);
  if (!v) return std::nullopt;
  KILN_CHECK(shape_rules::isIntegerType(v->type), kInvalidModel, layer.describe(), ": input ", i,
             " must be an integer tensor, got ", dataTypeName(v->type), " ", dimsToString(v->shape));
  return readIntegers(*v);
}

int64_t ShapeInferenceContext::length(int i) const {
  const Dims& s = shape(i);
  SHAPE_CHECK(*this, s.size() <= 1, "input ", i, " must be 1-D, got ", dimsToString(s));
  return s.empty() ? 1 : s[0];
}

namespace shape_rules {

int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t ceilDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) == (b < 0))) ++q;
  return q;
}

Dims unknownDims(const ShapeInferenceContext& c, int64_t rank) {
  KILN_CHECK(rank >= 0 && rank <= kMaxUnknownRank, kInvalidArgument, c.layer.describe(), ": output rank ", rank,
             " (from the length of a shape input) is out of range: at most ", kMaxUnknownRank, " dims");
  return Dims(static_cast<size_t>(rank), -1);
}

int64_t dimFromDouble(const ShapeInferenceContext& c, double value, const char* what) {
  KILN_CHECK(value >= 0 && value <= 0x1p62, kInvalidArgument, c.layer.describe(), ": size overflow: ", what, " ",
             value, " is not a dim in [0, 2^62]");
  return static_cast<int64_t>(value);
}

int64_t product(const Dims& dims, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end; ++i) n = mulDims(n, dims[i]);
  return n;
}

bool isIntegerType(DataType t) {
  switch (t) {
    case DataType::kInt8: case DataType::kUInt8: case DataType::kInt16: case DataType::kUInt16:
    case DataType::kInt32: case DataType::kUInt32: case DataType::kInt64: case DataType::kUInt64:
      return true;
    default:
      return false;
  }
}

bool isFloatType(DataType t) {
  switch (t) {
    case DataType::kFloat32: case DataType::kFloat16: case DataType::kBFloat16: case DataType::kFloat64:
    case DataType::kFP8E4M3:
      return true;
    default:
      return false;
  }
}

std::vector<double> readNumbers(const HostTensor& value) {
  if (isIntegerType(value.type)) {
    std::vector<int64_t> ints = readIntegers(value);
    return std::vector<double>(ints.begin(), ints.end());
  }
  int64_t n = value.count();
  KILN_CHECK(n >= 0, kInvalidModel, "numeric tensor has an unknown shape ", dimsToString(value.shape));
  KILN_CHECK(n == 0 || (value.bytes && value.bytes->size() >= static_cast<size_t>(n) * dataTypeSize(value.type)),
             kInvalidModel, "numeric tensor of shape ", dimsToString(value.shape), " has too few bytes");
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (value.type) {
      case DataType::kFloat32: out[i] = value.as<float>()[i]; break;
      case DataType::kFloat64: out[i] = value.as<double>()[i]; break;
      case DataType::kFloat16: out[i] = halfToFloat(value.as<uint16_t>()[i]); break;
      case DataType::kBFloat16: out[i] = bfloat16ToFloat(value.as<uint16_t>()[i]); break;
      default:
        fail(ErrorCode::kInvalidModel, concat("expected a numeric tensor, got ", dataTypeName(value.type)));
    }
  }
  return out;
}

void expectInputs(const ShapeInferenceContext& c, int lo, int hi) {
  SHAPE_CHECK(c, c.count() >= lo && c.count() <= hi, "expects ", lo == hi ? concat(lo) : concat(lo, " to ", hi),
              hi == 1 ? " input" : " inputs", ", got ", c.count());
  for (int i = 0; i < lo; ++i) SHAPE_CHECK(c, c.has(i), "required input ", i, " is missing");
}

void expectRank(const ShapeInferenceContext& c, int i, int64_t minRank, const char* what) {
  SHAPE_CHECK(c, c.rank(i) >= minRank, what, " must have rank >= ", minRank, ", got ", dimsToString(c.shape(i)));
}

void expectIndexType(const ShapeInferenceContext& c, int i, const char* what) {
  DataType t = c.type(i);
  SHAPE_CHECK(c, t == DataType::kInt32 || t == DataType::kInt64, what, " must be int32 or int64, got ",
              dataTypeName(t));
}

Dims normalizeAxes(const ShapeInferenceContext& c, const Dims& axes, int64_t rank) {
  Dims out;
  for (int64_t a : axes) {
    int64_t n = normalizeAxis(a, rank, c.layer);
    SHAPE_CHECK(c, std::find(out.begin(), out.end(), n) == out.end(), "axis ", a, " is repeated in axes ",
                dimsToString(axes));
    out.push_back(n);
  }
  return out;
}

int64_t mergeDims(const ShapeInferenceContext& c, int64_t a, int64_t b, const char* what) {
  SHAPE_CHECK(c, !known(a) || !known(b) || a == b, what, ": ", a, " vs ", b);
  return known(a) ? a : b;
}

}  // namespace shape_rules
}  // namespace kiln::ir
