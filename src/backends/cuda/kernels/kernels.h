// The CUDA kernel rows: each family file defines, beside its kernels, the supports() and create() of its
// layer types (and a parameterized row's variants()); kernel_table.cpp lists the rows.
#pragma once

#include "backends/cuda/cuda_common.h"
#include "backends/kernel_table.h"

namespace kiln::cuda {

// Creates a row's kernel for `layer`, which the row's supports() accepted. `tactic.name` is the kernel's
// name(); `tactic.variant` is "" for the row itself, else one of the row's variants (an unknown variant
// throws kiln::Error kUnsupported naming the layer and the tactic).
using CreateFunction = std::unique_ptr<Kernel> (*)(const std::shared_ptr<DeviceContext>& ctx, const ir::Layer& layer,
                                                   const Constants& constants, const TacticChoice& tactic);
using CudaKernelTable = KernelTable<CreateFunction>;

// The CUDA backend's rows (kernel_table.cpp). Their supports() assume tensorReason(layer) is empty
// (cuda::unsupportedReason checks it first).
const CudaKernelTable& kernelTable();
// Why the CUDA backend has no kernel at all for `type` (NonZero, control flow, ...); nullptr when it has rows.
const char* noKernelReason(LayerType type);

#define KILN_CUDA_ROW(Name)                                                                                \
  std::string supports##Name(const ir::Layer& layer);                                                      \
  std::unique_ptr<Kernel> create##Name(const std::shared_ptr<DeviceContext>& ctx, const ir::Layer& layer, \
                                       const Constants& constants, const TacticChoice& tactic)

// gemm_cublaslt.cpp (variants: cublasLtHeuristicVariants, cublaslt_gemm.h)
KILN_CUDA_ROW(MatrixMultiply);
// conv_cudnn.cpp
KILN_CUDA_ROW(Convolution);
KILN_CUDA_ROW(Deconvolution);
// Extra candidates of the cuDNN rows: fixed forward / backward-data algorithms (conv_cudnn.cpp).
std::vector<std::string> convolutionAlgorithmVariants(const ir::Layer& layer, int effort);
std::vector<std::string> deconvolutionAlgorithmVariants(const ir::Layer& layer, int effort);
// elementwise.cu
KILN_CUDA_ROW(ElementWise);
KILN_CUDA_ROW(Unary);
KILN_CUDA_ROW(Activation);
KILN_CUDA_ROW(Cast);
KILN_CUDA_ROW(Select);
KILN_CUDA_ROW(Quantize);
KILN_CUDA_ROW(Dequantize);
// reduce.cu
KILN_CUDA_ROW(Reduce);
KILN_CUDA_ROW(ArgMinMax);
KILN_CUDA_ROW(CumSum);
// softmax.cu
KILN_CUDA_ROW(Softmax);
// normalization.cu
KILN_CUDA_ROW(Normalization);
KILN_CUDA_ROW(LRN);
// pooling.cu
KILN_CUDA_ROW(Pooling);
// data_movement.cu
KILN_CUDA_ROW(Constant);
KILN_CUDA_ROW(Identity);
KILN_CUDA_ROW(Reshape);
KILN_CUDA_ROW(Transpose);
KILN_CUDA_ROW(Concatenation);
KILN_CUDA_ROW(Slice);
KILN_CUDA_ROW(Split);
KILN_CUDA_ROW(Expand);
KILN_CUDA_ROW(Tile);
KILN_CUDA_ROW(SpaceDepth);
KILN_CUDA_ROW(Padding);
KILN_CUDA_ROW(Shape);
KILN_CUDA_ROW(ConstantOfShape);
KILN_CUDA_ROW(Range);
KILN_CUDA_ROW(Trilu);
// gather_scatter.cu
KILN_CUDA_ROW(Gather);
KILN_CUDA_ROW(Scatter);
KILN_CUDA_ROW(OneHot);
// resize.cu
KILN_CUDA_ROW(Resize);
// topk.cu
KILN_CUDA_ROW(TopK);
// einsum.cu
KILN_CUDA_ROW(Einsum);
// linear_algebra.cu
KILN_CUDA_ROW(Determinant);
// sampling.cu
KILN_CUDA_ROW(GridSample);
KILN_CUDA_ROW(RoiAlign);
// recurrent.cu (variants: cublasLtHeuristicVariants, cublaslt_gemm.h)
KILN_CUDA_ROW(Recurrent);
// spectral.cu
KILN_CUDA_ROW(DFT);
KILN_CUDA_ROW(STFT);

#undef KILN_CUDA_ROW

}  // namespace kiln::cuda
