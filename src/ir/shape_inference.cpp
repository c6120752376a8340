// Per-layer type and shape inference. One static function per layer type, dispatched on layer.type().
//
// Dims of -1 are unknown: they propagate through arithmetic, and a shape input without a host value
// makes the dims it decides -1 (keeping the rank whenever it can be known).
#include "ir/shape_inference.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>

#include "core/error.h"
#include "core/half.h"

// Throws kInvalidModel naming the layer of context `c` when `cond` is false.
#define SHAPE_CHECK(c, cond, ...) KILN_CHECK(cond, kInvalidModel, (c).layer.describe(), ": ", __VA_ARGS__)
// Same for valid models that cannot be handled (e.g. an output rank that depends on values).
#define SHAPE_SUPPORTED(c, cond, ...) KILN_CHECK(cond, kUnsupported, (c).layer.describe(), ": ", __VA_ARGS__)

namespace kiln::ir {

namespace {

using Outputs = std::vector<TensorDesc>;

// ---- small helpers -----------------------------------------------------------------------------

bool known(int64_t d) { return d >= 0; }

int64_t mulDims(int64_t a, int64_t b) { return known(a) && known(b) ? a * b : -1; }
int64_t addDims(int64_t a, int64_t b) { return known(a) && known(b) ? a + b : -1; }

// Floor / ceil of a / b for any signs (b != 0).
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

// Product of dims[begin, end); -1 if any is unknown.
int64_t product(const Dims& dims, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end; ++i) n = mulDims(n, dims[i]);
  return n;
}

int64_t rankOf(const Dims& d) { return static_cast<int64_t>(d.size()); }

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

// Reads a numeric host tensor (integer or float) as doubles.
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

// What inference of one layer sees.
struct Ctx {
  const Layer& layer;
  const std::vector<const TensorDesc*>& inputs;
  const InputValues& values;

