// Tests of the compute-heavy CPU kernels (GEMM, MatMul, Conv, Deconv, Pooling, Reduce, Softmax,
// Normalization, LRN, Resize, TopK, ArgMinMax, CumSum, Einsum): hand-computed cases and naive
// reference loops on seeded random data with awkward shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/dispatch.h"
#include "backends/cpu/kernels/gemm.h"
#include "backends/cpu/kernels/kernels.h"
#include "core/half.h"

using namespace kiln;
using kiln::cpu::Half;

namespace {

std::vector<float> randomFloats(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

template <class T>
TensorView viewOf(std::vector<T>& v, Dims shape, DataType type) {
  return TensorView{v.data(), type, std::move(shape)};
}
TensorView fv(std::vector<float>& v, Dims shape) { return viewOf(v, std::move(shape), DataType::kFloat32); }
TensorView iv64(std::vector<int64_t>& v, Dims shape) { return viewOf(v, std::move(shape), DataType::kInt64); }
TensorView none() { return TensorView{nullptr, DataType::kFloat32, {}}; }

void expectNear(const std::vector<float>& got, const std::vector<float>& want, float tol, const char* what = "") {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    float t = tol * std::max(1.f, std::abs(want[i]));
    ASSERT_NEAR(got[i], want[i], t) << what << " at " << i;
  }
}

std::vector<uint16_t> toHalf(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = floatToHalf(v[i]);
  return h;
}
std::vector<float> fromHalf(const std::vector<uint16_t>& h) {
  std::vector<float> v(h.size());
  for (size_t i = 0; i < h.size(); ++i) v[i] = halfToFloat(h[i]);
  return v;
}
std::vector<float> roundHalf(const std::vector<float>& v) { return fromHalf(toHalf(v)); }

int64_t vol(const Dims& d) {
  int64_t p = 1;
  for (auto x : d) p *= x;
  return p;
}

// ---------------------------------------------------------------------------------------------
// GEMM

void naiveGemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C,
               bool acc, const float* bias) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = acc ? C[i * N + j] : 0.0;
      for (int64_t k = 0; k < K; ++k)
        s += static_cast<double>(tA ? A[k * M + i] : A[i * K + k]) * (tB ? B[j * K + k] : B[k * N + j]);
      if (bias) s += bias[i];
      C[i * N + j] = static_cast<float>(s);
    }
}

TEST(CpuGemm, MatchesNaiveOnAwkwardShapes) {
  struct S { int64_t M, N, K; };
  std::vector<S> shapes = {{1, 1, 1}, {1, 37, 19}, {5, 1, 7}, {7, 13, 300}, {17, 33, 5}, {100, 37, 513},
                           {9, 64, 257}, {130, 70, 31}, {3, 1000, 64}, {64, 3136 / 16, 72}};
  uint32_t seed = 1;
  for (auto s : shapes)
    for (int t = 0; t < 4; ++t)
      for (int accBias = 0; accBias < 2; ++accBias) {
        bool tA = t & 1, tB = t & 2;
        auto A = randomFloats(s.M * s.K, seed++), B = randomFloats(s.K * s.N, seed++);
        auto bias = randomFloats(s.M, seed++);
        auto C0 = randomFloats(s.M * s.N, seed++);
        auto want = C0, got = C0;
        naiveGemm(tA, tB, s.M, s.N, s.K, A.data(), B.data(), want.data(), accBias, accBias ? bias.data() : nullptr);
        cpu::sgemm(tA, tB, s.M, s.N, s.K, A.data(), tA ? s.M : s.K, B.data(), tB ? s.K : s.N, got.data(), s.N,
                   accBias, accBias ? bias.data() : nullptr);
        expectNear(got, want, 1e-4f, "sgemm");
      }
}

TEST(CpuGemm, PackedOperandsAndEpilogueMatchNaive) {
  // Pre-packed A and/or B (constant weights), row and column bias, and the output clamp, on shapes that
  // straddle the panel widths (MR 6/8, NR 16/32) and the K block (256).
  struct S { int64_t M, N, K; };
  std::vector<S> shapes = {{1, 1, 1}, {1, 45, 19}, {7, 13, 300}, {17, 33, 5}, {100, 37, 513}, {9, 64, 257},
                           {130, 70, 31}, {64, 196, 72}, {2, 1000, 64}};
  uint32_t seed = 900;
  for (auto s : shapes)
    for (int t = 0; t < 4; ++t)
      for (int packing = 1; packing < 4; ++packing) {
        SCOPED_TRACE(::testing::Message() << s.M << "x" << s.N << "x" << s.K << " t" << t << " packing " << packing);
        bool tA = t & 1, tB = t & 2, packA = packing & 1, packB = packing & 2;
        int64_t lda = tA ? s.M : s.K, ldb = tB ? s.K : s.N;
        auto A = randomFloats(s.M * s.K, seed++), B = randomFloats(s.K * s.N, seed++);
        auto rowBias = randomFloats(s.M, seed++), colBias = randomFloats(s.N, seed++);
        std::vector<float> want(s.M * s.N), got(s.M * s.N, 99.f);
        naiveGemm(tA, tB, s.M, s.N, s.K, A.data(), B.data(), want.data(), false, rowBias.data());
        for (int64_t i = 0; i < s.M; ++i)
          for (int64_t j = 0; j < s.N; ++j) {
            float& v = want[i * s.N + j];
            v = std::min(std::max(v + colBias[j], -0.5f), 2.f);
          }
        cpu::PackedMatrix pa, pb;
        if (packA) pa = cpu::PackedMatrix::packA(tA, s.M, s.K, A.data(), lda);
        if (packB) pb = cpu::PackedMatrix::packB(tB, s.K, s.N, B.data(), ldb);
        cpu::GemmEpilogue epilogue;
        epilogue.rowBias = rowBias.data();
        epilogue.colBias = colBias.data();
        epilogue.min = -0.5f;
        epilogue.max = 2.f;
        cpu::sgemm(tA, tB, s.M, s.N, s.K, {A.data(), lda, packA ? &pa : nullptr}, {B.data(), ldb, packB ? &pb : nullptr},
                   got.data(), s.N, false, epilogue);
        expectNear(got, want, 1e-4f, "packed sgemm");
      }
}

TEST(CpuGemm, EpilogueClampKeepsNaN) {
  std::vector<float> A = {std::numeric_limits<float>::quiet_NaN(), 1.f, -3.f, 1.f}, B = {1.f, 1.f};
  std::vector<float> C(2);
  cpu::GemmEpilogue epilogue;
  epilogue.min = 0.f;
  cpu::sgemm(false, false, 2, 1, 2, {A.data(), 2}, {B.data(), 1}, C.data(), 1, false, epilogue);
  EXPECT_TRUE(std::isnan(C[0]));
  EXPECT_EQ(C[1], 0.f);
}

TEST(CpuMath, ErfApproxMatchesStdErf) {
  double worst = 0;
  for (int i = -80000; i <= 80000; ++i) {
    float x = i * 1e-4f;
    worst = std::max(worst, std::abs(double(cpu::detail::erfApprox(x)) - std::erf(double(x))));
  }
  EXPECT_LT(worst, 1e-6);
  EXPECT_NEAR(cpu::detail::erfApprox(100.f), 1.f, 1e-6f);
  EXPECT_NEAR(cpu::detail::erfApprox(-std::numeric_limits<float>::infinity()), -1.f, 1e-6f);
  EXPECT_TRUE(std::isnan(cpu::detail::erfApprox(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(cpu::detail::erfApprox(0.5), std::erf(0.5));  // double: exact
}

TEST(CpuGemm, DoubleAndStridedLeadingDims) {
  int64_t M = 11, N = 23, K = 17, lda = 20, ldb = 30, ldc = 25;
  auto Af = randomFloats(M * lda, 5), Bf = randomFloats(K * ldb, 6);
  std::vector<double> A(Af.begin(), Af.end()), B(Bf.begin(), Bf.end()), C(M * ldc, -7.0);
  cpu::dgemm(false, false, M, N, K, A.data(), lda, B.data(), ldb, C.data(), ldc);
  std::vector<float> Cf(M * ldc, -7.f);
  cpu::sgemm(false, false, M, N, K, Af.data(), lda, Bf.data(), ldb, Cf.data(), ldc);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      double want = -7.0;
      if (j < N) {
        want = 0;
        for (int64_t k = 0; k < K; ++k) want += A[i * lda + k] * B[k * ldb + j];
      }
      ASSERT_NEAR(C[i * ldc + j], want, 1e-12);
      ASSERT_NEAR(Cf[i * ldc + j], want, 1e-4);
    }
}

// ---------------------------------------------------------------------------------------------
// MatMul

TEST(CpuMatMul, HandComputed) {
  std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {7, 8, 9, 10, 11, 12}, y(4);
  ir::Layer layer("mm", MatrixMultiplyParams{});
  KernelArgs args{{fv(a, {2, 3}), fv(b, {3, 2})}, {fv(y, {2, 2})}};
  cpu::runMatrixMultiply(layer, args);
  expectNear(y, {58, 64, 139, 154}, 0);
}

std::vector<float> naiveMatMul(const std::vector<float>& a, Dims as, const std::vector<float>& b, Dims bs, bool tA,
                               bool tB, Dims& outShape) {
  // Batch-broadcast reference for rank >= 2 operands.
  size_t r = std::max(as.size(), bs.size());
  while (as.size() < r) as.insert(as.begin(), 1);
  while (bs.size() < r) bs.insert(bs.begin(), 1);
  int64_t M = tA ? as[r - 1] : as[r - 2], K = tA ? as[r - 2] : as[r - 1];
  int64_t N = tB ? bs[r - 2] : bs[r - 1];
  outShape.clear();
  for (size_t i = 0; i + 2 < r; ++i) outShape.push_back(std::max(as[i], bs[i]));
  outShape.push_back(M);
  outShape.push_back(N);
  std::vector<float> y(vol(outShape));
  int64_t batch = vol(outShape) / (M * N);
  for (int64_t t = 0; t < batch; ++t) {
    int64_t rem = t, oa = 0, ob = 0, sa = M * K, sb = K * N;
    for (int i = static_cast<int>(r) - 3; i >= 0; --i) {
      int64_t idx = rem % outShape[i];
      rem /= outShape[i];
      oa += (as[i] == 1 ? 0 : idx) * sa;
      ob += (bs[i] == 1 ? 0 : idx) * sb;
      sa *= as[i];
      sb *= bs[i];
    }
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k)
          s += double(a[oa + (tA ? k * M + i : i * K + k)]) * b[ob + (tB ? j * K + k : k * N + j)];
        y[t * M * N + i * N + j] = float(s);
      }
  }
  return y;
}

