// MatrixMultiply through cuBLASLt: numpy matmul (1-D promotion, batch broadcasting) in row-major as
// the column-major product C^T = B^T A^T. A batch of A against one B is one GEMM of batch*M rows; other
// uniform batches use strided batching (stride 0 for a broadcast operand); other broadcasts loop over
// the output batch. The GEMMs run through the shared LtGemmRunner (cublaslt_gemm.h): fp16 computes in
// fp32, fp32 stays exact fp32 (no TF32). An optional bias [N] (fuse_matmul_bias) is added by
// cuBLASLt's bias epilogue. Tactics: "cuda.gemm.cublaslt" (the heuristic's first algorithm) and its variants
// "heur<k>" (its k-th, cublaslt_gemm.h).
#include <algorithm>
#include <cmath>

#include "backends/cuda/kernels/cublaslt_gemm.h"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {
namespace {

class MatMulKernel final : public NamedKernel {
 public:
  MatMulKernel(std::string name, std::shared_ptr<DeviceContext> ctx, int heuristicRank, const ir::Layer& layer)
      : NamedKernel(std::move(name)), gemm_(std::move(ctx), heuristicRank), p_(layer.as<MatrixMultiplyParams>()),
        type_(layer.inputs[0]->type()) {}
  size_t workspaceSize(const KernelArgs&) const override { return LtGemmRunner::kMaxWorkspace; }

  void execute(const KernelArgs& args) const override {
    const TensorView& av = args.inputs[0];
    const TensorView& bv = args.inputs[1];
    const TensorView& yv = args.outputs[0];
    if (yv.count() == 0) return;
    // Constant operands are the engine's device copies (uploaded once per engine).
    const char* aPtr = static_cast<const char*>(av.data);
    const char* bPtr = static_cast<const char*>(bv.data);
    const void* bias = present(args, 2) ? args.inputs[2].data : nullptr;
    size_t es = dataTypeSize(type_);
    Dims as = av.shape, bs = bv.shape;
    bool ta = p_.transposeA, tb = p_.transposeB;
    if (as.size() == 1) { as = {1, as[0]}; ta = false; }
    if (bs.size() == 1) { bs = {bs[0], 1}; tb = false; }
    int64_t M = ta ? as[as.size() - 1] : as[as.size() - 2];
    int64_t K = ta ? as[as.size() - 2] : as[as.size() - 1];
    int64_t N = tb ? bs[bs.size() - 2] : bs[bs.size() - 1];
    if (K == 0) {  // an empty sum: zeros, plus the bias
      KILN_CUDA_CHECK(cudaMemsetAsync(yv.data, 0, yv.bytes(), streamOf(args)));
      if (bias) launchChannelBiasClamp(yv.data, bias, type_, yv.count() / N, N, 1, -INFINITY, INFINITY, streamOf(args));
      return;
    }
    Dims aBatch(as.begin(), as.end() - 2), bBatch(bs.begin(), bs.end() - 2);
    size_t br = std::max(aBatch.size(), bBatch.size());
    Dims outBatch(br, 1);
    for (size_t i = 0; i < br; ++i) {
      int64_t da = i + aBatch.size() >= br ? aBatch[i + aBatch.size() - br] : 1;
      int64_t db = i + bBatch.size() >= br ? bBatch[i + bBatch.size() - br] : 1;
      outBatch[i] = std::max(da, db);
    }
    int64_t batch = volume(outBatch), aCount = volume(aBatch), bCount = volume(bBatch);
    int64_t aMat = M * K, bMat = K * N, cMat = M * N;
    // An operand batch is uniform when it is a single matrix or spans the whole output batch (each of its
    // dims then equals the output's, since broadcast dims are <= the output's and the volumes match).
    bool simple = (aCount == 1 || aCount == batch) && (bCount == 1 || bCount == batch);
    if (simple && bCount == 1 && aCount == batch && !ta) {
      // One matrix B for a batch of row-major A matrices: A's rows are contiguous, so this is one GEMM of
      // batch*M rows (a single large GEMM runs far better than a strided batch of small ones).
      run(args, aPtr, bPtr, bias, yv.data, batch * M, N, K, 1, 0, 0, batch * cMat, ta, tb);
      return;
    }
    if (simple) {
      run(args, aPtr, bPtr, bias, yv.data, M, N, K, batch, aCount == 1 ? 0 : aMat, bCount == 1 ? 0 : bMat, cMat, ta,
          tb);
      return;
    }
    // general broadcast: one GEMM per output batch element
    Dims aStr(br, 0), bStr(br, 0);
    {
      int64_t s = aMat;
      for (int i = static_cast<int>(aBatch.size()) - 1; i >= 0; --i) {
        aStr[br - aBatch.size() + i] = aBatch[i] == 1 ? 0 : s;
        s *= aBatch[i];
      }
      s = bMat;
      for (int i = static_cast<int>(bBatch.size()) - 1; i >= 0; --i) {
        bStr[br - bBatch.size() + i] = bBatch[i] == 1 ? 0 : s;
        s *= bBatch[i];
      }
    }
    for (int64_t t = 0; t < batch; ++t) {
      int64_t r = t, ao = 0, bo = 0;
      for (int i = static_cast<int>(br) - 1; i >= 0; --i) {
        int64_t c = r % outBatch[i];
        r /= outBatch[i];
        ao += c * aStr[i];
        bo += c * bStr[i];
      }
      run(args, aPtr + ao * es, bPtr + bo * es, bias, static_cast<char*>(yv.data) + t * cMat * es, M, N, K, 1, 0, 0,
          cMat, ta, tb);
    }
  }

 private:
  // Row-major Y[M,N] = op(A)[M,K] op(B)[K,N].
  void run(const KernelArgs& args, const void* a, const void* b, const void* bias, void* y, int64_t M, int64_t N,
           int64_t K, int64_t batch, int64_t strideA, int64_t strideB, int64_t strideC, bool ta, bool tb) const {
    LtGemm g;
    g.M = M;
    g.N = N;
    g.K = K;
    g.transA = ta;
    g.transB = tb;
    g.lda = ta ? M : K;
    g.ldb = tb ? K : N;
    g.ldc = N;
    g.batch = batch;
    g.strideA = strideA;
    g.strideB = strideB;
    g.strideC = strideC;
    g.abType = g.cType = type_;
    gemm_.run(g, a, b, y, args.workspace, args.workspaceBytes, streamOf(args), bias);
  }

  LtGemmRunner gemm_;
  MatrixMultiplyParams p_;
  DataType type_;
};

}  // namespace

std::string supportsMatrixMultiply(const ir::Layer& layer) {
  DataType t = inType(layer, 0);
  if (!isFloat(t)) return typeReason(t, "float32, float16");
  if (layer.inputs.size() > 2 && layer.inputs[2] && inType(layer, 2) != t) return "bias of another type";
  if (layer.as<MatrixMultiplyParams>().activation != MatMulActivation::kNone)
    return "a MatMul epilogue activation has no CUDA kernel yet";
  return inType(layer, 1) == t ? "" : "mixed input types";
}
std::unique_ptr<Kernel> createMatrixMultiply(const std::shared_ptr<DeviceContext>& ctx, const ir::Layer& layer,
                                             const Constants&, const TacticChoice& tactic) {
  return std::make_unique<MatMulKernel>(tactic.name, ctx, cublasLtHeuristicRank(layer, tactic), layer);
}

}  // namespace kiln::cuda
