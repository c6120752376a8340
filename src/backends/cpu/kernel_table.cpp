// The CPU backend's kernel table: one entry per LayerType, in LayerType order; and the layer types
// whose kernels prepare state (packed weights) at creation.
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernels/kernels.h"

namespace kiln::cpu {

KernelFunction kernelFor(LayerType type) {
  static const KernelFunction table[] = {
      runConstant,      runIdentity,     runCast,          runElementWise, runUnary,         runActivation,
      runMatrixMultiply, runConvolution, runDeconvolution, runPooling,     runReduce,        runSoftmax,
      runNormalization, runReshape,      runTranspose,     runConcatenation, runSlice,       runSplit,
      runGather,        runScatter,      runShape,         runConstantOfShape, runRange,     runExpand,
      runTile,          runSelect,       runPadding,       runResize,      runTopK,          runArgMinMax,
      runCumSum,        runEinsum,       runNonZero,       runOneHot,      runQuantize,      runDequantize,
      runTrilu,         runLRN,          runSpaceDepth,
      runGridSample,    runNonMaxSuppression, runRoiAlign, runUnique,      runDeterminant,
      runTfIdfVectorizer, runDFT,        runSTFT,          runWindow,      runMelWeightMatrix, runRandom,
      runRecurrent,
      nullptr,  // kIf: host kernel
      nullptr,  // kLoop: host kernel
      nullptr,  // kScan: host kernel
      nullptr,  // kSequence: host kernel
      nullptr,  // kOptional: host kernel
      nullptr,  // kSequenceMap: host kernel
      runStringNormalizer,
  };
  static_assert(sizeof(table) / sizeof(table[0]) == static_cast<size_t>(LayerType::kCount),
                "one CPU kernel per layer type");
  auto i = static_cast<size_t>(type);
  return i < static_cast<size_t>(LayerType::kCount) ? table[i] : nullptr;
}

HostKernelFunction hostKernelFor(LayerType type) {
  switch (type) {
    case LayerType::kIf: return runIf;
    case LayerType::kLoop: return runLoop;
    case LayerType::kScan: return runScan;
    case LayerType::kSequence: return runSequence;
    case LayerType::kOptional: return runOptional;
    case LayerType::kSequenceMap: return runSequenceMap;
    default: return nullptr;
  }
}

PrepareFunction prepareFunctionFor(LayerType type) {
  switch (type) {
    case LayerType::kConvolution: return prepareConvolution;
    case LayerType::kMatrixMultiply: return prepareMatrixMultiply;
    default: return nullptr;
  }
}

}  // namespace kiln::cpu
