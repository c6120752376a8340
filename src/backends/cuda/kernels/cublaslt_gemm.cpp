// The shared cuBLASLt GEMM runner (cublaslt_gemm.h).
#include "backends/cuda/kernels/cublaslt_gemm.h"

#include <cublasLt.h>

#include <algorithm>

namespace kiln::cuda {
namespace {

#define KILN_LT_CHECK(call)                                                                                  \
  do {                                                                                                       \
    cublasStatus_t s_ = (call);                                                                              \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                                         \
      fail(ErrorCode::kRuntimeError, concat("cuBLASLt error: ", #call, " failed with status ", static_cast<int>(s_), \
                                            " (", cublasLtGetStatusString(s_), ")"));                        \
  } while (0)

int alignmentOf(const void* p) {
  auto v = reinterpret_cast<uintptr_t>(p);
  int al = 256;
  while (al > 1 && (v % al)) al >>= 1;
  return al;
}

cudaDataType_t cudaTypeOf(DataType t) {
  KILN_CHECK(t == DataType::kFloat32 || t == DataType::kFloat16, kUnsupported, "cuBLASLt GEMMs take float32 or "
             "float16 operands, got ", dataTypeName(t));
  return t == DataType::kFloat16 ? CUDA_R_16F : CUDA_R_32F;
}

}  // namespace

struct LtGemmRunner::Plan {
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

LtGemmRunner::LtGemmRunner(std::shared_ptr<DeviceContext> ctx, int heuristicRank)
    : ctx_(std::move(ctx)), heuristicRank_(heuristicRank) {
  KILN_CHECK(heuristicRank >= 0 && heuristicRank <= kMaxHeuristicRank, kInvalidArgument, "cuBLASLt heuristic rank ",
             heuristicRank, " is outside 0..", kMaxHeuristicRank);
}
LtGemmRunner::~LtGemmRunner() = default;

void LtGemmRunner::run(const LtGemm& g, const void* a, const void* b, void* c, void* workspace,
                       size_t workspaceBytes, cudaStream_t stream, const void* bias) const {
  const int align = std::min({alignmentOf(a), alignmentOf(b), alignmentOf(c)});
  const size_t ws = std::min(workspaceBytes, kMaxWorkspace);
  const Key key{g.M, g.N, g.K, g.transA, g.transB, g.lda, g.ldb, g.ldc, g.batch, g.strideA, g.strideB, g.strideC,
                static_cast<int64_t>(g.abType), static_cast<int64_t>(g.cType), align, static_cast<int64_t>(ws),
                bias != nullptr, heuristicRank_};
  // A plan's descriptor holds the bias address: it is set and used under the lock (contexts share kernels).
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = plans_.find(key);
  if (it == plans_.end()) it = plans_.emplace(key, makePlan(g, align, ws, bias != nullptr)).first;
  Plan* plan = it->second.get();
  if (bias)
    KILN_LT_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  float alpha = 1.f, beta = 0.f;
  // Lt's A is our B and Lt's B our A (column-major C^T = op(B)^T op(A)^T).
  KILN_LT_CHECK(cublasLtMatmul(reinterpret_cast<cublasLtHandle_t>(ctx_->cublasLt()), plan->op, &alpha, b, plan->a, a,
                               plan->b, &beta, c, plan->c, c, plan->c, &plan->algo, workspace, ws, stream));
}

std::unique_ptr<LtGemmRunner::Plan> LtGemmRunner::makePlan(const LtGemm& g, int alignment, size_t workspaceBytes,
                                                           bool withBias) const {
  auto plan = std::make_unique<Plan>();
  const cudaDataType_t ab = cudaTypeOf(g.abType), ct = cudaTypeOf(g.cType);
  KILN_LT_CHECK(cublasLtMatmulDescCreate(&plan->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasOperation_t opA = g.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opB = g.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  KILN_LT_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof(opA)));
  KILN_LT_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof(opB)));
  if (withBias) {  // Lt's rows are our N: its per-row bias is our per-column bias, in C's type
    cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    KILN_LT_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
  }
  // Stored column-major shapes: our row-major B [K, N] (or [N, K] when transB) is Lt's A as N x K (K x N);
  // our A [M, K] (or [K, M]) is Lt's B as K x M (M x K); our C [M, N] is Lt's C as N x M.
  const auto M = static_cast<uint64_t>(g.M), N = static_cast<uint64_t>(g.N), K = static_cast<uint64_t>(g.K);
  KILN_LT_CHECK(cublasLtMatrixLayoutCreate(&plan->a, ab, g.transB ? K : N, g.transB ? N : K, g.ldb));
  KILN_LT_CHECK(cublasLtMatrixLayoutCreate(&plan->b, ab, g.transA ? M : K, g.transA ? K : M, g.lda));
  KILN_LT_CHECK(cublasLtMatrixLayoutCreate(&plan->c, ct, N, M, g.ldc));
  if (g.batch > 1) {
    int32_t count = static_cast<int32_t>(g.batch);
    for (auto [layout, stride] : {std::pair{plan->a, g.strideB}, std::pair{plan->b, g.strideA}, std::pair{plan->c, g.strideC}}) {
      KILN_LT_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
      int64_t s = stride;
      KILN_LT_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &s, sizeof(s)));
    }
  }
  cublasLtMatmulPreference_t pref = nullptr;
  KILN_LT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  uint64_t ws = workspaceBytes;
  uint32_t al = static_cast<uint32_t>(alignment);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al, sizeof(al));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al, sizeof(al));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al, sizeof(al));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al, sizeof(al));
  // The heuristic's list, best estimate first, long enough to reach this runner's rank.
  std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(heuristicRank_) + 1);
  int found = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(reinterpret_cast<cublasLtHandle_t>(ctx_->cublasLt()), plan->op,
                                                     plan->a, plan->b, plan->c, plan->c, pref,
                                                     static_cast<int>(results.size()), results.data(), &found);
  cublasLtMatmulPreferenceDestroy(pref);
  int usable = 0;  // the returned entries whose state says they can run, in the heuristic's order
  if (st == CUBLAS_STATUS_SUCCESS)
    for (int i = 0; i < found && i < static_cast<int>(results.size()); ++i)
      if (results[i].state == CUBLAS_STATUS_SUCCESS) results[usable++] = results[i];
  KILN_CHECK(usable > 0, kUnsupported, "cuBLASLt has no algorithm for a ", g.M, "x", g.N, "x", g.K, " ",
             dataTypeName(g.abType), " -> ", dataTypeName(g.cType), " GEMM (batch ", g.batch, ", alignment ", alignment,
             ")");
  // A rank beyond the list for this problem takes its last algorithm (see cublasLtHeuristicVariants).
  plan->algo = results[std::min(heuristicRank_, usable - 1)].algo;
  return plan;
}

