// The CPU backend's kernel table: every row {layer type, tactic, supports, create}, in LayerType order.
// Several rows for a layer type are its tactic candidates, the preferred first; every layer type has at
// least one row (tests/cpu_kernels/test_cpu_tactics.cpp checks).
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernels/channels_last.h"
#include "backends/cpu/kernels/kernels.h"

namespace kiln::cpu {

const CpuKernelTable& kernelTable() {
  using T = LayerType;
  static const CpuKernelTable table("CPU", {
      {T::kConstant, "cpu.constant", supportsConstant, createFunctionKernel<runConstant>},
      {T::kIdentity, "cpu.identity", supportsIdentity, createIdentity},
      {T::kCast, "cpu.cast", supportsCast, createFunctionKernel<runCast>},
      {T::kElementWise, "cpu.elementwise", supportsElementWise, createFunctionKernel<runElementWise>},
      {T::kUnary, "cpu.unary", supportsUnary, createFunctionKernel<runUnary>},
      {T::kActivation, "cpu.activation", supportsActivation, createFunctionKernel<runActivation>},
      {T::kMatrixMultiply, "cpu.gemm.packed", supportsMatrixMultiply, createMatrixMultiply},
#if KILN_HAVE_DNNL
      {T::kMatrixMultiply, "cpu.gemm.onednn", supportsMatrixMultiplyOneDnn, createMatrixMultiplyOneDnn, 1},
#endif
      {T::kConvolution, "cpu.conv.direct_depthwise", supportsConvolutionDirectDepthwise,
       createConvolutionDirectDepthwise},
      {T::kConvolution, "cpu.conv.gemm_packed", supportsConvolutionGemm, createConvolutionGemm},
#if KILN_HAVE_DNNL
      {T::kConvolution, "cpu.conv.onednn", supportsConvolutionOneDnn, createConvolutionOneDnn, 1},
#endif
      {T::kDeconvolution, "cpu.deconv.gemm_col2im", supportsDeconvolution, createFunctionKernel<runDeconvolution>},
      {T::kPooling, "cpu.pooling", supportsPoolingChannelsFirst, createFunctionKernel<runPooling>},
      {T::kPooling, "cpu.pooling.channels_last", supportsPoolingChannelsLast,
       createFunctionKernel<runPoolingChannelsLast>},
      {T::kReduce, "cpu.reduce", supportsReduce, createFunctionKernel<runReduce>},
      {T::kSoftmax, "cpu.softmax", supportsSoftmax, createFunctionKernel<runSoftmax>},
      {T::kNormalization, "cpu.normalization", supportsNormalization, createFunctionKernel<runNormalization>},
      {T::kReshape, "cpu.reshape", supportsReshape, createFunctionKernel<runReshape>},
      {T::kTranspose, "cpu.transpose", supportsTranspose, createFunctionKernel<runTranspose>},
      {T::kConcatenation, "cpu.concat", supportsConcatenation, createFunctionKernel<runConcatenation>},
      {T::kSlice, "cpu.slice", supportsSlice, createFunctionKernel<runSlice>},
      {T::kSplit, "cpu.split", supportsSplit, createFunctionKernel<runSplit>},
      {T::kGather, "cpu.gather", supportsGather, createFunctionKernel<runGather>},
      {T::kScatter, "cpu.scatter", supportsScatter, createFunctionKernel<runScatter>},
      {T::kShape, "cpu.shape", supportsShape, createFunctionKernel<runShape>},
      {T::kConstantOfShape, "cpu.constant_of_shape", supportsConstantOfShape, createFunctionKernel<runConstantOfShape>},
      {T::kRange, "cpu.range", supportsRange, createFunctionKernel<runRange>},
      {T::kExpand, "cpu.expand", supportsExpand, createFunctionKernel<runExpand>},
      {T::kTile, "cpu.tile", supportsTile, createFunctionKernel<runTile>},
      {T::kSelect, "cpu.select", supportsSelect, createFunctionKernel<runSelect>},
      {T::kPadding, "cpu.padding", supportsPadding, createFunctionKernel<runPadding>},
      {T::kResize, "cpu.resize", supportsResize, createFunctionKernel<runResize>},
      {T::kTopK, "cpu.topk", supportsTopK, createFunctionKernel<runTopK>},
      {T::kArgMinMax, "cpu.arg_min_max", supportsArgMinMax, createFunctionKernel<runArgMinMax>},
      {T::kCumSum, "cpu.cumsum", supportsCumSum, createFunctionKernel<runCumSum>},
      {T::kEinsum, "cpu.einsum", supportsEinsum, createFunctionKernel<runEinsum>},
      {T::kNonZero, "cpu.nonzero", supportsNonZero, createFunctionKernel<runNonZero, countNonZero>},
      {T::kOneHot, "cpu.one_hot", supportsOneHot, createFunctionKernel<runOneHot>},
      {T::kQuantize, "cpu.quantize", supportsQuantize, createFunctionKernel<runQuantize>},
      {T::kDequantize, "cpu.dequantize", supportsDequantize, createFunctionKernel<runDequantize>},
      {T::kTrilu, "cpu.trilu", supportsTrilu, createFunctionKernel<runTrilu>},
      {T::kLRN, "cpu.lrn", supportsLRN, createFunctionKernel<runLRN>},
      {T::kSpaceDepth, "cpu.space_depth", supportsSpaceDepth, createFunctionKernel<runSpaceDepth>},
      {T::kGridSample, "cpu.grid_sample", supportsGridSample, createFunctionKernel<runGridSample>},
      {T::kNonMaxSuppression, "cpu.non_max_suppression", supportsNonMaxSuppression,
       createFunctionKernel<runNonMaxSuppression, countSelectedBoxes>},
      {T::kRoiAlign, "cpu.roi_align", supportsRoiAlign, createFunctionKernel<runRoiAlign>},
      {T::kUnique, "cpu.unique", supportsUnique, createFunctionKernel<runUnique, countUnique>},
      {T::kDeterminant, "cpu.determinant", supportsDeterminant, createFunctionKernel<runDeterminant>},
      {T::kTfIdfVectorizer, "cpu.tfidf_vectorizer", supportsTfIdfVectorizer, createFunctionKernel<runTfIdfVectorizer>},
      {T::kDFT, "cpu.dft", supportsDFT, createFunctionKernel<runDFT>},
      {T::kSTFT, "cpu.stft", supportsSTFT, createFunctionKernel<runSTFT>},
      {T::kWindow, "cpu.window", supportsWindow, createFunctionKernel<runWindow>},
      {T::kMelWeightMatrix, "cpu.mel_weight_matrix", supportsMelWeightMatrix, createFunctionKernel<runMelWeightMatrix>},
      {T::kRandom, "cpu.random", supportsRandom, createFunctionKernel<runRandom>},
      {T::kRecurrent, "cpu.recurrent", supportsRecurrent, createFunctionKernel<runRecurrent>},
      // Layers on whole host values: they run through host::evaluateLayer only (HostValueKernel).
      {T::kIf, "cpu.host.if", supportsControlFlow, createHostValueKernel<runIf>},
      {T::kLoop, "cpu.host.loop", supportsControlFlow, createHostValueKernel<runLoop>},
      {T::kScan, "cpu.host.scan", supportsControlFlow, createHostValueKernel<runScan>},
      {T::kSequence, "cpu.host.sequence", supportsContainers, createHostValueKernel<runSequence>},
      {T::kOptional, "cpu.host.optional", supportsContainers, createHostValueKernel<runOptional>},
      {T::kSequenceMap, "cpu.host.sequence_map", supportsControlFlow, createHostValueKernel<runSequenceMap>},
      {T::kStringNormalizer, "cpu.string_normalizer", supportsStringNormalizer,
       createFunctionKernel<runStringNormalizer, countNormalizedStrings>},
      {T::kAttention, "cpu.attention", supportsAttention, createFunctionKernel<runAttention>},
      {T::kPointwise, "cpu.pointwise", supportsPointwise, createFunctionKernel<runPointwise>},
#if KILN_HAVE_DNNL
      {T::kQuantizedConvolution, "cpu.qconv.onednn", supportsQuantizedConvolutionOneDnn,
       createQuantizedConvolutionOneDnn},
#endif
      // The exact reference: slow direct loops, timed only from effort 4 when oneDNN runs the layer.
      {T::kQuantizedConvolution, "cpu.qconv.reference", supportsQuantizedConvolutionReference,
       createQuantizedConvolutionReference, 4},
#if KILN_HAVE_DNNL
      {T::kQuantizedMatrixMultiply, "cpu.qgemm.onednn", supportsQuantizedMatrixMultiplyOneDnn,
       createQuantizedMatrixMultiplyOneDnn},
#endif
      {T::kQuantizedMatrixMultiply, "cpu.qgemm.reference", supportsQuantizedMatrixMultiplyReference,
       createQuantizedMatrixMultiplyReference, 4},
  });
  return table;
}

}  // namespace kiln::cpu
