// MatrixMultiply through cuBLASLt: numpy matmul (1-D promotion, batch broadcasting) in row-major as
// the column-major product C^T = B^T A^T. A batch of A against one B is one GEMM of batch*M rows; other
// uniform batches use strided batching (stride 0 for a
// broadcast operand); other broadcasts loop over the output batch. fp16 computes in fp32
// (CUBLAS_COMPUTE_32F); fp32 stays exact fp32 (no TF32). An optional bias [N] (fuse_matmul_bias) is
// added by cuBLASLt's bias epilogue. Heuristic results are cached per shape.
#include <cublasLt.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>

#include "backends/cuda/kernels/kernels.h"

namespace kiln::cuda {
namespace {

#define KILN_LT_CHECK(call)                                                                                  \
  do {                                                                                                       \
    cublasStatus_t s_ = (call);                                                                              \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                                         \
      fail(ErrorCode::kRuntimeError, concat("cuBLASLt error: ", #call, " failed with status ", static_cast<int>(s_), \
                                            " (", cublasLtGetStatusString(s_), ")"));                        \
  } while (0)

constexpr size_t kWorkspace = 32u << 20;

struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    if (op) cublasLtMatmulDescDestroy(op);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (c) cublasLtMatrixLayoutDestroy(c);
  }
};

// (M, N, K, batch, strideA, strideB, alignment * 4 + transposes; bias flag in the batch sign)
using PlanKey = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int>;

class MatMulKernel final : public NamedKernel {
 public:
  MatMulKernel(std::shared_ptr<DeviceContext> ctx, const ir::Layer& layer, const Constants& constants)
      : NamedKernel(concat("cuda/gemm_", dataTypeName(layer.inputs[0]->type()), "_cublaslt")), ctx_(std::move(ctx)),
        p_(layer.as<MatrixMultiplyParams>()), type_(layer.inputs[0]->type()) {
    constA_ = uploadConstant(constants, 0);
    constB_ = uploadConstant(constants, 1);
    constBias_ = uploadConstant(constants, 2);
  }
  size_t workspaceSize(const KernelArgs&) const override { return kWorkspace; }

  void execute(const KernelArgs& args) const override {
    const TensorView& av = args.inputs[0];
    const TensorView& bv = args.inputs[1];
    const TensorView& yv = args.outputs[0];
    if (yv.count() == 0) return;
    const char* aPtr = static_cast<const char*>(constA_ ? constA_->get() : av.data);
    const char* bPtr = static_cast<const char*>(constB_ ? constB_->get() : bv.data);
    const void* bias = constBias_ ? constBias_->get() : (present(args, 2) ? args.inputs[2].data : nullptr);
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
  static int alignmentOf(const void* p) {
    auto v = reinterpret_cast<uintptr_t>(p);
    int al = 256;
    while (al > 1 && (v % al)) al >>= 1;
    return al;
  }

  // Row-major Y[M,N] = op(A)[M,K] op(B)[K,N] as column-major Y^T = op(B)^T op(A)^T.
  void run(const KernelArgs& args, const void* a, const void* b, const void* bias, void* y, int64_t M, int64_t N,
           int64_t K, int64_t batch, int64_t strideA, int64_t strideB, int64_t strideC, bool ta, bool tb) const {
    int align = std::min({alignmentOf(a), alignmentOf(b), alignmentOf(y)});
    PlanKey key{M, N, K, bias ? -batch : batch, strideA, strideB, align * 4 + (ta ? 2 : 0) + (tb ? 1 : 0)};
    // The plan's descriptor holds the bias address: set and used under the lock (contexts may share kernels).
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = plans_.find(key);
    if (it == plans_.end())
      it = plans_.emplace(key, makePlan(M, N, K, batch, strideA, strideB, strideC, ta, tb, align, bias != nullptr)).first;
    Plan* plan = it->second.get();
    if (bias)
      KILN_LT_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    float alpha = 1.f, beta = 0.f;
    size_t ws = std::min(args.workspaceBytes, kWorkspace);
    KILN_LT_CHECK(cublasLtMatmul(reinterpret_cast<cublasLtHandle_t>(ctx_->cublasLt()), plan->op, &alpha, b, plan->a, a,
                                 plan->b, &beta, y, plan->c, y, plan->c, &plan->algo, args.workspace, ws,
                                 streamOf(args)));
  }

  std::unique_ptr<Plan> makePlan(int64_t M, int64_t N, int64_t K, int64_t batch, int64_t strideA, int64_t strideB,
                                 int64_t strideC, bool ta, bool tb, int align, bool withBias) const {
    auto plan = std::make_unique<Plan>();
    cudaDataType_t dt = type_ == DataType::kFloat16 ? CUDA_R_16F : CUDA_R_32F;
    KILN_LT_CHECK(cublasLtMatmulDescCreate(&plan->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t opA = tb ? CUBLAS_OP_T : CUBLAS_OP_N;  // Lt's A is our B
    cublasOperation_t opB = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    KILN_LT_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof(opA)));
    KILN_LT_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof(opB)));
    if (withBias) {  // Lt's rows are our N: its per-row bias is our per-column bias, in the output type
      cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
      KILN_LT_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
    }
    // stored (col-major) shapes: Lt A = our B: !tb -> N x K (ld N), tb -> K x N (ld K)
    KILN_LT_CHECK(cublasLtMatrixLayoutCreate(&plan->a, dt, tb ? K : N, tb ? N : K, tb ? K : N));
    KILN_LT_CHECK(cublasLtMatrixLayoutCreate(&plan->b, dt, ta ? M : K, ta ? K : M, ta ? M : K));
    KILN_LT_CHECK(cublasLtMatrixLayoutCreate(&plan->c, dt, N, M, N));
    if (batch > 1) {
      int32_t count = static_cast<int32_t>(batch);
      for (auto [layout, stride] : {std::pair{plan->a, strideB}, std::pair{plan->b, strideA}, std::pair{plan->c, strideC}}) {
        KILN_LT_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
        int64_t s = stride;
        KILN_LT_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &s, sizeof(s)));
      }
    }
    cublasLtMatmulPreference_t pref = nullptr;
    KILN_LT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = kWorkspace;
    uint32_t al = static_cast<uint32_t>(align);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al, sizeof(al));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al, sizeof(al));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al, sizeof(al));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al, sizeof(al));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(reinterpret_cast<cublasLtHandle_t>(ctx_->cublasLt()), plan->op,
                                                       plan->a, plan->b, plan->c, plan->c, pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    KILN_CHECK(st == CUBLAS_STATUS_SUCCESS && found > 0, kUnsupported, "cuBLASLt has no algorithm for a ", M, "x", N,
               "x", K, " ", dataTypeName(type_), " GEMM (batch ", batch, ", alignment ", align, ")");
    plan->algo = result.algo;
    return plan;
  }

  std::shared_ptr<DeviceContext> ctx_;
  MatrixMultiplyParams p_;
  DataType type_;
  std::shared_ptr<DeviceBuffer> constA_, constB_, constBias_;
  mutable std::mutex mutex_;
  mutable std::map<PlanKey, std::unique_ptr<Plan>> plans_;
};

}  // namespace

std::unique_ptr<Kernel> makeMatrixMultiplyKernel(const std::shared_ptr<DeviceContext>& ctx, const ir::Layer& layer,
                                                 const Constants& constants) {
  return std::make_unique<MatMulKernel>(ctx, layer, constants);
}

}  // namespace kiln::cuda