namespace {
constexpr const char* kRankPrefix = "heur";
static_assert((1 << kMaxBuilderEffort) == LtGemmRunner::kMaxHeuristicRank,
              "the last cuBLASLt variant at the highest builder effort is the runner's highest rank");
}  // namespace

std::vector<std::string> cublasLtHeuristicVariants(const ir::Layer&, int effort) {
  if (effort < kFirstCublasLtVariantEffort) return {};
  const int count = 1 << std::clamp(effort, 1, kMaxBuilderEffort);
  std::vector<std::string> variants;
  for (int rank = 1; rank <= count; ++rank) variants.push_back(concat(kRankPrefix, rank));
  return variants;
}

int cublasLtHeuristicRank(const ir::Layer& layer, const TacticChoice& tactic) {
  if (tactic.variant.empty()) return 0;
  const std::string& v = tactic.variant;
  const size_t prefix = std::char_traits<char>::length(kRankPrefix);
  bool digits = v.size() > prefix && v.size() <= prefix + 2 && v.compare(0, prefix, kRankPrefix) == 0 &&
                v[prefix] != '0' && std::all_of(v.begin() + prefix, v.end(), [](char c) { return c >= '0' && c <= '9'; });
  int rank = digits ? std::stoi(v.substr(prefix)) : -1;
  KILN_CHECK(rank >= 1 && rank <= LtGemmRunner::kMaxHeuristicRank, kUnsupported, layer.describe(), ": tactic '",
             tactic.name, "' names no cuBLASLt heuristic rank (expected ", kRankPrefix, "1 .. ", kRankPrefix,
             LtGemmRunner::kMaxHeuristicRank, ")");
  return rank;
}

}  // namespace kiln::cuda
