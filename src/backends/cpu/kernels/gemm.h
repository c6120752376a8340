// The CPU GEMM shared by MatMul, Convolution (im2col) and Deconvolution (col2im).
//
// C[M,N] = op(A)[M,K] * op(B)[K,N] (+ C when accumulate) (+ rowBias[m]), row-major with leading
// dimensions. op(X) is X or its transpose. float32 runs a cache-blocked, packed, register-tiled
// kernel (AVX-512 / AVX2+FMA chosen at run time, portable fallback), parallelized over M/N blocks.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>

#include "backends/cpu/kernels/compute_common.h"
#include "kiln/layers.h"

namespace kiln::cpu {

// The MatMul epilogue activation of one value in compute type C (float or double), with the formulas of
// the Activation kernel, so a fused MatMul gives what MatMul -> Activation gives. NaN passes through.
template <class C>
inline C matMulActivation(MatMulActivation activation, C v) {
  switch (activation) {
    case MatMulActivation::kNone: return v;
    case MatMulActivation::kRelu: return v < C(0) ? C(0) : v;
    case MatMulActivation::kGelu: return C(0.5) * v * (C(1) + detail::erfApprox(v * C(0.70710678118654752440)));
    case MatMulActivation::kGeluTanh: {
      const C k = C(0.79788456080286535588);  // sqrt(2/pi)
      return C(0.5) * v * (C(1) + std::tanh(k * (v + C(0.044715) * v * v * v)));
    }
  }
  return v;
}

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
           int64_t ldb, float* C, int64_t ldc, bool accumulate = false, const float* rowBias = nullptr,
           bool parallel = true);

// The instruction set of the float32 micro-kernel on this machine: "avx512", "avx2" or "portable"
// (KILN_GEMM_NO_AVX512 / KILN_GEMM_PORTABLE force the lesser ones).
const char* gemmInstructionSet();

// An operand packed once into the micro-kernel's panel layout (constant weights), so that sgemm skips
// packing it on every call. Rows of op(A) or columns of op(B) in panels of the kernel's MR/NR, K in
// blocks of the GEMM's KC.
class PackedMatrix {
 public:
  PackedMatrix() = default;
  static PackedMatrix packA(bool transA, int64_t M, int64_t K, const float* A, int64_t lda);
  static PackedMatrix packB(bool transB, int64_t K, int64_t N, const float* B, int64_t ldb);
  int64_t outer() const { return outer_; }  // M for A, N for B
  int64_t depth() const { return depth_; }  // K
  // The panels of the K block that starts at p0 (kc deep), from row/column `first` (a panel multiple).
  const float* block(int64_t p0, int64_t first, int64_t kc) const { return data_.get() + p0 * padded_ + first * kc; }

 private:
  PackedMatrix(bool transposed, int64_t outer, int64_t depth, const float* X, int64_t ld, bool isA);
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  int64_t outer_ = 0, depth_ = 0, width_ = 0, padded_ = 0;
  std::unique_ptr<float, Free> data_;
};

// A GEMM operand: row-major data with its leading dimension, or (when `packed` is set) a packed copy.
struct GemmOperand {
  const float* data = nullptr;
  int64_t ld = 0;
  const PackedMatrix* packed = nullptr;
};

// Applied to each C block after the product: + rowBias[i] + colBias[j], the activation, then clamped to
// [min, max] (NaN passes through).
struct GemmEpilogue {
  const float* rowBias = nullptr;
  const float* colBias = nullptr;
  MatMulActivation activation = MatMulActivation::kNone;
  float min = -std::numeric_limits<float>::infinity();
  float max = std::numeric_limits<float>::infinity();
};

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const GemmOperand& a, const GemmOperand& b,
           float* C, int64_t ldc, bool accumulate, const GemmEpilogue& epilogue, bool parallel = true);

void dgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B,
           int64_t ldb, double* C, int64_t ldc, bool accumulate = false, const double* rowBias = nullptr,
           bool parallel = true);

// Simple (non-blocked) GEMM for any arithmetic T (integers); accumulates in T.
template <class T>
void gemmSimple(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
                int64_t ldb, T* C, int64_t ldc, bool accumulate = false) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (!accumulate)
      for (int64_t j = 0; j < N; ++j) c[j] = T(0);
    for (int64_t k = 0; k < K; ++k) {
      T a = transA ? A[k * lda + i] : A[i * lda + k];
      if (transB) {
        for (int64_t j = 0; j < N; ++j) c[j] += a * B[j * ldb + k];
      } else {
        const T* b = B + k * ldb;
        for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      }
    }
  }
}

// Overloads picking the best GEMM for T (used by templated kernels).
inline void gemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                 int64_t ldb, float* C, int64_t ldc, bool acc = false, const float* bias = nullptr, bool par = true) {
  sgemm(tA, tB, M, N, K, A, lda, B, ldb, C, ldc, acc, bias, par);
}
inline void gemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B,
                 int64_t ldb, double* C, int64_t ldc, bool acc = false, const double* bias = nullptr,
                 bool par = true) {
  dgemm(tA, tB, M, N, K, A, lda, B, ldb, C, ldc, acc, bias, par);
}

}  // namespace kiln::cpu
