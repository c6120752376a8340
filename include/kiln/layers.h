// Kiln core layer set: the layer types every backend implements, each with a typed parameter struct.
//
// The ONNX importer lowers ONNX ops onto these layers; a network can also be built by hand through
// NetworkDefinition::addLayer / the add* helpers. Inputs are tensors: weights of a convolution are the
// output of a Constant layer, so passes and backends see one uniform graph.
//
// Each params struct lists its fields once in visit(), which the plan format, printing and equality use.
// Enum values are written into plans: append only.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "kiln/types.h"

namespace kiln {

class NetworkDefinition;
// A subnetwork (body of a control-flow layer). Its inputs are bound by position (see each layer).
using Subnetwork = std::shared_ptr<NetworkDefinition>;

enum class LayerType : uint8_t {
  kConstant = 0,
  kIdentity,
  kCast,
  kElementWise,
  kUnary,
  kActivation,
  kMatrixMultiply,
  kConvolution,
  kDeconvolution,
  kPooling,
  kReduce,
  kSoftmax,
  kNormalization,
  kReshape,
  kTranspose,
  kConcatenation,
  kSlice,
  kSplit,
  kGather,
  kScatter,
  kShape,
  kConstantOfShape,
  kRange,
  kExpand,
  kTile,
  kSelect,
  kPadding,
  kResize,
  kTopK,
  kArgMinMax,
  kCumSum,
  kEinsum,
  kNonZero,
  kOneHot,
  kQuantize,
  kDequantize,
  kTrilu,
  kLRN,
  kSpaceDepth,
  kGridSample,
  kNonMaxSuppression,
  kRoiAlign,
  kUnique,
  kDeterminant,
  kTfIdfVectorizer,
  kDFT,
  kSTFT,
  kWindow,
  kMelWeightMatrix,
  kRandom,
  kRecurrent,
  kIf,
  kLoop,
  kScan,
  kSequence,
  kOptional,
  kSequenceMap,
  kStringNormalizer,
  kAttention,
  kPointwise,
  kQuantizedConvolution,
  kQuantizedMatrixMultiply,
  kCount,  // number of layer types; keep last
};
const char* layerTypeName(LayerType type);

// ---- parameter structs ------------------------------------------------------------------------

// Outputs its weights. Inputs: none.
struct ConstantParams {
  static constexpr LayerType kType = LayerType::kConstant;
  Weights weights;
  template <class V> void visit(V& v) { v(weights); }
};

// Copies its input. Inputs: x.
struct IdentityParams {
  static constexpr LayerType kType = LayerType::kIdentity;
  template <class V> void visit(V&) {}
};

// Converts element type. Inputs: x.
struct CastParams {
  static constexpr LayerType kType = LayerType::kCast;
  DataType to = DataType::kFloat32;
  bool saturate = true;  // for fp8 targets
  template <class V> void visit(V& v) { v(to, saturate); }
};

// Binary op with numpy broadcasting. Inputs: a, b. Comparisons and logic output bool.
enum class ElementWiseOp : uint8_t {
  kAdd, kSub, kMul, kDiv, kPow, kMax, kMin, kMod, kFMod,
  kAnd, kOr, kXor, kEqual, kLess, kGreater, kLessOrEqual, kGreaterOrEqual,
  kBitShiftLeft, kBitShiftRight, kBitwiseAnd, kBitwiseOr, kBitwiseXor,
  kPRelu,  // a < 0 ? a * b : a
};
const char* elementWiseOpName(ElementWiseOp op);
struct ElementWiseParams {
  static constexpr LayerType kType = LayerType::kElementWise;
  ElementWiseOp op = ElementWiseOp::kAdd;
  template <class V> void visit(V& v) { v(op); }
};

// One-input math. Inputs: x.
enum class UnaryOp : uint8_t {
  kAbs, kNeg, kExp, kLog, kSqrt, kReciprocal, kFloor, kCeil, kRound,
  kSin, kCos, kTan, kAsin, kAcos, kAtan, kSinh, kCosh, kAsinh, kAcosh, kAtanh,
  kErf, kSign, kNot, kIsNaN, kIsInf, kIsInfPositive, kIsInfNegative, kBitwiseNot,
};
const char* unaryOpName(UnaryOp op);
struct UnaryParams {
  static constexpr LayerType kType = LayerType::kUnary;
  UnaryOp op = UnaryOp::kAbs;
  template <class V> void visit(V& v) { v(op); }
};

// Pointwise activation functions with up to two float parameters. Inputs: x.
enum class ActivationType : uint8_t {
  kRelu,
  kSigmoid,
  kTanh,
  kLeakyRelu,        // alpha: slope
  kElu,              // alpha
  kSelu,             // alpha, beta = gamma
  kClip,             // alpha = min, beta = max
  kHardSigmoid,      // max(0, min(1, alpha*x + beta))
  kHardSwish,        // x * hardsigmoid(x; 1/6, 0.5)
  kSoftplus,
  kSoftsign,
  kThresholdedRelu,  // alpha: threshold
  kGelu,             // alpha = 0: exact (erf); alpha = 1: tanh approximation
  kMish,
  kCelu,             // alpha
};
const char* activationTypeName(ActivationType type);
struct ActivationParams {
  static constexpr LayerType kType = LayerType::kActivation;
  ActivationType type = ActivationType::kRelu;
  float alpha = 0.f;
  float beta = 0.f;
  template <class V> void visit(V& v) { v(type, alpha, beta); }
};

// The activation a MatrixMultiply applies in its GEMM epilogue, after the bias. Set by the builder's
// fuse_matmul_activation pass; ONNX import leaves kNone.
enum class MatMulActivation : uint8_t {
  kNone,
  kRelu,      // max(x, 0); NaN passes through
  kGelu,      // exact: 0.5 * x * (1 + erf(x / sqrt(2)))
  kGeluTanh,  // 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
};

// Numpy matmul (batch broadcasting, 1-D operands promoted) with optional transposes of the last two
// dims. Inputs: a, b, and optionally bias [N] (b of rank >= 2), added to every output row in the GEMM
// epilogue (the builder's fuse_matmul_bias makes it from MatMul -> Add). The output is
// y = activation(op(a) op(b) + bias).
struct MatrixMultiplyParams {
  static constexpr LayerType kType = LayerType::kMatrixMultiply;
  bool transposeA = false;
  bool transposeB = false;
  MatMulActivation activation = MatMulActivation::kNone;
  template <class V> void visit(V& v) { v(transposeA, transposeB, activation); }
};

// How padding is decided for windows (convolution, pooling).
enum class PaddingMode : uint8_t {
  kExplicit,   // padsBegin / padsEnd
  kSameUpper,  // output = ceil(in / stride), extra padding at the end
  kSameLower,  // output = ceil(in / stride), extra padding at the beginning
  kValid,      // no padding
};

// The activation a Convolution applies in its epilogue (before the output clamp). Set by the builder's
// fuse_conv_activation pass; ONNX import leaves kNone.
enum class ConvActivation : uint8_t {
  kNone,
  kSilu,       // x * sigmoid(x)
  kHardSwish,  // x * min(max(x + 3, 0), 6) / 6
  kSigmoid,
  kGelu,       // exact: 0.5 * x * (1 + erf(x / sqrt(2)))
};

// N-d convolution, NC[D]HW (NDHWC etc. with channelsLast). Inputs: x, w [M, C/groups, k...], optional
// bias [M], optional residual z (the output's shape and type; index 3, the bias may then be omitted).
// The output is y = clamp(act(conv(x, w) + bias + z), outputMin, outputMax): the fused epilogue the
// builder's fuse_conv_residual / fuse_conv_activation passes make from Add and activation layers.
// Empty kernelShape means "from w"; empty strides/dilations/pads mean 1/1/0.
struct ConvolutionParams {
  static constexpr LayerType kType = LayerType::kConvolution;
  Dims kernelShape, strides, dilations, padsBegin, padsEnd;
  PaddingMode paddingMode = PaddingMode::kExplicit;
  int64_t groups = 1;
  // Output clamp (Relu: [0, inf), Clip: [min, max]); NaN passes through. The default range changes nothing.
  float outputMin = -std::numeric_limits<float>::infinity();
  float outputMax = std::numeric_limits<float>::infinity();
  ConvActivation activation = ConvActivation::kNone;
  // x, z and y are channels-last N[D]HWC and w is [M, k..., C/groups]: set by the builder's
  // choose_channels_last pass on chains it runs in NHWC, never by import.
  bool channelsLast = false;
  bool hasOutputClamp() const {
    return outputMin != -std::numeric_limits<float>::infinity() || outputMax != std::numeric_limits<float>::infinity();
  }
  // Whether anything follows the bias: an activation or a clamp (the residual is an input, not a field).
  bool hasActivationOrClamp() const { return activation != ConvActivation::kNone || hasOutputClamp(); }
  template <class V> void visit(V& v) {
    v(kernelShape, strides, dilations, padsBegin, padsEnd, paddingMode, groups, outputMin, outputMax, activation,
      channelsLast);
  }
};

// N-d transposed convolution. Inputs: x, w [C, M/groups, k...], optional bias [M].
struct DeconvolutionParams {
  static constexpr LayerType kType = LayerType::kDeconvolution;
  Dims kernelShape, strides, dilations, padsBegin, padsEnd, outputPadding, outputShape;
  PaddingMode paddingMode = PaddingMode::kExplicit;
  int64_t groups = 1;
  template <class V> void visit(V& v) {
    v(kernelShape, strides, dilations, padsBegin, padsEnd, outputPadding, outputShape, paddingMode, groups);
  }
};

// Windowed pooling over the spatial dims of NC[D]HW (N[D]HWC with channelsLast, set by the builder's
// choose_channels_last pass; then no indices output). Inputs: x. Max pooling may have a second
// output: flat indices (int64) as in ONNX MaxPool.
enum class PoolingType : uint8_t { kMax, kAverage, kLp };
struct PoolingParams {
  static constexpr LayerType kType = LayerType::kPooling;
  PoolingType type = PoolingType::kMax;
  Dims kernelShape, strides, dilations, padsBegin, padsEnd;
  PaddingMode paddingMode = PaddingMode::kExplicit;
  bool ceilMode = false;
  bool countIncludePad = false;
  int64_t p = 2;            // Lp pooling
  int64_t storageOrder = 0; // indices output: 0 row major, 1 column major
  bool channelsLast = false;
  template <class V> void visit(V& v) {
    v(type, kernelShape, strides, dilations, padsBegin, padsEnd, paddingMode, ceilMode, countIncludePad, p, storageOrder,
      channelsLast);
  }
};

// Reduction over axes. Inputs: x, optional axes (int64 1-D, a shape input; overrides `axes`).
// Empty axes reduce all dims unless noopWithEmptyAxes.
enum class ReduceOp : uint8_t { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };
const char* reduceOpName(ReduceOp op);
struct ReduceParams {
  static constexpr LayerType kType = LayerType::kReduce;
  ReduceOp op = ReduceOp::kSum;
  Dims axes;
  bool keepDims = true;
  bool noopWithEmptyAxes = false;
  template <class V> void visit(V& v) { v(op, axes, keepDims, noopWithEmptyAxes); }
};

// Softmax family along one axis. Inputs: x.
// coerce2d: opset < 13 semantics, the input is flattened to 2-D at `axis` and normalized over the tail.
enum class SoftmaxType : uint8_t { kSoftmax, kLogSoftmax, kHardmax };
struct SoftmaxParams {
  static constexpr LayerType kType = LayerType::kSoftmax;
  SoftmaxType type = SoftmaxType::kSoftmax;
  int64_t axis = -1;
  bool coerce2d = false;
  template <class V> void visit(V& v) { v(type, axis, coerce2d); }
};

// Normalizations.
//   kBatch:    inputs x, scale[C], bias[C], mean[C], var[C]; inference statistics, channel axis 1.
//   kInstance: inputs x, scale[C], bias[C]; statistics per (n, c) over spatial dims.
//   kLayer:    inputs x, scale, optional bias; statistics over dims [axis, rank).
//   kGroup:    inputs x, scale, bias; statistics per (n, group); scale/bias per channel.
//   kRMS:      inputs x, scale; root mean square over dims [axis, rank).
// addsResidual (kLayer and kRMS only; set by the builder's fuse_residual_norm pass): the layer normalizes
// s = x + r instead of x, where r is input 3 of x's shape and type (no broadcast; input 2, the bias, may
// then be omitted, and is always omitted for kRMS). Outputs: y, and optionally s itself (output 1, in
// x's type: the sum rounded to that type, which is also what y normalizes). Such a layer has no Mean /
// InvStdDev outputs (those of ONNX LayerNormalization); without addsResidual, outputs 1 and 2 of kLayer
// are those statistics.
enum class NormalizationType : uint8_t { kBatch, kInstance, kLayer, kGroup, kRMS };
struct NormalizationParams {
  static constexpr LayerType kType = LayerType::kNormalization;
  NormalizationType type = NormalizationType::kBatch;
  float epsilon = 1e-5f;
  int64_t axis = 1;
  int64_t numGroups = 1;
  bool addsResidual = false;
  template <class V> void visit(V& v) { v(type, epsilon, axis, numGroups, addsResidual); }
};

// Changes the shape, not the data.
//   kShapeTensor: input 1 gives the shape (0 copies the input dim unless allowZero, -1 is inferred).
//   kFlatten:     to 2-D [prod(dims[0:axis]), prod(dims[axis:])].
//   kSqueeze:     removes `axes` (or input 1 when present; all size-1 dims when both are empty).
//   kUnsqueeze:   inserts size-1 dims at `axes` (or input 1) of the output.
enum class ReshapeMode : uint8_t { kShapeTensor, kFlatten, kSqueeze, kUnsqueeze };
struct ReshapeParams {
  static constexpr LayerType kType = LayerType::kReshape;
  ReshapeMode mode = ReshapeMode::kShapeTensor;
  int64_t axis = 1;
  Dims axes;
  bool allowZero = false;
  template <class V> void visit(V& v) { v(mode, axis, axes, allowZero); }
};

// Permutes dims. Empty perm reverses them. Inputs: x.
struct TransposeParams {
  static constexpr LayerType kType = LayerType::kTranspose;
  Dims perm;
  template <class V> void visit(V& v) { v(perm); }
};

// Joins inputs along an axis. Inputs: x0, x1, ...
struct ConcatenationParams {
  static constexpr LayerType kType = LayerType::kConcatenation;
  int64_t axis = 0;
  template <class V> void visit(V& v) { v(axis); }
};

// ONNX Slice. Inputs: data, starts, ends, optional axes, optional steps (int32/int64 1-D, shape inputs).
struct SliceParams {
  static constexpr LayerType kType = LayerType::kSlice;
  template <class V> void visit(V&) {}
};

// Splits along an axis. Inputs: x, optional split sizes (shape input). Outputs: one per part.
// Without sizes the parts are equal (the last one smaller when it does not divide).
struct SplitParams {
  static constexpr LayerType kType = LayerType::kSplit;
  int64_t axis = 0;
  Dims sizes;
  template <class V> void visit(V& v) { v(axis, sizes); }
};

// Gathers. Inputs: data, indices (int32/int64; negative indices count from the end).
enum class GatherMode : uint8_t { kDefault, kElements, kND };
struct GatherParams {
  static constexpr LayerType kType = LayerType::kGather;
  GatherMode mode = GatherMode::kDefault;
  int64_t axis = 0;
  int64_t batchDims = 0;
  template <class V> void visit(V& v) { v(mode, axis, batchDims); }
};

// Scatters. Inputs: data, indices, updates.
enum class ScatterMode : uint8_t { kElements, kND };
enum class ScatterReduction : uint8_t { kNone, kAdd, kMul, kMax, kMin };
struct ScatterParams {
  static constexpr LayerType kType = LayerType::kScatter;
  ScatterMode mode = ScatterMode::kElements;
  int64_t axis = 0;
  ScatterReduction reduction = ScatterReduction::kNone;
  template <class V> void visit(V& v) { v(mode, axis, reduction); }
};

// The shape of its input as int64 [end - start]. Inputs: x.
struct ShapeParams {
  static constexpr LayerType kType = LayerType::kShape;
  int64_t start = 0;
  int64_t end = std::numeric_limits<int64_t>::max();
  template <class V> void visit(V& v) { v(start, end); }
};

// A tensor of the given shape filled with one value. Inputs: shape (int64 1-D, a shape input).
struct ConstantOfShapeParams {
  static constexpr LayerType kType = LayerType::kConstantOfShape;
  Weights value;  // one element; its type is the output type
  template <class V> void visit(V& v) { v(value); }
};

// [start, limit) by delta. Inputs: start, limit, delta (scalars, shape inputs).
struct RangeParams {
  static constexpr LayerType kType = LayerType::kRange;
  template <class V> void visit(V&) {}
};

// Broadcasts to a shape. Inputs: x, shape (shape input).
struct ExpandParams {
  static constexpr LayerType kType = LayerType::kExpand;
  template <class V> void visit(V&) {}
};

// Repeats. Inputs: x, repeats (shape input).
struct TileParams {
  static constexpr LayerType kType = LayerType::kTile;
  template <class V> void visit(V&) {}
};

// cond ? x : y with broadcasting. Inputs: cond (bool), x, y.
struct SelectParams {
  static constexpr LayerType kType = LayerType::kSelect;
  template <class V> void visit(V&) {}
};

// Pads. Inputs: data, pads (int64 [2*naxes], shape input), optional constant value, optional axes.
enum class PadMode : uint8_t { kConstant, kReflect, kEdge, kWrap };
struct PaddingParams {
  static constexpr LayerType kType = LayerType::kPadding;
  PadMode mode = PadMode::kConstant;
  template <class V> void visit(V& v) { v(mode); }
};

// ONNX Resize. Inputs: x, optional roi, optional scales, optional sizes (shape inputs).
enum class ResizeMode : uint8_t { kNearest, kLinear, kCubic };
enum class ResizeCoordinateTransform : uint8_t {
  kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfCropAndResize, kHalfPixelSymmetric, kTfHalfPixelForNn,
};
enum class ResizeNearestRounding : uint8_t { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
enum class ResizeAspectPolicy : uint8_t { kStretch, kNotLarger, kNotSmaller };
struct ResizeParams {
  static constexpr LayerType kType = LayerType::kResize;
  ResizeMode mode = ResizeMode::kNearest;
  ResizeCoordinateTransform coordinateTransform = ResizeCoordinateTransform::kHalfPixel;
  ResizeNearestRounding nearestRounding = ResizeNearestRounding::kRoundPreferFloor;
  float cubicCoeffA = -0.75f;
  bool excludeOutside = false;
  float extrapolationValue = 0.f;
  bool antialias = false;
  Dims axes;
  ResizeAspectPolicy aspectPolicy = ResizeAspectPolicy::kStretch;
  template <class V> void visit(V& v) {
    v(mode, coordinateTransform, nearestRounding, cubicCoeffA, excludeOutside, extrapolationValue, antialias, axes,
      aspectPolicy);
  }
};

// Top k along an axis. Inputs: x, k (int64 [1], shape input). Outputs: values, indices (int64).
struct TopKParams {
  static constexpr LayerType kType = LayerType::kTopK;
  int64_t axis = -1;
  bool largest = true;
  bool sorted = true;
  template <class V> void visit(V& v) { v(axis, largest, sorted); }
};

// Index of the max/min along an axis (int64). Inputs: x.
struct ArgMinMaxParams {
  static constexpr LayerType kType = LayerType::kArgMinMax;
  bool max = true;
  int64_t axis = 0;
  bool keepDims = true;
  bool selectLastIndex = false;
  template <class V> void visit(V& v) { v(max, axis, keepDims, selectLastIndex); }
};

// Cumulative sum. Inputs: x, axis (scalar, shape input).
struct CumSumParams {
  static constexpr LayerType kType = LayerType::kCumSum;
  bool exclusive = false;
  bool reverse = false;
  template <class V> void visit(V& v) { v(exclusive, reverse); }
};

// Einstein summation. Inputs: operands.
struct EinsumParams {
  static constexpr LayerType kType = LayerType::kEinsum;
  std::string equation;
  template <class V> void visit(V& v) { v(equation); }
};

// Indices of non-zero elements, int64 [rank, n]. Inputs: x. Output shape depends on the data.
struct NonZeroParams {
  static constexpr LayerType kType = LayerType::kNonZero;
  template <class V> void visit(V&) {}
};

// One-hot. Inputs: indices, depth (scalar, shape input), values [off, on].
struct OneHotParams {
  static constexpr LayerType kType = LayerType::kOneHot;
  int64_t axis = -1;
  template <class V> void visit(V& v) { v(axis); }
};

// Linear quantization y = saturate(round(x / scale) + zero_point). Inputs: x, scale, optional zero point.
// axis: per-axis scale; blockSize > 0: blocked quantization.
struct QuantizeParams {
  static constexpr LayerType kType = LayerType::kQuantize;
  int64_t axis = 1;
  int64_t blockSize = 0;
  DataType outputType = DataType::kUInt8;
  bool saturate = true;
  template <class V> void visit(V& v) { v(axis, blockSize, outputType, saturate); }
};

// y = (x - zero_point) * scale. Inputs: x, scale, optional zero point.
struct DequantizeParams {
  static constexpr LayerType kType = LayerType::kDequantize;
  int64_t axis = 1;
  int64_t blockSize = 0;
  template <class V> void visit(V& v) { v(axis, blockSize); }
};

// Upper/lower triangle. Inputs: x, optional k (scalar, shape input).
struct TriluParams {
  static constexpr LayerType kType = LayerType::kTrilu;
  bool upper = true;
  template <class V> void visit(V& v) { v(upper); }
};

// Local response normalization across channels. Inputs: x.
struct LRNParams {
  static constexpr LayerType kType = LayerType::kLRN;
  int64_t size = 1;
  float alpha = 1e-4f, beta = 0.75f, bias = 1.f;
  template <class V> void visit(V& v) { v(size, alpha, beta, bias); }
};

// DepthToSpace (toDepth = false) / SpaceToDepth (toDepth = true). Inputs: x (NCHW).
// crd: DepthToSpace CRD mode instead of DCR.
struct SpaceDepthParams {
  static constexpr LayerType kType = LayerType::kSpaceDepth;
  bool toDepth = false;
  int64_t blockSize = 1;
  bool crd = false;
  template <class V> void visit(V& v) { v(toDepth, blockSize, crd); }
};

// Samples x at normalized grid locations (ONNX GridSample). Inputs: x [N, C, D1..Dk] (k = 1..3),
// grid [N, O1..Ok, k] whose last dim holds coordinates in [-1, 1] ordered innermost spatial dim first
// ((x, y) for NCHW). Output [N, C, O1..Ok]. Cubic uses the cubic convolution kernel with a = -0.75.
enum class GridSampleMode : uint8_t { kLinear, kNearest, kCubic };
enum class GridSamplePadding : uint8_t { kZeros, kBorder, kReflection };
struct GridSampleParams {
  static constexpr LayerType kType = LayerType::kGridSample;
  GridSampleMode mode = GridSampleMode::kLinear;
  GridSamplePadding padding = GridSamplePadding::kZeros;
  bool alignCorners = false;
  template <class V> void visit(V& v) { v(mode, padding, alignCorners); }
};

// Greedy non-max suppression per (batch, class) (ONNX NonMaxSuppression). Inputs: boxes [B, n, 4],
// scores [B, classes, n], optional max boxes per class (integer scalar; 0 when omitted), optional IoU
// threshold and score threshold (float scalars). Output: int64 [selected, 3] rows (batch, class, box),
// in batch, class, then descending score order; its shape depends on the data.
// centerPointBox: boxes are [x_center, y_center, width, height] instead of corners [y1, x1, y2, x2].
struct NonMaxSuppressionParams {
  static constexpr LayerType kType = LayerType::kNonMaxSuppression;
  bool centerPointBox = false;
  template <class V> void visit(V& v) { v(centerPointBox); }
};

// Region-of-interest align (ONNX RoiAlign). Inputs: x [N, C, H, W], rois [R, 4] as (x1, y1, x2, y2),
// batch indices [R] (integer). Output [R, C, outputHeight, outputWidth]. samplingRatio 0: adaptive
// (ceil of the bin size). halfPixel: shift pixel coordinates by -0.5 (else ROIs are at least 1x1).
enum class RoiAlignMode : uint8_t { kAverage, kMax };
struct RoiAlignParams {
  static constexpr LayerType kType = LayerType::kRoiAlign;
  RoiAlignMode mode = RoiAlignMode::kAverage;
  int64_t outputHeight = 1, outputWidth = 1;
  int64_t samplingRatio = 0;
  float spatialScale = 1.f;
  bool halfPixel = true;
  template <class V> void visit(V& v) { v(mode, outputHeight, outputWidth, samplingRatio, spatialScale, halfPixel); }
};

// Unique elements (hasAxis false, of the flattened input) or unique slices along `axis` (ONNX Unique).
// Inputs: x. Outputs: y, first-occurrence indices, inverse indices, counts (the last three int64).
// sorted: ascending (slices compared lexicographically); else in order of first occurrence. The number
// of unique values depends on the data.
struct UniqueParams {
  static constexpr LayerType kType = LayerType::kUnique;
  bool hasAxis = false;
  int64_t axis = 0;
  bool sorted = true;
  template <class V> void visit(V& v) { v(hasAxis, axis, sorted); }
};

// Determinants of square matrices [..., M, M] -> [...]. Inputs: x (float).
struct DeterminantParams {
  static constexpr LayerType kType = LayerType::kDeterminant;
  template <class V> void visit(V&) {}
};

// Counts of int64 n-grams (ONNX TfIdfVectorizer). Inputs: x (int32/int64 [C] or [N, C]).
// Output float32 [outputSize] or [N, outputSize], outputSize = max(ngramIndexes) + 1.
// pool holds the n-grams grouped by length: ngramCounts[i] is where the (i+1)-grams start; the k-th
// n-gram of the pool is counted at output ngramIndexes[k]. An n-gram of length n >= 2 may skip up to
// maxSkipCount items between consecutive elements (the same skip for all of them).
enum class TfIdfMode : uint8_t { kTF, kIDF, kTFIDF };
struct TfIdfVectorizerParams {
  static constexpr LayerType kType = LayerType::kTfIdfVectorizer;
  TfIdfMode mode = TfIdfMode::kTF;
  int64_t minGramLength = 1, maxGramLength = 1, maxSkipCount = 0;
  Dims ngramCounts, ngramIndexes, pool;
  Weights weights;  // float32, one per pool n-gram; empty ([0]): all 1
  template <class V> void visit(V& v) {
    v(mode, minGramLength, maxGramLength, maxSkipCount, ngramCounts, ngramIndexes, pool, weights);
  }
};

// Discrete Fourier transform along `axis` (a signal axis; the last dim holds 1 real or 2 complex parts).
// Inputs: x (float [..., 1 | 2]), optional dft_length (scalar, shape input: the input is zero-padded or
// truncated to it). Output [..., 2]; onesided keeps the floor(n / 2) + 1 first frequencies; inverse
// computes the inverse transform scaled by 1 / n.
struct DFTParams {
  static constexpr LayerType kType = LayerType::kDFT;
  int64_t axis = 1;
  bool inverse = false;
  bool onesided = false;
  template <class V> void visit(V& v) { v(axis, inverse, onesided); }
};

// Short-time Fourier transform. Inputs: signal (float [batch, length, 1 | 2]), frame_step (scalar, shape
// input), optional window [frame_length], optional frame_length (scalar, shape input; else the window's).
// Output [batch, frames, bins, 2], frames = (length - frame_length) / frame_step + 1, bins = frame_length
// (frame_length / 2 + 1 when onesided).
struct STFTParams {
  static constexpr LayerType kType = LayerType::kSTFT;
  bool onesided = true;
  template <class V> void visit(V& v) { v(onesided); }
};

// Generalized cosine windows (ONNX HannWindow, HammingWindow, BlackmanWindow). Inputs: size (integer
// scalar, shape input). Output 1-D [size] of outputType; periodic divides by size, symmetric by size - 1.
enum class WindowType : uint8_t { kHann, kHamming, kBlackman };
struct WindowParams {
  static constexpr LayerType kType = LayerType::kWindow;
  WindowType type = WindowType::kHann;
  bool periodic = true;
  DataType outputType = DataType::kFloat32;
  template <class V> void visit(V& v) { v(type, periodic, outputType); }
};

// Mel filter bank weights [dft_length / 2 + 1, num_mel_bins] (ONNX MelWeightMatrix). Inputs: num_mel_bins,
// dft_length (integer scalars, shape inputs), sample_rate, lower_edge_hertz, upper_edge_hertz (scalars).
struct MelWeightMatrixParams {
  static constexpr LayerType kType = LayerType::kMelWeightMatrix;
  DataType outputType = DataType::kFloat32;
  template <class V> void visit(V& v) { v(outputType); }
};

// Random sampling (never constant-folded). With a seed every execution draws the same values.
//   kUniform:     [a, b). kNormal: mean a, standard deviation b. Input: none (output `shape`) or a tensor
//                 whose shape is used (the *Like ops).
//   kBernoulli:   1 with probability x, else 0. Input: x (probabilities).
//   kMultinomial: sampleSize class indices per batch row. Input: x [batch, classes] (unnormalized log
//                 probabilities). Output [batch, sampleSize].
enum class RandomDistribution : uint8_t { kUniform, kNormal, kBernoulli, kMultinomial };
struct RandomParams {
  static constexpr LayerType kType = LayerType::kRandom;
  RandomDistribution distribution = RandomDistribution::kUniform;
  float a = 0.f, b = 1.f;
  Dims shape;
  DataType outputType = DataType::kFloat32;
  bool hasSeed = false;
  float seed = 0.f;
  int64_t sampleSize = 1;
  template <class V> void visit(V& v) { v(distribution, a, b, shape, outputType, hasSeed, seed, sampleSize); }
};

// ONNX RNN / GRU / LSTM over a whole sequence (one layer, as TensorRT's RNNv2), gate math as in the ONNX spec.
// Inputs (ONNX order): x, w [dirs, gates*hidden, input], r [dirs, gates*hidden, hidden], optional bias
// [dirs, 2*gates*hidden], optional sequenceLengths [batch] (int32/int64), optional initialH [dirs, batch, hidden],
// optional initialC (LSTM), optional peephole [dirs, 3*hidden] (LSTM). Gate order: RNN i; GRU z r h; LSTM i o f c.
// Outputs: y [seq, dirs, batch, hidden], yH [dirs, batch, hidden], and for LSTM yC like yH.
// batchFirst (ONNX layout 1): x [batch, seq, input], y [batch, seq, dirs, hidden], states [batch, dirs, hidden].
// Steps at or past a batch entry's sequence length leave its state unchanged and write zeros to y; an entry of
// length 0 has zero final states (as ONNX Runtime).
enum class RecurrentCell : uint8_t { kRNN, kGRU, kLSTM };
enum class RecurrentDirection : uint8_t { kForward, kReverse, kBidirectional };
// The ONNX recurrent activation functions (Affine and ScaledTanh have no ActivationType).
enum class RecurrentActivation : uint8_t {
  kRelu, kTanh, kSigmoid,
  kAffine,           // alpha * x + beta
  kLeakyRelu,        // alpha: slope
  kThresholdedRelu,  // alpha: threshold
  kScaledTanh,       // alpha * tanh(beta * x)
  kHardSigmoid,      // max(0, min(1, alpha * x + beta))
  kElu,              // alpha
  kSoftsign, kSoftplus,
};
struct RecurrentParams {
  static constexpr LayerType kType = LayerType::kRecurrent;
  RecurrentCell cell = RecurrentCell::kLSTM;
  RecurrentDirection direction = RecurrentDirection::kForward;
  int64_t hiddenSize = 0;
  // Per direction the cell's functions in ONNX order (RNN f; GRU f g; LSTM f g h), forward first.
  // Empty: the ONNX defaults (RNN tanh; GRU sigmoid, tanh; LSTM sigmoid, tanh, tanh).
  std::vector<RecurrentActivation> activations;
  std::vector<float> activationAlpha, activationBeta;  // one per activation when activations is given
  float clip = std::numeric_limits<float>::infinity();  // gate inputs clipped to [-clip, clip]
  bool linearBeforeReset = false;  // GRU
  bool inputForget = false;        // LSTM: f = 1 - i
  bool batchFirst = false;         // ONNX layout 1
  template <class V> void visit(V& v) {
    v(cell, direction, hiddenSize, activations, activationAlpha, activationBeta, clip, linearBeforeReset, inputForget,
      batchFirst);
  }
};
// Number of gates of a cell (1, 3, 4) and of activation functions per direction (1, 2, 3).
inline int64_t recurrentGates(RecurrentCell cell) {
  return cell == RecurrentCell::kRNN ? 1 : (cell == RecurrentCell::kGRU ? 3 : 4);
}
inline int64_t recurrentActivationCount(RecurrentCell cell) {
  return cell == RecurrentCell::kRNN ? 1 : (cell == RecurrentCell::kGRU ? 2 : 3);
}

// ---- control flow, sequences and optionals ---------------------------------------------------------
// These layers run on the host only (the CPU backend, layer by layer, like data-dependent shapes);
// their subnetworks run with the CPU kernels. Outer tensors a subnetwork reads are explicit inputs of
// the layer ("captures"), bound to the subnetwork's trailing inputs.

// ONNX If. Inputs: cond (bool, one element), then-branch captures, else-branch captures.
// Each branch's inputs are its captures; the layer's outputs are the chosen branch's outputs.
struct IfParams {
  static constexpr LayerType kType = LayerType::kIf;
  Subnetwork thenBranch, elseBranch;
  template <class V> void visit(V& v) { v(thenBranch, elseBranch); }
};

// ONNX Loop. Inputs: max trip count (int64 scalar, optional), cond (bool, optional), numCarried
// initial values, captures. Body inputs: iteration (int64 scalar), cond, carried values, captures;
// body outputs: cond, carried values, scan outputs. Layer outputs: final carried values, then each
// scan output stacked over the iterations on a new axis 0.
struct LoopParams {
  static constexpr LayerType kType = LayerType::kLoop;
  Subnetwork body;
  int64_t numCarried = 0;
  template <class V> void visit(V& v) { v(body, numCarried); }
};

// ONNX Scan (opset 9+; opset 8's batched form with batched = true, batch axis 0 on every input).
// Inputs: [batched: sequence lengths (optional)], numStates initial states, numScanInputs scan inputs,
// captures. Body inputs: states, one slice of each scan input, captures; body outputs: states, scan
// output slices. Layer outputs: final states, scan outputs. Axes/directions are per scan input/output
// (empty: axis 0, forward); direction 1 is reverse.
struct ScanParams {
  static constexpr LayerType kType = LayerType::kScan;
  Subnetwork body;
  int64_t numStates = 0;
  int64_t numScanInputs = 0;
  bool batched = false;
  Dims inputAxes, inputDirections, outputAxes, outputDirections;
  template <class V> void visit(V& v) {
    v(body, numStates, numScanInputs, batched, inputAxes, inputDirections, outputAxes, outputDirections);
  }
};

// Sequence operations (values of kind kSequence).
//   kConstruct: inputs t0, t1, ... -> sequence.        kEmpty: no inputs -> empty sequence of elementType.
//   kInsert: seq, tensor, optional position -> seq.    kAt: seq, position -> tensor.
//   kErase: seq, optional position -> seq.             kLength: seq -> int64 scalar.
//   kSplit (SplitToSequence): tensor, optional split (scalar: chunk size, the last may be smaller;
//     1-D: part sizes) -> sequence of parts along `axis`; without split, parts of 1, squeezed unless keepDims.
//   kConcat (ConcatFromSequence): seq -> its tensors joined along `axis` (stacked on a new axis if newAxis).
// Positions are int32/int64 scalars; negative ones count from the end.
enum class SequenceOp : uint8_t { kConstruct, kEmpty, kInsert, kAt, kErase, kLength, kSplit, kConcat };
struct SequenceParams {
  static constexpr LayerType kType = LayerType::kSequence;
  SequenceOp op = SequenceOp::kConstruct;
  DataType elementType = DataType::kFloat32;  // kEmpty
  int64_t axis = 0;                           // kSplit, kConcat
  bool keepDims = true;                       // kSplit
  bool newAxis = false;                       // kConcat
  template <class V> void visit(V& v) { v(op, elementType, axis, keepDims, newAxis); }
};

// Optional operations.
//   kConstruct: optional input x -> optional holding x (empty of elementType/elementKind without x).
//   kGetElement: optional (or a tensor/sequence, passed through) -> its value; empty is an error.
//   kHasElement: optional input -> bool scalar (false when the input is omitted or empty).
enum class OptionalOp : uint8_t { kConstruct, kGetElement, kHasElement };
struct OptionalParams {
  static constexpr LayerType kType = LayerType::kOptional;
  OptionalOp op = OptionalOp::kConstruct;
  DataType elementType = DataType::kFloat32;
  ValueKind elementKind = ValueKind::kTensor;  // kConstruct without input: tensor or sequence
  template <class V> void visit(V& v) { v(op, elementType, elementKind); }
};

// ONNX SequenceMap. Inputs: the first numMapped inputs are sequences (mapped element by element, all of
// the first one's length) or tensors (passed whole to every iteration); then captures. Body inputs:
// one per mapped input, then captures. Outputs: one sequence per body output.
struct SequenceMapParams {
  static constexpr LayerType kType = LayerType::kSequenceMap;
  Subnetwork body;
  int64_t numMapped = 1;
  template <class V> void visit(V& v) { v(body, numMapped); }
};

// ONNX StringNormalizer on a string tensor [C] or [1, C]: drops the stopwords (compared exactly, or
// ASCII-case-insensitively when !caseSensitive), then changes the case of what is left (ASCII letters).
// The output is [C'] or [1, C'] (a data-dependent count); when every element is dropped it is [1] or
// [1, 1] holding "".
enum class StringCaseChange : uint8_t { kNone, kLower, kUpper };
struct StringNormalizerParams {
  static constexpr LayerType kType = LayerType::kStringNormalizer;
  StringCaseChange caseChange = StringCaseChange::kNone;
  bool caseSensitive = false;
  std::vector<std::string> stopwords;
  template <class V> void visit(V& v) { v(caseChange, caseSensitive, stopwords); }
};

// Fused scaled dot-product attention per (batch, head): y = softmax(scale * q k^T + mask) v, in one kernel.
// Inputs: q, k, v and an optional mask, all rank 4. With layout kBHSD, q is [B, H, Sq, D], k [B, Hkv, Skv, D],
// v [B, Hkv, Skv, Dv] and y [B, H, Sq, Dv]; with kBSHD the middle two dims of q, k, v and y swap ([B, Sq, H, D],
// ...), as the projections' Reshape makes them before the Transposes this layout saves. H is a multiple of
// Hkv (grouped-query attention: query head h reads key/value head h / (H / Hkv)).
// The mask, in either layout, is [B|1, H|1, Sq|1, Skv] (size-1 dims broadcast): boolean (false masks the key
// out) or of q's type (added to the scaled scores). causal also masks key j > i for query i (top-left
// aligned, as torch's is_causal). scale 0 means 1/sqrt(D). A query row whose keys are all masked out gives
// zeros when zeroMaskedRows (what the exported Softmax -> IsNaN -> Where pattern computes), else NaN, as a
// plain Softmax of -inf scores does. Made by the builder's fuse_attention pass and by the ONNX Attention
// importer; never by hand-written shapes that disagree (the shape rule checks B, H, S and D).
enum class AttentionLayout : uint8_t { kBHSD, kBSHD };
struct AttentionParams {
  static constexpr LayerType kType = LayerType::kAttention;
  AttentionLayout layout = AttentionLayout::kBHSD;
  float scale = 0.f;
  bool causal = false;
  bool zeroMaskedRows = false;
  template <class V> void visit(V& v) { v(layout, scale, causal, zeroMaskedRows); }
};

// A fused chain of element-wise layers (made by the builder's fuse_pointwise pass, never by import):
// a straight-line program over registers, one instruction per register, each reading only earlier
// registers. Inputs: the tensors the program loads; they broadcast (numpy) to the output's shape.
// Instruction i (the i-th entry of every vector) is of kind kinds[i]:
//   kInput:       register = input codes[i] converted to float.
//   kConstant:    register = alpha[i].
//   kElementWise: register = ElementWiseOp(codes[i]) of registers a[i], b[i].
//   kUnary:       register = UnaryOp(codes[i]) of register a[i].
//   kActivation:  register = ActivationType(codes[i]) of register a[i] with alpha[i], beta[i].
//   kCast:        register = register a[i] converted to types[i].
// types[i] is the register's element type: a kInput's is its input's type; every other register is
// float32, float16 or bfloat16, computed in float and rounded to its type after each instruction, so
// the result equals running the fused layers one by one. Registers read by anything but a kCast to
// float32 are float types. Unused entries of codes, a, b, alpha and beta are 0. The output is register
// `output`, of its type, with the broadcast shape of the inputs.
enum class PointwiseOpKind : uint8_t { kInput, kConstant, kElementWise, kUnary, kActivation, kCast };
struct PointwiseParams {
  static constexpr LayerType kType = LayerType::kPointwise;
  std::vector<PointwiseOpKind> kinds;
  Dims codes;
  Dims a, b;
  std::vector<float> alpha, beta;
  std::vector<DataType> types;
  int64_t output = 0;
  template <class V> void visit(V& v) { v(kinds, codes, a, b, alpha, beta, types, output); }
};

// ---- explicit quantization (Q/DQ folded into integer compute) ----------------------------------------
// What a DequantizeLinear -> Convolution/MatMul -> [Relu/Clip] -> [QuantizeLinear] chain computes, as one
// layer on quantized inputs (TensorRT's fused Q/DQ layers, ONNX QLinearConv/QLinearMatMul): integer
// products accumulated exactly (int32), then the float epilogue, then optionally requantized. Made by the
// builder's fold_qdq pass. The scales are constants of every real Q/DQ model, so they are params.
//   Real values: x_real = (x - inputZeroPoint) * inputScale; w_real = w * weightScales[channel or 0]
//   (symmetric weights: zero point 0). FP8 (float8e4m3fn x and w) fits the same fields with zero points 0.
//   Output: outputType int8/uint8 (requantized): y = saturate(round_half_even(y_real / outputScale) +
//   outputZeroPoint), as ONNX QuantizeLinear; outputType float32/float16 (real): y = y_real, and
//   outputScale/outputZeroPoint are unused (1 and 0).

// Quantized N-d convolution. Inputs: x (int8 or uint8, NC[D]HW or channels-last per conv.channelsLast),
// w (int8 constant [M, C/groups, k...], [M, k..., C/groups] channels-last), optional bias [M] (float32,
// real values). y_real = clamp(act(conv(x_real, w_real) + bias), conv.outputMin, conv.outputMax): conv holds
// the geometry and the epilogue exactly as for Convolution (no residual input). weightScales: [1] (per
// tensor) or [M] (per output channel).
struct QuantizedConvolutionParams {
  static constexpr LayerType kType = LayerType::kQuantizedConvolution;
  ConvolutionParams conv;
  float inputScale = 1.f;
  int64_t inputZeroPoint = 0;
  std::vector<float> weightScales{1.f};
  DataType outputType = DataType::kFloat32;
  float outputScale = 1.f;
  int64_t outputZeroPoint = 0;
  template <class V> void visit(V& v) {
    conv.visit(v);
    v(inputScale, inputZeroPoint, weightScales, outputType, outputScale, outputZeroPoint);
  }
};

// Quantized matrix product a b. Inputs: a (int8 or uint8 [..., M, K], rank >= 2), b (int8 constant [K, N]),
// optional bias [N] (float32, real values). y_real = clamp(a_real b_real + bias, outputMin, outputMax)
// ([..., M, N]). weightScales: [1] (per tensor) or [N] (per output column).
struct QuantizedMatrixMultiplyParams {
  static constexpr LayerType kType = LayerType::kQuantizedMatrixMultiply;
  float inputScale = 1.f;
  int64_t inputZeroPoint = 0;
  std::vector<float> weightScales{1.f};
  float outputMin = -std::numeric_limits<float>::infinity();  // Relu: 0; Clip: [min, max]
  float outputMax = std::numeric_limits<float>::infinity();
  DataType outputType = DataType::kFloat32;
  float outputScale = 1.f;
  int64_t outputZeroPoint = 0;
  template <class V> void visit(V& v) {
    v(inputScale, inputZeroPoint, weightScales, outputMin, outputMax, outputType, outputScale, outputZeroPoint);
  }
};

// The parameters of any layer; the alternative's index is its LayerType.
using LayerParams = std::variant<ConstantParams, IdentityParams, CastParams, ElementWiseParams, UnaryParams,
                                 ActivationParams, MatrixMultiplyParams, ConvolutionParams, DeconvolutionParams,
                                 PoolingParams, ReduceParams, SoftmaxParams, NormalizationParams, ReshapeParams,
                                 TransposeParams, ConcatenationParams, SliceParams, SplitParams, GatherParams,
                                 ScatterParams, ShapeParams, ConstantOfShapeParams, RangeParams, ExpandParams,
                                 TileParams, SelectParams, PaddingParams, ResizeParams, TopKParams, ArgMinMaxParams,
                                 CumSumParams, EinsumParams, NonZeroParams, OneHotParams, QuantizeParams,
                                 DequantizeParams, TriluParams, LRNParams, SpaceDepthParams, GridSampleParams,
                                 NonMaxSuppressionParams, RoiAlignParams, UniqueParams, DeterminantParams,
                                 TfIdfVectorizerParams, DFTParams, STFTParams, WindowParams, MelWeightMatrixParams,
                                 RandomParams, RecurrentParams, IfParams, LoopParams, ScanParams, SequenceParams,
                                 OptionalParams, SequenceMapParams,
                                 StringNormalizerParams, AttentionParams, PointwiseParams, QuantizedConvolutionParams,
                                 QuantizedMatrixMultiplyParams>;
static_assert(std::variant_size_v<LayerParams> == static_cast<size_t>(LayerType::kCount),
              "LayerParams must list one params struct per LayerType, in order");

inline LayerType layerTypeOf(const LayerParams& params) { return static_cast<LayerType>(params.index()); }

}  // namespace kiln
