// The layer table: one row per core layer type, in LayerType order (checked at compile time).
#include "ir/layer_table.h"

#include <iterator>

#include "core/error.h"
#include "ir/layers/shape_rules.h"

namespace kiln::ir {

namespace {

using namespace shape_rules;
using enum LayerType;

// Control flow, sequences and optionals: whole values on the host, sequences and optionals in and out.
constexpr LayerTraits kHostValueLayer = kRunsOnHostValues | kAcceptsContainers;

constexpr LayerTypeInfo kLayerTable[] = {
    // type              name                 shape rule              shape inputs            traits
    {kConstant,          "Constant",          inferConstant,          noInputs(),             kNoTraits},
    {kIdentity,          "Identity",          inferIdentity,          noInputs(),             kAcceptsContainers},
    {kCast,              "Cast",              inferCast,              noInputs(),             kNoTraits},
    {kElementWise,       "ElementWise",       inferElementWise,       noInputs(),             kNoTraits},
    {kUnary,             "Unary",             inferUnary,             noInputs(),             kNoTraits},
    {kActivation,        "Activation",        inferActivation,        noInputs(),             kNoTraits},
    {kMatrixMultiply,    "MatrixMultiply",    inferMatrixMultiply,    noInputs(),             kNoTraits},
    {kConvolution,       "Convolution",       inferConvolution,       noInputs(),             kNoTraits},
    {kDeconvolution,     "Deconvolution",     inferDeconvolution,     noInputs(),             kNoTraits},
    {kPooling,           "Pooling",           inferPooling,           noInputs(),             kNoTraits},
    {kReduce,            "Reduce",            inferReduce,            inputSet({1}),          kNoTraits},
    {kSoftmax,           "Softmax",           inferSoftmax,           noInputs(),             kNoTraits},
    {kNormalization,     "Normalization",     inferNormalization,     noInputs(),             kNoTraits},
    {kReshape,           "Reshape",           inferReshape,           inputSet({1}),          kNoTraits},
    {kTranspose,         "Transpose",         inferTranspose,         noInputs(),             kNoTraits},
    {kConcatenation,     "Concatenation",     inferConcatenation,     noInputs(),             kNoTraits},
    {kSlice,             "Slice",             inferSlice,             inputSet({1, 2, 3, 4}), kNoTraits},
    {kSplit,             "Split",             inferSplit,             inputSet({1}),          kNoTraits},
    {kGather,            "Gather",            inferGather,            noInputs(),             kNoTraits},
    {kScatter,           "Scatter",           inferScatter,           noInputs(),             kNoTraits},
    {kShape,             "Shape",             inferShape,             noInputs(),             kNoTraits},
    {kConstantOfShape,   "ConstantOfShape",   inferConstantOfShape,   inputSet({0}),          kNoTraits},
    {kRange,             "Range",             inferRange,             inputSet({0, 1, 2}),    kNoTraits},
    {kExpand,            "Expand",            inferExpand,            inputSet({1}),          kNoTraits},
    {kTile,              "Tile",              inferTile,              inputSet({1}),          kNoTraits},
    {kSelect,            "Select",            inferSelect,            noInputs(),             kNoTraits},
    {kPadding,           "Padding",           inferPadding,           inputSet({1, 3}),       kNoTraits},
    {kResize,            "Resize",            inferResize,            inputSet({1, 2, 3}),    kNoTraits},
    {kTopK,              "TopK",              inferTopK,              inputSet({1}),          kNoTraits},
    {kArgMinMax,         "ArgMinMax",         inferArgMinMax,         noInputs(),             kNoTraits},
    {kCumSum,            "CumSum",            inferCumSum,            inputSet({1}),          kNoTraits},
    {kEinsum,            "Einsum",            inferEinsum,            noInputs(),             kNoTraits},
    {kNonZero,           "NonZero",           inferNonZero,           noInputs(),             kDataDependentShape},
    {kOneHot,            "OneHot",            inferOneHot,            inputSet({1}),          kNoTraits},
    {kQuantize,          "Quantize",          inferQuantize,          noInputs(),             kNoTraits},
    {kDequantize,        "Dequantize",        inferDequantize,        noInputs(),             kNoTraits},
    {kTrilu,             "Trilu",             inferTrilu,             inputSet({1}),          kNoTraits},
    {kLRN,               "LRN",               inferLRN,               noInputs(),             kNoTraits},
    {kSpaceDepth,        "SpaceDepth",        inferSpaceDepth,        noInputs(),             kNoTraits},
    {kGridSample,        "GridSample",        inferGridSample,        noInputs(),             kNoTraits},
    {kNonMaxSuppression, "NonMaxSuppression", inferNonMaxSuppression, noInputs(),             kDataDependentShape},
    {kRoiAlign,          "RoiAlign",          inferRoiAlign,          noInputs(),             kNoTraits},
    {kUnique,            "Unique",            inferUnique,            noInputs(),             kDataDependentShape},
    {kDeterminant,       "Determinant",       inferDeterminant,       noInputs(),             kNoTraits},
    {kTfIdfVectorizer,   "TfIdfVectorizer",   inferTfIdfVectorizer,   noInputs(),             kNoTraits},
    {kDFT,               "DFT",               inferDFT,               inputSet({1}),          kNoTraits},
    {kSTFT,              "STFT",              inferSTFT,              inputSet({1, 3}),       kNoTraits},
    {kWindow,            "Window",            inferWindow,            inputSet({0}),          kNoTraits},
    {kMelWeightMatrix,   "MelWeightMatrix",   inferMelWeightMatrix,   inputSet({0, 1}),       kNoTraits},
    {kRandom,            "Random",            inferRandom,            noInputs(),             kProducesRunTimeValues},
    {kRecurrent,         "Recurrent",         inferRecurrent,         noInputs(),             kNoTraits},
    {kIf,                "If",                inferIf,                noInputs(),             kHostValueLayer},
    {kLoop,              "Loop",              inferLoop,              noInputs(),             kHostValueLayer},
    {kScan,              "Scan",              inferScan,              noInputs(),             kHostValueLayer},
    {kSequence,          "Sequence",          inferSequence,          noInputs(),             kHostValueLayer},
    {kOptional,          "Optional",          inferOptional,          noInputs(),             kHostValueLayer},
    {kSequenceMap,       "SequenceMap",       inferSequenceMap,       noInputs(),             kHostValueLayer},
    {kStringNormalizer,  "StringNormalizer",  inferStringNormalizer,  noInputs(),             kDataDependentShape},
    {kAttention,         "Attention",         inferAttention,         noInputs(),             kNoTraits},
    {kPointwise,         "Pointwise",         inferPointwise,         noInputs(),             kNoTraits},
    {kQuantizedConvolution, "QuantizedConvolution", inferQuantizedConvolution, noInputs(),    kNoTraits},
    {kQuantizedMatrixMultiply, "QuantizedMatrixMultiply", inferQuantizedMatrixMultiply, noInputs(), kNoTraits},
};

constexpr bool everyRowComplete() {
  for (size_t i = 0; i < std::size(kLayerTable); ++i) {
    const LayerTypeInfo& row = kLayerTable[i];
    if (row.type != static_cast<LayerType>(i) || row.name == nullptr || row.inferOutputs == nullptr) return false;
  }
  return true;
}
static_assert(std::size(kLayerTable) == static_cast<size_t>(LayerType::kCount), "one row per layer type");
static_assert(everyRowComplete(), "rows must be in LayerType order, each with a name and a shape rule");

}  // namespace

const LayerTypeInfo& layerInfo(LayerType type) {
  auto i = static_cast<size_t>(type);
  KILN_CHECK(i < std::size(kLayerTable), kInternal, "no layer type has the value ", i);
  return kLayerTable[i];
}

}  // namespace kiln::ir
