// MatMul: numpy batch broadcasting over the blocked GEMM (gemm.h); a shared right operand folds the
// batch into M; many small batched products run in parallel over the batch. An optional bias [N] is
// added to every output row, then the epilogue activation (the packed-weights path applies both in the
// GEMM epilogue, per output tile).
#include <algorithm>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/gemm.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

template <class T>
void gemmT(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
           int64_t ldc, bool parallel) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    gemm(tA, tB, M, N, K, A, lda, B, ldb, C, ldc, false, nullptr, parallel);
  } else {
    gemmSimple<T>(tA, tB, M, N, K, A, lda, B, ldb, C, ldc, false);
  }
}

template <class T>
void matmulProduct(const ir::Layer& layer, const MatrixMultiplyParams& p, const TensorView& a, const TensorView& b,
                   const TensorView& y);

// Adds bias[N] to each of the `rows` rows of y.
template <class T>
void addRowBias(T* y, const T* bias, int64_t rows, int64_t N) {
  parallelFor(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(N, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < N; ++j) y[r * N + j] += bias[j];
  });
}

template <class T>
void matmul(const ir::Layer& layer, const MatrixMultiplyParams& p, const TensorView& a, const TensorView& b,
            const TensorView* bias, const TensorView& y) {
  matmulProduct<T>(layer, p, a, b, y);
  if (y.count() == 0) return;
  if (bias) {
    const int64_t N = y.shape.back();
    KILN_CHECK(bias->count() == N, kInvalidArgument, layer.describe(), ": MatMul bias ", dimsToString(bias->shape),
               " must hold N = ", N, " values");
    addRowBias<T>(y.as<T>(), bias->as<const T>(), y.count() / N, N);
  }
  if (p.activation == MatMulActivation::kNone) return;
  if constexpr (std::is_floating_point_v<T>) {
    T* out = y.as<T>();
    const MatMulActivation activation = p.activation;
    parallelFor(y.count(), kPointwiseGrain / 4, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) out[i] = matMulActivation(activation, out[i]);
    });
  } else {
    fail(ErrorCode::kInvalidArgument, concat(layer.describe(), ": an epilogue activation needs float operands"));
  }
}