TEST(CpuMatMul, RandomBroadcastAndTransposes) {
  struct C { Dims a, b; bool tA, tB; };
  std::vector<C> cases = {{{2, 1, 5, 7}, {3, 7, 4}, false, false}, {{3, 5, 7}, {7, 9}, false, false},
                          {{4, 7, 5}, {4, 7, 9}, true, true},      {{1, 13}, {13, 1}, false, false},
                          {{12, 33, 16}, {12, 16, 33}, false, false}, {{6, 19, 31}, {31, 65}, false, true}};
  uint32_t seed = 10;
  for (auto& c : cases) {
    Dims bs = c.b;
    if (c.tB) std::swap(bs[bs.size() - 1], bs[bs.size() - 2]);
    auto a = randomFloats(vol(c.a), seed++), b = randomFloats(vol(bs), seed++);
    Dims outShape;
    auto want = naiveMatMul(a, c.a, b, bs, c.tA, c.tB, outShape);
    std::vector<float> y(want.size(), -1.f);
    ir::Layer layer("mm", MatrixMultiplyParams{c.tA, c.tB});
    KernelArgs args{{fv(a, c.a), fv(b, bs)}, {fv(y, outShape)}};
    cpu::runMatrixMultiply(layer, args);
    expectNear(y, want, 1e-4f, "matmul");
  }
}

TEST(CpuMatMul, OneDimensionalIntAndHalfAndEmpty) {
  // [3] x [3, 2] -> [2]
  std::vector<float> a = {1, 2, 3}, b = {1, 2, 3, 4, 5, 6}, y(2);
  ir::Layer layer("mm", MatrixMultiplyParams{});
  KernelArgs args{{fv(a, {3}), fv(b, {3, 2})}, {fv(y, {2})}};
  cpu::runMatrixMultiply(layer, args);
  expectNear(y, {22, 28}, 0);
  // int32
  std::vector<int32_t> ia = {1, -2, 3, 4}, ib = {5, 6, -7, 8}, iy(4);
  KernelArgs iargs{{viewOf(ia, {2, 2}, DataType::kInt32), viewOf(ib, {2, 2}, DataType::kInt32)},
                   {viewOf(iy, {2, 2}, DataType::kInt32)}};
  cpu::runMatrixMultiply(layer, iargs);
  EXPECT_EQ(iy, (std::vector<int32_t>{19, -10, -13, 50}));
  // fp16
  auto fa = roundHalf(randomFloats(5 * 9, 3)), fb = roundHalf(randomFloats(9 * 4, 4));
  Dims os;
  auto want = naiveMatMul(fa, {5, 9}, fb, {9, 4}, false, false, os);
  auto ha = toHalf(fa), hb = toHalf(fb);
  std::vector<uint16_t> hy(20);
  KernelArgs hargs{{viewOf(ha, {5, 9}, DataType::kFloat16), viewOf(hb, {9, 4}, DataType::kFloat16)},
                   {viewOf(hy, {5, 4}, DataType::kFloat16)}};
  cpu::runMatrixMultiply(layer, hargs);
  expectNear(fromHalf(hy), want, 2e-3f, "fp16 matmul");
  // empty batch
  std::vector<float> ea, eb(4 * 5), ey;
  KernelArgs eargs{{fv(ea, {0, 3, 4}), fv(eb, {4, 5})}, {fv(ey, {0, 3, 5})}};
  cpu::runMatrixMultiply(layer, eargs);
  // K == 0 gives zeros
  std::vector<float> za, zb, zy(6, 5.f);
  KernelArgs zargs{{fv(za, {2, 0}), fv(zb, {0, 3})}, {fv(zy, {2, 3})}};
  cpu::runMatrixMultiply(layer, zargs);
  expectNear(zy, std::vector<float>(6, 0.f), 0);
}

TEST(CpuMatMul, PackedConstantWeightsMatchNaive) {
  // a [batch..., M, K] x constant b [K, N] (or [N, K] with transposeB): the kernel packs b once. Transposed
  // a and batched b are not packed and still run.
  struct Case { Dims a; Dims b; bool tA, tB; };
  std::vector<Case> cases = {{{2, 3, 7, 19}, {19, 45}, false, false}, {{128, 768}, {768, 70}, false, false},
                             {{1, 5, 33}, {17, 33}, false, true},     {{19}, {19, 3}, false, false},
                             {{0, 4, 8}, {8, 5}, false, false},       {{9, 5}, {9, 4}, true, false},
                             {{2, 6, 5}, {2, 5, 3}, false, false}};
  auto backend = backendFor("cpu");
  uint32_t seed = 700;
  for (auto& c : cases) {
    SCOPED_TRACE(dimsToString(c.a) + " x " + dimsToString(c.b));
    auto a = randomFloats(vol(c.a), seed++), b = randomFloats(vol(c.b), seed++);
    Dims ys = {0, 4, 5};  // the empty batch (the naive loops broadcast 0 against 1)
    std::vector<float> want;
    if (vol(c.a) > 0) {
      Dims as2 = c.a.size() == 1 ? Dims{1, c.a[0]} : c.a;
      want = naiveMatMul(a, as2, b, c.b, c.tA, c.tB, ys);
      if (c.a.size() == 1) ys = {ys.back()};
    }
    ir::Layer layer("matmul", MatrixMultiplyParams{c.tA, c.tB});
    HostTensor weights = Weights::copyOf(DataType::kFloat32, c.b, b.data());
    auto kernel = backend->createKernel(layer, {nullptr, &weights}, "cpu.gemm.packed");
    EXPECT_EQ(kernel->name(), "cpu.gemm.packed");
    std::vector<float> y(want.size() + 1, 5.f);
    kernel->execute(KernelArgs{{fv(a, c.a), fv(b, c.b)}, {fv(y, ys)}});
    EXPECT_EQ(y.back(), 5.f);  // nothing written past the output
    y.pop_back();
    expectNear(y, want, 1e-4f, "packed matmul");
  }
}

TEST(CpuMatMul, BiasIsAddedToEveryRowPackedOrNot) {
  // a [2, 3, 7, 19] x b [19, 45] + bias [45]: the packed kernel (constant b) adds it in the GEMM
  // epilogue, the general one after the product; both match the naive product plus bias.
  Dims as{2, 3, 7, 19}, bs{19, 45}, ys{2, 3, 7, 45};
  int64_t K = 19, N = 45, rows = vol(as) / K;
  auto a = randomFloats(vol(as), 801), b = randomFloats(vol(bs), 802), bias = randomFloats(N, 803);
  std::vector<float> want(rows * N);
  naiveGemm(false, false, rows, N, K, a.data(), b.data(), want.data(), false, nullptr);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < N; ++j) want[r * N + j] += bias[j];
  ir::Layer layer("matmul", MatrixMultiplyParams{});
  HostTensor weights = Weights::copyOf(DataType::kFloat32, bs, b.data());
  auto packed = backendFor("cpu")->createKernel(layer, {nullptr, &weights, nullptr}, "cpu.gemm.packed");
  std::vector<float> y1(want.size(), 5.f), y2(want.size(), 5.f);
  KernelArgs args1{{fv(a, as), fv(b, bs), fv(bias, {N})}, {fv(y1, ys)}};
  packed->execute(args1);
  expectNear(y1, want, 1e-4f, "packed matmul with bias");
  KernelArgs args2{{fv(a, as), fv(b, bs), fv(bias, {N})}, {fv(y2, ys)}};
  cpu::runMatrixMultiply(layer, args2);
  expectNear(y2, want, 1e-4f, "matmul with bias");
}

TEST(CpuMatMul, RejectsMismatchedInnerDims) {
  std::vector<float> a(6, 1.f), b(8, 1.f), y(8);
  ir::Layer layer("mm", MatrixMultiplyParams{});
  KernelArgs args{{fv(a, {2, 3}), fv(b, {4, 2})}, {fv(y, {2, 2})}};
  EXPECT_THROW(cpu::runMatrixMultiply(layer, args), kiln::Error);
}

// ---------------------------------------------------------------------------------------------
// Convolution

struct ConvCase {
  Dims x, w;
  Dims strides, dilations, padsBegin, padsEnd;
  int64_t groups = 1;
  PaddingMode mode = PaddingMode::kExplicit;
  bool bias = true;
};

Dims convOutShape(const ConvCase& c, std::vector<int64_t>& padsBegin) {
  size_t n = c.x.size() - 2;
  Dims out = {c.x[0], c.w[0]};
  padsBegin.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    int64_t s = c.strides.empty() ? 1 : c.strides[i], d = c.dilations.empty() ? 1 : c.dilations[i];
    int64_t k = c.w[2 + i], in = c.x[2 + i], ek = (k - 1) * d + 1;
    if (c.mode == PaddingMode::kExplicit) {
      int64_t pb = c.padsBegin.empty() ? 0 : c.padsBegin[i], pe = c.padsEnd.empty() ? 0 : c.padsEnd[i];
      padsBegin[i] = pb;
      out.push_back((in + pb + pe - ek) / s + 1);
    } else {
      int64_t o = (in + s - 1) / s;
      int64_t total = std::max<int64_t>(0, (o - 1) * s + ek - in);
      padsBegin[i] = c.mode == PaddingMode::kSameUpper ? total / 2 : total - total / 2;
      out.push_back(o);
    }
  }
  return out;
}

