// Declarations of the ONNX op importers (one file per op family) and the op table.
#pragma once

#include <string>
#include <vector>

#include "onnx/importer_context.h"

namespace kiln::onnx_import {

using ImportFn = void (*)(ImporterContext&);
// Returns why a node cannot be imported ("" when it can). Only cheap attribute checks.
using CheckFn = std::string (*)(const NodeView&);

struct OpEntry {
  const char* opType;
  ImportFn import;
  CheckFn check;    // may be null
  int minOpset;     // the first opset that defines the op
  int maxOpset;     // the last opset where the op exists (removed ops), 0 for none
};

// The importer's supported opset range of the default domain.
constexpr int64_t kMinOpset = 1;
// Checked against onnx 1.23.2 (onnx.defs.get_schema(op, max_inclusive_version=v)): the changes of opsets 23..28
// to Kiln's ops either add or remove element types (types Kiln lacks are refused by name when the tensor
// types are read) or are implemented, with the variants Kiln lacks refused by node: QuantizeLinear 23
// 'precision', DequantizeLinear 23 'output_dtype', Range 27 'stash_type' other than float32, BitShift 28 on
// signed integers. Mod 28 (fmod=0 on floats) is the kernels' floor modulo; SpaceToDepth 28 mode CRD is
// lowered to Reshape/Transpose.
constexpr int64_t kMaxOpset = 28;

const OpEntry* findOp(const std::string& opType);
const std::vector<OpEntry>& opTable();

// elementwise.cpp
void importBinary(ImporterContext& ctx);      // Add Sub Mul Div Pow And Or Xor Equal Less ... BitShift Bitwise*
void importVariadic(ImporterContext& ctx);    // Max Min Sum Mean
void importUnary(ImporterContext& ctx);       // Abs Neg Exp ... Not IsNaN IsInf BitwiseNot
void importActivation(ImporterContext& ctx);  // Relu Sigmoid Tanh LeakyRelu Elu Selu ... Gelu Mish Celu
void importClip(ImporterContext& ctx);
void importPRelu(ImporterContext& ctx);
void importWhere(ImporterContext& ctx);
void importShrink(ImporterContext& ctx);
void importSwish(ImporterContext& ctx);
void importSwiGLU(ImporterContext& ctx);
std::string checkBinary(const NodeView& n);
std::string checkUnary(const NodeView& n);
std::string checkActivation(const NodeView& n);

// nn.cpp
void importGemm(ImporterContext& ctx);
void importMatMul(ImporterContext& ctx);
void importBatchNormalization(ImporterContext& ctx);
void importInstanceNormalization(ImporterContext& ctx);
void importLayerNormalization(ImporterContext& ctx);
void importGroupNormalization(ImporterContext& ctx);
void importLRN(ImporterContext& ctx);
void importMeanVarianceNormalization(ImporterContext& ctx);
void importRMSNormalization(ImporterContext& ctx);
void importLpNormalization(ImporterContext& ctx);
void importRotaryEmbedding(ImporterContext& ctx);
void importAttention(ImporterContext& ctx);
void importSoftmax(ImporterContext& ctx);     // Softmax LogSoftmax Hardmax
void importDropout(ImporterContext& ctx);
void importQuantizeLinear(ImporterContext& ctx);
void importDequantizeLinear(ImporterContext& ctx);
void importEinsum(ImporterContext& ctx);
std::string checkBatchNormalization(const NodeView& n);
std::string checkLayerNormalization(const NodeView& n);
std::string checkDropout(const NodeView& n);
std::string checkQuantizeLinear(const NodeView& n);
std::string checkDequantizeLinear(const NodeView& n);

// conv_pool.cpp
void importConv(ImporterContext& ctx);
void importConvTranspose(ImporterContext& ctx);
void importPool(ImporterContext& ctx);        // MaxPool AveragePool LpPool
void importGlobalPool(ImporterContext& ctx);  // GlobalAveragePool GlobalMaxPool GlobalLpPool
std::string checkConv(const NodeView& n);
// The Convolution params of a Conv-like node's attributes (shared with ConvInteger, QLinearConv).
ConvolutionParams convolutionParams(const NodeView& n);
std::string checkPool(const NodeView& n);
std::string checkGlobalPool(const NodeView& n);

// reduce.cpp
void importReduce(ImporterContext& ctx);      // ReduceSum ReduceMean ...
void importArgMinMax(ImporterContext& ctx);
void importTopK(ImporterContext& ctx);
void importCumSum(ImporterContext& ctx);

// shape_ops.cpp
void importIdentity(ImporterContext& ctx);
void importCast(ImporterContext& ctx);        // Cast CastLike
void importFlatten(ImporterContext& ctx);
void importReshape(ImporterContext& ctx);
void importTranspose(ImporterContext& ctx);
void importConcat(ImporterContext& ctx);
void importShape(ImporterContext& ctx);
void importSize(ImporterContext& ctx);
void importSqueeze(ImporterContext& ctx);     // Squeeze Unsqueeze
void importSlice(ImporterContext& ctx);
void importSplit(ImporterContext& ctx);
void importPad(ImporterContext& ctx);
void importExpand(ImporterContext& ctx);
void importTile(ImporterContext& ctx);
void importRange(ImporterContext& ctx);
void importConstant(ImporterContext& ctx);
void importConstantOfShape(ImporterContext& ctx);
void importNonZero(ImporterContext& ctx);
void importDepthSpace(ImporterContext& ctx);  // DepthToSpace SpaceToDepth
void importTrilu(ImporterContext& ctx);
void importOneHot(ImporterContext& ctx);
void importEyeLike(ImporterContext& ctx);
std::string checkCast(const NodeView& n);
std::string checkConstant(const NodeView& n);
std::string checkPad(const NodeView& n);
std::string checkTile(const NodeView& n);
std::string checkRange(const NodeView& n);

// gather_scatter.cpp
void importGather(ImporterContext& ctx);      // Gather GatherElements GatherND
void importScatter(ImporterContext& ctx);     // Scatter ScatterElements ScatterND
void importTensorScatter(ImporterContext& ctx);
std::string checkScatter(const NodeView& n);

// vision_index.cpp
void importGridSample(ImporterContext& ctx);
void importRoiAlign(ImporterContext& ctx);
void importNonMaxSuppression(ImporterContext& ctx);
void importUnique(ImporterContext& ctx);
void importDet(ImporterContext& ctx);
void importCompress(ImporterContext& ctx);
void importMaxUnpool(ImporterContext& ctx);
void importReverseSequence(ImporterContext& ctx);
std::string checkGridSample(const NodeView& n);
std::string checkRoiAlign(const NodeView& n);

// resize.cpp
void importResize(ImporterContext& ctx);      // Resize Upsample
std::string checkResize(const NodeView& n);

// quantized.cpp
void importConvInteger(ImporterContext& ctx);
void importMatMulInteger(ImporterContext& ctx);
void importQLinearConv(ImporterContext& ctx);
void importQLinearMatMul(ImporterContext& ctx);
void importDynamicQuantizeLinear(ImporterContext& ctx);

// signal.cpp
void importDFT(ImporterContext& ctx);
void importSTFT(ImporterContext& ctx);
void importWindow(ImporterContext& ctx);      // HannWindow HammingWindow BlackmanWindow
void importMelWeightMatrix(ImporterContext& ctx);
void importTfIdfVectorizer(ImporterContext& ctx);
std::string checkOutputDataType(const NodeView& n);
std::string checkTfIdfVectorizer(const NodeView& n);

// text.cpp
void importStringNormalizer(ImporterContext& ctx);

// random.cpp
void importRandom(ImporterContext& ctx);      // RandomUniform(Like) RandomNormal(Like) Bernoulli Multinomial
// loss.cpp
void importNegativeLogLikelihoodLoss(ImporterContext& ctx);
void importSoftmaxCrossEntropyLoss(ImporterContext& ctx);

// recurrent.cpp
void importRecurrent(ImporterContext& ctx);   // RNN GRU LSTM
std::string checkRecurrent(const NodeView& n);

// Constant node value (shared with the parser for tests).
HostTensor constantNodeValue(const NodeView& n, const std::string& baseDir);

// control_flow.cpp: If, Loop, Scan, SequenceMap (subgraphs), sequence and optional ops
void importIf(ImporterContext& ctx);
void importLoop(ImporterContext& ctx);
void importScan(ImporterContext& ctx);
// If, Loop, Scan, SequenceMap: their graph attributes (and Scan's num_scan_inputs) are present.
std::string checkControlFlow(const NodeView& n);
void importSequenceMap(ImporterContext& ctx);
void importSequence(ImporterContext& ctx);
std::string checkConcatFromSequence(const NodeView& n);
void importOptional(ImporterContext& ctx);

}  // namespace kiln::onnx_import
