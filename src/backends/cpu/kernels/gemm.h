// The CPU GEMM shared by MatMul, Convolution (im2col) and Deconvolution (col2im).
//
// C[M,N] = op(A)[M,K] * op(B)[K,N] (+ C when accumulate) (+ rowBias[m]), row-major with leading
// dimensions. op(X) is X or its transpose. float32 runs a cache-blocked, packed, register-tiled
// kernel (AVX-512 / AVX2+FMA chosen at run time, portable fallback), parallelized over M/N blocks.
#pragma once

#include <cstdint>

namespace kiln::cpu {

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
           int64_t ldb, float* C, int64_t ldc, bool accumulate = false, const float* rowBias = nullptr,
           bool parallel = true);

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