template <class T>
void matmulProduct(const ir::Layer& layer, const MatrixMultiplyParams& p, const TensorView& a, const TensorView& b,
                   const TensorView& y) {
  Dims as = a.shape, bs = b.shape;
  bool tA = p.transposeA, tB = p.transposeB;
  KILN_CHECK(!as.empty() && !bs.empty(), kInvalidArgument, layer.describe(), ": MatMul operands must not be scalars");
  // 1-D promotion: a [K] -> [1, K]; b [K] -> [K, 1]. Transposes do not apply to 1-D operands.
  if (as.size() == 1) { as.insert(as.begin(), 1); tA = false; }
  if (bs.size() == 1) { bs.push_back(1); tB = false; }
  int64_t M = tA ? as[as.size() - 1] : as[as.size() - 2];
  int64_t K = tA ? as[as.size() - 2] : as[as.size() - 1];
  int64_t Kb = tB ? bs[bs.size() - 1] : bs[bs.size() - 2];
  int64_t N = tB ? bs[bs.size() - 2] : bs[bs.size() - 1];
  KILN_CHECK(K == Kb, kInvalidArgument, layer.describe(), ": MatMul inner dimensions differ: ", dimsToString(a.shape),
             " x ", dimsToString(b.shape));
  int64_t lda = as.back(), ldb = bs.back();
  // Batch dims, broadcast to the output's.
  size_t rank = std::max(as.size(), bs.size());
  size_t nb = rank - 2;
  Dims ab(nb, 1), bb(nb, 1), ob(nb, 1);
  for (size_t i = 0; i < as.size() - 2; ++i) ab[nb - (as.size() - 2) + i] = as[i];
  for (size_t i = 0; i < bs.size() - 2; ++i) bb[nb - (bs.size() - 2) + i] = bs[i];
  int64_t batch = 1;
  for (size_t i = 0; i < nb; ++i) {
    KILN_CHECK(ab[i] == bb[i] || ab[i] == 1 || bb[i] == 1, kInvalidArgument, layer.describe(),
               ": MatMul batch dims do not broadcast: ", dimsToString(a.shape), " x ", dimsToString(b.shape));
    ob[i] = std::max(ab[i], bb[i]);
    if (ab[i] == 0 || bb[i] == 0) ob[i] = 0;
    batch *= ob[i];
  }
  KILN_CHECK(y.count() == batch * M * N, kInvalidArgument, layer.describe(), ": MatMul output shape ",
             dimsToString(y.shape), " does not match the operands");
  if (y.count() == 0) return;
  const T* A = a.as<const T>();
  const T* B = b.as<const T>();
  T* C = y.as<T>();
  if (K == 0) {
    std::fill(C, C + y.count(), T(0));
    return;
  }
  int64_t aBatch = 1, bBatch = 1;
  for (size_t i = 0; i < nb; ++i) { aBatch *= ab[i]; bBatch *= bb[i]; }
  // b shared by every batch and a not transposed: one GEMM with M * batch rows.
  if (bBatch == 1 && !tA && aBatch == batch) {
    gemmT<T>(false, tB, M * batch, N, K, A, lda, B, ldb, C, N, true);
    return;
  }
  // Offsets per output batch index.
  std::vector<int64_t> aOff(batch), bOff(batch);
  {
    Dims aStr(nb, 0), bStr(nb, 0);
    int64_t sa = M * K, sb = K * N;
    for (int i = static_cast<int>(nb) - 1; i >= 0; --i) {
      aStr[i] = ab[i] == 1 ? 0 : sa;
      bStr[i] = bb[i] == 1 ? 0 : sb;
      sa *= ab[i];
      sb *= bb[i];
    }
    std::vector<int64_t> idx(nb, 0);
    for (int64_t t = 0; t < batch; ++t) {
      int64_t oa = 0, obb = 0;
      for (size_t i = 0; i < nb; ++i) { oa += idx[i] * aStr[i]; obb += idx[i] * bStr[i]; }
      aOff[t] = oa;
      bOff[t] = obb;
      for (int i = static_cast<int>(nb) - 1; i >= 0; --i) {
        if (++idx[i] < ob[i]) break;
        idx[i] = 0;
      }
    }
  }
  int64_t work = M * N * K;
  bool perBatchParallel = batch >= numThreads() && work < (1 << 22);
  if (perBatchParallel) {
    parallelFor(batch, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        gemmT<T>(tA, tB, M, N, K, A + aOff[t], lda, B + bOff[t], ldb, C + t * M * N, N, false);
    });
  } else {
    for (int64_t t = 0; t < batch; ++t)
      gemmT<T>(tA, tB, M, N, K, A + aOff[t], lda, B + bOff[t], ldb, C + t * M * N, N, true);
  }
}

// The kernel: a constant 2-D float32 right operand (weights) is packed once, so the batch of `a` folds
// into M and every call is one GEMM that skips packing B; other operands run runMatrixMultiply.
class MatrixMultiplyKernel final : public CpuKernel {
 public:
  MatrixMultiplyKernel(const ir::Layer& layer, const TacticChoice& tactic, std::unique_ptr<PackedMatrix> b)
      : CpuKernel(layer, tactic), b_(std::move(b)) {}
  void execute(const KernelArgs& args) const override {
    if (b_) runPacked(args);
    else runMatrixMultiply(layer(), args);
  }