std::vector<float> naiveConv(const ConvCase& c, const std::vector<float>& x, const std::vector<float>& w,
                             const std::vector<float>* bias, Dims& outShape) {
  std::vector<int64_t> pads;
  outShape = convOutShape(c, pads);
  size_t n = c.x.size() - 2;
  // pad everything to 3-D
  auto at = [&](const Dims& d, size_t i) { return i < 3 - n ? int64_t(1) : d[2 + i - (3 - n)]; };
  int64_t in[3], out[3], k[3], s[3], dl[3], p[3];
  for (size_t i = 0; i < 3; ++i) {
    in[i] = at(c.x, i);
    out[i] = at(outShape, i);
    k[i] = at(c.w, i);
    bool real = i >= 3 - n;
    s[i] = real && !c.strides.empty() ? c.strides[i - (3 - n)] : 1;
    dl[i] = real && !c.dilations.empty() ? c.dilations[i - (3 - n)] : 1;
    p[i] = real ? pads[i - (3 - n)] : 0;
  }
  int64_t N = c.x[0], C = c.x[1], M = c.w[0], G = c.groups, Cg = C / G, Mg = M / G;
  std::vector<float> y(vol(outShape));
  for (int64_t nn = 0; nn < N; ++nn)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t od = 0; od < out[0]; ++od)
        for (int64_t oh = 0; oh < out[1]; ++oh)
          for (int64_t ow = 0; ow < out[2]; ++ow) {
            double acc = bias ? (*bias)[m] : 0.0;
            int64_t g = m / Mg;
            for (int64_t cc = 0; cc < Cg; ++cc)
              for (int64_t kd = 0; kd < k[0]; ++kd)
                for (int64_t kh = 0; kh < k[1]; ++kh)
                  for (int64_t kw = 0; kw < k[2]; ++kw) {
                    int64_t id = od * s[0] - p[0] + kd * dl[0], ih = oh * s[1] - p[1] + kh * dl[1],
                            iw = ow * s[2] - p[2] + kw * dl[2];
                    if (id < 0 || ih < 0 || iw < 0 || id >= in[0] || ih >= in[1] || iw >= in[2]) continue;
                    int64_t c2 = g * Cg + cc;
                    acc += double(x[(((nn * C + c2) * in[0] + id) * in[1] + ih) * in[2] + iw]) *
                           w[(((m * Cg + cc) * k[0] + kd) * k[1] + kh) * k[2] + kw];
                  }
            y[(((nn * M + m) * out[0] + od) * out[1] + oh) * out[2] + ow] = float(acc);
          }
  return y;
}

// A network holding one convolution of the case's shapes (x, w and the bias as inputs), so that each
// tactic's supports() sees the layer's tensors.
std::unique_ptr<ir::Network> convNetwork(const ConvCase& c, const ConvolutionParams& p, DataType type) {
  auto net = std::make_unique<ir::Network>();
  std::vector<ITensor*> inputs = {net->addInput("x", type, c.x), net->addInput("w", type, c.w)};
  if (c.bias) inputs.push_back(net->addInput("b", type, {c.w[0]}));
  net->addLayer(p, inputs, 1, "conv");
  return net;
}

// Runs `kernel` with the workspace it asks for.
void executeKernel(const Kernel& kernel, KernelArgs args) {
  args.workspaceBytes = kernel.workspaceSize(args);
  std::vector<uint64_t> workspace((args.workspaceBytes + 7) / 8 + 8);
  args.workspace = workspace.data() + (8 - reinterpret_cast<uintptr_t>(workspace.data()) % 64 / 8) % 8;
  kernel.execute(args);
}

// Every CPU tactic of the case's conv against the naive loops: without constants, and with the fused output
// clamp and constant weights and bias (packed or reordered once).
void runConvCase(const ConvCase& c, uint32_t seed, bool half = false) {
  auto x = randomFloats(vol(c.x), seed), w = randomFloats(vol(c.w), seed + 1), b = randomFloats(c.w[0], seed + 2);
  if (half) { x = roundHalf(x); w = roundHalf(w); b = roundHalf(b); }
  Dims os;
  auto want = naiveConv(c, x, w, c.bias ? &b : nullptr, os);
  ConvolutionParams p;
  p.strides = c.strides;
  p.dilations = c.dilations;
  p.padsBegin = c.padsBegin;
  p.padsEnd = c.padsEnd;
  p.groups = c.groups;
  p.paddingMode = c.mode;
  auto backend = backendFor("cpu");
  bool depthwise = c.w[1] == 1 && c.w[0] == c.groups;
  auto net = convNetwork(c, p, half ? DataType::kFloat16 : DataType::kFloat32);
  const ir::Layer& layer = *net->layers().back();
  ASSERT_EQ(layer.outputs[0]->dims(), os);
  std::vector<std::string> tactics = backend->tactics(layer, kMaxBuilderEffort);
  ASSERT_FALSE(tactics.empty());
  EXPECT_EQ(tactics[0], depthwise ? "cpu.conv.direct_depthwise" : "cpu.conv.gemm_packed");
  for (const std::string& tactic : tactics) {
    SCOPED_TRACE(tactic);
    if (!half) {
      std::vector<float> y(want.size(), 123.f);
      KernelArgs args{{fv(x, c.x), fv(w, c.w), c.bias ? fv(b, {c.w[0]}) : none()}, {fv(y, os)}};
      executeKernel(*backend->createKernel(layer, {}, tactic), args);
      expectNear(y, want, 1e-4f, "conv");
      p.outputMin = -0.25f;
      p.outputMax = 0.5f;
      auto clampedNet = convNetwork(c, p, DataType::kFloat32);
      std::vector<float> wantClamped = want;
      for (float& v : wantClamped) v = std::min(std::max(v, -0.25f), 0.5f);
      HostTensor weights = Weights::copyOf(DataType::kFloat32, c.w, w.data());
      HostTensor biasValues = Weights::copyOf(DataType::kFloat32, {c.w[0]}, b.data());
      auto kernel = backend->createKernel(*clampedNet->layers().back(),
                                          {nullptr, &weights, c.bias ? &biasValues : nullptr}, tactic);
      std::vector<float> y2(want.size(), 123.f);
      KernelArgs args2{{fv(x, c.x), fv(w, c.w), c.bias ? fv(b, {c.w[0]}) : none()}, {fv(y2, os)}};
      executeKernel(*kernel, args2);
      expectNear(y2, wantClamped, 1e-4f, "conv with clamp and constant weights");
    } else {
      auto hx = toHalf(x), hw = toHalf(w), hb = toHalf(b);
      std::vector<uint16_t> hy(want.size());
      KernelArgs args{{viewOf(hx, c.x, DataType::kFloat16), viewOf(hw, c.w, DataType::kFloat16),
                       c.bias ? viewOf(hb, {c.w[0]}, DataType::kFloat16) : none()},
                      {viewOf(hy, os, DataType::kFloat16)}};
      executeKernel(*backend->createKernel(layer, {}, tactic), args);
      expectNear(fromHalf(hy), want, 4e-3f, "fp16 conv");
    }
  }
}

TEST(CpuConvolution, HandComputed) {
  // ONNX test_basic_conv_with_padding: x = 0..24 (5x5), w = ones 3x3, pads 1 -> known output.
  std::vector<float> x(25), w(9, 1.f), y(25);
  std::iota(x.begin(), x.end(), 0.f);
  ConvolutionParams p;
  p.padsBegin = {1, 1};
  p.padsEnd = {1, 1};
  ir::Layer layer("conv", p);
  KernelArgs args{{fv(x, {1, 1, 5, 5}), fv(w, {1, 1, 3, 3}), none()}, {fv(y, {1, 1, 5, 5})}};
  backendFor("cpu")->createKernel(layer, {}, "cpu.conv.gemm_packed")->execute(args);
  expectNear(y, {12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81, 93, 144, 153, 162, 111, 72, 111,
                 117, 123, 84},
             0);
}

TEST(CpuConvolution, RandomVersusNaive) {
  std::vector<ConvCase> cases = {
      {{1, 3, 7, 9}, {5, 3, 3, 3}, {}, {}, {1, 1}, {1, 1}},
      {{2, 4, 11, 13}, {6, 2, 3, 3}, {2, 2}, {}, {1, 0}, {0, 1}, 2},
      {{1, 5, 10, 9}, {7, 5, 3, 2}, {1, 2}, {2, 1}, {2, 1}, {1, 0}},
      {{2, 6, 8, 8}, {6, 1, 3, 3}, {1, 1}, {}, {1, 1}, {1, 1}, 6},     // depthwise
      {{1, 4, 9, 7}, {4, 1, 5, 5}, {2, 2}, {2, 2}, {4, 4}, {3, 3}, 4}, // depthwise, stride, dilation
      {{1, 8, 6, 7}, {12, 8, 1, 1}, {}, {}, {}, {}},                   // pointwise
      {{2, 8, 6, 7}, {12, 4, 1, 1}, {}, {}, {}, {}, 2},                // grouped pointwise
      {{1, 8, 6, 7}, {5, 8, 1, 1}, {2, 2}, {}, {}, {}},                // strided 1x1
      {{1, 3, 17}, {4, 3, 3}, {2}, {1}, {1}, {2}},                     // 1-D
      {{1, 2, 5, 6, 7}, {3, 2, 3, 2, 3}, {1, 2, 1}, {1, 1, 2}, {1, 0, 1}, {1, 1, 0}},  // 3-D
      {{1, 3, 7, 8}, {4, 3, 3, 3}, {2, 2}, {}, {}, {}, 1, PaddingMode::kSameUpper},
      {{1, 3, 7, 8}, {4, 3, 4, 4}, {2, 3}, {}, {}, {}, 1, PaddingMode::kSameLower},
      {{1, 1, 1, 1}, {1, 1, 1, 1}, {}, {}, {}, {}},
      {{0, 3, 5, 5}, {2, 3, 3, 3}, {}, {}, {}, {}},  // empty batch
      {{1, 64, 14, 14}, {67, 64, 3, 3}, {}, {}, {1, 1}, {1, 1}, 1, PaddingMode::kExplicit, false},
  };
  uint32_t seed = 100;
  for (auto& c : cases) {
    SCOPED_TRACE(dimsToString(c.x) + " w " + dimsToString(c.w));
    runConvCase(c, seed += 3);
  }
  runConvCase(cases[1], 7, true);
  runConvCase(cases[3], 8, true);
}

