// What each CPU kernel file defines for its kernel table rows (kernel_table.cpp): its kernel, run on
// row-major host views (outputs allocated with their inferred shapes), its supports() (the element types
// and params it takes, type_support.h), and a create() when its kernel holds state (packed weights);
// a stateless kernel function gets its create() from createFunctionKernel.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"

namespace kiln::cpu {

// A stateless kernel: runs `layer` on host views.
using KernelFunction = void (*)(const ir::Layer& layer, const KernelArgs& args);
// The size of the data-dependent output dims of a layer (ir::hasDataDependentShape), from its inputs.
using CountFunction = int64_t (*)(const ir::Layer& layer, const KernelArgs& args);
// A kernel on whole host values, for layers whose outputs only running them can shape (control flow) or
// that hold sequences and optionals. It decides and allocates its outputs.
using HostKernelFunction = std::vector<HostTensor> (*)(const ir::Layer& layer,
                                                      const std::vector<const HostTensor*>& inputs);

class FunctionKernel final : public CpuKernel {
 public:
  FunctionKernel(const ir::Layer& layer, const TacticChoice& tactic, KernelFunction run, CountFunction count)
      : CpuKernel(layer, tactic), run_(run), count_(count) {}
  void execute(const KernelArgs& args) const override { run_(layer(), args); }

 protected:
  int64_t dataDependentCount(const KernelArgs& args) const override {
    return count_ ? count_(layer(), args) : CpuKernel::dataDependentCount(args);
  }

 private:
  KernelFunction run_;
  CountFunction count_;  // nullptr: the layer's output shapes follow from its input shapes
};

// The create() of a stateless kernel (with its count function when its layer has a data-dependent shape).
template <KernelFunction Run, CountFunction Count = nullptr>
std::unique_ptr<CpuKernel> createFunctionKernel(const ir::Layer& layer, const Constants&, const TacticChoice& tactic) {
  return std::make_unique<FunctionKernel>(layer, tactic, Run, Count);
}

// A layer on whole host values: it runs only through evaluate() (host::evaluateLayer); the runtime runs
// such layers on the host (ir::runsOnHostValues), never as kernels on tensor views.
class HostValueKernel final : public CpuKernel {
 public:
  HostValueKernel(const ir::Layer& layer, const TacticChoice& tactic, HostKernelFunction run)
      : CpuKernel(layer, tactic), run_(run) {}
  std::vector<HostTensor> evaluate(const std::vector<const HostTensor*>& inputs) const override {
    return run_(layer(), inputs);
  }
  void execute(const KernelArgs&) const override {
    fail(ErrorCode::kUnsupported, concat(layer().describe(), ": runs on whole host values (host::evaluateLayer), "
                                                             "not as a kernel on tensor views"));
  }

