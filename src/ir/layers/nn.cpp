// Shape rules of the neural-network layers: MatrixMultiply, Convolution, Deconvolution, Pooling, Softmax,
// Normalization, Attention, QuantizedConvolution, QuantizedMatrixMultiply, LRN, and the linear-algebra layers Einsum and Determinant.
#include "core/channels_last.h"
#include "ir/layers/shape_rules.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <cstddef>
#include <map>
#include <string>
#include <utility>

namespace kiln::ir::shape_rules {

namespace {

// Window arithmetic on dims and attributes from the model: an overflow is an error, never a wrapped dim.
int64_t windowMul(int64_t a, int64_t b) { return mulOrThrow(a, b, "window size"); }
int64_t windowAdd(int64_t a, int64_t b) { return addOrThrow(a, b, "window size"); }

// Window attributes of a convolution or pooling with defaults filled in, one entry per spatial dim.
struct Window {
  Dims kernel, strides, dilations, padsBegin, padsEnd;
  PaddingMode mode = PaddingMode::kExplicit;
  bool ceilMode = false;
};

Dims withDefault(const ShapeInferenceContext& c, const Dims& v, size_t n, int64_t fallback, int64_t minValue,
                 const char* what) {
  if (v.empty()) return Dims(n, fallback);
  SHAPE_CHECK(c, v.size() == n, what, " ", dimsToString(v), " must have ", n, " values (one per spatial dim)");
  for (int64_t x : v) SHAPE_CHECK(c, x >= minValue, what, " ", dimsToString(v), " must be >= ", minValue);
  return v;
}

Window makeWindow(const ShapeInferenceContext& c, size_t n, const Dims& kernel, const Dims& strides,
                  const Dims& dilations, const Dims& padsBegin, const Dims& padsEnd, PaddingMode mode) {
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
Dims windowOutput(const ShapeInferenceContext& c, const Dims& in, const Window& w) {
  Dims out(in.size(), -1);
  for (size_t i = 0; i < in.size(); ++i) {
    int64_t k = w.kernel[i];
    if (!known(in[i]) || !known(k)) continue;
    int64_t s = w.strides[i], dilated = windowAdd(windowMul(w.dilations[i], k - 1), 1);
    if (w.mode == PaddingMode::kSameUpper || w.mode == PaddingMode::kSameLower) {
      out[i] = ceilDiv(in[i], s);
      continue;
    }
    bool valid = w.mode == PaddingMode::kValid;
    int64_t pb = valid ? 0 : w.padsBegin[i], pe = valid ? 0 : w.padsEnd[i];
    int64_t span = windowAdd(windowAdd(windowAdd(in[i], pb), pe), -dilated);
    SHAPE_CHECK(c, span >= 0 || in[i] == 0, "window ", dimsToString(w.kernel), " (dilations ",
                dimsToString(w.dilations), ") is larger than the padded input at spatial dim ", i, ": input ",
                dimsToString(in), ", pads ", dimsToString(w.padsBegin), " ", dimsToString(w.padsEnd));
    if (span < 0) {
      out[i] = 0;
    } else if (w.ceilMode && !valid) {
      out[i] = ceilDiv(span, s) + 1;
      // The last window must start inside the input or the begin padding.
      if (windowMul(out[i] - 1, s) >= windowAdd(in[i], pb)) --out[i];
    } else {
      out[i] = floorDiv(span, s) + 1;
    }
  }
  return out;
}

// One operand (or the output) of an einsum equation: letters before and after an optional "...".
struct EinsumTerm {
  std::string before, after;
  bool ellipsis = false;
  std::string letters() const { return before + after; }
};

EinsumTerm parseEinsumTerm(const ShapeInferenceContext& c, const std::string& term, const std::string& equation) {
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


}  // namespace

Outputs inferMatrixMultiply(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 3);
  const auto& p = c.layer.as<MatrixMultiplyParams>();
  const Dims &sa = c.shape(0), &sb = c.shape(1);
  SHAPE_CHECK(c, !sa.empty() && !sb.empty(), "operands must have rank >= 1, got ", dimsToString(sa), " and ",
              dimsToString(sb));
  SHAPE_CHECK(c, c.type(0) == c.type(1), "operand types differ: ", dataTypeName(c.type(0)), " vs ",
              dataTypeName(c.type(1)));
  SHAPE_CHECK(c, p.activation == MatMulActivation::kNone || isFloatType(c.type(0)),
              "an epilogue activation needs float operands, got ", dataTypeName(c.type(0)));
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

namespace {

// The output dims of a convolution with params `p` on inputs x (0), w (1) and optional bias [M] (2).
Dims convolutionOutputDims(const ShapeInferenceContext& c, const ConvolutionParams& p) {
  const Dims x = p.channelsLast ? channelsFirstOf(c.shape(0)) : c.shape(0);
  const Dims w = p.channelsLast ? channelsFirstOf(c.shape(1)) : c.shape(1);  // [M, k..., C/groups] -> [M, C/groups, k...]
  expectRank(c, 0, 3, concat("input ", dimsToString(x)).c_str());
  SHAPE_CHECK(c, w.size() == x.size(), "weights ", dimsToString(w), " must have the rank of the input ",
              dimsToString(x));
  SHAPE_CHECK(c, p.groups >= 1, "groups must be >= 1, got ", p.groups);
  size_t n = x.size() - 2;
  SHAPE_CHECK(c, !known(x[1]) || !known(w[1]) || x[1] == mulDims(w[1], p.groups), "input channels ", x[1],
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
  if (p.channelsLast) out = channelsLastOf(out);
  return out;
}

// Quantized layers: the input's and weights' types, the scales and the output type (see kiln/layers.h).
void checkQuantizedOperands(const ShapeInferenceContext& c, float inputScale, int64_t inputZeroPoint,
                            const std::vector<float>& weightScales, int64_t channels, DataType outputType,
                            float outputScale, int64_t outputZeroPoint) {
  auto isQuantized = [](DataType t) { return t == DataType::kInt8 || t == DataType::kUInt8; };
  SHAPE_CHECK(c, isQuantized(c.type(0)), "input must be int8 or uint8, got ", dataTypeName(c.type(0)));
  SHAPE_CHECK(c, c.type(1) == DataType::kInt8, "weights must be int8, got ", dataTypeName(c.type(1)));
  auto inRange = [](DataType t, int64_t zp) { return t == DataType::kInt8 ? zp >= -128 && zp <= 127 : zp >= 0 && zp <= 255; };
  SHAPE_CHECK(c, inRange(c.type(0), inputZeroPoint), "input zero point ", inputZeroPoint, " is out of range for ",
              dataTypeName(c.type(0)));
  auto positive = [](float s) { return s > 0.f && s < std::numeric_limits<float>::infinity(); };
  SHAPE_CHECK(c, positive(inputScale), "input scale must be positive and finite, got ", inputScale);
  SHAPE_CHECK(c, weightScales.size() == 1 || !known(channels) || static_cast<int64_t>(weightScales.size()) == channels,
              "weight scales must number 1 or ", channels, " (one per output channel), got ", weightScales.size());
  for (float s : weightScales) SHAPE_CHECK(c, positive(s), "weight scales must be positive and finite, got ", s);
  if (c.has(2)) SHAPE_CHECK(c, c.type(2) == DataType::kFloat32, "bias must be float32, got ", dataTypeName(c.type(2)));
  if (isQuantized(outputType)) {
    SHAPE_CHECK(c, positive(outputScale), "output scale must be positive and finite, got ", outputScale);
    SHAPE_CHECK(c, inRange(outputType, outputZeroPoint), "output zero point ", outputZeroPoint,
                " is out of range for ", dataTypeName(outputType));
  } else {
    SHAPE_CHECK(c, outputType == DataType::kFloat32 || outputType == DataType::kFloat16,
                "output type must be int8, uint8, float32 or float16, got ", dataTypeName(outputType));
  }
}

}  // namespace

Outputs inferConvolution(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 4);
  const auto& p = c.layer.as<ConvolutionParams>();
  Dims out = convolutionOutputDims(c, p);
  if (c.has(3)) {  // residual z: exactly the output's type and shape (no broadcast)
    const Dims& z = c.shape(3);
    SHAPE_CHECK(c, c.type(3) == c.type(0), "residual type ", dataTypeName(c.type(3)), " differs from the input's ",
                dataTypeName(c.type(0)));
    bool same = z.size() == out.size();
    for (size_t i = 0; same && i < z.size(); ++i) same = !known(z[i]) || !known(out[i]) || z[i] == out[i];
    SHAPE_CHECK(c, same, "residual ", dimsToString(z), " does not match the output ", dimsToString(out));
  }
  return one(c.type(0), out);
}

Outputs inferQuantizedConvolution(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 3);
  const auto& p = c.layer.as<QuantizedConvolutionParams>();
  Dims out = convolutionOutputDims(c, p.conv);
  checkQuantizedOperands(c, p.inputScale, p.inputZeroPoint, p.weightScales, c.shape(1)[0], p.outputType,
                         p.outputScale, p.outputZeroPoint);
  return one(p.outputType, out);
}

Outputs inferQuantizedMatrixMultiply(const ShapeInferenceContext& c) {
  expectInputs(c, 2, 3);
  const auto& p = c.layer.as<QuantizedMatrixMultiplyParams>();
  const Dims &a = c.shape(0), &b = c.shape(1);
  SHAPE_CHECK(c, a.size() >= 2 && b.size() == 2, "needs a of rank >= 2 and b [K, N], got ", dimsToString(a), " and ",
              dimsToString(b));
  SHAPE_CHECK(c, !known(a.back()) || !known(b[0]) || a.back() == b[0], "inner dimensions do not match: ",
              dimsToString(a), " x ", dimsToString(b));
  if (c.has(2)) {
    const Dims& bias = c.shape(2);
    SHAPE_CHECK(c, bias.size() == 1 && (!known(bias[0]) || !known(b[1]) || bias[0] == b[1]), "bias shape ",
                dimsToString(bias), " must be [N] = [", b[1], "]");
  }
  SHAPE_CHECK(c, !(p.outputMin > p.outputMax), "empty output clamp [", p.outputMin, ", ", p.outputMax, "]");
  checkQuantizedOperands(c, p.inputScale, p.inputZeroPoint, p.weightScales, b[1], p.outputType, p.outputScale,
                         p.outputZeroPoint);
  Dims out = a;
  out.back() = b[1];
  return one(p.outputType, out);
}

Outputs inferDeconvolution(const ShapeInferenceContext& c) {
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
      out.push_back(windowMul(in, s));
      continue;
    }
    bool valid = p.paddingMode == PaddingMode::kValid;
    int64_t pads = valid ? 0 : windowAdd(win.padsBegin[i], win.padsEnd[i]);
    int64_t dilated = windowAdd(windowMul(win.dilations[i], k - 1), 1);
    int64_t d = windowAdd(windowAdd(windowAdd(windowMul(s, in - 1), outPad[i]), dilated), -pads);
    SHAPE_CHECK(c, d >= 0, "output spatial dim ", i, " would be ", d, " for input ", dimsToString(x),
                " and weights ", dimsToString(w));
    out.push_back(d);
  }
  return one(c.type(0), out);
}

