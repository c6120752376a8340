// Blocked GEMM (Goto-style): B packed in KC x NR panels, A packed in MR x KC panels, an MR x NR
// register-tiled micro-kernel (AVX-512 8x32, AVX2+FMA 6x16, portable 6x16), tasks over M/N blocks.
#include "backends/cpu/kernels/gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernels/gelu.h"
#include "core/error.h"

namespace kiln::cpu {
namespace {

constexpr int64_t kKC = 256;
constexpr int kMaxMR = 8, kMaxNR = 32;

using MicroKernel = void (*)(int64_t K, const float* A, const float* B, float* C, int64_t ldc, bool accumulate);

// ---- micro-kernels: C[MR x NR] (+)= Apanel[K][MR] * Bpanel[K][NR] ----

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f"))) void kernelAvx512(int64_t K, const float* __restrict A,
                                                      const float* __restrict B, float* __restrict C, int64_t ldc,
                                                      bool accumulate) {
  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(),
         c11 = _mm512_setzero_ps(), c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(),
         c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps(), c40 = _mm512_setzero_ps(),
         c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps(),
         c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(),
         c71 = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m512 b0 = _mm512_load_ps(B), b1 = _mm512_load_ps(B + 16);
    __m512 a;
    a = _mm512_set1_ps(A[0]); c00 = _mm512_fmadd_ps(a, b0, c00); c01 = _mm512_fmadd_ps(a, b1, c01);
    a = _mm512_set1_ps(A[1]); c10 = _mm512_fmadd_ps(a, b0, c10); c11 = _mm512_fmadd_ps(a, b1, c11);
    a = _mm512_set1_ps(A[2]); c20 = _mm512_fmadd_ps(a, b0, c20); c21 = _mm512_fmadd_ps(a, b1, c21);
    a = _mm512_set1_ps(A[3]); c30 = _mm512_fmadd_ps(a, b0, c30); c31 = _mm512_fmadd_ps(a, b1, c31);
    a = _mm512_set1_ps(A[4]); c40 = _mm512_fmadd_ps(a, b0, c40); c41 = _mm512_fmadd_ps(a, b1, c41);
    a = _mm512_set1_ps(A[5]); c50 = _mm512_fmadd_ps(a, b0, c50); c51 = _mm512_fmadd_ps(a, b1, c51);
    a = _mm512_set1_ps(A[6]); c60 = _mm512_fmadd_ps(a, b0, c60); c61 = _mm512_fmadd_ps(a, b1, c61);
    a = _mm512_set1_ps(A[7]); c70 = _mm512_fmadd_ps(a, b0, c70); c71 = _mm512_fmadd_ps(a, b1, c71);
    A += 8;
    B += 32;
  }
#define KILN_STORE_ROW(r, x0, x1)                                                       \
  {                                                                                     \
    float* c = C + (r) * ldc;                                                           \
    if (accumulate) {                                                                   \
      x0 = _mm512_add_ps(x0, _mm512_loadu_ps(c));                                       \
      x1 = _mm512_add_ps(x1, _mm512_loadu_ps(c + 16));                                  \
    }                                                                                   \
    _mm512_storeu_ps(c, x0);                                                            \
    _mm512_storeu_ps(c + 16, x1);                                                       \
  }
  KILN_STORE_ROW(0, c00, c01) KILN_STORE_ROW(1, c10, c11) KILN_STORE_ROW(2, c20, c21) KILN_STORE_ROW(3, c30, c31)
  KILN_STORE_ROW(4, c40, c41) KILN_STORE_ROW(5, c50, c51) KILN_STORE_ROW(6, c60, c61) KILN_STORE_ROW(7, c70, c71)
#undef KILN_STORE_ROW
}