 private:
  void runPacked(const KernelArgs& args) const {
    KILN_CHECK(args.inputs.size() >= 2 && !args.outputs.empty(), kInvalidArgument, layer().describe(),
               ": MatMul needs 2 inputs");
    const TensorView& a = args.inputs[0];
    const TensorView& y = args.outputs[0];
    const int64_t K = b_->depth(), N = b_->outer();
    KILN_CHECK(a.type == DataType::kFloat32 && !a.shape.empty() && a.shape.back() == K, kInvalidArgument,
               layer().describe(), ": MatMul expects float32 [..., ", K, "] for its left operand, got ",
               dimsToString(a.shape));
    const int64_t rows = a.count() / K;
    KILN_CHECK(y.count() == rows * N, kInvalidArgument, layer().describe(), ": MatMul output shape ",
               dimsToString(y.shape), " does not match the operands");
    if (rows == 0) return;
    GemmEpilogue epilogue;
    epilogue.activation = layer().as<MatrixMultiplyParams>().activation;
    if (args.inputs.size() > 2 && args.inputs[2].data) {
      const TensorView& bias = args.inputs[2];
      KILN_CHECK(bias.type == DataType::kFloat32 && bias.count() == N, kInvalidArgument, layer().describe(),
                 ": MatMul bias ", dimsToString(bias.shape), " must be float32 [", N, "]");
      epilogue.colBias = bias.as<const float>();
    }
    sgemm(false, false, rows, N, K, {a.as<const float>(), K}, {nullptr, 0, b_.get()}, y.as<float>(), N, false, epilogue,
          true);
  }

  std::unique_ptr<PackedMatrix> b_;  // nullptr: b is not a constant 2-D float32 matrix (or a is transposed)
};

}  // namespace

std::string supportsMatrixMultiply(const ir::Layer& layer) {
  const bool activation = layer.as<MatrixMultiplyParams>().activation != MatMulActivation::kNone;
  return activation ? checkTypes(layer, kFloats, kFloats) : checkTypes(layer, kNumeric, kNumeric);
}

std::unique_ptr<CpuKernel> createMatrixMultiply(const ir::Layer& layer, const Constants& constants,
                                                const TacticChoice& tactic) {
  const HostTensor* b = constants.size() > 1 ? constants[1] : nullptr;
  const auto& p = layer.as<MatrixMultiplyParams>();
  std::unique_ptr<PackedMatrix> packed;
  if (b != nullptr && b->type == DataType::kFloat32 && b->shape.size() == 2 && !p.transposeA) {
    const int64_t K = p.transposeB ? b->shape[1] : b->shape[0];
    const int64_t N = p.transposeB ? b->shape[0] : b->shape[1];
    if (K > 0 && N > 0)
      packed = std::make_unique<PackedMatrix>(PackedMatrix::packB(p.transposeB, K, N, b->as<float>(), b->shape[1]));
  }
  return std::make_unique<MatrixMultiplyKernel>(layer, tactic, std::move(packed));
}

void runMatrixMultiply(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<MatrixMultiplyParams>();
  KILN_CHECK(args.inputs.size() >= 2 && args.outputs.size() >= 1, kInvalidArgument, layer.describe(),
             ": MatMul needs 2 inputs");
  const TensorView& a = args.inputs[0];
  const TensorView& b = args.inputs[1];
  KILN_CHECK(a.type == b.type, kInvalidArgument, layer.describe(), ": MatMul operand types differ");
  bool hasBias = args.inputs.size() > 2 && args.inputs[2].data;
  if (a.type == DataType::kFloat16 || a.type == DataType::kBFloat16) {
    std::vector<int> floatInputs = hasBias ? std::vector<int>{0, 1, 2} : std::vector<int>{0, 1};
    detail::runInFloat(args, floatInputs, {0}, [&](const KernelArgs& fa) {
      matmul<float>(layer, p, fa.inputs[0], fa.inputs[1], hasBias ? &fa.inputs[2] : nullptr, fa.outputs[0]);
    });
    return;
  }
  dispatchType<kFloats | kSigned | kUnsigned>(a.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (detail::kIsHalf<T>) {
      unsupportedType(a.type, layer);
    } else {
      matmul<T>(layer, p, a, b, hasBias ? &args.inputs[2] : nullptr, args.outputs[0]);
    }
  });
}

}  // namespace kiln::cpu