Outputs inferPooling(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  const auto& p = c.layer.as<PoolingParams>();
  const Dims x = p.channelsLast ? channelsFirstOf(c.shape(0)) : c.shape(0);
  expectRank(c, 0, 3, concat("input ", dimsToString(x)).c_str());
  size_t n = x.size() - 2;
  SHAPE_CHECK(c, !p.kernelShape.empty(), "needs a kernel shape");
  for (int64_t k : p.kernelShape) SHAPE_CHECK(c, k >= 1, "kernel shape ", dimsToString(p.kernelShape), " must be >= 1");
  Window win = makeWindow(c, n, p.kernelShape, p.strides, p.dilations, p.padsBegin, p.padsEnd, p.paddingMode);
  win.ceilMode = p.ceilMode;
  Dims out{x[0], x[1]};
  Dims spatial = windowOutput(c, Dims(x.begin() + 2, x.end()), win);
  out.insert(out.end(), spatial.begin(), spatial.end());
  if (p.channelsLast) out = channelsLastOf(out);
  int outputs = c.numOutputs(1);
  SHAPE_CHECK(c, outputs == 1 || (outputs == 2 && p.type == PoolingType::kMax && !p.channelsLast), "has ", outputs,
              " outputs; only channels-first max pooling may have a second (indices) output");
  Outputs result = one(c.type(0), out);
  if (outputs == 2) result.push_back({DataType::kInt64, out});
  return result;
}