__attribute__((target("avx2,fma"))) void kernelAvx2(int64_t K, const float* __restrict A, const float* __restrict B,
                                                    float* __restrict C, int64_t ldc, bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(),
         c11 = _mm256_setzero_ps(), c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(),
         c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c40 = _mm256_setzero_ps(),
         c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m256 b0 = _mm256_load_ps(B), b1 = _mm256_load_ps(B + 8);
    __m256 a;
    a = _mm256_broadcast_ss(A + 0); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(A + 1); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(A + 2); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(A + 3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(A + 4); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(A + 5); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    A += 6;
    B += 16;
  }
#define KILN_STORE_ROW(r, x0, x1)                        \
  {                                                      \
    float* c = C + (r) * ldc;                            \
    if (accumulate) {                                    \
      x0 = _mm256_add_ps(x0, _mm256_loadu_ps(c));        \
      x1 = _mm256_add_ps(x1, _mm256_loadu_ps(c + 8));    \
    }                                                    \
    _mm256_storeu_ps(c, x0);                             \
    _mm256_storeu_ps(c + 8, x1);                         \
  }
  KILN_STORE_ROW(0, c00, c01) KILN_STORE_ROW(1, c10, c11) KILN_STORE_ROW(2, c20, c21)
  KILN_STORE_ROW(3, c30, c31) KILN_STORE_ROW(4, c40, c41) KILN_STORE_ROW(5, c50, c51)
#undef KILN_STORE_ROW
}
#endif

void kernelPortable(int64_t K, const float* __restrict A, const float* __restrict B, float* __restrict C, int64_t ldc,
                    bool accumulate) {
  float acc[6][16] = {};
  for (int64_t k = 0; k < K; ++k) {
    for (int r = 0; r < 6; ++r) {
      float a = A[r];
#pragma GCC ivdep
      for (int c = 0; c < 16; ++c) acc[r][c] += a * B[c];
    }
    A += 6;
    B += 16;
  }
  for (int r = 0; r < 6; ++r) {
    float* c = C + r * ldc;
    if (accumulate)
      for (int j = 0; j < 16; ++j) c[j] += acc[r][j];
    else
      for (int j = 0; j < 16; ++j) c[j] = acc[r][j];
  }
}

struct KernelInfo {
  MicroKernel fn;
  int mr, nr;
  const char* instructionSet;
};

KernelInfo selectKernel() {
  if (std::getenv("KILN_GEMM_PORTABLE")) return {kernelPortable, 6, 16, "portable"};
#if defined(__x86_64__) || defined(__i386__)
  if (!std::getenv("KILN_GEMM_NO_AVX512") && __builtin_cpu_supports("avx512f")) return {kernelAvx512, 8, 32, "avx512"};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {kernelAvx2, 6, 16, "avx2"};
#endif
  return {kernelPortable, 6, 16, "portable"};
}

const KernelInfo& kernelInfo() {
  static const KernelInfo info = selectKernel();
  return info;
}

struct AlignedBuffer {
  float* data = nullptr;
  size_t size = 0;
  ~AlignedBuffer() { std::free(data); }
  float* get(size_t n) {
    if (n > size) {
      std::free(data);
      size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
      data = static_cast<float*>(std::aligned_alloc(64, bytes));
      size = n;
    }
    return data;
  }
};

// Packs op(A)[i0:i0+mc, p0:p0+kc] into MR-row panels: panel[k][r], zero padded.
void packA(bool transA, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr,
           float* __restrict out) {
  for (int64_t ip = 0; ip < mc; ip += mr) {
    int rows = static_cast<int>(std::min<int64_t>(mr, mc - ip));
    float* dst = out + ip * kc;
    if (transA) {  // A stored [K, M]: element (i, k) at A[k * lda + i]
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = A + (p0 + k) * lda + i0 + ip;
        int r = 0;
        for (; r < rows; ++r) dst[k * mr + r] = src[r];
        for (; r < mr; ++r) dst[k * mr + r] = 0.f;
      }
    } else {
      for (int r = 0; r < rows; ++r) {
        const float* src = A + (i0 + ip + r) * lda + p0;
        for (int64_t k = 0; k < kc; ++k) dst[k * mr + r] = src[k];
      }
      for (int r = rows; r < mr; ++r)
        for (int64_t k = 0; k < kc; ++k) dst[k * mr + r] = 0.f;
    }
  }
}