TEST(CpuConvolution, RejectsBadGroups) {
  std::vector<float> x(3 * 4 * 4, 1.f), w(4 * 3 * 9, 1.f), y(4 * 4);
  ConvolutionParams p;
  p.groups = 2;
  ir::Layer layer("conv", p);
  KernelArgs args{{fv(x, {1, 3, 4, 4}), fv(w, {4, 3, 3, 3}), none()}, {fv(y, {1, 4, 2, 2})}};
  EXPECT_THROW(backendFor("cpu")->createKernel(layer, {}, "cpu.conv.gemm_packed")->execute(args), kiln::Error);
  EXPECT_THROW(backendFor("cpu")->createKernel(layer, {}, "cpu.conv.direct_depthwise"), kiln::Error);  // no tensors
}

// ---------------------------------------------------------------------------------------------
// Deconvolution

std::vector<float> naiveDeconv(const Dims& xs, const Dims& ws, const std::vector<float>& x, const std::vector<float>& w,
                               const std::vector<float>* bias, int64_t G, const Dims& s, const Dims& d,
                               const Dims& pb, const Dims& outSp) {
  size_t n = xs.size() - 2;
  int64_t N = xs[0], C = xs[1], Mg = ws[1], M = Mg * G, Cg = C / G;
  Dims os = {N, M};
  for (auto o : outSp) os.push_back(o);
  std::vector<double> y(vol(os), 0.0);
  int64_t inSp = vol(Dims(xs.begin() + 2, xs.end())), kSp = vol(Dims(ws.begin() + 2, ws.end())), oSp = vol(outSp);
  for (int64_t nn = 0; nn < N; ++nn)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < inSp; ++i)
        for (int64_t mm = 0; mm < Mg; ++mm)
          for (int64_t kk = 0; kk < kSp; ++kk) {
            // decode i and kk
            int64_t ri = i, rk = kk, oidx = 0, ostride = 1;
            bool ok = true;
            std::vector<int64_t> o(n);
            for (int a = static_cast<int>(n) - 1; a >= 0; --a) {
              int64_t ii = ri % xs[2 + a], ki = rk % ws[2 + a];
              ri /= xs[2 + a];
              rk /= ws[2 + a];
              o[a] = ii * s[a] - pb[a] + ki * d[a];
              if (o[a] < 0 || o[a] >= outSp[a]) ok = false;
            }
            if (!ok) continue;
            for (int a = static_cast<int>(n) - 1; a >= 0; --a) {
              oidx += o[a] * ostride;
              ostride *= outSp[a];
            }
            int64_t g = c / Cg, m = g * Mg + mm;
            y[(nn * M + m) * oSp + oidx] += double(x[(nn * C + c) * inSp + i]) * w[(c * Mg + mm) * kSp + kk];
          }
  std::vector<float> out(y.size());
  for (size_t i = 0; i < y.size(); ++i) out[i] = float(y[i] + (bias ? (*bias)[(i / oSp) % M] : 0.0));
  return out;
}

TEST(CpuDeconvolution, HandComputed) {
  // ONNX test_convtranspose: x = 0..8 (3x3), w = ones [1, 2, 3, 3].
  std::vector<float> x(9), w(18, 1.f), y(50);
  std::iota(x.begin(), x.end(), 0.f);
  ir::Layer layer("deconv", DeconvolutionParams{});
  KernelArgs args{{fv(x, {1, 1, 3, 3}), fv(w, {1, 2, 3, 3}), none()}, {fv(y, {1, 2, 5, 5})}};
  cpu::runDeconvolution(layer, args);
  std::vector<float> plane = {0, 1, 3, 3, 2, 3, 8, 15, 12, 7, 9, 21, 36, 27, 15, 9, 20, 33, 24, 13, 6, 13, 21, 15, 8};
  std::vector<float> want = plane;
  want.insert(want.end(), plane.begin(), plane.end());
  expectNear(y, want, 0);
}

TEST(CpuDeconvolution, RandomVersusNaive) {
  struct C { Dims x, w; int64_t g; Dims s, d, pb, pe, op; };
  std::vector<C> cases = {
      {{1, 3, 4, 5}, {3, 2, 3, 3}, 1, {2, 2}, {1, 1}, {1, 0}, {0, 1}, {1, 0}},
      {{2, 4, 3, 3}, {4, 3, 2, 3}, 2, {1, 2}, {2, 1}, {0, 1}, {1, 1}, {0, 1}},
      {{1, 2, 7}, {2, 3, 4}, 1, {3}, {1}, {1}, {2}, {2}},
      {{1, 2, 3, 3, 2}, {2, 2, 2, 2, 2}, 1, {2, 1, 2}, {1, 1, 1}, {0, 0, 1}, {0, 1, 0}, {1, 0, 0}},
      {{0, 2, 3, 3}, {2, 2, 3, 3}, 1, {1, 1}, {1, 1}, {0, 0}, {0, 0}, {0, 0}},
  };
  uint32_t seed = 300;
  for (auto& c : cases) {
    size_t n = c.x.size() - 2;
    Dims outSp;
    for (size_t i = 0; i < n; ++i)
      outSp.push_back(c.s[i] * (c.x[2 + i] - 1) + c.op[i] + (c.w[2 + i] - 1) * c.d[i] + 1 - c.pb[i] - c.pe[i]);
    auto x = randomFloats(vol(c.x), seed++), w = randomFloats(vol(c.w), seed++), b = randomFloats(c.w[1] * c.g, seed++);
    auto want = naiveDeconv(c.x, c.w, x, w, &b, c.g, c.s, c.d, c.pb, outSp);
    DeconvolutionParams p;
    p.strides = c.s;
    p.dilations = c.d;
    p.padsBegin = c.pb;
    p.padsEnd = c.pe;
    p.outputPadding = c.op;
    p.groups = c.g;
    ir::Layer layer("deconv", p);
    Dims os = {c.x[0], c.w[1] * c.g};
    os.insert(os.end(), outSp.begin(), outSp.end());
    std::vector<float> y(want.size(), 9.f);
    KernelArgs args{{fv(x, c.x), fv(w, c.w), fv(b, {c.w[1] * c.g})}, {fv(y, os)}};
    cpu::runDeconvolution(layer, args);
    expectNear(y, want, 1e-4f, "deconv");
  }
}

TEST(CpuDeconvolution, OutputShapeAndSameUpper) {
  // output_shape with auto pads: total padding split per ONNX (SAME_UPPER: begin = total / 2).
  Dims xs = {1, 1, 3, 3}, ws = {1, 2, 3, 3};
  auto x = randomFloats(9, 41), w = randomFloats(18, 42);
  for (auto mode : {PaddingMode::kSameUpper, PaddingMode::kSameLower}) {
    DeconvolutionParams p;
    p.strides = {2, 2};
    p.paddingMode = mode;
    ir::Layer layer("deconv", p);
    // out = in * stride = 6; total = 2*2 + 3 - 6 = 1
    std::vector<float> y(2 * 36);
    KernelArgs args{{fv(x, xs), fv(w, ws), none()}, {fv(y, {1, 2, 6, 6})}};
    cpu::runDeconvolution(layer, args);
    Dims pb = mode == PaddingMode::kSameUpper ? Dims{0, 0} : Dims{1, 1};
    auto want = naiveDeconv(xs, ws, x, w, nullptr, 1, {2, 2}, {1, 1}, pb, {6, 6});
    expectNear(y, want, 1e-5f, "deconv same");
  }
}

// ---------------------------------------------------------------------------------------------
// Pooling

struct PoolRef {
  std::vector<float> y;
  std::vector<int64_t> idx;
};

PoolRef naivePool2d(const std::vector<float>& x, int64_t N, int64_t C, int64_t H, int64_t W, const PoolingParams& p,
                    int64_t OH, int64_t OW) {
  PoolRef r;
  int64_t kh = p.kernelShape[0], kw = p.kernelShape[1];
  int64_t sh = p.strides.empty() ? 1 : p.strides[0], sw = p.strides.empty() ? 1 : p.strides[1];
  int64_t dh = p.dilations.empty() ? 1 : p.dilations[0], dw = p.dilations.empty() ? 1 : p.dilations[1];
  int64_t ph = p.padsBegin.empty() ? 0 : p.padsBegin[0], pw = p.padsBegin.empty() ? 0 : p.padsBegin[1];
  int64_t peh = p.padsEnd.empty() ? 0 : p.padsEnd[0], pew = p.padsEnd.empty() ? 0 : p.padsEnd[1];
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double best = -INFINITY, sum = 0;
        int64_t bi = -1, cnt = 0, padded = 0;
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t j = 0; j < kw; ++j) {
            int64_t h = oh * sh - ph + i * dh, w = ow * sw - pw + j * dw;
            if (h >= -ph && h < H + peh && w >= -pw && w < W + pew) ++padded;
            if (h < 0 || w < 0 || h >= H || w >= W) continue;
            double v = x[nc * H * W + h * W + w];
            if (v > best) { best = v; bi = nc * H * W + (p.storageOrder ? w * H + h : h * W + w); }
            sum += p.type == PoolingType::kLp ? std::pow(std::abs(v), double(p.p)) : v;
            ++cnt;
          }
        if (p.type == PoolingType::kMax) {
          r.y.push_back(float(best));
          r.idx.push_back(bi);
        } else if (p.type == PoolingType::kAverage) {
          r.y.push_back(float(sum / (p.countIncludePad ? padded : cnt)));
        } else {
          r.y.push_back(float(std::pow(sum, 1.0 / p.p)));
        }
      }
  return r;
}

TEST(CpuPooling, HandComputedMaxWithIndices) {
  std::vector<float> x = {1, 5, 2, 8, 3, 4, 9, 0, 7};  // 3x3
  std::vector<float> y(4);
  std::vector<int64_t> idx(4);
  PoolingParams p;
  p.kernelShape = {2, 2};
  ir::Layer layer("pool", p);
  KernelArgs args{{fv(x, {1, 1, 3, 3})}, {fv(y, {1, 1, 2, 2}), iv64(idx, {1, 1, 2, 2})}};
  cpu::runPooling(layer, args);
  expectNear(y, {8, 5, 9, 7}, 0);
  EXPECT_EQ(idx, (std::vector<int64_t>{3, 1, 6, 8}));
}

