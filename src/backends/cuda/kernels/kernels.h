// Factories of the CUDA kernels, one per layer type, grouped by family file. kernel_table.cpp maps
// LayerType -> factory and holds the unsupportedReason checks.
#pragma once

#include "backends/cuda/cuda_common.h"

namespace kiln::cuda {

#define KILN_CUDA_FACTORY(Name)                                                                      \
  std::unique_ptr<Kernel> make##Name##Kernel(const std::shared_ptr<DeviceContext>& ctx, const ir::Layer& layer, \
                                             const Constants& constants)

// gemm_cublaslt.cpp
KILN_CUDA_FACTORY(MatrixMultiply);
// conv_cudnn.cpp
KILN_CUDA_FACTORY(Convolution);
KILN_CUDA_FACTORY(Deconvolution);
// elementwise.cu
KILN_CUDA_FACTORY(ElementWise);
KILN_CUDA_FACTORY(Unary);
KILN_CUDA_FACTORY(Activation);
KILN_CUDA_FACTORY(Cast);
KILN_CUDA_FACTORY(Select);
KILN_CUDA_FACTORY(Quantize);
KILN_CUDA_FACTORY(Dequantize);
// reduce.cu
KILN_CUDA_FACTORY(Reduce);
KILN_CUDA_FACTORY(ArgMinMax);
KILN_CUDA_FACTORY(CumSum);
// softmax.cu
KILN_CUDA_FACTORY(Softmax);
// normalization.cu
KILN_CUDA_FACTORY(Normalization);
KILN_CUDA_FACTORY(LRN);
// pooling.cu
KILN_CUDA_FACTORY(Pooling);
// data_movement.cu
KILN_CUDA_FACTORY(Constant);
KILN_CUDA_FACTORY(Identity);  // also Reshape
KILN_CUDA_FACTORY(Transpose);
KILN_CUDA_FACTORY(Concatenation);
KILN_CUDA_FACTORY(Slice);
KILN_CUDA_FACTORY(Split);
KILN_CUDA_FACTORY(Expand);
KILN_CUDA_FACTORY(Tile);
KILN_CUDA_FACTORY(SpaceDepth);
KILN_CUDA_FACTORY(Padding);
KILN_CUDA_FACTORY(Shape);
KILN_CUDA_FACTORY(ConstantOfShape);
KILN_CUDA_FACTORY(Range);
KILN_CUDA_FACTORY(Trilu);
// gather_scatter.cu
KILN_CUDA_FACTORY(Gather);
KILN_CUDA_FACTORY(Scatter);
KILN_CUDA_FACTORY(OneHot);
// resize.cu
KILN_CUDA_FACTORY(Resize);
// topk.cu
KILN_CUDA_FACTORY(TopK);
// einsum.cu
KILN_CUDA_FACTORY(Einsum);
// linear_algebra.cu
KILN_CUDA_FACTORY(Determinant);
// sampling.cu
KILN_CUDA_FACTORY(GridSample);
KILN_CUDA_FACTORY(RoiAlign);
// recurrent.cu
KILN_CUDA_FACTORY(Recurrent);
// spectral.cu
KILN_CUDA_FACTORY(DFT);
KILN_CUDA_FACTORY(STFT);

#undef KILN_CUDA_FACTORY

// Limits of the Einsum kernel, whose per-operand label strides travel by value: operands, and distinct
// summed labels (the output has at most kMaxRank dims).
constexpr int kEinsumMaxOperands = 8;
constexpr int kEinsumMaxSummed = 16;

// The kernel table (kernel_table.cpp): the factory for the layer's type.
std::unique_ptr<Kernel> createKernelFor(const std::shared_ptr<DeviceContext>& ctx, const ir::Layer& layer,
                                        const Constants& constants);

}  // namespace kiln::cuda