Outputs inferSoftmax(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  normalizeAxis(c.layer.as<SoftmaxParams>().axis, c.rank(0), c.layer);
  return one(c.type(0), c.shape(0));
}

namespace {

// A Layer or RMS normalization of s = x + r (NormalizationParams::addsResidual): inputs x, scale, bias (may
// be omitted; always for RMS), r; outputs y and optionally s, both of x's shape and type.
Outputs inferResidualNormalization(const ShapeInferenceContext& c, const NormalizationParams& p) {
  const bool rms = p.type == NormalizationType::kRMS;
  SHAPE_CHECK(c, rms || p.type == NormalizationType::kLayer,
              "only layer and RMS normalizations add a residual input");
  SHAPE_CHECK(c, c.count() == 4 && c.has(0) && c.has(1) && c.has(3), "a normalization adding a residual expects "
              "inputs x, scale, bias (may be omitted) and the residual (input 3), got ", c.count(), " inputs");
  SHAPE_CHECK(c, !rms || !c.has(2), "an RMS normalization has no bias (input 2 must be omitted)");
  const Dims& x = c.shape(0);
  const Dims& r = c.shape(3);
  SHAPE_CHECK(c, r.size() == x.size(), "residual ", dimsToString(r), " must have the shape of x ", dimsToString(x));
  Dims sum = x;
  for (size_t d = 0; d < x.size(); ++d) sum[d] = mergeDims(c, x[d], r[d], "residual and x dims");
  SHAPE_CHECK(c, c.type(3) == c.type(0), "residual type ", dataTypeName(c.type(3)), " differs from x's ",
              dataTypeName(c.type(0)));
  normalizeAxis(p.axis, rankOf(sum), c.layer);
  const int outputs = c.numOutputs(1);
  SHAPE_CHECK(c, outputs == 1 || outputs == 2, "a normalization adding a residual has outputs y and optionally the "
              "sum, got ", outputs, " outputs");
  Outputs result = one(c.type(0), sum);
  if (outputs == 2) result.push_back({c.type(0), sum});
  return result;
}

}  // namespace

