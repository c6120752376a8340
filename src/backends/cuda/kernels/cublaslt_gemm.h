// Row-major GEMMs through cuBLASLt, shared by the kernels that multiply matrices (MatrixMultiply,
// Recurrent). A row-major C = op(A) op(B) runs as the column-major C^T = op(B)^T op(A)^T. fp16 operands
// compute in fp32 (CUBLAS_COMPUTE_32F); fp32 stays exact fp32 (no TF32). A runner takes the algorithm of one
// rank in cuBLASLt's heuristic list (0: its first choice), chosen per problem, pointer alignment and workspace
// limit and cached.
//
// Tactics: the rows "cuda.gemm.cublaslt" (MatrixMultiply) and "cuda.recurrent.cublaslt" take rank 0; their
// variants "heur<k>" take rank k (cublasLtHeuristicVariants lists them by builder effort).
#pragma once

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/cuda/cuda_common.h"
#include "backends/kernel_table.h"

namespace kiln::cuda {

// One (strided-batched) row-major GEMM: C[M, N] = op(A)[M, K] * op(B)[K, N], where op transposes when
// transA / transB (A is then stored [K, M], B [N, K]). lda, ldb, ldc: row strides in elements of the
// stored matrices; strideA/B/C: element offsets between batch entries (0: one matrix for every entry).
// A and B have abType, C cType: float32 or float16 each (fp16 x fp16 -> fp32 is allowed). With a bias
// (cType, N values) the epilogue adds it to every row of C.
struct LtGemm {
  int64_t M = 0, N = 0, K = 0;
  bool transA = false, transB = false;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t batch = 1, strideA = 0, strideB = 0, strideC = 0;
  DataType abType = DataType::kFloat32, cType = DataType::kFloat32;
};

// Runs LtGemms for one kernel (thread-safe). M, N, K >= 1.
class LtGemmRunner {
 public:
  // The workspace a GEMM can use; run() takes at most this much of what it is given.
  static constexpr size_t kMaxWorkspace = 32u << 20;
  // The highest heuristic rank a runner takes (the last variant at kMaxBuilderEffort).
  static constexpr int kMaxHeuristicRank = 32;

  // Every GEMM takes the algorithm at `heuristicRank` (0..kMaxHeuristicRank) of cuBLASLt's heuristic list
  // for its problem; when the list for a problem is shorter, its last algorithm.
  LtGemmRunner(std::shared_ptr<DeviceContext> ctx, int heuristicRank = 0);
  ~LtGemmRunner();
  LtGemmRunner(const LtGemmRunner&) = delete;
  LtGemmRunner& operator=(const LtGemmRunner&) = delete;

  // c = op(a) * op(b) (+ bias[N] on every row when bias is not null), enqueued on `stream`.
  void run(const LtGemm& g, const void* a, const void* b, void* c, void* workspace, size_t workspaceBytes,
           cudaStream_t stream, const void* bias = nullptr) const;

 private:
  struct Plan;
  using Key = std::array<int64_t, 18>;
  std::unique_ptr<Plan> makePlan(const LtGemm& g, int alignment, size_t workspaceBytes, bool withBias) const;

  std::shared_ptr<DeviceContext> ctx_;
  int heuristicRank_;
  mutable std::mutex mutex_;
  // One plan per problem, alignment, workspace limit, bias and heuristic rank: the rank is in the key so a
  // plan never serves another rank, even if runners come to share a cache.
  mutable std::map<Key, std::unique_ptr<Plan>> plans_;
};

// The builder effort from which cuBLASLt rows have variants. Below it a GEMM keeps the heuristic's first
// algorithm: timed alone (its weights hot in L2, as they are not in a network that streams its weights),
// other ranks won and then ran 3-8% slower in BERT-base on the H200 (2026-12-03), so the default effort
// does not time them.
constexpr int kFirstCublasLtVariantEffort = 4;
// The variants of a cuBLASLt row at builder effort kFirstCublasLtVariantEffort..kMaxBuilderEffort: "heur1" ..
// "heur<2^effort>" (16, 32 candidates besides the row's own rank 0); none below. The list cannot depend on the run-time problem: a rank beyond
// what the heuristic returns for a shape runs its last algorithm, so such variants time like that one.
std::vector<std::string> cublasLtHeuristicVariants(const ir::Layer& layer, int effort);
// The heuristic rank a tactic of such a row names: 0 for the row itself, k for "heur<k>". Throws kiln::Error
// (kUnsupported) naming the layer and the tactic for any other variant.
int cublasLtHeuristicRank(const ir::Layer& layer, const TacticChoice& tactic);

}  // namespace kiln::cuda