TEST(CpuPooling, RandomVersusNaive) {
  struct C { int64_t N, C, H, W; PoolingType type; Dims k, s, d, pb, pe; bool ceil, incl; int64_t pw, so; };
  std::vector<C> cases = {
      {2, 3, 9, 11, PoolingType::kMax, {3, 3}, {2, 2}, {}, {1, 1}, {1, 1}, false, false, 2, 0},
      {1, 2, 7, 8, PoolingType::kMax, {2, 3}, {2, 1}, {2, 2}, {0, 1}, {1, 0}, true, false, 2, 1},
      {1, 4, 10, 7, PoolingType::kAverage, {3, 3}, {2, 2}, {}, {1, 1}, {1, 1}, false, false, 2, 0},
      {1, 4, 10, 7, PoolingType::kAverage, {3, 3}, {2, 2}, {}, {1, 1}, {1, 1}, false, true, 2, 0},
      {1, 3, 6, 6, PoolingType::kAverage, {3, 3}, {2, 2}, {}, {0, 0}, {0, 0}, true, true, 2, 0},
      {2, 2, 5, 5, PoolingType::kLp, {2, 2}, {1, 1}, {}, {}, {}, false, false, 2, 0},
      {2, 2, 5, 5, PoolingType::kLp, {3, 2}, {2, 1}, {}, {1, 0}, {1, 0}, false, false, 3, 0},
      {1, 2048, 7, 7, PoolingType::kAverage, {7, 7}, {}, {}, {}, {}, false, false, 2, 0},
  };
  uint32_t seed = 500;
  for (auto& c : cases) {
    PoolingParams p;
    p.type = c.type;
    p.kernelShape = c.k;
    p.strides = c.s;
    p.dilations = c.d;
    p.padsBegin = c.pb;
    p.padsEnd = c.pe;
    p.ceilMode = c.ceil;
    p.countIncludePad = c.incl;
    p.p = c.pw;
    p.storageOrder = c.so;
    auto dimOut = [&](int64_t in, int i) {
      int64_t s = c.s.empty() ? 1 : c.s[i], d = c.d.empty() ? 1 : c.d[i];
      int64_t pb = c.pb.empty() ? 0 : c.pb[i], pe = c.pe.empty() ? 0 : c.pe[i];
      double v = double(in + pb + pe - ((c.k[i] - 1) * d + 1)) / s;
      int64_t o = int64_t(c.ceil ? std::ceil(v) : std::floor(v)) + 1;
      if (c.ceil && (o - 1) * s >= in + pb) --o;
      return o;
    };
    int64_t OH = dimOut(c.H, 0), OW = dimOut(c.W, 1);
    auto x = randomFloats(c.N * c.C * c.H * c.W, seed++);
    auto want = naivePool2d(x, c.N, c.C, c.H, c.W, p, OH, OW);
    std::vector<float> y(want.y.size());
    std::vector<int64_t> idx(want.y.size());
    ir::Layer layer("pool", p);
    KernelArgs args{{fv(x, {c.N, c.C, c.H, c.W})}, {fv(y, {c.N, c.C, OH, OW})}};
    if (c.type == PoolingType::kMax) args.outputs.push_back(iv64(idx, {c.N, c.C, OH, OW}));
    cpu::runPooling(layer, args);
    expectNear(y, want.y, 1e-5f, "pool");
    if (c.type == PoolingType::kMax) {
      EXPECT_EQ(idx, want.idx);
      // Without the indices output: the row-wise path.
      std::fill(y.begin(), y.end(), 7.f);
      args.outputs.pop_back();
      cpu::runPooling(layer, args);
      expectNear(y, want.y, 1e-5f, "max pool without indices");
    }
  }
}

TEST(CpuPooling, Int8MaxAnd1DAndHalf) {
  std::vector<int8_t> x = {-5, 3, -128, 127, 0, -1};
  std::vector<int8_t> y(3);
  PoolingParams p;
  p.kernelShape = {2};
  p.strides = {2};
  ir::Layer layer("pool", p);
  KernelArgs args{{viewOf(x, {1, 1, 6}, DataType::kInt8)}, {viewOf(y, {1, 1, 3}, DataType::kInt8)}};
  cpu::runPooling(layer, args);
  EXPECT_EQ(y, (std::vector<int8_t>{3, 127, 0}));
  // fp16 average
  auto xf = roundHalf(randomFloats(2 * 3 * 5 * 5, 77));
  PoolingParams ap;
  ap.type = PoolingType::kAverage;
  ap.kernelShape = {3, 3};
  ap.padsBegin = {1, 1};
  ap.padsEnd = {1, 1};
  auto want = naivePool2d(xf, 2, 3, 5, 5, ap, 5, 5);
  auto hx = toHalf(xf);
  std::vector<uint16_t> hy(want.y.size());
  ir::Layer al("pool", ap);
  KernelArgs hargs{{viewOf(hx, {2, 3, 5, 5}, DataType::kFloat16)}, {viewOf(hy, {2, 3, 5, 5}, DataType::kFloat16)}};
  cpu::runPooling(al, hargs);
  expectNear(fromHalf(hy), want.y, 2e-3f, "fp16 avgpool");
  // average pooling on ints is not supported: a kiln::Error, not a crash
  std::vector<int8_t> yy(3);
  KernelArgs bad{{viewOf(x, {1, 1, 6}, DataType::kInt8)}, {viewOf(yy, {1, 1, 3}, DataType::kInt8)}};
  PoolingParams ip = p;
  ip.type = PoolingType::kAverage;
  ir::Layer il("pool", ip);
  EXPECT_THROW(cpu::runPooling(il, bad), kiln::Error);
}

// ---------------------------------------------------------------------------------------------
// Reduce

std::vector<float> naiveReduce(const std::vector<float>& x, const Dims& shape, const std::vector<bool>& red, ReduceOp op,
                               Dims& outShapeKeep) {
  outShapeKeep.clear();
  for (size_t i = 0; i < shape.size(); ++i) outShapeKeep.push_back(red[i] ? 1 : shape[i]);
  int64_t outN = vol(outShapeKeep);
  std::vector<std::vector<double>> groups(outN);
  Dims st = stridesOf(outShapeKeep);
  for (int64_t i = 0; i < vol(shape); ++i) {
    int64_t rem = i, o = 0;
    for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
      int64_t v = rem % shape[d];
      rem /= shape[d];
      if (!red[d]) o += v * st[d];
    }
    groups[o].push_back(x[i]);
  }
  std::vector<float> y;
  for (auto& g : groups) {
    double r = 0;
    switch (op) {
      case ReduceOp::kSum: for (double v : g) r += v; break;
      case ReduceOp::kMean: for (double v : g) r += v; r /= g.size(); break;
      case ReduceOp::kMax: r = -INFINITY; for (double v : g) r = std::max(r, v); break;
      case ReduceOp::kMin: r = INFINITY; for (double v : g) r = std::min(r, v); break;
      case ReduceOp::kProd: r = 1; for (double v : g) r *= v; break;
      case ReduceOp::kL1: for (double v : g) r += std::abs(v); break;
      case ReduceOp::kL2: for (double v : g) r += v * v; r = std::sqrt(r); break;
      case ReduceOp::kLogSum: for (double v : g) r += v; r = std::log(r); break;
      case ReduceOp::kLogSumExp: for (double v : g) r += std::exp(v); r = std::log(r); break;
      case ReduceOp::kSumSquare: for (double v : g) r += v * v; break;
    }
    y.push_back(float(r));
  }
  return y;
}

TEST(CpuReduce, RandomVersusNaive) {
  std::vector<std::pair<Dims, std::vector<int64_t>>> cases = {
      {{3, 5, 7}, {1}}, {{3, 5, 7}, {-1}}, {{3, 5, 7}, {0}}, {{3, 5, 7}, {0, 2}}, {{2, 3, 4, 5}, {1, 2}},
      {{2, 3, 4, 5}, {}}, {{1, 13, 1}, {1}}, {{4, 1, 6}, {0, 1}}, {{1, 2048, 7, 7}, {2, 3}}, {{6}, {0}}};
  std::vector<ReduceOp> ops = {ReduceOp::kSum, ReduceOp::kMean,   ReduceOp::kMax,       ReduceOp::kMin,
                               ReduceOp::kProd, ReduceOp::kL1,    ReduceOp::kL2,        ReduceOp::kLogSum,
                               ReduceOp::kLogSumExp, ReduceOp::kSumSquare};
  uint32_t seed = 700;
  for (auto& [shape, axes] : cases)
    for (auto op : ops)
      for (int keep = 0; keep < 2; ++keep) {
        bool positive = op == ReduceOp::kLogSum || op == ReduceOp::kProd;
        auto x = randomFloats(vol(shape), seed++, positive ? 0.5f : -2.f, positive ? 1.5f : 2.f);
        std::vector<bool> red(shape.size(), axes.empty());
        for (auto a : axes) red[a < 0 ? a + shape.size() : a] = true;
        Dims keepShape;
        auto want = naiveReduce(x, shape, red, op, keepShape);
        Dims outShape;
        for (size_t i = 0; i < shape.size(); ++i)
          if (!red[i] || keep) outShape.push_back(red[i] ? 1 : shape[i]);
        ReduceParams p;
        p.op = op;
        p.axes = axes;
        p.keepDims = keep;
        ir::Layer layer("reduce", p);
        std::vector<float> y(want.size());
        KernelArgs args{{fv(x, shape)}, {fv(y, outShape)}};
        cpu::runReduce(layer, args);
        expectNear(y, want, 2e-5f, reduceOpName(op));
      }
}

