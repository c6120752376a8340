// Internal to ir/: what the shape rules of ir/layers/<family>.cpp share, and the rule of each layer type
// (the layer table, ir/layer_table.cpp, points at them).
//
// Dims of -1 are unknown: they propagate through arithmetic, and a shape input without a host value
// makes the dims it decides -1 (keeping the rank whenever it can be known).
#pragma once

#include <optional>
#include <vector>

#include "core/checked_math.h"
#include "core/error.h"
#include "ir/shape_inference.h"

// Throws kInvalidModel naming the layer of context `c` when `cond` is false.
#define SHAPE_CHECK(c, cond, ...) KILN_CHECK(cond, kInvalidModel, (c).layer.describe(), ": ", __VA_ARGS__)
// Same for valid models that cannot be handled (e.g. an output rank that depends on values).
#define SHAPE_SUPPORTED(c, cond, ...) KILN_CHECK(cond, kUnsupported, (c).layer.describe(), ": ", __VA_ARGS__)

namespace kiln::ir {

// What the shape rule of one layer sees: the layer, its input descs and the host values known so far.
struct ShapeInferenceContext {
  const Layer& layer;
  const std::vector<const TensorDesc*>& inputs;
  const InputValues& values;

  int count() const { return static_cast<int>(inputs.size()); }
  // True when input i is given (not omitted).
  bool has(int i) const { return i >= 0 && i < count() && inputs[i] != nullptr; }
  const TensorDesc& in(int i) const;
  const Dims& shape(int i) const { return in(i).shape; }
  int64_t rank(int i) const { return static_cast<int64_t>(shape(i).size()); }
  DataType type(int i) const { return in(i).type; }
  // The host value of input i when known.
  const HostTensor* value(int i) const;
  // The values of integer input i when known.
  std::optional<std::vector<int64_t>> ints(int i) const;
  // The number of elements of a 1-D (or scalar) shape input from its desc; -1 if unknown.
  int64_t length(int i) const;
  // The layer's number of outputs, or `fallback` before its outputs exist.
  int numOutputs(int fallback) const {
    return layer.outputs.empty() ? fallback : static_cast<int>(layer.outputs.size());
  }
};

namespace shape_rules {

using Outputs = std::vector<TensorDesc>;

// ---- dims ----------------------------------------------------------------------------------------

inline bool known(int64_t d) { return d >= 0; }
// Products and sums of known dims throw kInvalidArgument ("size overflow") when they do not fit in int64;
// inferOutputs adds the layer to the message.
inline int64_t mulDims(int64_t a, int64_t b) { return known(a) && known(b) ? mulOrThrow(a, b, "dims product") : -1; }
inline int64_t addDims(int64_t a, int64_t b) { return known(a) && known(b) ? addOrThrow(a, b, "dims sum") : -1; }
inline int64_t rankOf(const Dims& d) { return static_cast<int64_t>(d.size()); }

// Most dims an output may have when its rank is read from the length of a shape input whose values are
// not known: far above any real network, low enough that a hostile length cannot ask for a huge Dims.
constexpr int64_t kMaxUnknownRank = 64;
// `rank` unknown dims; throws kInvalidArgument naming the layer when rank exceeds kMaxUnknownRank.
Dims unknownDims(const ShapeInferenceContext& c, int64_t rank);

// Floor / ceil of a / b for any signs (b != 0).
int64_t floorDiv(int64_t a, int64_t b);
int64_t ceilDiv(int64_t a, int64_t b);

// A dim computed in floating point (Resize scales, a float Range): throws kInvalidArgument naming the layer
// and `what` unless it is a number in [0, 2^62] (within int64 with room; maxTensorElements bounds it further).
int64_t dimFromDouble(const ShapeInferenceContext& c, double value, const char* what);

// Product of dims[begin, end); -1 if any is unknown.
int64_t product(const Dims& dims, size_t begin, size_t end);

// ---- types and values ----------------------------------------------------------------------------

bool isIntegerType(DataType t);
bool isFloatType(DataType t);

// Reads a numeric host tensor (integer or float) as doubles.
std::vector<double> readNumbers(const HostTensor& value);

// ---- checks --------------------------------------------------------------------------------------

// Checks that there are between lo and hi inputs and that the first lo are given.
void expectInputs(const ShapeInferenceContext& c, int lo, int hi);
void expectRank(const ShapeInferenceContext& c, int i, int64_t minRank, const char* what);
void expectIndexType(const ShapeInferenceContext& c, int i, const char* what);

// Normalizes each axis and rejects duplicates.
Dims normalizeAxes(const ShapeInferenceContext& c, const Dims& axes, int64_t rank);

// Two dims that must agree; returns the known one.
int64_t mergeDims(const ShapeInferenceContext& c, int64_t a, int64_t b, const char* what);

// A single output.
inline Outputs one(DataType type, Dims shape) { return {TensorDesc{type, std::move(shape)}}; }

// ---- the shape rule of each layer type, by family file -------------------------------------------

// elementwise.cpp
Outputs inferIdentity(const ShapeInferenceContext& c);
Outputs inferCast(const ShapeInferenceContext& c);
Outputs inferElementWise(const ShapeInferenceContext& c);
Outputs inferUnary(const ShapeInferenceContext& c);
Outputs inferActivation(const ShapeInferenceContext& c);
Outputs inferSelect(const ShapeInferenceContext& c);
Outputs inferQuantize(const ShapeInferenceContext& c);
Outputs inferDequantize(const ShapeInferenceContext& c);

// generators.cpp
Outputs inferConstant(const ShapeInferenceContext& c);
Outputs inferConstantOfShape(const ShapeInferenceContext& c);
Outputs inferRange(const ShapeInferenceContext& c);
Outputs inferRandom(const ShapeInferenceContext& c);

// nn.cpp
Outputs inferMatrixMultiply(const ShapeInferenceContext& c);
Outputs inferConvolution(const ShapeInferenceContext& c);
Outputs inferDeconvolution(const ShapeInferenceContext& c);
Outputs inferPooling(const ShapeInferenceContext& c);
Outputs inferSoftmax(const ShapeInferenceContext& c);
Outputs inferNormalization(const ShapeInferenceContext& c);
Outputs inferAttention(const ShapeInferenceContext& c);
Outputs inferPointwise(const ShapeInferenceContext& c);
Outputs inferQuantizedConvolution(const ShapeInferenceContext& c);
Outputs inferQuantizedMatrixMultiply(const ShapeInferenceContext& c);
Outputs inferLRN(const ShapeInferenceContext& c);
Outputs inferEinsum(const ShapeInferenceContext& c);
Outputs inferDeterminant(const ShapeInferenceContext& c);

// reduce.cpp
Outputs inferReduce(const ShapeInferenceContext& c);
Outputs inferTopK(const ShapeInferenceContext& c);
Outputs inferArgMinMax(const ShapeInferenceContext& c);
Outputs inferCumSum(const ShapeInferenceContext& c);

// data_movement.cpp
Outputs inferReshape(const ShapeInferenceContext& c);
Outputs inferTranspose(const ShapeInferenceContext& c);
Outputs inferConcatenation(const ShapeInferenceContext& c);
Outputs inferSlice(const ShapeInferenceContext& c);
Outputs inferSplit(const ShapeInferenceContext& c);
Outputs inferShape(const ShapeInferenceContext& c);
Outputs inferExpand(const ShapeInferenceContext& c);
Outputs inferTile(const ShapeInferenceContext& c);
Outputs inferPadding(const ShapeInferenceContext& c);
Outputs inferTrilu(const ShapeInferenceContext& c);
Outputs inferSpaceDepth(const ShapeInferenceContext& c);

// indexing.cpp
Outputs inferGather(const ShapeInferenceContext& c);
Outputs inferScatter(const ShapeInferenceContext& c);
Outputs inferNonZero(const ShapeInferenceContext& c);
Outputs inferOneHot(const ShapeInferenceContext& c);
Outputs inferUnique(const ShapeInferenceContext& c);

// vision.cpp
Outputs inferResize(const ShapeInferenceContext& c);
Outputs inferGridSample(const ShapeInferenceContext& c);
Outputs inferNonMaxSuppression(const ShapeInferenceContext& c);
Outputs inferRoiAlign(const ShapeInferenceContext& c);

// signal.cpp
Outputs inferDFT(const ShapeInferenceContext& c);
Outputs inferSTFT(const ShapeInferenceContext& c);
Outputs inferWindow(const ShapeInferenceContext& c);
Outputs inferMelWeightMatrix(const ShapeInferenceContext& c);

// text.cpp
Outputs inferTfIdfVectorizer(const ShapeInferenceContext& c);
Outputs inferStringNormalizer(const ShapeInferenceContext& c);

// recurrent.cpp
Outputs inferRecurrent(const ShapeInferenceContext& c);

// control_flow.cpp
Outputs inferIf(const ShapeInferenceContext& c);
Outputs inferLoop(const ShapeInferenceContext& c);
Outputs inferScan(const ShapeInferenceContext& c);
Outputs inferSequence(const ShapeInferenceContext& c);
Outputs inferOptional(const ShapeInferenceContext& c);
Outputs inferSequenceMap(const ShapeInferenceContext& c);

}  // namespace shape_rules
}  // namespace kiln::ir