// Packs op(B)[p0:p0+kc, j0:j0+nc] into NR-column panels: panel[k][c], zero padded.
void packB(bool transB, const float* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr,
           float* __restrict out) {
  for (int64_t jp = 0; jp < nc; jp += nr) {
    int cols = static_cast<int>(std::min<int64_t>(nr, nc - jp));
    float* dst = out + jp * kc;
    if (!transB) {
      const float* src = B + p0 * ldb + j0 + jp;
      if (cols == nr) {
        for (int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * nr, src + k * ldb, sizeof(float) * nr);
      } else {
        for (int64_t k = 0; k < kc; ++k) {
          int c = 0;
          for (; c < cols; ++c) dst[k * nr + c] = src[k * ldb + c];
          for (; c < nr; ++c) dst[k * nr + c] = 0.f;
        }
      }
    } else {  // B stored [N, K]
      for (int c = 0; c < cols; ++c) {
        const float* src = B + (j0 + jp + c) * ldb + p0;
        for (int64_t k = 0; k < kc; ++k) dst[k * nr + c] = src[k];
      }
      for (int c = cols; c < nr; ++c)
        for (int64_t k = 0; k < kc; ++k) dst[k * nr + c] = 0.f;
    }
  }
}

// One C row segment through the activation (its own loop per activation, so each vectorizes).
void applyActivation(MatMulActivation activation, float* __restrict c, int64_t cols) {
  switch (activation) {
    case MatMulActivation::kNone: return;
    case MatMulActivation::kRelu:
      for (int64_t j = 0; j < cols; ++j) c[j] = matMulActivation(MatMulActivation::kRelu, c[j]);
      return;
    case MatMulActivation::kGelu:
      geluErfFloatInPlace(c, cols);
      return;
    case MatMulActivation::kGeluTanh:
      for (int64_t j = 0; j < cols; ++j) c[j] = matMulActivation(MatMulActivation::kGeluTanh, c[j]);
      return;
  }
}

// C[rows, cols] (the block at row i0, column j0 of the product): + rowBias[i] + colBias[j], the activation,
// then the clamp.
void applyEpilogue(const GemmEpilogue& e, int64_t i0, int64_t j0, float* C, int64_t ldc, int64_t rows, int64_t cols) {
  const bool clamp = e.min != -std::numeric_limits<float>::infinity() || e.max != std::numeric_limits<float>::infinity();
  if (!e.rowBias && !e.colBias && !clamp && e.activation == MatMulActivation::kNone) return;
  const float lo = e.min, hi = e.max;
  for (int64_t r = 0; r < rows; ++r) {
    float* __restrict c = C + r * ldc;
    const float rb = e.rowBias ? e.rowBias[i0 + r] : 0.f;
    if (e.colBias) {
      const float* __restrict cb = e.colBias + j0;
#pragma GCC ivdep
      for (int64_t j = 0; j < cols; ++j) c[j] += rb + cb[j];
    } else if (e.rowBias) {
#pragma GCC ivdep
      for (int64_t j = 0; j < cols; ++j) c[j] += rb;
    }
    applyActivation(e.activation, c, cols);
    if (clamp) {
      // Comparisons false for NaN: NaN passes through, as in the Relu/Clip kernels.
#pragma GCC ivdep
      for (int64_t j = 0; j < cols; ++j) {
        float v = c[j];
        v = v < lo ? lo : v;
        c[j] = v > hi ? hi : v;
      }
    }
  }
}

float* allocateFloats(size_t n) {
  size_t bytes = std::max<size_t>(64, ((n * sizeof(float) + 63) / 64) * 64);
  auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  KILN_CHECK(p != nullptr, kRuntimeError, "cpu gemm: cannot allocate ", bytes, " bytes for packed weights");
  return p;
}

// y[0:N] (+)= x[0:K] * op(B)   (the M == 1 case)
void gemv(bool transB, int64_t N, int64_t K, const float* x, int64_t incx, const float* B, int64_t ldb, float* y,
          bool accumulate, const GemmEpilogue& epilogue, bool parallel) {
  auto body = [&](int64_t j0, int64_t j1) {
    if (!transB) {
      float* __restrict out = y + j0;
      int64_t n = j1 - j0;
      if (!accumulate)
        for (int64_t j = 0; j < n; ++j) out[j] = 0.f;
      for (int64_t k = 0; k < K; ++k) {
        float a = x[k * incx];
        const float* __restrict b = B + k * ldb + j0;
#pragma GCC ivdep
        for (int64_t j = 0; j < n; ++j) out[j] += a * b[j];
      }
    } else {
      for (int64_t j = j0; j < j1; ++j) {
        const float* __restrict b = B + j * ldb;
        float s = 0.f;
        if (incx == 1) {
          for (int64_t k = 0; k < K; ++k) s += x[k] * b[k];
        } else {
          for (int64_t k = 0; k < K; ++k) s += x[k * incx] * b[k];
        }
        y[j] = accumulate ? y[j] + s : s;
      }
    }
    applyEpilogue(epilogue, 0, j0, y + j0, N, 1, j1 - j0);
  };
  if (parallel && N * K >= 32768) parallelFor(N, 256, body);
  else body(0, N);
}

}  // namespace

