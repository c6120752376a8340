// Einsum: every equation the CPU kernel accepts (one parser, ir::parseEinsum: explicit or implicit
// output, "...", diagonals, size-1 broadcasting, any number of operands up to kEinsumMaxOperands).
// Each output element is one thread's, or one warp's when the summed range is long and the outputs few;
// a thread walks its contiguous share of the summed labels' index space with per-operand label strides,
// multiplying the operands and accumulating in float (float32, float16) or the integer type.
#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"
#include "ir/einsum.h"

namespace kiln::cuda {

// Limits of the kernel, whose per-operand label strides travel by value: operands, and distinct summed labels
// (the output has at most kMaxRank dims).
constexpr int kEinsumMaxOperands = 8;
constexpr int kEinsumMaxSummed = 16;

namespace {

// Output labels (row-major over the output) and summed labels, with each operand's element stride per label.
struct EinsumPlan {
  int operands = 0, outRank = 0, sumRank = 0;
  int64_t sumCount = 1;
  int64_t outSize[kMaxRank];
  int64_t sumSize[kEinsumMaxSummed];
  int64_t outStride[kEinsumMaxOperands][kMaxRank];
  int64_t sumStride[kEinsumMaxOperands][kEinsumMaxSummed];
  const void* data[kEinsumMaxOperands];
};

// kGroup threads (1, or a full warp) per output element; sumCount > 0.
template <class T, int kGroup>
__global__ void einsumKernel(EinsumPlan p, T* __restrict__ y, int64_t outCount) {
  using A = Compute<T>;
  const int64_t chunk = (p.sumCount + kGroup - 1) / kGroup;
  KILN_GRID_STRIDE(i, outCount * kGroup) {  // kGroup divides the block: a warp shares one output
    const int64_t o = i / kGroup;
    const int lane = static_cast<int>(i % kGroup);
    int64_t off[kEinsumMaxOperands];
    for (int k = 0; k < p.operands; ++k) off[k] = 0;
    int64_t r = o;
    for (int d = p.outRank - 1; d >= 0; --d) {
      const int64_t q = r / p.outSize[d], v = r - q * p.outSize[d];
      r = q;
      for (int k = 0; k < p.operands; ++k) off[k] += v * p.outStride[k][d];
    }
    // This thread's summed positions [begin, end), starting from begin's multi-index.
    const int64_t begin = min(lane * chunk, p.sumCount), end = min(begin + chunk, p.sumCount);
    int64_t idx[kEinsumMaxSummed];
    r = begin;
    for (int d = p.sumRank - 1; d >= 0; --d) {
      const int64_t q = r / p.sumSize[d];
      idx[d] = r - q * p.sumSize[d];
      r = q;
      for (int k = 0; k < p.operands; ++k) off[k] += idx[d] * p.sumStride[k][d];
    }
    A acc = 0;
    for (int64_t s = begin; s < end; ++s) {
      A prod = 1;
      for (int k = 0; k < p.operands; ++k) prod *= toCompute(static_cast<const T*>(p.data[k])[off[k]]);
      acc += prod;
      for (int d = p.sumRank - 1; d >= 0; --d) {  // next summed position (odometer)
        for (int k = 0; k < p.operands; ++k) off[k] += p.sumStride[k][d];
        if (++idx[d] < p.sumSize[d]) break;
        for (int k = 0; k < p.operands; ++k) off[k] -= p.sumStride[k][d] * p.sumSize[d];
        idx[d] = 0;
      }
    }
    if constexpr (kGroup > 1) acc = warpAllReduce(acc, SumOp{});
    if (lane == 0) y[o] = fromCompute<T>(acc);
  }
}

class EinsumKernel final : public NamedKernel {
 public:
  EinsumKernel(std::string name, const ir::Layer& layer)
      : NamedKernel(std::move(name)), layer_(&layer),
        equation_(layer.as<EinsumParams>().equation) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& y = args.outputs[0];
    std::vector<Dims> shapes;
    for (const auto& in : args.inputs) shapes.push_back(in.shape);
    const ir::EinsumLabels labels = ir::parseEinsum(*layer_, equation_, shapes);
    int64_t outCount = 1;
    for (int id : labels.output) outCount *= labels.size[id];
    KILN_CHECK(outCount == y.count(), kInvalidArgument, layer_->describe(), ": einsum output shape ",
               dimsToString(y.shape), " does not match the equation");
    if (outCount == 0) return;
    KILN_CHECK(args.inputs.size() <= static_cast<size_t>(kEinsumMaxOperands) &&
                   labels.output.size() <= static_cast<size_t>(kMaxRank) &&
                   labels.summed.size() <= static_cast<size_t>(kEinsumMaxSummed),
               kUnsupported, layer_->describe(), ": the CUDA Einsum kernel takes at most ", kEinsumMaxOperands,
               " operands, ", kMaxRank, " output dims and ", kEinsumMaxSummed, " summed labels");
    EinsumPlan p;
    p.operands = static_cast<int>(args.inputs.size());
    p.outRank = static_cast<int>(labels.output.size());
    p.sumRank = static_cast<int>(labels.summed.size());
    for (int k = 0; k < p.operands; ++k) {
      const auto strides = ir::einsumLabelStrides(labels, labels.inputs[k], args.inputs[k].shape);
      for (int d = 0; d < p.outRank; ++d) p.outStride[k][d] = strides[labels.output[d]];
      for (int d = 0; d < p.sumRank; ++d) p.sumStride[k][d] = strides[labels.summed[d]];
      p.data[k] = args.inputs[k].data;
    }
    for (int d = 0; d < p.outRank; ++d) p.outSize[d] = labels.size[labels.output[d]];
    for (int d = 0; d < p.sumRank; ++d) {
      p.sumSize[d] = labels.size[labels.summed[d]];
      p.sumCount *= p.sumSize[d];
    }
    auto stream = streamOf(args);
    if (p.sumCount == 0) {  // empty sums: zeros (all-zero bytes in every supported type)
      KILN_CUDA_CHECK(cudaMemsetAsync(y.data, 0, y.bytes(), stream));
      return;
    }
    // A warp per output when few outputs would leave long serial sums.
    const bool warpPerOutput = p.sumCount >= 64 && outCount < (int64_t{1} << 16);
    dispatchNumeric(y.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (warpPerOutput)
        einsumKernel<T, 32><<<gridFor(outCount * 32), 256, 0, stream>>>(p, y.as<T>(), outCount);
      else
        einsumKernel<T, 1><<<gridFor(outCount), 256, 0, stream>>>(p, y.as<T>(), outCount);
    });
    KILN_CUDA_CHECK_LAUNCH("einsum");
  }