  int count() const { return static_cast<int>(inputs.size()); }
  // True when input i is given (not omitted).
  bool has(int i) const { return i >= 0 && i < count() && inputs[i] != nullptr; }
  const TensorDesc& in(int i) const {
    KILN_CHECK(has(i), kInvalidModel, layer.describe(), ": input ", i, " is missing");
    return *inputs[i];
  }
  const Dims& shape(int i) const { return in(i).shape; }
  int64_t rank(int i) const { return rankOf(shape(i)); }
  DataType type(int i) const { return in(i).type; }
  // The host value of input i when known.
  const HostTensor* value(int i) const {
    if (!has(i) || i >= static_cast<int>(values.size()) || values[i] == nullptr) return nullptr;
    const HostTensor* v = values[i];
    if (!v->bytes && volume(v->shape) != 0) return nullptr;
    return v;
  }
  std::optional<std::vector<int64_t>> ints(int i) const {
    const HostTensor* v = value(i);
    if (!v) return std::nullopt;
    KILN_CHECK(isIntegerType(v->type), kInvalidModel, layer.describe(), ": input ", i,
               " must be an integer tensor, got ", dataTypeName(v->type), " ", dimsToString(v->shape));
    return readIntegers(*v);
  }
  // The number of elements of a 1-D (or scalar) shape input from its desc; -1 if unknown.
  int64_t length(int i) const {
    const Dims& s = shape(i);
    SHAPE_CHECK(*this, s.size() <= 1, "input ", i, " must be 1-D, got ", dimsToString(s));
    return s.empty() ? 1 : s[0];
  }
  int numOutputs(int fallback) const {
    return layer.outputs.empty() ? fallback : static_cast<int>(layer.outputs.size());
  }
};

// Checks that there are between lo and hi inputs and that the first lo are given.
void expectInputs(const Ctx& c, int lo, int hi) {
  SHAPE_CHECK(c, c.count() >= lo && c.count() <= hi, "expects ", lo == hi ? concat(lo) : concat(lo, " to ", hi),
              hi == 1 ? " input" : " inputs", ", got ", c.count());
  for (int i = 0; i < lo; ++i) SHAPE_CHECK(c, c.has(i), "required input ", i, " is missing");
}

void expectRank(const Ctx& c, int i, int64_t minRank, const char* what) {
  SHAPE_CHECK(c, c.rank(i) >= minRank, what, " must have rank >= ", minRank, ", got ", dimsToString(c.shape(i)));
}

void expectIndexType(const Ctx& c, int i, const char* what) {
  DataType t = c.type(i);
  SHAPE_CHECK(c, t == DataType::kInt32 || t == DataType::kInt64, what, " must be int32 or int64, got ",
              dataTypeName(t));
}

// Normalizes each axis and rejects duplicates.
Dims normalizeAxes(const Ctx& c, const Dims& axes, int64_t rank) {
  Dims out;
  for (int64_t a : axes) {
    int64_t n = normalizeAxis(a, rank, c.layer);
    SHAPE_CHECK(c, std::find(out.begin(), out.end(), n) == out.end(), "axis ", a, " is repeated in axes ",
                dimsToString(axes));
    out.push_back(n);
  }
  return out;
}

// Two dims that must agree; returns the known one.
int64_t mergeDims(const Ctx& c, int64_t a, int64_t b, const char* what) {
  SHAPE_CHECK(c, !known(a) || !known(b) || a == b, what, ": ", a, " vs ", b);
  return known(a) ? a : b;
}

Outputs one(DataType type, Dims shape) { return {TensorDesc{type, std::move(shape)}}; }

// ---- layers ------------------------------------------------------------------------------------

Outputs inferConstant(const Ctx& c) {
  expectInputs(c, 0, 0);
  const Weights& w = c.layer.as<ConstantParams>().weights;
  return one(w.type, w.shape);
}

Outputs inferIdentity(const Ctx& c) {
  expectInputs(c, 1, 1);
  return {c.in(0)};  // tensors, sequences and optionals alike
}

Outputs inferCast(const Ctx& c) {
  expectInputs(c, 1, 1);
  return one(c.layer.as<CastParams>().to, c.shape(0));
}

Outputs inferElementWise(const Ctx& c) {
  expectInputs(c, 2, 2);
  ElementWiseOp op = c.layer.as<ElementWiseParams>().op;
  DataType a = c.type(0), b = c.type(1);
  bool mixedOk = op == ElementWiseOp::kPRelu || op == ElementWiseOp::kPow;
  SHAPE_CHECK(c, mixedOk || a == b, "input types differ: ", dataTypeName(a), " ", dimsToString(c.shape(0)), " vs ",
              dataTypeName(b), " ", dimsToString(c.shape(1)));
  Dims shape = broadcastShapes(c.shape(0), c.shape(1), c.layer);
  switch (op) {
    case ElementWiseOp::kAnd: case ElementWiseOp::kOr: case ElementWiseOp::kXor: case ElementWiseOp::kEqual:
    case ElementWiseOp::kLess: case ElementWiseOp::kGreater: case ElementWiseOp::kLessOrEqual:
    case ElementWiseOp::kGreaterOrEqual:
      return one(DataType::kBool, shape);
    default:
      return one(a, shape);
  }
}

Outputs inferUnary(const Ctx& c) {
  expectInputs(c, 1, 1);
  switch (c.layer.as<UnaryParams>().op) {
    case UnaryOp::kNot: case UnaryOp::kIsNaN: case UnaryOp::kIsInf: case UnaryOp::kIsInfPositive:
    case UnaryOp::kIsInfNegative:
      return one(DataType::kBool, c.shape(0));
    default:
      return one(c.type(0), c.shape(0));
  }
}

Outputs inferActivation(const Ctx& c) {
  expectInputs(c, 1, 1);
  return one(c.type(0), c.shape(0));
}

Outputs inferMatrixMultiply(const Ctx& c) {
  expectInputs(c, 2, 3);
  const auto& p = c.layer.as<MatrixMultiplyParams>();
  const Dims &sa = c.shape(0), &sb = c.shape(1);
  SHAPE_CHECK(c, !sa.empty() && !sb.empty(), "operands must have rank >= 1, got ", dimsToString(sa), " and ",
              dimsToString(sb));
  SHAPE_CHECK(c, c.type(0) == c.type(1), "operand types differ: ", dataTypeName(c.type(0)), " vs ",
              dataTypeName(c.type(1)));
  Dims a = sa, b = sb;
  bool dropM = a.size() == 1, dropN = b.size() == 1;
  if (dropM) a.insert(a.begin(), 1);
  else if (p.transposeA) std::swap(a[a.size() - 1], a[a.size() - 2]);
  if (dropN) b.push_back(1);
  else if (p.transposeB) std::swap(b[b.size() - 1], b[b.size() - 2]);
  int64_t ka = a.back(), kb = b[b.size() - 2];
  SHAPE_CHECK(c, !known(ka) || !known(kb) || ka == kb, "inner dimensions do not match: ", dimsToString(sa),
              p.transposeA ? "^T" : "", " x ", dimsToString(sb), p.transposeB ? "^T" : "");
  Dims batch = broadcastShapes(Dims(a.begin(), a.end() - 2), Dims(b.begin(), b.end() - 2), c.layer);
  if (!dropM) batch.push_back(a[a.size() - 2]);
  if (!dropN) batch.push_back(b.back());
  if (c.has(2)) {  // bias: [N], added to every output row
    SHAPE_CHECK(c, !dropN, "a bias needs a right operand of rank >= 2, got ", dimsToString(sb));
    SHAPE_CHECK(c, c.type(2) == c.type(0), "bias type ", dataTypeName(c.type(2)), " differs from the operands' ",
                dataTypeName(c.type(0)));
    const Dims& bias = c.shape(2);
    SHAPE_CHECK(c, bias.size() == 1 && (!known(bias[0]) || !known(b.back()) || bias[0] == b.back()),
                "bias shape ", dimsToString(bias), " must be [N] = [", b.back(), "]");
  }
  return one(c.type(0), batch);
}

// Window attributes of a convolution or pooling with defaults filled in, one entry per spatial dim.
struct Window {
  Dims kernel, strides, dilations, padsBegin, padsEnd;
  PaddingMode mode = PaddingMode::kExplicit;
  bool ceilMode = false;
};

Dims withDefault(const Ctx& c, const Dims& v, size_t n, int64_t fallback, int64_t minValue, const char* what) {
  if (v.empty()) return Dims(n, fallback);
  SHAPE_CHECK(c, v.size() == n, what, " ", dimsToString(v), " must have ", n, " values (one per spatial dim)");
  for (int64_t x : v) SHAPE_CHECK(c, x >= minValue, what, " ", dimsToString(v), " must be >= ", minValue);
  return v;
}

Window makeWindow(const Ctx& c, size_t n, const Dims& kernel, const Dims& strides, const Dims& dilations,
                  const Dims& padsBegin, const Dims& padsEnd, PaddingMode mode) {
  Window w;
  SHAPE_CHECK(c, kernel.size() == n, "kernel shape ", dimsToString(kernel), " must have ", n,
              " values (one per spatial dim)");
  w.kernel = kernel;
  w.strides = withDefault(c, strides, n, 1, 1, "strides");
  w.dilations = withDefault(c, dilations, n, 1, 1, "dilations");
  w.padsBegin = withDefault(c, padsBegin, n, 0, 0, "begin pads");
  w.padsEnd = withDefault(c, padsEnd, n, 0, 0, "end pads");
  w.mode = mode;
  return w;
}

// Output spatial dims of a convolution / pooling window sliding over `in`.
Dims windowOutput(const Ctx& c, const Dims& in, const Window& w) {
  Dims out(in.size(), -1);
  for (size_t i = 0; i < in.size(); ++i) {
    int64_t k = w.kernel[i];
    if (!known(in[i]) || !known(k)) continue;
    int64_t s = w.strides[i], dilated = w.dilations[i] * (k - 1) + 1;
    if (w.mode == PaddingMode::kSameUpper || w.mode == PaddingMode::kSameLower) {
      out[i] = ceilDiv(in[i], s);
      continue;
    }
    bool valid = w.mode == PaddingMode::kValid;
    int64_t pb = valid ? 0 : w.padsBegin[i], pe = valid ? 0 : w.padsEnd[i];
    int64_t span = in[i] + pb + pe - dilated;
    SHAPE_CHECK(c, span >= 0 || in[i] == 0, "window ", dimsToString(w.kernel), " (dilations ",
                dimsToString(w.dilations), ") is larger than the padded input at spatial dim ", i, ": input ",
                dimsToString(in), ", pads ", dimsToString(w.padsBegin), " ", dimsToString(w.padsEnd));
    if (span < 0) {
      out[i] = 0;
    } else if (w.ceilMode && !valid) {
      out[i] = ceilDiv(span, s) + 1;
      // The last window must start inside the input or the begin padding.
      if ((out[i] - 1) * s >= in[i] + pb) --out[i];
    } else {
      out[i] = floorDiv(span, s) + 1;
    }
  }
  return out;
}

Outputs inferConvolution(const Ctx& c) {
  expectInputs(c, 2, 3);
  const auto& p = c.layer.as<ConvolutionParams>();
  const Dims &x = c.shape(0), &w = c.shape(1);
  expectRank(c, 0, 3, concat("input ", dimsToString(x)).c_str());
  SHAPE_CHECK(c, w.size() == x.size(), "weights ", dimsToString(w), " must have the rank of the input ",
              dimsToString(x));
  SHAPE_CHECK(c, p.groups >= 1, "groups must be >= 1, got ", p.groups);
  size_t n = x.size() - 2;
  SHAPE_CHECK(c, !known(x[1]) || !known(w[1]) || x[1] == w[1] * p.groups, "input channels ", x[1],
              " do not match weights ", dimsToString(w), " * groups ", p.groups);
  SHAPE_CHECK(c, !known(w[0]) || w[0] % p.groups == 0, "output channels of weights ", dimsToString(w),
              " are not divisible by groups ", p.groups);
  Dims kernel = p.kernelShape.empty() ? Dims(w.begin() + 2, w.end()) : p.kernelShape;
  if (!p.kernelShape.empty() && kernel.size() == n)
    for (size_t i = 0; i < n; ++i)
      SHAPE_CHECK(c, !known(w[i + 2]) || w[i + 2] == kernel[i], "kernel shape ", dimsToString(kernel),
                  " does not match weights ", dimsToString(w));
  if (c.has(2)) {
    const Dims& bias = c.shape(2);
    SHAPE_CHECK(c, bias.size() == 1 && (!known(bias[0]) || !known(w[0]) || bias[0] == w[0]), "bias ",
                dimsToString(bias), " does not match weights ", dimsToString(w));
  }
  Window win = makeWindow(c, n, kernel, p.strides, p.dilations, p.padsBegin, p.padsEnd, p.paddingMode);
  Dims out{x[0], w[0]};
  Dims spatial = windowOutput(c, Dims(x.begin() + 2, x.end()), win);
  out.insert(out.end(), spatial.begin(), spatial.end());
  return one(c.type(0), out);
}

Outputs inferDeconvolution(const Ctx& c) {
  expectInputs(c, 2, 3);
  const auto& p = c.layer.as<DeconvolutionParams>();
  const Dims &x = c.shape(0), &w = c.shape(1);
  expectRank(c, 0, 3, concat("input ", dimsToString(x)).c_str());
  SHAPE_CHECK(c, w.size() == x.size(), "weights ", dimsToString(w), " must have the rank of the input ",
              dimsToString(x));
  SHAPE_CHECK(c, p.groups >= 1, "groups must be >= 1, got ", p.groups);
  size_t n = x.size() - 2;
  SHAPE_CHECK(c, !known(x[1]) || !known(w[0]) || x[1] == w[0], "input channels ", x[1], " do not match weights ",
              dimsToString(w), " (expected [C, M/groups, k...])");
  int64_t m = mulDims(w[1], p.groups);
  if (c.has(2)) {
    const Dims& bias = c.shape(2);
    SHAPE_CHECK(c, bias.size() == 1 && (!known(bias[0]) || !known(m) || bias[0] == m), "bias ", dimsToString(bias),
                " does not match weights ", dimsToString(w), " * groups ", p.groups);
  }
  Dims kernel = p.kernelShape.empty() ? Dims(w.begin() + 2, w.end()) : p.kernelShape;
  Window win = makeWindow(c, n, kernel, p.strides, p.dilations, p.padsBegin, p.padsEnd, p.paddingMode);
  Dims outPad = withDefault(c, p.outputPadding, n, 0, 0, "output padding");
  Dims out{x[0], m};
  if (!p.outputShape.empty()) {
    SHAPE_CHECK(c, p.outputShape.size() == n || p.outputShape.size() == x.size(), "output shape ",
                dimsToString(p.outputShape), " must have ", n, " spatial dims");
    out.insert(out.end(), p.outputShape.end() - static_cast<std::ptrdiff_t>(n), p.outputShape.end());
    return one(c.type(0), out);
  }
  for (size_t i = 0; i < n; ++i) {
    int64_t in = x[i + 2], k = kernel[i];
    if (!known(in) || !known(k)) {
      out.push_back(-1);
      continue;
    }
    int64_t s = win.strides[i];
    if (p.paddingMode == PaddingMode::kSameUpper || p.paddingMode == PaddingMode::kSameLower) {
      out.push_back(in * s);
      continue;
    }
    bool valid = p.paddingMode == PaddingMode::kValid;
    int64_t pads = valid ? 0 : win.padsBegin[i] + win.padsEnd[i];
    int64_t d = s * (in - 1) + outPad[i] + win.dilations[i] * (k - 1) + 1 - pads;
    SHAPE_CHECK(c, d >= 0, "output spatial dim ", i, " would be ", d, " for input ", dimsToString(x),
                " and weights ", dimsToString(w));
    out.push_back(d);
  }
  return one(c.type(0), out);
}

Outputs inferPooling(const Ctx& c) {
  expectInputs(c, 1, 1);
  const auto& p = c.layer.as<PoolingParams>();
  const Dims& x = c.shape(0);
  expectRank(c, 0, 3, concat("input ", dimsToString(x)).c_str());
  size_t n = x.size() - 2;
  SHAPE_CHECK(c, !p.kernelShape.empty(), "needs a kernel shape");
  for (int64_t k : p.kernelShape) SHAPE_CHECK(c, k >= 1, "kernel shape ", dimsToString(p.kernelShape), " must be >= 1");
  Window win = makeWindow(c, n, p.kernelShape, p.strides, p.dilations, p.padsBegin, p.padsEnd, p.paddingMode);
  win.ceilMode = p.ceilMode;
  Dims out{x[0], x[1]};
  Dims spatial = windowOutput(c, Dims(x.begin() + 2, x.end()), win);
  out.insert(out.end(), spatial.begin(), spatial.end());
  int outputs = c.numOutputs(1);
  SHAPE_CHECK(c, outputs == 1 || (outputs == 2 && p.type == PoolingType::kMax), "has ", outputs,
              " outputs; only max pooling may have a second (indices) output");
  Outputs result = one(c.type(0), out);
  if (outputs == 2) result.push_back({DataType::kInt64, out});
  return result;
}

Outputs inferReduce(const Ctx& c) {
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

Outputs inferSoftmax(const Ctx& c) {
  expectInputs(c, 1, 1);
  normalizeAxis(c.layer.as<SoftmaxParams>().axis, c.rank(0), c.layer);
  return one(c.type(0), c.shape(0));
}

Outputs inferNormalization(const Ctx& c) {
  const auto& p = c.layer.as<NormalizationParams>();
  const char* what = "";
  switch (p.type) {
    case NormalizationType::kBatch: expectInputs(c, 5, 5); what = "batch"; break;
    case NormalizationType::kInstance: expectInputs(c, 3, 3); what = "instance"; break;
    case NormalizationType::kLayer: expectInputs(c, 2, 3); what = "layer"; break;
    case NormalizationType::kGroup: expectInputs(c, 3, 3); what = "group"; break;
    case NormalizationType::kRMS: expectInputs(c, 2, 2); what = "RMS"; break;
  }
  const Dims& x = c.shape(0);
  Outputs result = one(c.type(0), x);
  switch (p.type) {
    case NormalizationType::kBatch:
    case NormalizationType::kInstance:
    case NormalizationType::kGroup: {
      expectRank(c, 0, 2, concat(what, " normalization input ", dimsToString(x)).c_str());
      int64_t channels = x[1];
      if (p.type == NormalizationType::kGroup) {
        SHAPE_CHECK(c, p.numGroups >= 1 && (!known(channels) || channels % p.numGroups == 0), "channels ",
                    channels, " of input ", dimsToString(x), " are not divisible by ", p.numGroups, " groups");
        break;
      }
      for (int i = 1; i < c.count(); ++i) {
        int64_t n = volume(c.shape(i));
        SHAPE_CHECK(c, !known(n) || !known(channels) || n == channels, "input ", i, " ", dimsToString(c.shape(i)),
                    " does not match the ", channels, " channels of input ", dimsToString(x));
      }
      break;
    }
    case NormalizationType::kLayer:
    case NormalizationType::kRMS: {
      int64_t axis = normalizeAxis(p.axis, rankOf(x), c.layer);
      // Optional statistics outputs (ONNX LayerNormalization Mean, InvStdDev): x[:axis] + ones.
      Dims stats(x.begin(), x.begin() + axis);
      stats.resize(x.size(), 1);
      DataType statsType = c.type(0) == DataType::kFloat64 ? DataType::kFloat64 : DataType::kFloat32;
      for (int i = 1; i < c.numOutputs(1); ++i) result.push_back({statsType, stats});
      break;
    }
  }
  return result;
}

// Reshape to the shape given by input 1.
Outputs inferReshapeToShape(const Ctx& c, const ReshapeParams& p) {
  expectInputs(c, 2, 2);
  const Dims& x = c.shape(0);
  auto v = c.ints(1);
  if (!v) {
    int64_t n = c.length(1);
    SHAPE_SUPPORTED(c, known(n), "the output rank depends on a shape input of unknown length ",
                    dimsToString(c.shape(1)));
    return one(c.type(0), Dims(static_cast<size_t>(n), -1));
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

Outputs inferFlatten(const Ctx& c, const ReshapeParams& p) {
  expectInputs(c, 1, 1);
  const Dims& x = c.shape(0);
  int64_t r = rankOf(x);
  SHAPE_CHECK(c, p.axis >= -r && p.axis <= r, "axis ", p.axis, " is out of range for rank ", r, " (valid: [", -r,
              ", ", r, "])");
  size_t axis = static_cast<size_t>(p.axis < 0 ? p.axis + r : p.axis);
  return one(c.type(0), {product(x, 0, axis), product(x, axis, x.size())});
}

// Squeeze / Unsqueeze axes from input 1 or params; nullopt when input 1 has no value.
std::optional<Dims> squeezeAxes(const Ctx& c, const ReshapeParams& p) {
  expectInputs(c, 1, 2);
  if (c.has(1)) return c.ints(1);
  return p.axes;
}

Outputs inferSqueeze(const Ctx& c, const ReshapeParams& p) {
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

Outputs inferUnsqueeze(const Ctx& c, const ReshapeParams& p) {
  const Dims& x = c.shape(0);
  auto axes = squeezeAxes(c, p);
  if (!axes) {
    int64_t n = c.length(1);
    SHAPE_SUPPORTED(c, known(n), "the output rank depends on axes ", dimsToString(c.shape(1)), " of unknown length");
    return one(c.type(0), Dims(x.size() + static_cast<size_t>(n), -1));
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

Outputs inferReshape(const Ctx& c) {
  const auto& p = c.layer.as<ReshapeParams>();
  switch (p.mode) {
    case ReshapeMode::kShapeTensor: return inferReshapeToShape(c, p);
    case ReshapeMode::kFlatten: return inferFlatten(c, p);
    case ReshapeMode::kSqueeze: return inferSqueeze(c, p);
    case ReshapeMode::kUnsqueeze: return inferUnsqueeze(c, p);
  }
  fail(ErrorCode::kInternal, concat(c.layer.describe(), ": unknown reshape mode"));
}

Outputs inferTranspose(const Ctx& c) {
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

Outputs inferConcatenation(const Ctx& c) {
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

// Number of elements ONNX Slice takes from a dim of size d.
int64_t sliceCount(int64_t d, int64_t start, int64_t end, int64_t step) {
  if (start < 0) start += d;
  if (end < 0) end += d;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, d);
    end = std::clamp<int64_t>(end, 0, d);
    return end > start ? ceilDiv(end - start, step) : 0;
  }
  start = std::clamp<int64_t>(start, 0, d - 1);
  end = std::clamp<int64_t>(end, -1, d - 1);
  return start > end ? ceilDiv(start - end, -step) : 0;
}

Outputs inferSlice(const Ctx& c) {
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

Outputs inferSplit(const Ctx& c) {
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
      sum += s;
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

Outputs inferGather(const Ctx& c) {
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

Outputs inferScatter(const Ctx& c) {
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

Outputs inferShape(const Ctx& c) {
  expectInputs(c, 1, 1);
  const auto& p = c.layer.as<ShapeParams>();
  int64_t r = c.rank(0);
  auto clampIndex = [r](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + r : i, 0, r); };
  int64_t start = clampIndex(p.start), end = clampIndex(p.end);
  return one(DataType::kInt64, {std::max<int64_t>(end - start, 0)});
}

Outputs inferConstantOfShape(const Ctx& c) {
  expectInputs(c, 1, 1);
  DataType type = c.layer.as<ConstantOfShapeParams>().value.type;
  expectIndexType(c, 0, "shape");
  auto v = c.ints(0);
  if (!v) {
    int64_t n = c.length(0);
    SHAPE_SUPPORTED(c, known(n), "the output rank depends on a shape input of unknown length ",
                    dimsToString(c.shape(0)));
    return one(type, Dims(static_cast<size_t>(n), -1));
  }
  for (int64_t d : *v) SHAPE_CHECK(c, d >= 0, "shape ", dimsToString(*v), " has a negative dim");
  return one(type, *v);
}

Outputs inferRange(const Ctx& c) {
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
    count = ceilDiv(l - s, d);
  } else {
    double s = readNumbers(*start)[0], l = readNumbers(*limit)[0], d = readNumbers(*delta)[0];
    SHAPE_CHECK(c, d != 0 && std::isfinite(s) && std::isfinite(l) && std::isfinite(d), "invalid range start ", s,
                " limit ", l, " delta ", d);
    count = static_cast<int64_t>(std::ceil((l - s) / d));
  }
  return one(type, {std::max<int64_t>(count, 0)});
}

Outputs inferExpand(const Ctx& c) {
  expectInputs(c, 2, 2);
  const Dims& x = c.shape(0);
  expectIndexType(c, 1, "shape");
  auto v = c.ints(1);
  if (v) return one(c.type(0), broadcastShapes(x, *v, c.layer));
  int64_t n = c.length(1);
  SHAPE_SUPPORTED(c, known(n), "the output rank depends on a shape input of unknown length ",
                  dimsToString(c.shape(1)));
  size_t rank = std::max(x.size(), static_cast<size_t>(n));
  Dims out(rank, -1);
  // A dim of x other than 1 survives the broadcast (the shape's dim must be 1 or equal to it).
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i] != 1) out[rank - x.size() + i] = x[i];
  return one(c.type(0), out);
}

Outputs inferTile(const Ctx& c) {
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

Outputs inferSelect(const Ctx& c) {
  expectInputs(c, 3, 3);
  SHAPE_CHECK(c, c.type(0) == DataType::kBool, "condition must be bool, got ", dataTypeName(c.type(0)));
  SHAPE_CHECK(c, c.type(1) == c.type(2), "input types differ: ", dataTypeName(c.type(1)), " ",
              dimsToString(c.shape(1)), " vs ", dataTypeName(c.type(2)), " ", dimsToString(c.shape(2)));
  Dims out = broadcastShapes(broadcastShapes(c.shape(0), c.shape(1), c.layer), c.shape(2), c.layer);
  return one(c.type(1), out);
}

Outputs inferPadding(const Ctx& c) {
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
    out[a] = x[a] + (*pads)[i] + (*pads)[i + naxes];
    SHAPE_CHECK(c, out[a] >= 0, "pads ", dimsToString(*pads), " make dim ", a, " of input ", dimsToString(x),
                " negative");
  }
  return one(c.type(0), out);
}

Outputs inferResize(const Ctx& c) {
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
      out[a] = known(x[a]) ? static_cast<int64_t>(std::floor(static_cast<double>(x[a]) * s[i])) : -1;
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
    out[a] = allKnown ? static_cast<int64_t>(std::floor(scale * static_cast<double>(x[a]) + 0.5)) : -1;
  }
  return one(c.type(0), out);
}

Outputs inferTopK(const Ctx& c) {
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

Outputs inferArgMinMax(const Ctx& c) {
  expectInputs(c, 1, 1);
  const auto& p = c.layer.as<ArgMinMaxParams>();
  Dims out = c.shape(0);
  int64_t axis = normalizeAxis(p.axis, rankOf(out), c.layer);
  if (p.keepDims) out[axis] = 1;
  else out.erase(out.begin() + axis);
  return one(DataType::kInt64, out);
}

Outputs inferCumSum(const Ctx& c) {
  expectInputs(c, 2, 2);
  expectIndexType(c, 1, "axis");
  SHAPE_CHECK(c, volume(c.shape(1)) <= 1, "axis must be a scalar, got shape ", dimsToString(c.shape(1)));
  if (auto axis = c.ints(1)) {
    SHAPE_CHECK(c, axis->size() == 1, "axis must hold one value");
    normalizeAxis((*axis)[0], c.rank(0), c.layer);
  }
  return one(c.type(0), c.shape(0));
}

// One operand (or the output) of an einsum equation: letters before and after an optional "...".
struct EinsumTerm {
  std::string before, after;
  bool ellipsis = false;
  std::string letters() const { return before + after; }
};

EinsumTerm parseEinsumTerm(const Ctx& c, const std::string& term, const std::string& equation) {
  EinsumTerm t;
  size_t dots = term.find("...");
  std::string rest = term;
  if (dots != std::string::npos) {
    t.ellipsis = true;
    t.before = term.substr(0, dots);
    t.after = term.substr(dots + 3);
    rest = t.before + t.after;
  } else {
    t.before = term;
  }
  for (char ch : rest)
    SHAPE_CHECK(c, std::isalpha(static_cast<unsigned char>(ch)), "invalid einsum equation '", equation,
                "': unexpected '", ch, "' in term '", term, "'");
  return t;
}

Outputs inferEinsum(const Ctx& c) {
  SHAPE_CHECK(c, c.count() >= 1, "needs at least one operand");
  for (int i = 0; i < c.count(); ++i) SHAPE_CHECK(c, c.has(i), "operand ", i, " is missing");
  const std::string& equation = c.layer.as<EinsumParams>().equation;
  std::string eq;
  for (char ch : equation)
    if (!std::isspace(static_cast<unsigned char>(ch))) eq += ch;
  size_t arrow = eq.find("->");
  std::string lhs = eq.substr(0, arrow);
  std::vector<EinsumTerm> terms;
  for (size_t begin = 0;;) {
    size_t comma = lhs.find(',', begin);
    terms.push_back(parseEinsumTerm(c, lhs.substr(begin, comma - begin), equation));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  SHAPE_CHECK(c, static_cast<int>(terms.size()) == c.count(), "equation '", equation, "' has ", terms.size(),
              " operands but the layer has ", c.count(), " inputs");
  std::map<char, int64_t> letterDims;
  std::map<char, int> letterCount;
  Dims ellipsisDims;
  bool anyEllipsis = false;
  for (int i = 0; i < c.count(); ++i) {
    const EinsumTerm& t = terms[i];
    const Dims& s = c.shape(i);
    SHAPE_CHECK(c, c.type(i) == c.type(0), "operand ", i, " has type ", dataTypeName(c.type(i)), ", operand 0 has ",
                dataTypeName(c.type(0)));
    size_t nLetters = t.before.size() + t.after.size();
    SHAPE_CHECK(c, t.ellipsis ? s.size() >= nLetters : s.size() == nLetters, "term '", t.letters(),
                t.ellipsis ? "' (with ...)" : "'", " of equation '", equation, "' does not match operand ", i, " ",
                dimsToString(s));
    size_t ellEnd = s.size() - t.after.size();
    if (t.ellipsis) {
      anyEllipsis = true;
      ellipsisDims = broadcastShapes(ellipsisDims, Dims(s.begin() + t.before.size(), s.begin() + ellEnd), c.layer);
    }
    for (size_t j = 0; j < nLetters; ++j) {
      char ch = j < t.before.size() ? t.before[j] : t.after[j - t.before.size()];
      int64_t d = j < t.before.size() ? s[j] : s[ellEnd + (j - t.before.size())];
      ++letterCount[ch];
      auto it = letterDims.find(ch);
      if (it == letterDims.end()) {
        letterDims[ch] = d;
        continue;
      }
      // Size-1 dims broadcast, as in numpy; an unknown dim may be 1 or the other size.
      int64_t& e = it->second;
      if (e == 1 || (!known(e) && d != 1)) e = d;
      else SHAPE_CHECK(c, !known(d) || d == 1 || d == e, "subscript '", ch, "' of equation '", equation,
                       "' has sizes ", e, " and ", d);
    }
  }
  EinsumTerm output;
  if (arrow != std::string::npos) {
    output = parseEinsumTerm(c, eq.substr(arrow + 2), equation);
    SHAPE_CHECK(c, !output.ellipsis || anyEllipsis, "equation '", equation,
                "' has ... in the output but in no operand");
  } else {  // implicit: ... then the letters used once, in alphabetical order
    output.ellipsis = anyEllipsis;
    for (auto& [ch, n] : letterCount)
      if (n == 1) output.after += ch;
  }
  std::string outLetters = output.letters();
  Dims out;
  auto appendLetters = [&](const std::string& letters) {
    for (char ch : letters) {
      SHAPE_CHECK(c, letterDims.count(ch), "output subscript '", ch, "' of equation '", equation,
                  "' is not in any operand");
      SHAPE_CHECK(c, std::count(outLetters.begin(), outLetters.end(), ch) == 1, "output subscript '", ch,
                  "' of equation '", equation, "' is repeated");
      out.push_back(letterDims[ch]);
    }
  };
  appendLetters(output.before);
  if (output.ellipsis) out.insert(out.end(), ellipsisDims.begin(), ellipsisDims.end());
  appendLetters(output.after);
  return one(c.type(0), out);
}

Outputs inferNonZero(const Ctx& c) {
  expectInputs(c, 1, 1);
  return one(DataType::kInt64, {c.rank(0), -1});
}

Outputs inferOneHot(const Ctx& c) {
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
    depth = static_cast<int64_t>(d[0]);
  }
  Dims out = idx;
  out.insert(out.begin() + axis, depth);
  return one(c.type(2), out);
}

// Checks a (de)quantization scale against the input: per tensor, per axis or blocked.
void checkQuantScale(const Ctx& c, int64_t axisParam, int64_t blockSize) {
  const Dims &x = c.shape(0), &scale = c.shape(1);
  if (c.has(2))
    SHAPE_CHECK(c, c.shape(2) == scale, "zero point ", dimsToString(c.shape(2)), " must have the shape of scale ",
                dimsToString(scale));
  if (scale.empty() || (scale.size() == 1 && scale[0] == 1 && blockSize == 0)) return;  // per tensor
  int64_t axis = normalizeAxis(axisParam, rankOf(x), c.layer);
  if (blockSize == 0) {
    SHAPE_CHECK(c, scale.size() == 1 && (!known(scale[0]) || !known(x[axis]) || scale[0] == x[axis]), "scale ",
                dimsToString(scale), " does not match dim ", axis, " of input ", dimsToString(x));
    return;
  }
  SHAPE_CHECK(c, blockSize > 0 && scale.size() == x.size(), "blocked scale ", dimsToString(scale),
              " must have the rank of input ", dimsToString(x));
  for (size_t i = 0; i < x.size(); ++i) {
    if (!known(x[i]) || !known(scale[i])) continue;
    int64_t expected = static_cast<int64_t>(i) == axis ? ceilDiv(x[i], blockSize) : x[i];
    SHAPE_CHECK(c, scale[i] == expected, "blocked scale ", dimsToString(scale), " does not match input ",
                dimsToString(x), " with block size ", blockSize);
  }
}

Outputs inferQuantize(const Ctx& c) {
  expectInputs(c, 2, 3);
  const auto& p = c.layer.as<QuantizeParams>();
  checkQuantScale(c, p.axis, p.blockSize);
  return one(p.outputType, c.shape(0));
}

Outputs inferDequantize(const Ctx& c) {
  expectInputs(c, 2, 3);
  const auto& p = c.layer.as<DequantizeParams>();
  checkQuantScale(c, p.axis, p.blockSize);
  DataType scaleType = c.type(1);
  return one(isFloatType(scaleType) ? scaleType : DataType::kFloat32, c.shape(0));
}

Outputs inferTrilu(const Ctx& c) {
  expectInputs(c, 1, 2);
  expectRank(c, 0, 2, concat("input ", dimsToString(c.shape(0))).c_str());
  if (c.has(1)) {
    expectIndexType(c, 1, "k");
    SHAPE_CHECK(c, volume(c.shape(1)) <= 1, "k must be a scalar, got shape ", dimsToString(c.shape(1)));
  }
  return one(c.type(0), c.shape(0));
}

Outputs inferLRN(const Ctx& c) {
  expectInputs(c, 1, 1);
  expectRank(c, 0, 3, concat("input ", dimsToString(c.shape(0))).c_str());
  int64_t size = c.layer.as<LRNParams>().size;
  SHAPE_CHECK(c, size >= 1, "size must be >= 1, got ", size);
  return one(c.type(0), c.shape(0));
}

Outputs inferSpaceDepth(const Ctx& c) {
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
  if (p.toDepth)
    return one(c.type(0), {x[0], mulDims(x[1], b * b), divide(x[2], b, "height"), divide(x[3], b, "width")});
  return one(c.type(0), {x[0], divide(x[1], b * b, "channels"), mulDims(x[2], b), mulDims(x[3], b)});
}

Outputs inferGridSample(const Ctx& c) {
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

Outputs inferNonMaxSuppression(const Ctx& c) {
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

Outputs inferRoiAlign(const Ctx& c) {
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

Outputs inferUnique(const Ctx& c) {
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

Outputs inferDeterminant(const Ctx& c) {
  expectInputs(c, 1, 1);
  const Dims& x = c.shape(0);
  expectRank(c, 0, 2, "input");
  mergeDims(c, x[x.size() - 2], x.back(), concat("input ", dimsToString(x), " must hold square matrices").c_str());
  return one(c.type(0), Dims(x.begin(), x.end() - 2));
}

// The value of an integer scalar shape input; nullopt when not known yet.
std::optional<int64_t> scalarInt(const Ctx& c, int i, const char* what) {
  SHAPE_CHECK(c, volume(c.shape(i)) == 1 || !known(volume(c.shape(i))), what, " must be a scalar, got shape ",
              dimsToString(c.shape(i)));
  auto v = c.ints(i);
  if (!v) return std::nullopt;
  SHAPE_CHECK(c, v->size() == 1, what, " must hold one value");
  return (*v)[0];
}

Outputs inferTfIdfVectorizer(const Ctx& c) {
  expectInputs(c, 1, 1);
  const auto& p = c.layer.as<TfIdfVectorizerParams>();
  expectIndexType(c, 0, "input");
  const Dims& x = c.shape(0);
  SHAPE_CHECK(c, x.size() == 1 || x.size() == 2, "input must be [C] or [N, C], got ", dimsToString(x));
  SHAPE_CHECK(c, !p.ngramIndexes.empty(), "ngram_indexes must not be empty");
  int64_t outputSize = *std::max_element(p.ngramIndexes.begin(), p.ngramIndexes.end()) + 1;
  if (x.size() == 1) return one(DataType::kFloat32, {outputSize});
  return one(DataType::kFloat32, {x[0], outputSize});
}

Outputs inferStringNormalizer(const Ctx& c) {
  expectInputs(c, 1, 1);
  SHAPE_CHECK(c, c.type(0) == DataType::kString, "input must be a string tensor, got ", dataTypeName(c.type(0)));
  const Dims& x = c.shape(0);
  SHAPE_CHECK(c, x.size() == 1 || (x.size() == 2 && (!known(x[0]) || x[0] == 1)), "input must be [C] or [1, C], got ",
              dimsToString(x));
  if (x.size() == 1) return one(DataType::kString, {-1});
  return one(DataType::kString, {1, -1});
}

Outputs inferDFT(const Ctx& c) {
  expectInputs(c, 1, 2);
  const auto& p = c.layer.as<DFTParams>();
  const Dims& x = c.shape(0);
  SHAPE_CHECK(c, isFloatType(c.type(0)), "input must be a float tensor, got ", dataTypeName(c.type(0)));
  SHAPE_CHECK(c, x.size() >= 2 && (!known(x.back()) || x.back() == 1 || x.back() == 2),
              "input must be [..., 1] (real) or [..., 2] (complex), got ", dimsToString(x));
  int64_t rank = rankOf(x);
  int64_t axis = p.axis < 0 ? p.axis + rank : p.axis;
  SHAPE_CHECK(c, axis >= 0 && axis < rank - 1, "axis ", p.axis, " is not a signal axis of input ", dimsToString(x));
  SHAPE_CHECK(c, !(p.inverse && p.onesided), "onesided is not allowed with inverse");
  int64_t length = x[axis];
  if (c.has(1)) {
    auto n = scalarInt(c, 1, "dft_length");
    if (n) SHAPE_CHECK(c, *n >= 1, "dft_length must be >= 1, got ", *n);
    length = n ? *n : -1;
  }
  Dims out = x;
  out[axis] = known(length) && p.onesided ? length / 2 + 1 : length;
  out.back() = 2;
  return one(c.type(0), out);
}

Outputs inferSTFT(const Ctx& c) {
  expectInputs(c, 2, 4);
  const auto& p = c.layer.as<STFTParams>();
  const Dims& x = c.shape(0);
  SHAPE_CHECK(c, isFloatType(c.type(0)), "signal must be a float tensor, got ", dataTypeName(c.type(0)));
  SHAPE_CHECK(c, x.size() == 3 && (!known(x[2]) || x[2] == 1 || x[2] == 2),
              "signal must be [batch, length, 1 | 2], got ", dimsToString(x));
  auto step = scalarInt(c, 1, "frame_step");
  if (step) SHAPE_CHECK(c, *step >= 1, "frame_step must be >= 1, got ", *step);
  int64_t frameLength = -1;
  if (c.has(2)) {
    SHAPE_CHECK(c, c.rank(2) == 1, "window must be 1-D, got ", dimsToString(c.shape(2)));
    frameLength = c.shape(2)[0];
  }
  if (c.has(3)) {
    auto n = scalarInt(c, 3, "frame_length");
    if (n && known(frameLength))
      SHAPE_CHECK(c, *n == frameLength, "frame_length ", *n, " differs from the window length ", frameLength);
    if (n) frameLength = *n;
  }
  SHAPE_CHECK(c, c.has(2) || c.has(3), "needs a window or a frame_length");
  int64_t frames = -1, bins = -1;
  if (known(frameLength)) {
    SHAPE_CHECK(c, frameLength >= 1 && (!known(x[1]) || frameLength <= x[1]), "frame length ", frameLength,
                " does not fit the signal ", dimsToString(x));
    bins = p.onesided ? frameLength / 2 + 1 : frameLength;
    if (step && known(x[1])) frames = (x[1] - frameLength) / *step + 1;
  }
  return one(c.type(0), {x[0], frames, bins, 2});
}

Outputs inferWindow(const Ctx& c) {
  expectInputs(c, 1, 1);
  expectIndexType(c, 0, "size");
  auto size = scalarInt(c, 0, "size");
  if (size) SHAPE_CHECK(c, *size >= 0, "size must be >= 0, got ", *size);
  return one(c.layer.as<WindowParams>().outputType, {size ? *size : -1});
}

Outputs inferMelWeightMatrix(const Ctx& c) {
  expectInputs(c, 5, 5);
  expectIndexType(c, 0, "num_mel_bins");
  expectIndexType(c, 1, "dft_length");
  auto bins = scalarInt(c, 0, "num_mel_bins");
  auto length = scalarInt(c, 1, "dft_length");
  if (bins) SHAPE_CHECK(c, *bins >= 1, "num_mel_bins must be >= 1, got ", *bins);
  if (length) SHAPE_CHECK(c, *length >= 1, "dft_length must be >= 1, got ", *length);
  return one(c.layer.as<MelWeightMatrixParams>().outputType, {length ? *length / 2 + 1 : -1, bins ? *bins : -1});
}

Outputs inferRandom(const Ctx& c) {
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

// Inputs x, w, r, bias, sequenceLengths, initialH, initialC, peephole (ONNX RNN/GRU/LSTM order).
Outputs inferRecurrent(const Ctx& c) {
  const auto& p = c.layer.as<RecurrentParams>();
  bool lstm = p.cell == RecurrentCell::kLSTM;
  expectInputs(c, 3, lstm ? 8 : 6);
  const int64_t gates = recurrentGates(p.cell), hidden = p.hiddenSize;
  const int64_t dirs = p.direction == RecurrentDirection::kBidirectional ? 2 : 1;
  SHAPE_CHECK(c, hidden >= 1, "hidden size must be >= 1, got ", hidden);
  DataType type = c.type(0);
  SHAPE_CHECK(c, isFloatType(type) && type != DataType::kFP8E4M3, "x must be a float tensor, got ",
              dataTypeName(type));
  const size_t numActivations = p.activations.size();
  SHAPE_CHECK(c, numActivations == 0 || numActivations == static_cast<size_t>(recurrentActivationCount(p.cell) * dirs),
              "expects ", recurrentActivationCount(p.cell) * dirs, " activations (", recurrentActivationCount(p.cell),
              " per direction), got ", numActivations);
  SHAPE_CHECK(c, p.activationAlpha.size() == numActivations && p.activationBeta.size() == numActivations,
              "activation alpha/beta need one value per activation (", numActivations, "), got ",
              p.activationAlpha.size(), "/", p.activationBeta.size());
  SHAPE_CHECK(c, p.clip > 0, "clip must be positive, got ", p.clip);
  const Dims& x = c.shape(0);
  SHAPE_CHECK(c, x.size() == 3, "x must be 3-D ", p.batchFirst ? "[batch, seq, input]" : "[seq, batch, input]",
              ", got ", dimsToString(x));
  int64_t seq = p.batchFirst ? x[1] : x[0], batch = p.batchFirst ? x[0] : x[1];
  // Checks input i against the expected shape (-1 entries unchecked) and that it has x's type.
  auto expectShape = [&](int i, const char* name, const Dims& want) {
    if (!c.has(i)) return;
    SHAPE_CHECK(c, c.type(i) == type, name, " must be ", dataTypeName(type), " like x, got ", dataTypeName(c.type(i)));
    const Dims& got = c.shape(i);
    bool ok = got.size() == want.size();
    for (size_t k = 0; ok && k < got.size(); ++k) ok = !known(got[k]) || !known(want[k]) || got[k] == want[k];
    SHAPE_CHECK(c, ok, name, " has shape ", dimsToString(got), ", expected ", dimsToString(want));
  };
  expectShape(1, "w", {dirs, gates * hidden, x[2]});
  expectShape(2, "r", {dirs, gates * hidden, hidden});
  expectShape(3, "bias", {dirs, 2 * gates * hidden});
  if (c.has(4)) {
    expectIndexType(c, 4, "sequence lengths");
    SHAPE_CHECK(c, c.rank(4) == 1 && (!known(c.shape(4)[0]) || !known(batch) || c.shape(4)[0] == batch),
                "sequence lengths must be [", batch, "], got ", dimsToString(c.shape(4)));
  }
  Dims state = p.batchFirst ? Dims{batch, dirs, hidden} : Dims{dirs, batch, hidden};
  expectShape(5, "initial h", state);
  expectShape(6, "initial c", state);
  expectShape(7, "peephole", {dirs, 3 * hidden});
  int outputs = c.numOutputs(lstm ? 3 : 2);
  SHAPE_CHECK(c, outputs >= 1 && outputs <= (lstm ? 3 : 2), "has ", outputs, " outputs; expected y, y_h",
              lstm ? ", y_c" : "");
  Outputs result = one(type, p.batchFirst ? Dims{batch, seq, dirs, hidden} : Dims{seq, dirs, batch, hidden});
  for (int i = 1; i < outputs; ++i) result.push_back({type, state});
  return result;
}

// ---- control flow, sequences, optionals ----------------------------------------------------------
// These layers always run on the host, where each output is inferred from the actual values; what is
// inferred here is the static description (dims -1 where iterations or branches may differ).

const Network& subnetwork(const Ctx& c, const Subnetwork& net, const char* what) {
  SHAPE_CHECK(c, net != nullptr, "has no ", what, " subnetwork");
  return asNetwork(*net);
}

TensorDesc descOf(const Tensor& t) { return {t.type(), t.dims(), t.kind}; }

// The desc both a and b fit: dims that differ (or ranks that differ) become unknown.
TensorDesc mergeDescs(TensorDesc a, const TensorDesc& b) {
  if (a.shape.size() != b.shape.size()) {
    a.shape.assign(a.shape.size(), -1);
    return a;
  }
  for (size_t i = 0; i < a.shape.size(); ++i)
    if (a.shape[i] != b.shape[i]) a.shape[i] = -1;
  return a;
}

void expectSubnetworkInputs(const Ctx& c, const Network& net, int count, const char* what) {
  SHAPE_CHECK(c, net.numInputs() == count, "the ", what, " subnetwork has ", net.numInputs(), " inputs, expected ",
              count);
}

Outputs inferIf(const Ctx& c) {
  const auto& p = c.layer.as<IfParams>();
  const Network& thenNet = subnetwork(c, p.thenBranch, "then");
  const Network& elseNet = subnetwork(c, p.elseBranch, "else");
  SHAPE_CHECK(c, c.has(0) && c.type(0) == DataType::kBool && volume(c.shape(0)) <= 1, "cond must be one bool, got ",
              dataTypeName(c.in(0).type), " ", dimsToString(c.shape(0)));
  expectInputs(c, 1 + thenNet.numInputs() + elseNet.numInputs(), 1 + thenNet.numInputs() + elseNet.numInputs());
  SHAPE_CHECK(c, thenNet.numOutputs() == elseNet.numOutputs(), "the then branch has ", thenNet.numOutputs(),
              " outputs but the else branch ", elseNet.numOutputs());
  Outputs outs;
  for (int i = 0; i < thenNet.numOutputs(); ++i) {
    TensorDesc a = descOf(*thenNet.outputs()[i]), b = descOf(*elseNet.outputs()[i]);
    SHAPE_CHECK(c, a.type == b.type && a.kind == b.kind, "output ", i, " is ", valueKindName(a.kind), " ",
                dataTypeName(a.type), " in the then branch but ", valueKindName(b.kind), " ", dataTypeName(b.type),
                " in the else branch");
    outs.push_back(mergeDescs(a, b));
  }
  return outs;
}

Outputs inferLoop(const Ctx& c) {
  const auto& p = c.layer.as<LoopParams>();
  const Network& body = subnetwork(c, p.body, "body");
  SHAPE_CHECK(c, p.numCarried >= 0 && c.count() >= 2 + p.numCarried, "has ", c.count(), " inputs for ", p.numCarried,
              " loop-carried values");
  expectSubnetworkInputs(c, body, c.count(), "body");
  SHAPE_CHECK(c, body.numOutputs() >= 1 + p.numCarried, "the body has ", body.numOutputs(),
              " outputs, expected at least ", 1 + p.numCarried);
  if (c.has(0)) SHAPE_CHECK(c, volume(c.shape(0)) <= 1, "the trip count must be a scalar");
  if (c.has(1)) SHAPE_CHECK(c, c.type(1) == DataType::kBool, "cond must be bool");
  Outputs outs;
  // A carried value is what the body returns (its kind may differ from the initial value's: an optional
  // sequence that the body turns into a sequence).
  for (int i = 0; i < p.numCarried; ++i) outs.push_back(mergeDescs(descOf(*body.outputs()[1 + i]), c.in(2 + i)));
  for (int i = 1 + static_cast<int>(p.numCarried); i < body.numOutputs(); ++i) {
    TensorDesc d = descOf(*body.outputs()[i]);
    SHAPE_CHECK(c, d.kind == ValueKind::kTensor, "scan output ", i, " of the body must be a tensor");
    d.shape.insert(d.shape.begin(), -1);  // the number of iterations
    outs.push_back(d);
  }
  return outs;
}

Outputs inferScan(const Ctx& c) {
  const auto& p = c.layer.as<ScanParams>();
  const Network& body = subnetwork(c, p.body, "body");
  int first = p.batched ? 1 : 0;
  SHAPE_CHECK(c, p.numStates >= 0 && p.numScanInputs >= 1 && c.count() >= first + p.numStates + p.numScanInputs,
              "has ", c.count(), " inputs for ", p.numStates, " states and ", p.numScanInputs, " scan inputs");
  expectSubnetworkInputs(c, body, c.count() - first, "body");
  SHAPE_CHECK(c, body.numOutputs() >= p.numStates, "the body has fewer outputs than states");
  // The scan length from the first scan input.
  const Dims& scanned = c.shape(first + static_cast<int>(p.numStates));
  int64_t axis0 = p.inputAxes.empty() ? 0 : p.inputAxes[0];
  int64_t length = -1;
  if (p.batched) length = scanned.size() >= 2 ? scanned[1] : -1;
  else if (!scanned.empty()) length = scanned[normalizeAxis(axis0, rankOf(scanned), c.layer)];
  Outputs outs;
  for (int i = 0; i < p.numStates; ++i) outs.push_back(mergeDescs(c.in(first + i), descOf(*body.outputs()[i])));
  for (int i = static_cast<int>(p.numStates); i < body.numOutputs(); ++i) {
    TensorDesc d = descOf(*body.outputs()[i]);
    size_t k = static_cast<size_t>(i - p.numStates);
    int64_t axis = k < p.outputAxes.size() ? p.outputAxes[k] : 0;
    axis = normalizeAxis(axis, rankOf(d.shape) + 1, c.layer);
    d.shape.insert(d.shape.begin() + axis, length);
    if (p.batched) d.shape.insert(d.shape.begin(), c.has(first) ? c.shape(first)[0] : -1);
    outs.push_back(d);
  }
  return outs;
}

Outputs inferSequence(const Ctx& c) {
  const auto& p = c.layer.as<SequenceParams>();
  auto expectSequence = [&](int i) {
    SHAPE_CHECK(c, c.has(i) && c.in(i).kind == ValueKind::kSequence, "input ", i, " must be a sequence");
  };
  auto expectPosition = [&](int i) {
    if (c.has(i))
      SHAPE_CHECK(c, isIntegerType(c.type(i)) && volume(c.shape(i)) <= 1,
                  "the position must be an integer scalar, got ", dataTypeName(c.type(i)), " ",
                  dimsToString(c.shape(i)));
  };
  switch (p.op) {
    case SequenceOp::kConstruct: {
      SHAPE_CHECK(c, c.count() >= 1, "SequenceConstruct needs at least one tensor");
      TensorDesc d = c.in(0);
      for (int i = 0; i < c.count(); ++i) {
        SHAPE_CHECK(c, c.in(i).kind == ValueKind::kTensor && c.type(i) == d.type, "input ", i, " must be a ",
                    dataTypeName(d.type), " tensor like input 0");
        d = mergeDescs(d, c.in(i));
      }
      d.kind = ValueKind::kSequence;
      return {d};
    }
    case SequenceOp::kEmpty: expectInputs(c, 0, 0); return {TensorDesc{p.elementType, {}, ValueKind::kSequence}};
    case SequenceOp::kInsert: {
      expectInputs(c, 2, 3);
      expectSequence(0);
      expectPosition(2);
      SHAPE_CHECK(c, c.in(1).kind == ValueKind::kTensor && c.type(1) == c.type(0), "cannot insert a ",
                  dataTypeName(c.type(1)), " tensor into a sequence of ", dataTypeName(c.type(0)));
      TensorDesc d = c.in(1);  // an empty sequence's element shape is not known: the tensor's describes it
      d.kind = ValueKind::kSequence;
      return {d};
    }
    case SequenceOp::kAt: {
      expectInputs(c, 2, 2);
      expectSequence(0);
      expectPosition(1);
      TensorDesc d = c.in(0);
      d.kind = ValueKind::kTensor;
      return {d};
    }
    case SequenceOp::kErase: expectInputs(c, 1, 2); expectSequence(0); expectPosition(1); return {c.in(0)};
    case SequenceOp::kLength: expectInputs(c, 1, 1); expectSequence(0); return one(DataType::kInt64, {});
    case SequenceOp::kSplit: {
      expectInputs(c, 1, 2);
      SHAPE_CHECK(c, c.in(0).kind == ValueKind::kTensor, "input 0 must be a tensor");
      if (c.has(1))
        SHAPE_CHECK(c, isIntegerType(c.type(1)) && c.rank(1) <= 1, "split must be an integer scalar or 1-D, got ",
                    dataTypeName(c.type(1)), " ", dimsToString(c.shape(1)));
      TensorDesc d = c.in(0);
      int64_t axis = normalizeAxis(p.axis, rankOf(d.shape), c.layer);
      if (!c.has(1) && !p.keepDims) d.shape.erase(d.shape.begin() + axis);
      else d.shape[axis] = c.has(1) ? -1 : 1;
      d.kind = ValueKind::kSequence;
      return {d};
    }
    case SequenceOp::kConcat: {
      expectInputs(c, 1, 1);
      expectSequence(0);
      TensorDesc d = c.in(0);
      d.kind = ValueKind::kTensor;
      if (d.shape.empty() && !p.newAxis) return {d};  // element rank not known (an empty sequence's)
      int64_t axis = normalizeAxis(p.axis, rankOf(d.shape) + (p.newAxis ? 1 : 0), c.layer);
      if (p.newAxis) d.shape.insert(d.shape.begin() + axis, -1);
      else d.shape[axis] = -1;
      return {d};
    }
  }
  fail(ErrorCode::kInternal, concat(c.layer.describe(), ": unknown sequence op"));
}

Outputs inferOptional(const Ctx& c) {
  const auto& p = c.layer.as<OptionalParams>();
  switch (p.op) {
    case OptionalOp::kConstruct: {
      expectInputs(c, 0, 1);
      if (!c.has(0))
        return {TensorDesc{p.elementType, {},
                           p.elementKind == ValueKind::kSequence ? ValueKind::kOptionalSequence
                                                                 : ValueKind::kOptionalTensor}};
      TensorDesc d = c.in(0);
      SHAPE_CHECK(c, d.kind == ValueKind::kTensor || d.kind == ValueKind::kSequence,
                  "an optional holds a tensor or a sequence, got ", valueKindName(d.kind));
      d.kind = d.kind == ValueKind::kSequence ? ValueKind::kOptionalSequence : ValueKind::kOptionalTensor;
      return {d};
    }
    case OptionalOp::kGetElement: {
      expectInputs(c, 1, 1);
      TensorDesc d = c.in(0);
      if (d.kind == ValueKind::kOptionalTensor) d.kind = ValueKind::kTensor;
      else if (d.kind == ValueKind::kOptionalSequence) d.kind = ValueKind::kSequence;
      return {d};
    }
    case OptionalOp::kHasElement: expectInputs(c, 0, 1); return one(DataType::kBool, {});
  }
  fail(ErrorCode::kInternal, concat(c.layer.describe(), ": unknown optional op"));
}

Outputs inferSequenceMap(const Ctx& c) {
  const auto& p = c.layer.as<SequenceMapParams>();
  const Network& body = subnetwork(c, p.body, "body");
  SHAPE_CHECK(c, p.numMapped >= 1 && c.count() >= p.numMapped, "has ", c.count(), " inputs for ", p.numMapped,
              " mapped inputs");
  SHAPE_CHECK(c, c.in(0).kind == ValueKind::kSequence, "input 0 must be a sequence");
  expectSubnetworkInputs(c, body, c.count(), "body");
  Outputs outs;
  for (auto* out : body.outputs()) {
    TensorDesc d = descOf(*out);
    SHAPE_CHECK(c, d.kind == ValueKind::kTensor, "the body's output '", out->name(), "' must be a tensor");
    d.kind = ValueKind::kSequence;
    outs.push_back(d);
  }
  return outs;
}

bool takesContainers(LayerType type) {
  switch (type) {
    case LayerType::kIdentity: case LayerType::kIf: case LayerType::kLoop: case LayerType::kScan:
    case LayerType::kSequence: case LayerType::kOptional: case LayerType::kSequenceMap:
      return true;
    default:
      return false;
  }
}

}  // namespace

// ---- public API ----------------------------------------------------------------------------------

std::vector<TensorDesc> inferOutputs(const Layer& layer, const std::vector<const TensorDesc*>& inputs,
                                     const InputValues& values) {
  Ctx c{layer, inputs, values};
  if (!takesContainers(layer.type()))
    for (int i = 0; i < c.count(); ++i)
      KILN_CHECK(!c.has(i) || c.in(i).kind == ValueKind::kTensor, kUnsupported, layer.describe(), ": input ", i,
                 " is a ", valueKindName(c.in(i).kind), "; this layer takes tensors");
  switch (layer.type()) {
    case LayerType::kConstant: return inferConstant(c);
    case LayerType::kIdentity: return inferIdentity(c);
    case LayerType::kCast: return inferCast(c);
    case LayerType::kElementWise: return inferElementWise(c);
    case LayerType::kUnary: return inferUnary(c);
    case LayerType::kActivation: return inferActivation(c);
    case LayerType::kMatrixMultiply: return inferMatrixMultiply(c);
    case LayerType::kConvolution: return inferConvolution(c);
    case LayerType::kDeconvolution: return inferDeconvolution(c);
    case LayerType::kPooling: return inferPooling(c);
    case LayerType::kReduce: return inferReduce(c);
    case LayerType::kSoftmax: return inferSoftmax(c);
    case LayerType::kNormalization: return inferNormalization(c);
    case LayerType::kReshape: return inferReshape(c);
    case LayerType::kTranspose: return inferTranspose(c);
    case LayerType::kConcatenation: return inferConcatenation(c);
    case LayerType::kSlice: return inferSlice(c);
    case LayerType::kSplit: return inferSplit(c);
    case LayerType::kGather: return inferGather(c);
    case LayerType::kScatter: return inferScatter(c);
    case LayerType::kShape: return inferShape(c);
    case LayerType::kConstantOfShape: return inferConstantOfShape(c);
    case LayerType::kRange: return inferRange(c);
    case LayerType::kExpand: return inferExpand(c);
    case LayerType::kTile: return inferTile(c);
    case LayerType::kSelect: return inferSelect(c);
    case LayerType::kPadding: return inferPadding(c);
    case LayerType::kResize: return inferResize(c);
    case LayerType::kTopK: return inferTopK(c);
    case LayerType::kArgMinMax: return inferArgMinMax(c);
    case LayerType::kCumSum: return inferCumSum(c);
    case LayerType::kEinsum: return inferEinsum(c);
    case LayerType::kNonZero: return inferNonZero(c);
    case LayerType::kOneHot: return inferOneHot(c);
    case LayerType::kQuantize: return inferQuantize(c);
    case LayerType::kDequantize: return inferDequantize(c);
    case LayerType::kTrilu: return inferTrilu(c);
    case LayerType::kLRN: return inferLRN(c);
    case LayerType::kSpaceDepth: return inferSpaceDepth(c);
    case LayerType::kGridSample: return inferGridSample(c);
    case LayerType::kNonMaxSuppression: return inferNonMaxSuppression(c);
    case LayerType::kRoiAlign: return inferRoiAlign(c);
    case LayerType::kUnique: return inferUnique(c);
    case LayerType::kDeterminant: return inferDeterminant(c);
    case LayerType::kTfIdfVectorizer: return inferTfIdfVectorizer(c);
    case LayerType::kStringNormalizer: return inferStringNormalizer(c);
    case LayerType::kDFT: return inferDFT(c);
    case LayerType::kSTFT: return inferSTFT(c);
    case LayerType::kWindow: return inferWindow(c);
    case LayerType::kMelWeightMatrix: return inferMelWeightMatrix(c);
    case LayerType::kRandom: return inferRandom(c);
    case LayerType::kRecurrent: return inferRecurrent(c);
    case LayerType::kIf: return inferIf(c);
    case LayerType::kLoop: return inferLoop(c);
    case LayerType::kScan: return inferScan(c);
    case LayerType::kSequence: return inferSequence(c);
    case LayerType::kOptional: return inferOptional(c);
    case LayerType::kSequenceMap: return inferSequenceMap(c);
    case LayerType::kCount: break;
  }
  fail(ErrorCode::kInternal, concat(layer.describe(), ": no shape inference for this layer type"));
}

bool isShapeInput(const Layer& layer, int index) {
  switch (layer.type()) {
    case LayerType::kReshape:
    case LayerType::kReduce:
    case LayerType::kSplit:
    case LayerType::kExpand:
    case LayerType::kTile:
    case LayerType::kTopK:
    case LayerType::kCumSum:
    case LayerType::kOneHot:
    case LayerType::kTrilu:
    case LayerType::kDFT:
      return index == 1;
    case LayerType::kSTFT: return index == 1 || index == 3;
    case LayerType::kWindow: return index == 0;
    case LayerType::kMelWeightMatrix: return index == 0 || index == 1;
    case LayerType::kSlice: return index >= 1 && index <= 4;
    case LayerType::kConstantOfShape: return index == 0;
    case LayerType::kRange: return index >= 0 && index <= 2;
    case LayerType::kPadding: return index == 1 || index == 3;
    case LayerType::kResize: return index >= 1 && index <= 3;
    default: return false;
  }
}

bool runsOnHostValues(const Layer& layer) {
  switch (layer.type()) {
    case LayerType::kIf: case LayerType::kLoop: case LayerType::kScan: case LayerType::kSequence:
    case LayerType::kOptional: case LayerType::kSequenceMap:
      return true;
    default:
      break;
  }
  for (auto* t : layer.inputs)
    if (t && t->kind != ValueKind::kTensor) return true;
  for (auto* t : layer.outputs)
    if (t->kind != ValueKind::kTensor) return true;
  return false;
}

bool producesRunTimeValues(const Layer& layer) {
  return layer.type() == LayerType::kRandom || runsOnHostValues(layer);
}

bool hasDataDependentShape(const Layer& layer) {
  return layer.type() == LayerType::kNonZero || layer.type() == LayerType::kNonMaxSuppression ||
         layer.type() == LayerType::kUnique || layer.type() == LayerType::kStringNormalizer ||
         runsOnHostValues(layer);
}

int64_t normalizeAxis(int64_t axis, int64_t rank, const Layer& layer) {
  KILN_CHECK(axis >= -rank && axis < rank, kInvalidModel, layer.describe(), ": axis ", axis,
             " is out of range for rank ", rank, " (valid: [", -rank, ", ", rank - 1, "])");
  return axis < 0 ? axis + rank : axis;
}

Dims broadcastShapes(const Dims& a, const Dims& b, const Layer& layer) {
  size_t rank = std::max(a.size(), b.size());
  Dims out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t x = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t y = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (x == y || y == 1) out[i] = x;          // includes -1 vs 1 -> -1
    else if (x == 1) out[i] = y;
    else if (!known(x)) out[i] = y;            // -1 vs d (d != 1) -> d
    else if (!known(y)) out[i] = x;
    else fail(ErrorCode::kInvalidModel, concat(layer.describe(), ": shapes ", dimsToString(a), " and ",
                                               dimsToString(b), " cannot be broadcast"));
  }
  return out;
}

std::vector<int64_t> readIntegers(const HostTensor& value) {
  int64_t n = value.count();
  KILN_CHECK(n >= 0, kInvalidModel, "integer tensor has an unknown shape ", dimsToString(value.shape));
  KILN_CHECK(isIntegerType(value.type), kInvalidModel, "expected an integer tensor, got ", dataTypeName(value.type),
             " ", dimsToString(value.shape));
  KILN_CHECK(n == 0 || (value.bytes && value.bytes->size() >= static_cast<size_t>(n) * dataTypeSize(value.type)),
             kInvalidModel, "integer tensor of shape ", dimsToString(value.shape), " has too few bytes");
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (value.type) {
      case DataType::kInt8: out[i] = value.as<int8_t>()[i]; break;
      case DataType::kUInt8: out[i] = value.as<uint8_t>()[i]; break;
      case DataType::kInt16: out[i] = value.as<int16_t>()[i]; break;
      case DataType::kUInt16: out[i] = value.as<uint16_t>()[i]; break;
      case DataType::kInt32: out[i] = value.as<int32_t>()[i]; break;
      case DataType::kUInt32: out[i] = value.as<uint32_t>()[i]; break;
      case DataType::kInt64: out[i] = value.as<int64_t>()[i]; break;
      case DataType::kUInt64: out[i] = static_cast<int64_t>(value.as<uint64_t>()[i]); break;
      default: break;
    }
  }
  return out;
}

}  // namespace kiln::ir