const char* gemmInstructionSet() { return kernelInfo().instructionSet; }

PackedMatrix::PackedMatrix(bool transposed, int64_t outer, int64_t depth, const float* X, int64_t ld, bool isA)
    : outer_(outer), depth_(depth) {
  KILN_CHECK(outer > 0 && depth > 0, kInvalidArgument, "cpu gemm: cannot pack an empty ", outer, "x", depth, " matrix");
  const KernelInfo& ki = kernelInfo();
  width_ = isA ? ki.mr : ki.nr;
  padded_ = (outer + width_ - 1) / width_ * width_;
  data_.reset(allocateFloats(static_cast<size_t>(padded_ * depth)));
  for (int64_t p0 = 0; p0 < depth; p0 += kKC) {
    int64_t kc = std::min(kKC, depth - p0);
    if (isA) kiln::cpu::packA(transposed, X, ld, 0, outer, p0, kc, width_, data_.get() + p0 * padded_);
    else kiln::cpu::packB(transposed, X, ld, p0, kc, 0, outer, width_, data_.get() + p0 * padded_);
  }
}

PackedMatrix PackedMatrix::packA(bool transA, int64_t M, int64_t K, const float* A, int64_t lda) {
  return PackedMatrix(transA, M, K, A, lda, true);
}

