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
  };
  static_assert(sizeof(table) / sizeof(table[0]) == static_cast<size_t>(LayerType::kCount),
                "one CPU kernel per layer type");
  auto i = static_cast<size_t>(type);
  return i < static_cast<size_t>(LayerType::kCount) ? table[i] : nullptr;
}

PrepareFunction prepareFunctionFor(LayerType type) {
  switch (type) {
    case LayerType::kConvolution: return prepareConvolution;
    case LayerType::kMatrixMultiply: return prepareMatrixMultiply;
    default: return nullptr;
  }
}

}  // namespace kiln::cpu