TEST(CpuReduce, AxesInputNoopLogSumExpStabilityAndInts) {
  std::vector<float> x = {1000, 1000, -1000, 3};
  std::vector<float> y(2);
  std::vector<int64_t> axes = {1};
  ReduceParams p;
  p.op = ReduceOp::kLogSumExp;
  ir::Layer layer("reduce", p);
  KernelArgs args{{fv(x, {2, 2}), iv64(axes, {1})}, {fv(y, {2, 1})}};
  cpu::runReduce(layer, args);
  expectNear(y, {1000 + std::log(2.f), 3.f}, 1e-6f);
  // noop with empty axes
  ReduceParams np;
  np.noopWithEmptyAxes = true;
  ir::Layer nl("reduce", np);
  std::vector<float> ny(4);
  KernelArgs nargs{{fv(x, {2, 2})}, {fv(ny, {2, 2})}};
  cpu::runReduce(nl, nargs);
  expectNear(ny, x, 0);
  // int32 sum and max
  std::vector<int32_t> ix = {1, -2, 3, 4, 5, -6}, iy(2);
  ReduceParams ip;
  ip.axes = {1};
  ip.keepDims = false;
  ir::Layer il("reduce", ip);
  KernelArgs iargs{{viewOf(ix, {2, 3}, DataType::kInt32)}, {viewOf(iy, {2}, DataType::kInt32)}};
  cpu::runReduce(il, iargs);
  EXPECT_EQ(iy, (std::vector<int32_t>{2, 3}));
  ip.op = ReduceOp::kMax;
  ir::Layer il2("reduce", ip);
  cpu::runReduce(il2, iargs);
  EXPECT_EQ(iy, (std::vector<int32_t>{3, 5}));
  // reducing an empty axis gives the identity
  std::vector<float> ex, ey(3, 7.f);
  ReduceParams ep;
  ep.axes = {0};
  ir::Layer el("reduce", ep);
  KernelArgs eargs{{fv(ex, {0, 3})}, {fv(ey, {1, 3})}};
  cpu::runReduce(el, eargs);
  expectNear(ey, {0, 0, 0}, 0);
}

// ---------------------------------------------------------------------------------------------
// Softmax

TEST(CpuSoftmax, RandomVersusNaive) {
  struct C { Dims s; int64_t axis; bool coerce; };
  std::vector<C> cases = {{{3, 7}, -1, false}, {{2, 5, 3}, 1, false}, {{2, 3, 4, 5}, 0, false},
                          {{2, 3, 4}, 1, true}, {{12, 128, 128}, -1, false}, {{5}, 0, false}, {{0, 4}, 1, false}};
  uint32_t seed = 900;
  for (auto& c : cases)
    for (auto type : {SoftmaxType::kSoftmax, SoftmaxType::kLogSoftmax, SoftmaxType::kHardmax}) {
      auto x = randomFloats(vol(c.s), seed++, -10.f, 10.f);
      int64_t rank = c.s.size(), axis = c.axis < 0 ? c.axis + rank : c.axis;
      int64_t outer = 1, n = 1, inner = 1;
      for (int64_t i = 0; i < rank; ++i) (i < axis ? outer : i == axis || c.coerce ? n : inner) *= c.s[i];
      std::vector<float> want(x.size());
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          double mx = -INFINITY, sum = 0;
          int64_t arg = 0;
          for (int64_t j = 0; j < n; ++j) {
            double v = x[(o * n + j) * inner + i];
            if (v > mx) { mx = v; arg = j; }
          }
          for (int64_t j = 0; j < n; ++j) sum += std::exp(x[(o * n + j) * inner + i] - mx);
          for (int64_t j = 0; j < n; ++j) {
            double v = x[(o * n + j) * inner + i];
            want[(o * n + j) * inner + i] = float(type == SoftmaxType::kSoftmax      ? std::exp(v - mx) / sum
                                                  : type == SoftmaxType::kLogSoftmax ? v - mx - std::log(sum)
                                                                                     : (j == arg ? 1.0 : 0.0));
          }
        }
      std::vector<float> y(x.size());
      ir::Layer layer("softmax", SoftmaxParams{type, c.axis, c.coerce});
      KernelArgs args{{fv(x, c.s)}, {fv(y, c.s)}};
      cpu::runSoftmax(layer, args);
      expectNear(y, want, 1e-5f, "softmax");
    }
}

TEST(CpuSoftmax, LargeValuesAndHalf) {
  std::vector<float> x = {1000, 1001, 1002, -INFINITY}, y(4);
  ir::Layer layer("softmax", SoftmaxParams{});
  KernelArgs args{{fv(x, {1, 4})}, {fv(y, {1, 4})}};
  cpu::runSoftmax(layer, args);
  double e0 = std::exp(-2.0), e1 = std::exp(-1.0), s = e0 + e1 + 1;
  expectNear(y, {float(e0 / s), float(e1 / s), float(1 / s), 0.f}, 1e-6f);
  auto hx = toHalf({1, 2, 3, 4, -1, 0});
  std::vector<uint16_t> hy(6);
  KernelArgs hargs{{viewOf(hx, {2, 3}, DataType::kFloat16)}, {viewOf(hy, {2, 3}, DataType::kFloat16)}};
  cpu::runSoftmax(layer, hargs);
  auto got = fromHalf(hy);
  EXPECT_NEAR(got[0] + got[1] + got[2], 1.f, 2e-3f);
  EXPECT_NEAR(got[2], float(1 / s), 1e-3f);
}

// ---------------------------------------------------------------------------------------------
// Normalization

TEST(CpuNormalization, BatchInstanceGroupLayerRms) {
  const int64_t N = 2, C = 6, H = 3, W = 5, S = H * W;
  auto x = randomFloats(N * C * S, 1100, -3.f, 3.f);
  auto scale = randomFloats(C, 1101), bias = randomFloats(C, 1102), mean = randomFloats(C, 1103);
  auto var = randomFloats(C, 1104, 0.1f, 2.f);
  Dims xs = {N, C, H, W};
  std::vector<float> y(x.size()), want(x.size());
  // batch
  {
    ir::Layer layer("bn", NormalizationParams{NormalizationType::kBatch, 1e-3f});
    KernelArgs args{{fv(x, xs), fv(scale, {C}), fv(bias, {C}), fv(mean, {C}), fv(var, {C})}, {fv(y, xs)}};
    cpu::runNormalization(layer, args);
    for (int64_t i = 0; i < N * C * S; ++i) {
      int64_t c = (i / S) % C;
      want[i] = float((x[i] - mean[c]) / std::sqrt(var[c] + 1e-3) * scale[c] + bias[c]);
    }
    expectNear(y, want, 1e-5f, "batch");
  }
  // instance and group (G = 3, and G = C equals instance)
  for (int64_t G : {int64_t(0), int64_t(3), int64_t(1)}) {
    NormalizationParams p{G == 0 ? NormalizationType::kInstance : NormalizationType::kGroup, 1e-5f, 1, G};
    int64_t groups = G == 0 ? C : G, cpg = C / groups;
    ir::Layer layer("norm", p);
    KernelArgs args{{fv(x, xs), fv(scale, {C}), fv(bias, {C})}, {fv(y, xs)}};
    cpu::runNormalization(layer, args);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t g = 0; g < groups; ++g) {
        int64_t base = (n * C + g * cpg) * S, cnt = cpg * S;
        double m = 0, v = 0;
        for (int64_t i = 0; i < cnt; ++i) m += x[base + i];
        m /= cnt;
        for (int64_t i = 0; i < cnt; ++i) v += (x[base + i] - m) * (x[base + i] - m);
        v /= cnt;
        for (int64_t i = 0; i < cnt; ++i) {
          int64_t c = g * cpg + i / S;
          want[base + i] = float((x[base + i] - m) / std::sqrt(v + 1e-5) * scale[c] + bias[c]);
        }
      }
    expectNear(y, want, 1e-5f, "instance/group");
  }
  // layer norm over the last axis and over [1, rank), rms
  for (int64_t axis : {int64_t(-1), int64_t(1)})
    for (bool rms : {false, true}) {
      int64_t inner = axis == -1 ? W : C * S, outer = x.size() / inner;
      auto sc = randomFloats(inner, 1200), bi = randomFloats(inner, 1201);
      Dims ps = axis == -1 ? Dims{W} : Dims{C, H, W};
      NormalizationParams p{rms ? NormalizationType::kRMS : NormalizationType::kLayer, 1e-5f, axis, 1};
      ir::Layer layer("ln", p);
      KernelArgs args{{fv(x, xs), fv(sc, ps), rms ? none() : fv(bi, ps)}, {fv(y, xs)}};
      cpu::runNormalization(layer, args);
      for (int64_t r = 0; r < outer; ++r) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < inner; ++i) m += x[r * inner + i];
        m /= inner;
        for (int64_t i = 0; i < inner; ++i) {
          double d = rms ? x[r * inner + i] : x[r * inner + i] - m;
          v += d * d;
        }
        v /= inner;
        for (int64_t i = 0; i < inner; ++i)
          want[r * inner + i] = float(((rms ? x[r * inner + i] : x[r * inner + i] - m) / std::sqrt(v + 1e-5)) * sc[i] +
                                      (rms ? 0.0 : bi[i]));
      }
      expectNear(y, want, 1e-5f, rms ? "rms" : "layer");
    }
}

TEST(CpuNormalization, LayerNormBroadcastScaleAndHalf) {
  // scale [W] broadcast over [H, W] when axis = -2
  Dims xs = {2, 3, 4};
  auto x = randomFloats(24, 1300), sc = randomFloats(4, 1301);
  std::vector<float> y(24), want(24);
  ir::Layer layer("ln", NormalizationParams{NormalizationType::kLayer, 1e-5f, -2, 1});
  KernelArgs args{{fv(x, xs), fv(sc, {4}), none()}, {fv(y, xs)}};
  cpu::runNormalization(layer, args);
  for (int r = 0; r < 2; ++r) {
    double m = 0, v = 0;
    for (int i = 0; i < 12; ++i) m += x[r * 12 + i];
    m /= 12;
    for (int i = 0; i < 12; ++i) v += (x[r * 12 + i] - m) * (x[r * 12 + i] - m);
    v /= 12;
    for (int i = 0; i < 12; ++i) want[r * 12 + i] = float((x[r * 12 + i] - m) / std::sqrt(v + 1e-5) * sc[i % 4]);
  }
  expectNear(y, want, 1e-5f, "ln broadcast");
  auto xh = roundHalf(x);
  auto hx = toHalf(xh), hs = toHalf(sc);
  std::vector<uint16_t> hy(24);
  KernelArgs hargs{{viewOf(hx, xs, DataType::kFloat16), viewOf(hs, {4}, DataType::kFloat16), none()},
                   {viewOf(hy, xs, DataType::kFloat16)}};
  cpu::runNormalization(layer, hargs);
  expectNear(fromHalf(hy), want, 1e-2f, "ln fp16");
}

