// The CUDA backend's kernel table: the one list of rows {layer type, tactic, supports, create}, and the
// layer types it leaves to the host on purpose. Each row's functions live beside its kernel in its family
// file (kernels/<family>.cu|cpp, declared in kernels/kernels.h).
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/kernels/channels_last.h"
#include "backends/cuda/kernels/cublaslt_gemm.h"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {

const CudaKernelTable& kernelTable() {
  using T = LayerType;
  // {layer type, tactic, supports, create, minEffort, variants}; the first supporting row of a type is preferred.
  static const CudaKernelTable table(
      "CUDA",
      {
          {T::kConstant, "cuda.constant.copy", supportsConstant, createConstant},
          {T::kIdentity, "cuda.identity.copy", supportsIdentity, createIdentity},
          {T::kCast, "cuda.cast.pointwise", supportsCast, createCast},
          {T::kElementWise, "cuda.elementwise.broadcast", supportsElementWise, createElementWise},
          {T::kUnary, "cuda.unary.pointwise", supportsUnary, createUnary},
          {T::kActivation, "cuda.activation.pointwise", supportsActivation, createActivation},
          {T::kMatrixMultiply, "cuda.gemm.cublaslt", supportsMatrixMultiply, createMatrixMultiply, 0,
           cublasLtHeuristicVariants},
          {T::kConvolution, "cuda.conv.cudnn", supportsConvolution, createConvolution, 0,
           convolutionAlgorithmVariants},
          {T::kConvolution, "cuda.conv.cudnn_nhwc", supportsConvolutionChannelsLast, createConvolution, 0,
           convolutionAlgorithmVariants},
          {T::kDeconvolution, "cuda.deconv.cudnn", supportsDeconvolution, createDeconvolution, 0,
           deconvolutionAlgorithmVariants},
          {T::kPooling, "cuda.pool.thread_per_output", supportsPoolingChannelsFirst, createPooling},
          {T::kPooling, "cuda.pool.nhwc_thread_per_output", supportsPoolingChannelsLast, createPoolingChannelsLast},
          {T::kReduce, "cuda.reduce.warp_per_output", supportsReduce, createReduce},
          {T::kSoftmax, "cuda.softmax.row", supportsSoftmax, createSoftmax},
          {T::kNormalization, "cuda.norm.row_stats", supportsNormalization, createNormalization},
          {T::kReshape, "cuda.reshape.copy", supportsReshape, createReshape},
          {T::kTranspose, "cuda.transpose.strided_copy", supportsTranspose, createTranspose},
          {T::kConcatenation, "cuda.concat.strided_copy", supportsConcatenation, createConcatenation},
          {T::kSlice, "cuda.slice.strided_copy", supportsSlice, createSlice},
          {T::kSplit, "cuda.split.strided_copy", supportsSplit, createSplit},
          {T::kGather, "cuda.gather.thread_per_output", supportsGather, createGather},
          {T::kScatter, "cuda.scatter.atomic", supportsScatter, createScatter},
          {T::kShape, "cuda.shape.fill", supportsShape, createShape},
          {T::kConstantOfShape, "cuda.constant_of_shape.fill", supportsConstantOfShape, createConstantOfShape},
          {T::kRange, "cuda.range.fill", supportsRange, createRange},
          {T::kExpand, "cuda.expand.strided_copy", supportsExpand, createExpand},
          {T::kTile, "cuda.tile.strided_copy", supportsTile, createTile},
          {T::kSelect, "cuda.select.pointwise", supportsSelect, createSelect},
          {T::kPadding, "cuda.pad.thread_per_output", supportsPadding, createPadding},
          {T::kResize, "cuda.resize.thread_per_output", supportsResize, createResize},
          {T::kTopK, "cuda.topk.block_per_line", supportsTopK, createTopK},
          {T::kArgMinMax, "cuda.argminmax.warp_per_output", supportsArgMinMax, createArgMinMax},
          {T::kCumSum, "cuda.cumsum.thread_per_line", supportsCumSum, createCumSum},
          {T::kEinsum, "cuda.einsum.direct", supportsEinsum, createEinsum},
          {T::kOneHot, "cuda.onehot.fill", supportsOneHot, createOneHot},
          {T::kQuantize, "cuda.quantize.pointwise", supportsQuantize, createQuantize},
          {T::kDequantize, "cuda.dequantize.pointwise", supportsDequantize, createDequantize},
          {T::kTrilu, "cuda.trilu.mask", supportsTrilu, createTrilu},
          {T::kLRN, "cuda.lrn.thread_per_output", supportsLRN, createLRN},
          {T::kSpaceDepth, "cuda.space_depth.strided_copy", supportsSpaceDepth, createSpaceDepth},
          {T::kGridSample, "cuda.grid_sample.thread_per_output", supportsGridSample, createGridSample},
          {T::kRoiAlign, "cuda.roi_align.thread_per_output", supportsRoiAlign, createRoiAlign},
          {T::kDeterminant, "cuda.determinant.lu_block_per_matrix", supportsDeterminant, createDeterminant},
          {T::kDFT, "cuda.dft.direct", supportsDFT, createDFT},
          {T::kSTFT, "cuda.stft.direct", supportsSTFT, createSTFT},
          {T::kRecurrent, "cuda.recurrent.cublaslt", supportsRecurrent, createRecurrent, 0, cublasLtHeuristicVariants},
      });
  return table;
}