Outputs inferNormalization(const ShapeInferenceContext& c) {
  const auto& p = c.layer.as<NormalizationParams>();
  if (p.addsResidual) return inferResidualNormalization(c, p);
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

Outputs inferAttention(const ShapeInferenceContext& c) {
  const auto& p = c.layer.as<AttentionParams>();
  expectInputs(c, 3, 4);
  const char* names[] = {"query", "key", "value", "mask"};
  for (int i = 0; i < c.count(); ++i) {
    if (!c.has(i)) continue;
    SHAPE_CHECK(c, c.shape(i).size() == 4, names[i], " ", dimsToString(c.shape(i)), " must have rank 4");
  }
  DataType type = c.type(0);
  SHAPE_CHECK(c, isFloatType(type), "query type ", dataTypeName(type), " is not a float type");
  SHAPE_CHECK(c, c.type(1) == type && c.type(2) == type, "query, key and value types differ (",
              dataTypeName(type), ", ", dataTypeName(c.type(1)), ", ", dataTypeName(c.type(2)), ")");
  // Dims as [B, H, S, D] whatever the layout.
  auto headMajor = [&](int i) {
    Dims d = c.shape(i);
    if (p.layout == AttentionLayout::kBSHD) std::swap(d[1], d[2]);
    return d;
  };
  Dims q = headMajor(0), k = headMajor(1), v = headMajor(2);
  int64_t batch = mergeDims(c, mergeDims(c, q[0], k[0], "query and key batch"), v[0], "key and value batch");
  int64_t kvHeads = mergeDims(c, k[1], v[1], "key and value heads");
  SHAPE_CHECK(c, !known(q[1]) || !known(kvHeads) || (kvHeads > 0 && q[1] % kvHeads == 0), "query heads ", q[1],
              " are not a multiple of the key/value heads ", kvHeads);
  int64_t kvLength = mergeDims(c, k[2], v[2], "key and value sequence length");
  mergeDims(c, q[3], k[3], "query and key head size");
  if (c.has(3)) {
    const Dims& m = c.shape(3);
    SHAPE_CHECK(c, c.type(3) == DataType::kBool || c.type(3) == type, "mask type ", dataTypeName(c.type(3)),
                " must be bool or the query type ", dataTypeName(type));
    const int64_t full[] = {batch, q[1], q[2], kvLength};
    for (int d = 0; d < 4; ++d)
      SHAPE_CHECK(c, !known(m[d]) || !known(full[d]) || m[d] == full[d] || (m[d] == 1 && d < 3), "mask ",
                  dimsToString(m), " does not broadcast to the scores [", batch, ", ", q[1], ", ", q[2], ", ",
                  kvLength, "]");
  }
  Dims y = {batch, q[1], q[2], v[3]};
  if (p.layout == AttentionLayout::kBSHD) std::swap(y[1], y[2]);
  return one(type, y);
}

Outputs inferLRN(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  expectRank(c, 0, 3, concat("input ", dimsToString(c.shape(0))).c_str());
  int64_t size = c.layer.as<LRNParams>().size;
  SHAPE_CHECK(c, size >= 1, "size must be >= 1, got ", size);
  return one(c.type(0), c.shape(0));
}

Outputs inferEinsum(const ShapeInferenceContext& c) {
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

Outputs inferDeterminant(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  const Dims& x = c.shape(0);
  expectRank(c, 0, 2, "input");
  mergeDims(c, x[x.size() - 2], x.back(), concat("input ", dimsToString(x), " must hold square matrices").c_str());
  return one(c.type(0), Dims(x.begin(), x.end() - 2));
}

}  // namespace kiln::ir::shape_rules
