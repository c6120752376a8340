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
#include <string>
#include <variant>

#include "kiln/types.h"

namespace kiln {

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

// Numpy matmul (batch broadcasting, 1-D operands promoted) with optional transposes of the last two
// dims. Inputs: a, b.
struct MatrixMultiplyParams {
  static constexpr LayerType kType = LayerType::kMatrixMultiply;
  bool transposeA = false;
  bool transposeB = false;
  template <class V> void visit(V& v) { v(transposeA, transposeB); }
};

// How padding is decided for windows (convolution, pooling).
enum class PaddingMode : uint8_t {
  kExplicit,   // padsBegin / padsEnd
  kSameUpper,  // output = ceil(in / stride), extra padding at the end
  kSameLower,  // output = ceil(in / stride), extra padding at the beginning
  kValid,      // no padding
};

// N-d convolution, NC[D]HW. Inputs: x, w [M, C/groups, k...], optional bias [M].
// Empty kernelShape means "from w"; empty strides/dilations/pads mean 1/1/0.
struct ConvolutionParams {
  static constexpr LayerType kType = LayerType::kConvolution;
  Dims kernelShape, strides, dilations, padsBegin, padsEnd;
  PaddingMode paddingMode = PaddingMode::kExplicit;
  int64_t groups = 1;
  // Output clamp set by the builder's fuse_conv_activation pass (Relu: [0, inf), Clip: [min, max]);
  // NaN passes through. The default range changes nothing.
  float outputMin = -std::numeric_limits<float>::infinity();
  float outputMax = std::numeric_limits<float>::infinity();
  bool hasOutputClamp() const {
    return outputMin != -std::numeric_limits<float>::infinity() || outputMax != std::numeric_limits<float>::infinity();
  }
  template <class V> void visit(V& v) {
    v(kernelShape, strides, dilations, padsBegin, padsEnd, paddingMode, groups, outputMin, outputMax);
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

// Windowed pooling over the spatial dims of NC[D]HW. Inputs: x. Max pooling may have a second
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
  template <class V> void visit(V& v) {
    v(type, kernelShape, strides, dilations, padsBegin, padsEnd, paddingMode, ceilMode, countIncludePad, p, storageOrder);
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
enum class NormalizationType : uint8_t { kBatch, kInstance, kLayer, kGroup, kRMS };
struct NormalizationParams {
  static constexpr LayerType kType = LayerType::kNormalization;
  NormalizationType type = NormalizationType::kBatch;
  float epsilon = 1e-5f;
  int64_t axis = 1;
  int64_t numGroups = 1;
  template <class V> void visit(V& v) { v(type, epsilon, axis, numGroups); }
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

// The parameters of any layer; the alternative's index is its LayerType.
using LayerParams = std::variant<ConstantParams, IdentityParams, CastParams, ElementWiseParams, UnaryParams,
                                 ActivationParams, MatrixMultiplyParams, ConvolutionParams, DeconvolutionParams,
                                 PoolingParams, ReduceParams, SoftmaxParams, NormalizationParams, ReshapeParams,
                                 TransposeParams, ConcatenationParams, SliceParams, SplitParams, GatherParams,
                                 ScatterParams, ShapeParams, ConstantOfShapeParams, RangeParams, ExpandParams,
                                 TileParams, SelectParams, PaddingParams, ResizeParams, TopKParams, ArgMinMaxParams,
                                 CumSumParams, EinsumParams, NonZeroParams, OneHotParams, QuantizeParams,
                                 DequantizeParams, TriluParams, LRNParams, SpaceDepthParams>;
static_assert(std::variant_size_v<LayerParams> == static_cast<size_t>(LayerType::kCount),
              "LayerParams must list one params struct per LayerType, in order");

inline LayerType layerTypeOf(const LayerParams& params) { return static_cast<LayerType>(params.index()); }

}  // namespace kiln
