// CPU kernel entry points, one per layer type. Each lives in kernels/<name>.cpp and opens with a line
// on its algorithm. All take row-major host views; outputs are allocated with their inferred shapes.
#pragma once

#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"

namespace kiln::cpu {

#define KILN_CPU_KERNEL(Name) void run##Name(const ir::Layer& layer, const KernelArgs& args)

KILN_CPU_KERNEL(Constant);
KILN_CPU_KERNEL(Identity);
KILN_CPU_KERNEL(Cast);
KILN_CPU_KERNEL(ElementWise);
KILN_CPU_KERNEL(Unary);
KILN_CPU_KERNEL(Activation);
KILN_CPU_KERNEL(MatrixMultiply);
KILN_CPU_KERNEL(Convolution);
KILN_CPU_KERNEL(Deconvolution);
KILN_CPU_KERNEL(Pooling);
KILN_CPU_KERNEL(Reduce);
KILN_CPU_KERNEL(Softmax);
KILN_CPU_KERNEL(Normalization);
KILN_CPU_KERNEL(Reshape);
KILN_CPU_KERNEL(Transpose);
KILN_CPU_KERNEL(Concatenation);
KILN_CPU_KERNEL(Slice);
KILN_CPU_KERNEL(Split);
KILN_CPU_KERNEL(Gather);
KILN_CPU_KERNEL(Scatter);
KILN_CPU_KERNEL(Shape);
KILN_CPU_KERNEL(ConstantOfShape);
KILN_CPU_KERNEL(Range);
KILN_CPU_KERNEL(Expand);
KILN_CPU_KERNEL(Tile);
KILN_CPU_KERNEL(Select);
KILN_CPU_KERNEL(Padding);
KILN_CPU_KERNEL(Resize);
KILN_CPU_KERNEL(TopK);
KILN_CPU_KERNEL(ArgMinMax);
KILN_CPU_KERNEL(CumSum);
KILN_CPU_KERNEL(Einsum);
KILN_CPU_KERNEL(NonZero);
KILN_CPU_KERNEL(OneHot);
KILN_CPU_KERNEL(Quantize);
KILN_CPU_KERNEL(Dequantize);
KILN_CPU_KERNEL(Trilu);
KILN_CPU_KERNEL(LRN);
KILN_CPU_KERNEL(SpaceDepth);
KILN_CPU_KERNEL(GridSample);
KILN_CPU_KERNEL(NonMaxSuppression);
KILN_CPU_KERNEL(RoiAlign);
KILN_CPU_KERNEL(Unique);
KILN_CPU_KERNEL(Determinant);
KILN_CPU_KERNEL(TfIdfVectorizer);
KILN_CPU_KERNEL(DFT);
KILN_CPU_KERNEL(STFT);
KILN_CPU_KERNEL(Window);
KILN_CPU_KERNEL(MelWeightMatrix);
KILN_CPU_KERNEL(Random);
KILN_CPU_KERNEL(Recurrent);
KILN_CPU_KERNEL(StringNormalizer);

#undef KILN_CPU_KERNEL

// Layers on whole host values (control flow, sequences, optionals): they take and return HostTensors,
// whose shapes they decide (see hostKernelFor).
#define KILN_CPU_HOST_KERNEL(Name) \
  std::vector<HostTensor> run##Name(const ir::Layer& layer, const std::vector<const HostTensor*>& inputs)

KILN_CPU_HOST_KERNEL(If);
KILN_CPU_HOST_KERNEL(Loop);
KILN_CPU_HOST_KERNEL(Scan);
KILN_CPU_HOST_KERNEL(Sequence);
KILN_CPU_HOST_KERNEL(Optional);
KILN_CPU_HOST_KERNEL(SequenceMap);

// Prepared kernels (cpu_backend.h): weights packed once for the GEMM.
std::unique_ptr<PreparedKernel> prepareConvolution(const ir::Layer& layer, const std::vector<const HostTensor*>& constants);
std::unique_ptr<PreparedKernel> prepareMatrixMultiply(const ir::Layer& layer,
                                                      const std::vector<const HostTensor*>& constants);

}  // namespace kiln::cpu
