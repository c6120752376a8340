// The one table of supported ONNX ops (default domain): op type -> importer, checker, opset range.
#include <unordered_map>

#include "core/error.h"

#include "onnx/importers/importers.h"

namespace kiln::onnx_import {

const std::vector<OpEntry>& opTable() {
  static const std::vector<OpEntry> table = {
      // elementwise.cpp
      {"Add", importBinary, checkBinary, 1, 0},
      {"Sub", importBinary, checkBinary, 1, 0},
      {"Mul", importBinary, checkBinary, 1, 0},
      {"Div", importBinary, checkBinary, 1, 0},
      {"Pow", importBinary, checkBinary, 1, 0},
      {"Mod", importBinary, checkBinary, 10, 0},
      {"And", importBinary, checkBinary, 1, 0},
      {"Or", importBinary, checkBinary, 1, 0},
      {"Xor", importBinary, checkBinary, 1, 0},
      {"Equal", importBinary, checkBinary, 1, 0},
      {"Less", importBinary, checkBinary, 1, 0},
      {"Greater", importBinary, checkBinary, 1, 0},
      {"LessOrEqual", importBinary, checkBinary, 12, 0},
      {"GreaterOrEqual", importBinary, checkBinary, 12, 0},
      {"BitShift", importBinary, checkBinary, 11, 0},
      {"BitwiseAnd", importBinary, checkBinary, 18, 0},
      {"BitwiseOr", importBinary, checkBinary, 18, 0},
      {"BitwiseXor", importBinary, checkBinary, 18, 0},
      {"Max", importVariadic, nullptr, 1, 0},
      {"Min", importVariadic, nullptr, 1, 0},
      {"Sum", importVariadic, nullptr, 1, 0},
      {"Mean", importVariadic, nullptr, 1, 0},
      {"Abs", importUnary, nullptr, 1, 0},
      {"Neg", importUnary, nullptr, 1, 0},
      {"Exp", importUnary, nullptr, 1, 0},
      {"Log", importUnary, nullptr, 1, 0},
      {"Sqrt", importUnary, nullptr, 1, 0},
      {"Reciprocal", importUnary, nullptr, 1, 0},
      {"Floor", importUnary, nullptr, 1, 0},
      {"Ceil", importUnary, nullptr, 1, 0},
      {"Round", importUnary, nullptr, 11, 0},
      {"Sin", importUnary, nullptr, 7, 0},
      {"Cos", importUnary, nullptr, 7, 0},
      {"Tan", importUnary, nullptr, 7, 0},
      {"Asin", importUnary, nullptr, 7, 0},
      {"Acos", importUnary, nullptr, 7, 0},
      {"Atan", importUnary, nullptr, 7, 0},
      {"Sinh", importUnary, nullptr, 9, 0},
      {"Cosh", importUnary, nullptr, 9, 0},
      {"Asinh", importUnary, nullptr, 9, 0},
      {"Acosh", importUnary, nullptr, 9, 0},
      {"Atanh", importUnary, nullptr, 9, 0},
      {"Erf", importUnary, nullptr, 9, 0},
      {"Sign", importUnary, nullptr, 9, 0},
      {"Not", importUnary, nullptr, 1, 0},
      {"IsNaN", importUnary, nullptr, 9, 0},
      {"IsInf", importUnary, checkUnary, 10, 0},
      {"BitwiseNot", importUnary, nullptr, 18, 0},
      {"Relu", importActivation, nullptr, 1, 0},
      {"Sigmoid", importActivation, nullptr, 1, 0},
      {"Tanh", importActivation, nullptr, 1, 0},
      {"LeakyRelu", importActivation, nullptr, 1, 0},
      {"Elu", importActivation, nullptr, 1, 0},
      {"Selu", importActivation, nullptr, 1, 0},
      {"HardSigmoid", importActivation, nullptr, 1, 0},
      {"HardSwish", importActivation, nullptr, 14, 0},
      {"Softplus", importActivation, nullptr, 1, 0},
      {"Softsign", importActivation, nullptr, 1, 0},
      {"ThresholdedRelu", importActivation, nullptr, 10, 0},
      {"Gelu", importActivation, checkActivation, 20, 0},
      {"Mish", importActivation, nullptr, 18, 0},
      {"Celu", importActivation, nullptr, 12, 0},
      {"Swish", importSwish, nullptr, 24, 0},
      {"Clip", importClip, nullptr, 1, 0},
      {"PRelu", importPRelu, nullptr, 1, 0},
      {"Where", importWhere, nullptr, 9, 0},
      // nn.cpp
      {"MatMul", importMatMul, nullptr, 1, 0},
      {"Gemm", importGemm, nullptr, 1, 0},
      {"BatchNormalization", importBatchNormalization, checkBatchNormalization, 1, 0},
      {"InstanceNormalization", importInstanceNormalization, nullptr, 1, 0},
      {"LayerNormalization", importLayerNormalization, checkLayerNormalization, 17, 0},
      {"GroupNormalization", importGroupNormalization, nullptr, 18, 0},
      {"RMSNormalization", importRMSNormalization, nullptr, 23, 0},
      {"LpNormalization", importLpNormalization, nullptr, 1, 0},
      {"RotaryEmbedding", importRotaryEmbedding, nullptr, 23, 0},
      {"LRN", importLRN, nullptr, 1, 0},
      {"Softmax", importSoftmax, nullptr, 1, 0},
      {"LogSoftmax", importSoftmax, nullptr, 1, 0},
      {"Hardmax", importSoftmax, nullptr, 1, 0},
      {"Dropout", importDropout, checkDropout, 1, 0},
      {"QuantizeLinear", importQuantizeLinear, checkQuantizeLinear, 10, 0},
      {"DequantizeLinear", importDequantizeLinear, nullptr, 10, 0},
      {"Einsum", importEinsum, nullptr, 12, 0},
      // conv_pool.cpp
      {"Conv", importConv, checkConv, 1, 0},
      {"ConvTranspose", importConvTranspose, checkConv, 1, 0},
      {"MaxPool", importPool, checkPool, 1, 0},
      {"AveragePool", importPool, checkPool, 1, 0},
      {"LpPool", importPool, checkPool, 1, 0},
      {"GlobalAveragePool", importGlobalPool, checkGlobalPool, 1, 0},
      {"GlobalMaxPool", importGlobalPool, checkGlobalPool, 1, 0},
      {"GlobalLpPool", importGlobalPool, checkGlobalPool, 1, 0},
      // reduce.cpp
      {"ReduceSum", importReduce, nullptr, 1, 0},
      {"ReduceMean", importReduce, nullptr, 1, 0},
      {"ReduceMax", importReduce, nullptr, 1, 0},
      {"ReduceMin", importReduce, nullptr, 1, 0},
      {"ReduceProd", importReduce, nullptr, 1, 0},
      {"ReduceL1", importReduce, nullptr, 1, 0},
      {"ReduceL2", importReduce, nullptr, 1, 0},
      {"ReduceLogSum", importReduce, nullptr, 1, 0},
      {"ReduceLogSumExp", importReduce, nullptr, 1, 0},
      {"ReduceSumSquare", importReduce, nullptr, 1, 0},
      {"ArgMax", importArgMinMax, nullptr, 1, 0},
      {"ArgMin", importArgMinMax, nullptr, 1, 0},
      {"TopK", importTopK, nullptr, 1, 0},
      {"CumSum", importCumSum, nullptr, 11, 0},
      // shape_ops.cpp
      {"Identity", importIdentity, nullptr, 1, 0},
      {"Cast", importCast, checkCast, 1, 0},
      {"CastLike", importCast, checkCast, 15, 0},
      {"Flatten", importFlatten, nullptr, 1, 0},
      {"Reshape", importReshape, nullptr, 1, 0},
      {"Transpose", importTranspose, nullptr, 1, 0},
      {"Concat", importConcat, nullptr, 1, 0},
      {"Shape", importShape, nullptr, 1, 0},
      {"Size", importSize, nullptr, 1, 0},
      {"Squeeze", importSqueeze, nullptr, 1, 0},
      {"Unsqueeze", importSqueeze, nullptr, 1, 0},
      {"Slice", importSlice, nullptr, 1, 0},
      {"Split", importSplit, nullptr, 1, 0},
      {"Pad", importPad, checkPad, 1, 0},
      {"Expand", importExpand, nullptr, 8, 0},
      {"Tile", importTile, checkTile, 1, 0},
      {"Range", importRange, nullptr, 11, 0},
      {"Constant", importConstant, checkConstant, 1, 0},
      {"ConstantOfShape", importConstantOfShape, nullptr, 9, 0},
      {"NonZero", importNonZero, nullptr, 9, 0},
      {"DepthToSpace", importDepthSpace, nullptr, 1, 0},
      {"SpaceToDepth", importDepthSpace, nullptr, 1, 0},
      {"Trilu", importTrilu, nullptr, 14, 0},
      {"OneHot", importOneHot, nullptr, 9, 0},
      // gather_scatter.cpp
      {"Gather", importGather, nullptr, 1, 0},
      {"GatherElements", importGather, nullptr, 11, 0},
      {"GatherND", importGather, nullptr, 11, 0},
      {"Scatter", importScatter, checkScatter, 9, 10},
      {"ScatterElements", importScatter, checkScatter, 11, 0},
      {"ScatterND", importScatter, checkScatter, 11, 0},
      // resize.cpp
      {"Resize", importResize, checkResize, 10, 0},
      {"Upsample", importResize, checkResize, 1, 9},
      // vision_index.cpp
      {"GridSample", importGridSample, checkGridSample, 16, 0},
      {"RoiAlign", importRoiAlign, checkRoiAlign, 10, 0},
      {"NonMaxSuppression", importNonMaxSuppression, nullptr, 10, 0},
      {"Unique", importUnique, nullptr, 11, 0},
      {"Det", importDet, nullptr, 11, 0},
      {"Compress", importCompress, nullptr, 9, 0},
      {"MaxUnpool", importMaxUnpool, nullptr, 9, 0},
      {"ReverseSequence", importReverseSequence, nullptr, 10, 0},
      // quantized.cpp
      {"ConvInteger", importConvInteger, checkConv, 10, 0},
      {"MatMulInteger", importMatMulInteger, nullptr, 10, 0},
      {"QLinearConv", importQLinearConv, checkConv, 10, 0},
      {"QLinearMatMul", importQLinearMatMul, nullptr, 10, 0},
      {"DynamicQuantizeLinear", importDynamicQuantizeLinear, nullptr, 11, 0},
      // signal.cpp
      {"DFT", importDFT, nullptr, 17, 0},
      {"STFT", importSTFT, nullptr, 17, 0},
      {"HannWindow", importWindow, checkOutputDataType, 17, 0},
      {"HammingWindow", importWindow, checkOutputDataType, 17, 0},
      {"BlackmanWindow", importWindow, checkOutputDataType, 17, 0},
      {"MelWeightMatrix", importMelWeightMatrix, checkOutputDataType, 17, 0},
      {"TfIdfVectorizer", importTfIdfVectorizer, checkTfIdfVectorizer, 9, 0},
      // random.cpp
      {"RandomUniform", importRandom, nullptr, 1, 0},
      {"RandomNormal", importRandom, nullptr, 1, 0},
      {"RandomUniformLike", importRandom, nullptr, 1, 0},
      {"RandomNormalLike", importRandom, nullptr, 1, 0},
      {"Bernoulli", importRandom, nullptr, 15, 0},
      {"Multinomial", importRandom, nullptr, 7, 0},
      // loss.cpp
      {"NegativeLogLikelihoodLoss", importNegativeLogLikelihoodLoss, nullptr, 12, 0},
      {"SoftmaxCrossEntropyLoss", importSoftmaxCrossEntropyLoss, nullptr, 12, 0},
      // small ops lowered onto existing layers
      {"Shrink", importShrink, nullptr, 9, 0},
      {"MeanVarianceNormalization", importMeanVarianceNormalization, nullptr, 9, 0},
      {"EyeLike", importEyeLike, nullptr, 9, 0},
      // recurrent.cpp
      {"RNN", importRecurrent, checkRecurrent, 1, 0},
      {"GRU", importRecurrent, checkRecurrent, 1, 0},
      {"LSTM", importRecurrent, checkRecurrent, 1, 0},
      // control_flow.cpp
      {"If", importIf, checkControlFlow, 1, 0},
      {"Loop", importLoop, checkControlFlow, 1, 0},
      {"Scan", importScan, checkControlFlow, 8, 0},
      {"SequenceMap", importSequenceMap, checkControlFlow, 17, 0},
      {"SequenceConstruct", importSequence, nullptr, 11, 0},
      {"SequenceEmpty", importSequence, nullptr, 11, 0},
      {"SequenceInsert", importSequence, nullptr, 11, 0},
      {"SequenceAt", importSequence, nullptr, 11, 0},
      {"SequenceErase", importSequence, nullptr, 11, 0},
      {"SequenceLength", importSequence, nullptr, 11, 0},
      {"SplitToSequence", importSequence, nullptr, 11, 0},
      {"ConcatFromSequence", importSequence, checkConcatFromSequence, 11, 0},
      {"Optional", importOptional, nullptr, 15, 0},
      {"OptionalGetElement", importOptional, nullptr, 15, 0},
      {"OptionalHasElement", importOptional, nullptr, 15, 0},
      // text.cpp
      {"StringNormalizer", importStringNormalizer, nullptr, 10, 0},
  };
  return table;
}

const OpEntry* findOp(const std::string& opType) {
  static const std::unordered_map<std::string, const OpEntry*> index = [] {
    std::unordered_map<std::string, const OpEntry*> m;
    for (const auto& e : opTable()) m[e.opType] = &e;
    return m;
  }();
  auto it = index.find(opType);
  return it == index.end() ? nullptr : it->second;
}

// The ops of Kiln's table whose definition changed in opsets 23..28 in a way the importer does not
// implement: from that version on, a node is refused. Every other change of those opsets only adds
// element types (float4e2m1, float8e8m0, int2, float6, bfloat16 here and there), which the tensor-type
// reader refuses by name when Kiln lacks them, or removes types; those versions are imported as before.
// Checked against onnx 1.23.2 (onnx.defs.get_schema(op, max_inclusive_version=v)).
struct UnimplementedVersion {
  const char* opType;
  int version;         // the first version Kiln does not implement
  const char* change;  // what that version changed
};
constexpr UnimplementedVersion kUnimplementedVersions[] = {
    {"QuantizeLinear", 23, "the 'precision' attribute and float4e2m1 outputs"},
    {"DequantizeLinear", 23, "the 'output_dtype' attribute and float4e2m1 inputs"},
    {"Range", 27, "float16/bfloat16 accumulation in 'stash_type' precision"},
    {"Mod", 28, "fmod=0 on floating-point inputs"},
    {"BitShift", 28, "signed integer inputs (arithmetic right shift)"},
    {"SpaceToDepth", 28, "the 'mode' attribute (DCR/CRD)"},
};

std::string unimplementedVersionReason(const std::string& opType, int64_t opset) {
  for (const auto& u : kUnimplementedVersions)
    if (opType == u.opType && opset >= u.version)
      return concat(opType, " version ", u.version, " (opset ", u.version, " and newer; the model's is ", opset,
                    ") is not supported: it added ", u.change, ", and Kiln implements ", opType,
                    " as defined up to opset ", u.version - 1);
  return "";
}

}  // namespace kiln::onnx_import