 private:
  const ir::Layer* layer_;
  std::string equation_;
};

}  // namespace

// Numeric operands of one type, within the kernel's limits on operands and summed labels (counted on the
// build-time dims; unknown sizes do not matter).
std::string supportsEinsum(const ir::Layer& layer) {
  DataType t = inType(layer, 0);
  if (!isNumeric(t)) return typeReason(t, "float32, float16, int32, int64");
  std::vector<Dims> shapes;
  for (const ir::Tensor* input : layer.inputs) {
    if (!input || input->type() != t) return "operands of different types";
    shapes.push_back(input->dims());
  }
  if (shapes.size() > static_cast<size_t>(kEinsumMaxOperands)) return concat("more than ", kEinsumMaxOperands, " einsum operands");
  try {
    ir::EinsumLabels labels = ir::parseEinsum(layer, layer.as<EinsumParams>().equation, shapes);
    if (labels.summed.size() > static_cast<size_t>(kEinsumMaxSummed))
      return concat("more than ", kEinsumMaxSummed, " summed einsum labels");
  } catch (const Error& e) {
    return e.what();  // the CPU kernel reports it when the layer runs
  }
  return "";
}
std::unique_ptr<Kernel> createEinsum(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                     const TacticChoice& tactic) {
  return std::make_unique<EinsumKernel>(tactic.name, layer);
}

}  // namespace kiln::cuda