namespace {

// Layer types without a CUDA kernel, and why: the builder runs them on the CPU and the build summary says why.
struct NoKernel {
  LayerType type;
  const char* reason;
};
constexpr NoKernel kNoKernel[] = {
    {LayerType::kNonZero, "NonZero has a data-dependent output shape"},
    {LayerType::kNonMaxSuppression, "NonMaxSuppression has a data-dependent output shape"},
    {LayerType::kUnique, "Unique has data-dependent output shapes"},
    {LayerType::kTfIdfVectorizer, "TfIdfVectorizer is a host-side n-gram lookup (no CUDA kernel)"},
    {LayerType::kWindow, "window and mel weights are small generated tables computed on the host"},
    {LayerType::kMelWeightMatrix, "window and mel weights are small generated tables computed on the host"},
    {LayerType::kRandom, "random sampling runs on the host so seeded results match the CPU backend"},
    {LayerType::kIf, "control flow runs its subnetworks on the host"},
    {LayerType::kLoop, "control flow runs its subnetworks on the host"},
    {LayerType::kScan, "control flow runs its subnetworks on the host"},
    {LayerType::kSequenceMap, "control flow runs its subnetworks on the host"},
    {LayerType::kSequence, "sequences and optionals live on the host"},
    {LayerType::kOptional, "sequences and optionals live on the host"},
    {LayerType::kStringNormalizer, "string tensors live on the host"},
    {LayerType::kPointwise, "the generated (NVRTC) pointwise kernel is not in this build yet"},
    {LayerType::kAttention, "the fused attention kernels (cuDNN SDPA, flash) are not in this build yet"},
    {LayerType::kQuantizedConvolution, "int8 convolutions (cuDNN) are not in this build yet"},
    {LayerType::kQuantizedMatrixMultiply, "int8 GEMMs (cuBLASLt) are not in this build yet"},
};

}  // namespace

const char* noKernelReason(LayerType type) {
  for (const NoKernel& entry : kNoKernel)
    if (entry.type == type) return entry.reason;
  return nullptr;
}

std::string unsupportedReason(const ir::Layer& layer) {
  std::string why = tensorReason(layer);
  if (!why.empty()) return why;
  if (const char* reason = noKernelReason(layer.type())) return reason;
  return kernelTable().unsupportedReason(layer);
}

}  // namespace kiln::cuda