PackedMatrix PackedMatrix::packB(bool transB, int64_t K, int64_t N, const float* B, int64_t ldb) {
  return PackedMatrix(transB, N, K, B, ldb, false);
}

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
           int64_t ldb, float* C, int64_t ldc, bool accumulate, const float* rowBias, bool parallel) {
  GemmEpilogue epilogue;
  epilogue.rowBias = rowBias;
  sgemm(transA, transB, M, N, K, {A, lda}, {B, ldb}, C, ldc, accumulate, epilogue, parallel);
}

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const GemmOperand& a, const GemmOperand& b,
           float* C, int64_t ldc, bool accumulate, const GemmEpilogue& epilogue, bool parallel) {
  if (M <= 0 || N <= 0) return;
  KILN_CHECK(!a.packed || (a.packed->outer() == M && a.packed->depth() == K), kInternal,
             "cpu gemm: packed A does not match M=", M, " K=", K);
  KILN_CHECK(!b.packed || (b.packed->outer() == N && b.packed->depth() == K), kInternal,
             "cpu gemm: packed B does not match N=", N, " K=", K);
  const float* A = a.data;
  const float* B = b.data;
  const int64_t lda = a.ld, ldb = b.ld;
  if (K <= 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = accumulate ? C[i * ldc + j] : 0.f;
    applyEpilogue(epilogue, 0, 0, C, ldc, M, N);
    return;
  }
  if (M == 1 && A != nullptr && B != nullptr) {
    gemv(transB, N, K, A, transA ? lda : 1, B, ldb, C, accumulate, epilogue, parallel);
    return;
  }
  const KernelInfo& ki = kernelInfo();
  const int mr = ki.mr, nr = ki.nr;
  // Block sizes: A block (MC x KC) stays in L2, a B panel (KC x NR) in L1.
  int64_t MC = static_cast<int64_t>(mr) * 16;
  int64_t NC = static_cast<int64_t>(nr) * 16;
  int threads = parallel ? numThreads() : 1;
  auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  int64_t nMB = ceilDiv(M, MC), nNB = ceilDiv(N, NC);
  if (threads > 1 && nMB * nNB < 4 * threads) {
    // Few tasks: split finer so that every thread gets an equal share.
    int64_t flopsPerTask = M * N * K / std::max<int64_t>(1, nMB * nNB);
    if (flopsPerTask > 65536) {
      int64_t maxNB = ceilDiv(N, nr), maxMB = ceilDiv(M, mr);
      int64_t want = threads * ((nMB * nNB + threads - 1) / threads);
      if (nMB * nNB < threads) want = threads;
      // Prefer splitting N (keeps A packing shared by fewer tasks being cheap), then M.
      int64_t nb = std::min(maxNB, ceilDiv(want, nMB));
      nNB = std::max(nNB, nb);
      if (nMB * nNB < want) nMB = std::min(maxMB, ceilDiv(want, nNB));
      NC = ceilDiv(ceilDiv(N, nNB), nr) * nr;
      MC = ceilDiv(ceilDiv(M, nMB), mr) * mr;
      nNB = ceilDiv(N, NC);
      nMB = ceilDiv(M, MC);
    }
  }
  const int64_t tasks = nMB * nNB;
  auto runTask = [&](int64_t t0, int64_t t1) {
    thread_local AlignedBuffer bufA, bufB;
    float* packedA = a.packed ? nullptr : bufA.get(static_cast<size_t>(MC * kKC));
    float* packedB = b.packed ? nullptr : bufB.get(static_cast<size_t>(NC * kKC));
    alignas(64) float tile[kMaxMR * kMaxNR];
    for (int64_t t = t0; t < t1; ++t) {
      int64_t nb = t % nNB, mb = t / nNB;
      int64_t i0 = mb * MC, mc = std::min(MC, M - i0);
      int64_t j0 = nb * NC, nc = std::min(NC, N - j0);
      for (int64_t p0 = 0; p0 < K; p0 += kKC) {
        int64_t kc = std::min(kKC, K - p0);
        bool acc = accumulate || p0 > 0;
        const float* panelsB = packedB;
        const float* panelsA = packedA;
        if (b.packed) panelsB = b.packed->block(p0, j0, kc);
        else packB(transB, B, ldb, p0, kc, j0, nc, nr, packedB);
        if (a.packed) panelsA = a.packed->block(p0, i0, kc);
        else packA(transA, A, lda, i0, mc, p0, kc, mr, packedA);
        for (int64_t jr = 0; jr < nc; jr += nr) {
          int64_t cols = std::min<int64_t>(nr, nc - jr);
          const float* bp = panelsB + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += mr) {
            int64_t rows = std::min<int64_t>(mr, mc - ir);
            const float* ap = panelsA + ir * kc;
            float* c = C + (i0 + ir) * ldc + j0 + jr;
            if (rows == mr && cols == nr) {
              ki.fn(kc, ap, bp, c, ldc, acc);
            } else {
              ki.fn(kc, ap, bp, tile, nr, false);
              for (int64_t r = 0; r < rows; ++r) {
                float* cr = c + r * ldc;
                const float* tr = tile + r * nr;
                if (acc)
                  for (int64_t j = 0; j < cols; ++j) cr[j] += tr[j];
                else
                  for (int64_t j = 0; j < cols; ++j) cr[j] = tr[j];
              }
            }
          }
        }
      }
      applyEpilogue(epilogue, i0, j0, C + i0 * ldc + j0, ldc, mc, nc);
    }
  };
  if (tasks > 1 && threads > 1) parallelFor(tasks, 1, runTask);
  else runTask(0, tasks);
}

void dgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B,
           int64_t ldb, double* C, int64_t ldc, bool accumulate, const double* rowBias, bool parallel) {
  if (M <= 0 || N <= 0) return;
  // Transposed B is copied to [K, N] so that the inner loop streams rows.
  std::vector<double> bt;
  if (transB) {
    bt.resize(static_cast<size_t>(K * N));
    for (int64_t j = 0; j < N; ++j)
      for (int64_t k = 0; k < K; ++k) bt[k * N + j] = B[j * ldb + k];
    B = bt.data();
    ldb = N;
  }
  auto body = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      double* __restrict c = C + i * ldc;
      if (!accumulate)
        for (int64_t j = 0; j < N; ++j) c[j] = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        double a = transA ? A[k * lda + i] : A[i * lda + k];
        const double* __restrict b = B + k * ldb;
#pragma GCC ivdep
        for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      }
      if (rowBias)
        for (int64_t j = 0; j < N; ++j) c[j] += rowBias[i];
    }
  };
  if (parallel && M * N * K > 65536) parallelFor(M, 1, body);
  else body(0, M);
}

}  // namespace kiln::cpu