// ---------------------------------------------------------------------------------------------
// LRN

TEST(CpuLRN, VersusNaive) {
  const int64_t N = 2, C = 7, S = 6;
  auto x = randomFloats(N * C * S, 1400);
  for (int64_t size : {1, 3, 4}) {
    LRNParams p;
    p.size = size;
    p.alpha = 0.02f;
    p.beta = 0.75f;
    p.bias = 1.5f;
    std::vector<float> y(x.size()), want(x.size());
    ir::Layer layer("lrn", p);
    KernelArgs args{{fv(x, {N, C, 2, 3})}, {fv(y, {N, C, 2, 3})}};
    cpu::runLRN(layer, args);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t s = 0; s < S; ++s) {
          double sum = 0;
          for (int64_t cc = std::max<int64_t>(0, c - (size - 1) / 2); cc <= std::min<int64_t>(C - 1, c + size / 2); ++cc)
            sum += double(x[(n * C + cc) * S + s]) * x[(n * C + cc) * S + s];
          want[(n * C + c) * S + s] = float(x[(n * C + c) * S + s] / std::pow(1.5 + 0.02 / size * sum, 0.75));
        }
    expectNear(y, want, 1e-5f, "lrn");
  }
}

// ---------------------------------------------------------------------------------------------
// Resize

std::vector<float> runResize(ResizeParams p, std::vector<float> x, Dims xs, Dims ys, std::vector<float> scales,
                             std::vector<int64_t> sizes = {}, std::vector<float> roi = {}) {
  std::vector<float> y(vol(ys));
  ir::Layer layer("resize", p);
  KernelArgs args{{fv(x, xs), roi.empty() ? none() : fv(roi, {int64_t(roi.size())}),
                   scales.empty() ? none() : fv(scales, {int64_t(scales.size())}),
                   sizes.empty() ? none() : iv64(sizes, {int64_t(sizes.size())})},
                  {fv(y, ys)}};
  cpu::runResize(layer, args);
  return y;
}

TEST(CpuResize, OnnxReferenceCases) {
  ResizeParams nearest;  // half_pixel, round_prefer_floor (the ONNX defaults)
  // resize_upsample_scales_nearest
  auto y = runResize(nearest, {1, 2, 3, 4}, {1, 1, 2, 2}, {1, 1, 4, 6}, {1, 1, 2, 3});
  expectNear(y, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}, 0);
  // resize_downsample_scales_linear (half_pixel)
  ResizeParams linear;
  linear.mode = ResizeMode::kLinear;
  y = runResize(linear, {1, 2, 3, 4, 5, 6, 7, 8}, {1, 1, 2, 4}, {1, 1, 1, 2}, {1, 1, 0.6f, 0.6f});
  expectNear(y, {2.6666665f, 4.3333331f}, 1e-6f);
  // resize_upsample_scales_linear_align_corners
  ResizeParams ac = linear;
  ac.coordinateTransform = ResizeCoordinateTransform::kAlignCorners;
  y = runResize(ac, {1, 2, 3, 4}, {1, 1, 2, 2}, {1, 1, 4, 4}, {1, 1, 2, 2});
  expectNear(y, {1, 1.33333333f, 1.66666667f, 2, 1.66666667f, 2, 2.33333333f, 2.66666667f, 2.33333333f, 2.66666667f, 3,
                 3.33333333f, 3, 3.33333333f, 3.66666667f, 4},
             1e-6f);
  // resize_upsample_scales_linear (half_pixel)
  y = runResize(linear, {1, 2, 3, 4}, {1, 1, 2, 2}, {1, 1, 4, 4}, {1, 1, 2, 2});
  expectNear(y, {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4}, 1e-6f);
  // resize_upsample_scales_cubic: first row
  ResizeParams cubic;
  cubic.mode = ResizeMode::kCubic;
  std::vector<float> x16(16);
  std::iota(x16.begin(), x16.end(), 1.f);
  y = runResize(cubic, x16, {1, 1, 4, 4}, {1, 1, 8, 8}, {1, 1, 2, 2});
  expectNear(std::vector<float>(y.begin(), y.begin() + 8),
             {0.47265625f, 0.76953125f, 1.24609375f, 1.875f, 2.28125f, 2.91015625f, 3.38671875f, 3.68359375f}, 1e-5f);
  // resize_tf_crop_and_resize (sizes, linear)
  ResizeParams tf = linear;
  tf.coordinateTransform = ResizeCoordinateTransform::kTfCropAndResize;
  y = runResize(tf, x16, {1, 1, 4, 4}, {1, 1, 3, 3}, {}, {1, 1, 3, 3}, {0, 0, 0.4f, 0.6f, 1, 1, 0.6f, 0.8f});
  expectNear(y, {7.6f, 7.9f, 8.2f, 8.8f, 9.1f, 9.4f, 10.0f, 10.3f, 10.6f}, 1e-5f);
  // extrapolation
  tf.extrapolationValue = 10.f;
  y = runResize(tf, x16, {1, 1, 4, 4}, {1, 1, 3, 3}, {}, {1, 1, 3, 3}, {0, 0, 0.4f, 0.6f, 1, 1, 1.2f, 1.7f});
  EXPECT_FLOAT_EQ(y[8], 10.f);
  // nearest with sizes, round_prefer_ceil, half_pixel (resize_upsample_sizes_nearest_round_prefer_ceil_asymmetric
  // style): every output is one of the inputs and the corners map to the corners
  ResizeParams rc;
  rc.nearestRounding = ResizeNearestRounding::kRoundPreferCeil;
  y = runResize(rc, x16, {1, 1, 4, 4}, {1, 1, 8, 8}, {}, {1, 1, 8, 8});
  EXPECT_FLOAT_EQ(y[0], 1.f);
  EXPECT_FLOAT_EQ(y[63], 16.f);
  // axes + keep aspect ratio not_larger: sizes [7, 8] on a 4x4 -> scale 1.75 -> 7x7
  ResizeParams ax = linear;
  ax.axes = {2, 3};
  ax.aspectPolicy = ResizeAspectPolicy::kNotLarger;
  y = runResize(ax, x16, {1, 1, 4, 4}, {1, 1, 7, 7}, {}, {7, 8});
  EXPECT_EQ(y.size(), 49u);
  EXPECT_FLOAT_EQ(y[0], 1.f);
  EXPECT_FLOAT_EQ(y[48], 16.f);
}

TEST(CpuResize, BilinearVersusNaiveAndAntialias) {
  // random 2-D bilinear (half_pixel) against a direct formula
  const int64_t H = 5, W = 7, OH = 9, OW = 4;
  auto x = randomFloats(2 * H * W, 1500);
  ResizeParams p;
  p.mode = ResizeMode::kLinear;
  auto y = runResize(p, x, {1, 2, H, W}, {1, 2, OH, OW}, {}, {1, 2, OH, OW});
  std::vector<float> want;
  for (int c = 0; c < 2; ++c)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double fy = std::clamp((oh + 0.5) * H / OH - 0.5, 0.0, double(H - 1));
        double fx = std::clamp((ow + 0.5) * W / OW - 0.5, 0.0, double(W - 1));
        int64_t y0 = int64_t(std::floor(fy)), x0 = int64_t(std::floor(fx));
        int64_t y1 = std::min(y0 + 1, H - 1), x1 = std::min(x0 + 1, W - 1);
        double dy = fy - y0, dx = fx - x0;
        auto at = [&](int64_t yy, int64_t xx) { return double(x[(c * H + yy) * W + xx]); };
        want.push_back(float((1 - dy) * ((1 - dx) * at(y0, x0) + dx * at(y0, x1)) +
                             dy * ((1 - dx) * at(y1, x0) + dx * at(y1, x1))));
      }
  expectNear(y, want, 1e-5f, "bilinear");
  // antialias downsample by 2 with linear: a triangle filter of width 4 -> weights [1,3,3,1]/8 inside
  ResizeParams aa = p;
  aa.antialias = true;
  std::vector<float> x8 = {1, 2, 3, 4, 5, 6, 7, 8};
  auto ya = runResize(aa, x8, {1, 8}, {1, 4}, {1, 0.5f});
  // output 1: x_ori = 2.5 -> taps at 1..4 with weights [1,3,3,1]/8 -> (2 + 9 + 12 + 5)/8 = 3.5
  EXPECT_NEAR(ya[1], 3.5f, 1e-6f);
  EXPECT_NEAR(ya[2], 5.5f, 1e-6f);
  // exclude_outside cubic on constant data stays constant
  ResizeParams cx;
  cx.mode = ResizeMode::kCubic;
  cx.excludeOutside = true;
  std::vector<float> ones(12, 3.f);
  auto yc = runResize(cx, ones, {1, 1, 3, 4}, {1, 1, 5, 7}, {}, {1, 1, 5, 7});
  for (float v : yc) EXPECT_NEAR(v, 3.f, 1e-5f);
}

// ---------------------------------------------------------------------------------------------
// TopK, ArgMinMax, CumSum