 private:
  HostKernelFunction run_;
};

template <HostKernelFunction Run>
std::unique_ptr<CpuKernel> createHostValueKernel(const ir::Layer& layer, const Constants&, const TacticChoice& tactic) {
  return std::make_unique<HostValueKernel>(layer, tactic, Run);
}

// ---- per kernel file ------------------------------------------------------------------------------

#define KILN_CPU_KERNEL(Name)                                           \
  void run##Name(const ir::Layer& layer, const KernelArgs& args); \
  std::string supports##Name(const ir::Layer& layer)

KILN_CPU_KERNEL(Constant);
KILN_CPU_KERNEL(Cast);
KILN_CPU_KERNEL(ElementWise);
KILN_CPU_KERNEL(Unary);
KILN_CPU_KERNEL(Activation);
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
KILN_CPU_KERNEL(Attention);
KILN_CPU_KERNEL(Pointwise);

#undef KILN_CPU_KERNEL

// Count functions of the layers with a data-dependent output shape.
int64_t countNonZero(const ir::Layer& layer, const KernelArgs& args);
int64_t countSelectedBoxes(const ir::Layer& layer, const KernelArgs& args);
int64_t countUnique(const ir::Layer& layer, const KernelArgs& args);
int64_t countNormalizedStrings(const ir::Layer& layer, const KernelArgs& args);

// identity.cpp: also passes sequences and optionals through on the host.
void runIdentity(const ir::Layer& layer, const KernelArgs& args);
std::string supportsIdentity(const ir::Layer& layer);
std::unique_ptr<CpuKernel> createIdentity(const ir::Layer& layer, const Constants& constants,
                                          const TacticChoice& tactic);

// matrix_multiply.cpp: the blocked GEMM; constant 2-D float32 weights packed once (runMatrixMultiply packs
// nothing).
void runMatrixMultiply(const ir::Layer& layer, const KernelArgs& args);
std::string supportsMatrixMultiply(const ir::Layer& layer);
std::unique_ptr<CpuKernel> createMatrixMultiply(const ir::Layer& layer, const Constants& constants,
                                                const TacticChoice& tactic);

// convolution.cpp: a direct loop for depthwise convolutions; GEMM (1x1) or im2col + GEMM for any, with
// constant float32 weights packed once.
std::string supportsConvolutionDirectDepthwise(const ir::Layer& layer);
std::unique_ptr<CpuKernel> createConvolutionDirectDepthwise(const ir::Layer& layer, const Constants& constants,
                                                            const TacticChoice& tactic);
std::string supportsConvolutionGemm(const ir::Layer& layer);
std::unique_ptr<CpuKernel> createConvolutionGemm(const ir::Layer& layer, const Constants& constants,
                                                 const TacticChoice& tactic);

// quantized_reference.cpp: quantized convolution and MatMul as exact direct loops (int32 accumulation).
std::string supportsQuantizedConvolutionReference(const ir::Layer& layer);
std::unique_ptr<CpuKernel> createQuantizedConvolutionReference(const ir::Layer& layer, const Constants& constants,
                                                               const TacticChoice& tactic);
std::string supportsQuantizedMatrixMultiplyReference(const ir::Layer& layer);
std::unique_ptr<CpuKernel> createQuantizedMatrixMultiplyReference(const ir::Layer& layer, const Constants& constants,
                                                                  const TacticChoice& tactic);

#if KILN_HAVE_DNNL
// quantized_onednn.cpp: oneDNN's int8 convolution and MatMul (constant weights and bias).
std::string supportsQuantizedConvolutionOneDnn(const ir::Layer& layer);
std::unique_ptr<CpuKernel> createQuantizedConvolutionOneDnn(const ir::Layer& layer, const Constants& constants,
                                                            const TacticChoice& tactic);
std::string supportsQuantizedMatrixMultiplyOneDnn(const ir::Layer& layer);
std::unique_ptr<CpuKernel> createQuantizedMatrixMultiplyOneDnn(const ir::Layer& layer, const Constants& constants,
                                                               const TacticChoice& tactic);
// convolution_onednn.cpp, matrix_multiply_onednn.cpp: oneDNN primitives (float32).
std::string supportsConvolutionOneDnn(const ir::Layer& layer);
std::unique_ptr<CpuKernel> createConvolutionOneDnn(const ir::Layer& layer, const Constants& constants,
                                                   const TacticChoice& tactic);
std::string supportsMatrixMultiplyOneDnn(const ir::Layer& layer);
std::unique_ptr<CpuKernel> createMatrixMultiplyOneDnn(const ir::Layer& layer, const Constants& constants,
                                                      const TacticChoice& tactic);
#endif

// control_flow.cpp and sequence.cpp: kernels on whole host values.
#define KILN_CPU_HOST_KERNEL(Name) \
  std::vector<HostTensor> run##Name(const ir::Layer& layer, const std::vector<const HostTensor*>& inputs)

KILN_CPU_HOST_KERNEL(If);
KILN_CPU_HOST_KERNEL(Loop);
KILN_CPU_HOST_KERNEL(Scan);
KILN_CPU_HOST_KERNEL(SequenceMap);
KILN_CPU_HOST_KERNEL(Sequence);
KILN_CPU_HOST_KERNEL(Optional);
// Element types are checked by the kernels their bodies run, and by the sequence layers themselves.
std::string supportsControlFlow(const ir::Layer& layer);
std::string supportsContainers(const ir::Layer& layer);

}  // namespace kiln::cpu