TEST(CpuTopK, TiesAndAxes) {
  std::vector<float> x = {3, 1, 3, 2, 5, 5, 0, 5};
  std::vector<int64_t> k = {3};
  std::vector<float> v(3);
  std::vector<int64_t> i(3);
  ir::Layer layer("topk", TopKParams{});
  KernelArgs args{{fv(x, {8}), iv64(k, {1})}, {fv(v, {3}), iv64(i, {3})}};
  cpu::runTopK(layer, args);
  expectNear(v, {5, 5, 5}, 0);
  EXPECT_EQ(i, (std::vector<int64_t>{4, 5, 7}));
  ir::Layer small("topk", TopKParams{-1, false, true});
  cpu::runTopK(small, args);
  expectNear(v, {0, 1, 2}, 0);
  EXPECT_EQ(i, (std::vector<int64_t>{6, 1, 3}));
  // random, middle axis
  Dims xs = {3, 11, 4};
  auto r = randomFloats(vol(xs), 1600);
  std::vector<int64_t> k2 = {4};
  std::vector<float> rv(3 * 4 * 4);
  std::vector<int64_t> ri(3 * 4 * 4);
  ir::Layer mid("topk", TopKParams{1, true, true});
  KernelArgs margs{{fv(r, xs), iv64(k2, {1})}, {fv(rv, {3, 4, 4}), iv64(ri, {3, 4, 4})}};
  cpu::runTopK(mid, margs);
  for (int o = 0; o < 3; ++o)
    for (int in = 0; in < 4; ++in) {
      std::vector<std::pair<float, int64_t>> col;
      for (int j = 0; j < 11; ++j) col.push_back({r[(o * 11 + j) * 4 + in], j});
      std::stable_sort(col.begin(), col.end(), [](auto& a, auto& b) { return a.first > b.first; });
      for (int j = 0; j < 4; ++j) {
        EXPECT_EQ(rv[(o * 4 + j) * 4 + in], col[j].first);
        EXPECT_EQ(ri[(o * 4 + j) * 4 + in], col[j].second);
      }
    }
  // int32 input
  std::vector<int32_t> ix = {4, -1, 9, 9};
  std::vector<int32_t> iv(2);
  std::vector<int64_t> k3 = {2}, ii(2);
  KernelArgs iargs{{viewOf(ix, {4}, DataType::kInt32), iv64(k3, {1})}, {viewOf(iv, {2}, DataType::kInt32), iv64(ii, {2})}};
  cpu::runTopK(layer, iargs);
  EXPECT_EQ(iv, (std::vector<int32_t>{9, 9}));
  EXPECT_EQ(ii, (std::vector<int64_t>{2, 3}));
}

TEST(CpuArgMinMax, FirstAndLastIndex) {
  std::vector<float> x = {1, 5, 5, 2, 0, 0, 7, 1};  // [2, 4]
  std::vector<int64_t> y(2);
  ir::Layer amax("arg", ArgMinMaxParams{true, 1, true, false});
  KernelArgs args{{fv(x, {2, 4})}, {iv64(y, {2, 1})}};
  cpu::runArgMinMax(amax, args);
  EXPECT_EQ(y, (std::vector<int64_t>{1, 2}));
  ir::Layer amaxLast("arg", ArgMinMaxParams{true, 1, true, true});
  cpu::runArgMinMax(amaxLast, args);
  EXPECT_EQ(y, (std::vector<int64_t>{2, 2}));
  ir::Layer amin("arg", ArgMinMaxParams{false, -1, false, false});
  KernelArgs args2{{fv(x, {2, 4})}, {iv64(y, {2})}};
  cpu::runArgMinMax(amin, args2);
  EXPECT_EQ(y, (std::vector<int64_t>{0, 0}));
  ir::Layer aminLast("arg", ArgMinMaxParams{false, -1, false, true});
  cpu::runArgMinMax(aminLast, args2);
  EXPECT_EQ(y, (std::vector<int64_t>{0, 1}));
  std::vector<int64_t> y4(4);
  ir::Layer a0("arg", ArgMinMaxParams{true, 0, true, false});
  KernelArgs args3{{fv(x, {2, 4})}, {iv64(y4, {1, 4})}};
  cpu::runArgMinMax(a0, args3);
  EXPECT_EQ(y4, (std::vector<int64_t>{0, 0, 1, 0}));
  std::vector<uint8_t> ux = {3, 200, 7};
  std::vector<int64_t> uy(1);
  KernelArgs args4{{viewOf(ux, {3}, DataType::kUInt8)}, {iv64(uy, {1})}};
  cpu::runArgMinMax(amax.name() == "" ? a0 : a0, args4);
  EXPECT_EQ(uy[0], 1);
}

TEST(CpuCumSum, AllModesVersusNaive) {
  Dims xs = {3, 5, 2};
  auto x = randomFloats(vol(xs), 1700);
  for (int64_t axis : {0, 1, -1})
    for (int ex = 0; ex < 2; ++ex)
      for (int rev = 0; rev < 2; ++rev) {
        std::vector<int64_t> a = {axis};
        std::vector<float> y(x.size()), want(x.size());
        int64_t ax = axis < 0 ? axis + 3 : axis;
        int64_t n = xs[ax], inner = 1, outer = 1;
        for (int i = 0; i < 3; ++i) (i < ax ? outer : i > ax ? inner : n) *= (i == ax ? 1 : xs[i]);
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t i = 0; i < inner; ++i)
            for (int64_t j = 0; j < n; ++j) {
              double s = 0;
              for (int64_t t = 0; t < n; ++t) {
                bool take = rev ? (ex ? t > j : t >= j) : (ex ? t < j : t <= j);
                if (take) s += x[(o * n + t) * inner + i];
              }
              want[(o * n + j) * inner + i] = float(s);
            }
        ir::Layer layer("cumsum", CumSumParams{bool(ex), bool(rev)});
        KernelArgs args{{fv(x, xs), iv64(a, {})}, {fv(y, xs)}};
        cpu::runCumSum(layer, args);
        expectNear(y, want, 1e-5f, "cumsum");
      }
  std::vector<int32_t> ix = {1, 2, 3, 4}, iy(4);
  std::vector<int32_t> ia = {0};
  ir::Layer layer("cumsum", CumSumParams{});
  KernelArgs iargs{{viewOf(ix, {4}, DataType::kInt32), viewOf(ia, {}, DataType::kInt32)},
                   {viewOf(iy, {4}, DataType::kInt32)}};
  cpu::runCumSum(layer, iargs);
  EXPECT_EQ(iy, (std::vector<int32_t>{1, 3, 6, 10}));
}

// ---------------------------------------------------------------------------------------------
// Einsum

std::vector<float> runEinsum(const std::string& eq, std::vector<std::vector<float>*> ops, std::vector<Dims> shapes,
                             Dims outShape) {
  std::vector<float> y(vol(outShape), -1.f);
  ir::Layer layer("einsum", EinsumParams{eq});
  KernelArgs args;
  for (size_t i = 0; i < ops.size(); ++i) args.inputs.push_back(fv(*ops[i], shapes[i]));
  args.outputs.push_back(fv(y, outShape));
  cpu::runEinsum(layer, args);
  return y;
}

TEST(CpuEinsum, CommonEquations) {
  auto a = randomFloats(3 * 4, 1800), b = randomFloats(4 * 5, 1801), c = randomFloats(5 * 2, 1802);
  Dims s;
  auto mm = naiveMatMul(a, {3, 4}, b, {4, 5}, false, false, s);
  expectNear(runEinsum("ij,jk->ik", {&a, &b}, {{3, 4}, {4, 5}}, {3, 5}), mm, 1e-5f, "matmul");
  expectNear(runEinsum("ij,jk", {&a, &b}, {{3, 4}, {4, 5}}, {3, 5}), mm, 1e-5f, "implicit");
  // transposed output
  std::vector<float> mmT(15);
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 5; ++k) mmT[k * 3 + i] = mm[i * 5 + k];
  expectNear(runEinsum("ij,jk->ki", {&a, &b}, {{3, 4}, {4, 5}}, {5, 3}), mmT, 1e-5f, "ki");
  // three operands
  auto mm2 = naiveMatMul(mm, {3, 5}, c, {5, 2}, false, false, s);
  expectNear(runEinsum("ij,jk,kl->il", {&a, &b, &c}, {{3, 4}, {4, 5}, {5, 2}}, {3, 2}), mm2, 1e-5f, "chain");
  // batched with ellipsis and broadcasting
  auto ba = randomFloats(2 * 3 * 4, 1803), bb = randomFloats(4 * 5, 1804);
  auto bm = naiveMatMul(ba, {2, 3, 4}, bb, {4, 5}, false, false, s);
  expectNear(runEinsum("...ij,...jk->...ik", {&ba, &bb}, {{2, 3, 4}, {4, 5}}, {2, 3, 5}), bm, 1e-5f, "ellipsis");
  auto bb2 = randomFloats(2 * 4 * 5, 1805);
  auto bm2 = naiveMatMul(ba, {2, 3, 4}, bb2, {2, 4, 5}, false, false, s);
  expectNear(runEinsum("bij,bjk->bik", {&ba, &bb2}, {{2, 3, 4}, {2, 4, 5}}, {2, 3, 5}), bm2, 1e-5f, "batched");
  // trace, diagonal, transpose, sum, outer product
  auto sq = randomFloats(16, 1806);
  float tr = sq[0] + sq[5] + sq[10] + sq[15];
  expectNear(runEinsum("ii->", {&sq}, {{4, 4}}, {}), {tr}, 1e-6f, "trace");
  expectNear(runEinsum("ii->i", {&sq}, {{4, 4}}, {4}), {sq[0], sq[5], sq[10], sq[15]}, 0, "diag");
  std::vector<float> t(12);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) t[j * 3 + i] = a[i * 4 + j];
  expectNear(runEinsum("ij->ji", {&a}, {{3, 4}}, {4, 3}), t, 0, "transpose");
  float total = std::accumulate(a.begin(), a.end(), 0.f);
  expectNear(runEinsum("ij->", {&a}, {{3, 4}}, {}), {total}, 1e-5f, "sum");
  std::vector<float> u = {1, 2}, v = {3, 4, 5};
  expectNear(runEinsum("i,j->ij", {&u, &v}, {{2}, {3}}, {2, 3}), {3, 4, 5, 6, 8, 10}, 0, "outer");
  // BERT-style attention scores
  auto q = randomFloats(2 * 6 * 8, 1807), kk = randomFloats(2 * 7 * 8, 1808);
  auto want = naiveMatMul(q, {2, 6, 8}, kk, {2, 7, 8}, false, true, s);
  expectNear(runEinsum("bqd,bkd->bqk", {&q, &kk}, {{2, 6, 8}, {2, 7, 8}}, {2, 6, 7}), want, 1e-5f, "attn");
}

TEST(CpuEinsum, RejectsBadEquation) {
  std::vector<float> a(6, 1.f), y(6);
  ir::Layer layer("einsum", EinsumParams{"ijk->ij"});
  KernelArgs args{{fv(a, {2, 3})}, {fv(y, {2, 3})}};
  EXPECT_THROW(cpu::runEinsum(layer, args), kiln::Error);
}

}  // namespace
