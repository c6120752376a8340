// Tests of the CPU pointwise and data-movement kernels: hand-computed cases, and seeded random data on
// awkward shapes (odd sizes, every kind of broadcast, scalars, empty tensors) against std:: math.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <random>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/host_eval.h"
#include "cpu_kernels/kernel_test_buffers.h"
#include "core/half.h"
#include "ir/network.h"

namespace kiln::cpu {
namespace {

// Reference numpy broadcast: the flat input index for each flat output index.
Dims broadcastShape(const Dims& a, const Dims& b) {
  size_t r = std::max(a.size(), b.size());
  Dims out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    out[i] = da == 1 ? db : da;
  }
  return out;
}
int64_t sourceIndex(int64_t flat, const Dims& out, const Dims& in) {
  int64_t idx = 0, stride = 1;
  for (int d = static_cast<int>(out.size()) - 1; d >= 0; --d) {
    int64_t c = flat % out[d];
    flat /= out[d];
    int id = d - static_cast<int>(out.size() - in.size());
    if (id >= 0) {
      if (in[id] != 1) idx += c * stride;
      stride *= in[id];
    }
  }
  return idx;
}

const std::vector<std::pair<Dims, Dims>> kBroadcastCases = {
    {{3, 5, 7}, {3, 5, 7}}, {{3, 5, 7}, {}},        {{}, {3, 5, 7}},        {{3, 5, 7}, {7}},
    {{3, 1, 7}, {1, 5, 1}}, {{5, 1}, {1, 4}},       {{2, 3, 0}, {3, 1}},    {{1}, {1}},
    {{4, 1, 3, 1}, {2, 1, 5}}, {{7}, {3, 1}},       {{257, 301}, {301}},    {{129, 1}, {129, 257}},
    {{}, {}},               {{0}, {1}},             {{2, 1, 3}, {2, 4, 1}}, {{1, 1, 1}, {5}},
};

// ---- ElementWise ------------------------------------------------------------------------------------

void checkFloatBinary(ElementWiseOp op, const std::function<float(float, float)>& ref, bool positiveB = false) {
  uint32_t seed = 1;
  for (auto& [sa, sb] : kBroadcastCases) {
    Dims so = broadcastShape(sa, sb);
    auto va = randomFloats(volume(sa), seed++);
    auto vb = randomFloats(volume(sb), seed++, positiveB ? 0.5f : -4.f, 4.f);
    for (float& x : vb) {
      if (!positiveB && std::fabs(x) < 0.05f) x = 0.5f;
    }
    Buf a = f32(sa, va), b = f32(sb, vb), o = outBuf(DataType::kFloat32, so);
    ir::Layer layer("ew", ElementWiseParams{op});
    runElementWise(layer, argsOf({&a, &b}, {&o}));
    auto got = o.get<float>();
    ASSERT_EQ(static_cast<int64_t>(got.size()), volume(so));
    for (int64_t i = 0; i < volume(so); ++i) {
      float e = ref(va[sourceIndex(i, so, sa)], vb[sourceIndex(i, so, sb)]);
      ASSERT_NEAR(got[i], e, 1e-5f * (1 + std::fabs(e))) << elementWiseOpName(op) << " " << dimsToString(sa) << " "
                                                          << dimsToString(sb) << " at " << i;
    }
  }
}

TEST(CpuElementWise, FloatOpsBroadcastAgainstStd) {
  checkFloatBinary(ElementWiseOp::kAdd, [](float x, float y) { return x + y; });
  checkFloatBinary(ElementWiseOp::kSub, [](float x, float y) { return x - y; });
  checkFloatBinary(ElementWiseOp::kMul, [](float x, float y) { return x * y; });
  checkFloatBinary(ElementWiseOp::kDiv, [](float x, float y) { return x / y; });
  checkFloatBinary(ElementWiseOp::kMax, [](float x, float y) { return std::max(x, y); });
  checkFloatBinary(ElementWiseOp::kMin, [](float x, float y) { return std::min(x, y); });
  checkFloatBinary(ElementWiseOp::kFMod, [](float x, float y) { return std::fmod(x, y); });
  checkFloatBinary(ElementWiseOp::kMod, [](float x, float y) {
    float r = std::fmod(x, y);
    return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
  });
  checkFloatBinary(ElementWiseOp::kPRelu, [](float x, float y) { return x < 0 ? x * y : x; });
}

TEST(CpuElementWise, PowFloatBaseAndIntExponent) {
  Buf a = f32({4}, {2.f, -3.f, 0.5f, 9.f}), b = i64({4}, {3, 2, -1, 0}), o = outBuf(DataType::kFloat32, {4});
  ir::Layer layer("pow", ElementWiseParams{ElementWiseOp::kPow});
  runElementWise(layer, argsOf({&a, &b}, {&o}));
  EXPECT_EQ(o.get<float>(), (std::vector<float>{8.f, 9.f, 2.f, 1.f}));
  Buf ai = i32({4}, {2, -3, 5, 7}), bi = i32({4}, {10, 3, 0, -1}), oi = outBuf(DataType::kInt32, {4});
  runElementWise(layer, argsOf({&ai, &bi}, {&oi}));
  EXPECT_EQ(oi.get<int32_t>(), (std::vector<int32_t>{1024, -27, 1, 0}));
  Buf bf = f32({4}, {0.5f, 2.f, 1.f, 2.f}), oif = outBuf(DataType::kInt32, {4});
  Buf ai2 = i32({4}, {16, -3, 5, 7});
  runElementWise(layer, argsOf({&ai2, &bf}, {&oif}));
  EXPECT_EQ(oif.get<int32_t>(), (std::vector<int32_t>{4, 9, 5, 49}));
}

TEST(CpuElementWise, PowFloatAgainstStdWithPositiveBase) {
  auto va = randomFloats(35, 7, 0.1f, 3.f), vb = randomFloats(7, 8);
  Buf a = f32({5, 7}, va), b = f32({7}, vb), o = outBuf(DataType::kFloat32, {5, 7});
  ir::Layer layer("pow", ElementWiseParams{ElementWiseOp::kPow});
  runElementWise(layer, argsOf({&a, &b}, {&o}));
  auto got = o.get<float>();
  for (int i = 0; i < 35; ++i) EXPECT_NEAR(got[i], std::pow(va[i], vb[i % 7]), 1e-4f * (1 + std::pow(va[i], vb[i % 7])));
}

TEST(CpuElementWise, IntegerDivModFModLikeOnnx) {
  std::vector<int32_t> xa = {7, -7, 7, -7, 0, 13, -13, std::numeric_limits<int32_t>::min()};
  std::vector<int32_t> xb = {2, 2, -2, -2, 5, 4, -4, -1};
  Buf a = i32({8}, xa), b = i32({8}, xb);
  ir::Layer div("div", ElementWiseParams{ElementWiseOp::kDiv});
  ir::Layer mod("mod", ElementWiseParams{ElementWiseOp::kMod});
  ir::Layer fmod("fmod", ElementWiseParams{ElementWiseOp::kFMod});
  Buf o = outBuf(DataType::kInt32, {8});
  runElementWise(div, argsOf({&a, &b}, {&o}));
  EXPECT_EQ(o.get<int32_t>(), (std::vector<int32_t>{3, -3, -3, 3, 0, 3, 3, std::numeric_limits<int32_t>::min()}));
  runElementWise(mod, argsOf({&a, &b}, {&o}));
  EXPECT_EQ(o.get<int32_t>(), (std::vector<int32_t>{1, 1, -1, -1, 0, 1, -1, 0}));
  runElementWise(fmod, argsOf({&a, &b}, {&o}));
  EXPECT_EQ(o.get<int32_t>(), (std::vector<int32_t>{1, -1, 1, -1, 0, 1, -1, 0}));
  Buf z = i32({}, {0});
  EXPECT_THROW(runElementWise(div, argsOf({&a, &z}, {&o})), Error);
  EXPECT_THROW(runElementWise(mod, argsOf({&a, &z}, {&o})), Error);
}

TEST(CpuElementWise, RandomIntegersAgainstCpp) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int64_t> d(-1000, 1000);
  for (auto& [sa, sb] : kBroadcastCases) {
    Dims so = broadcastShape(sa, sb);
    std::vector<int64_t> va(volume(sa)), vb(volume(sb));
    for (auto& x : va) x = d(rng);
    for (auto& x : vb) { x = d(rng); if (x == 0) x = 3; }
    Buf a = i64(sa, va), b = i64(sb, vb);
    struct Case { ElementWiseOp op; std::function<int64_t(int64_t, int64_t)> f; };
    std::vector<Case> cases = {
        {ElementWiseOp::kAdd, [](int64_t x, int64_t y) { return x + y; }},
        {ElementWiseOp::kMul, [](int64_t x, int64_t y) { return x * y; }},
        {ElementWiseOp::kDiv, [](int64_t x, int64_t y) { return x / y; }},
        {ElementWiseOp::kFMod, [](int64_t x, int64_t y) { return x % y; }},
        {ElementWiseOp::kMod, [](int64_t x, int64_t y) { int64_t r = x % y; return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r; }},
        {ElementWiseOp::kBitwiseAnd, [](int64_t x, int64_t y) { return x & y; }},
        {ElementWiseOp::kBitwiseXor, [](int64_t x, int64_t y) { return x ^ y; }},
    };
    for (auto& c : cases) {
      Buf o = outBuf(DataType::kInt64, so);
      ir::Layer layer("ew", ElementWiseParams{c.op});
      runElementWise(layer, argsOf({&a, &b}, {&o}));
      auto got = o.get<int64_t>();
      for (int64_t i = 0; i < volume(so); ++i)
        ASSERT_EQ(got[i], c.f(va[sourceIndex(i, so, sa)], vb[sourceIndex(i, so, sb)]))
            << elementWiseOpName(c.op) << " " << dimsToString(sa) << " " << dimsToString(sb);
    }
    // comparisons -> bool
    Buf o = outBuf(DataType::kBool, so);
    ir::Layer less("less", ElementWiseParams{ElementWiseOp::kLess});
    runElementWise(less, argsOf({&a, &b}, {&o}));
    auto got = o.get<uint8_t>();
    for (int64_t i = 0; i < volume(so); ++i)
      ASSERT_EQ(got[i], va[sourceIndex(i, so, sa)] < vb[sourceIndex(i, so, sb)] ? 1 : 0);
  }
}

TEST(CpuElementWise, BitShiftLogicAndComparisons) {
  Buf a = make<uint8_t>(DataType::kUInt8, {4}, {1, 0x80, 16, 255});
  Buf b = make<uint8_t>(DataType::kUInt8, {4}, {3, 1, 2, 9});
  Buf o = outBuf(DataType::kUInt8, {4});
  ir::Layer shl("shl", ElementWiseParams{ElementWiseOp::kBitShiftLeft});
  runElementWise(shl, argsOf({&a, &b}, {&o}));
  EXPECT_EQ(o.get<uint8_t>(), (std::vector<uint8_t>{8, 0, 64, 0}));
  ir::Layer shr("shr", ElementWiseParams{ElementWiseOp::kBitShiftRight});
  runElementWise(shr, argsOf({&a, &b}, {&o}));
  EXPECT_EQ(o.get<uint8_t>(), (std::vector<uint8_t>{0, 0x40, 4, 0}));

  Buf x = boolean({2, 2}, {0, 0, 1, 1}), y = boolean({2}, {0, 1}), ob = outBuf(DataType::kBool, {2, 2});
  ir::Layer andL("and", ElementWiseParams{ElementWiseOp::kAnd});
  runElementWise(andL, argsOf({&x, &y}, {&ob}));
  EXPECT_EQ(ob.get<uint8_t>(), (std::vector<uint8_t>{0, 0, 0, 1}));
  ir::Layer orL("or", ElementWiseParams{ElementWiseOp::kOr});
  runElementWise(orL, argsOf({&x, &y}, {&ob}));
  EXPECT_EQ(ob.get<uint8_t>(), (std::vector<uint8_t>{0, 1, 1, 1}));
  ir::Layer xorL("xor", ElementWiseParams{ElementWiseOp::kXor});
  runElementWise(xorL, argsOf({&x, &y}, {&ob}));
  EXPECT_EQ(ob.get<uint8_t>(), (std::vector<uint8_t>{0, 1, 1, 0}));

  Buf fa = f32({3}, {1.f, NAN, 3.f}), fb = f32({3}, {1.f, NAN, 2.f}), oc = outBuf(DataType::kBool, {3});
  ir::Layer eq("eq", ElementWiseParams{ElementWiseOp::kEqual});
  runElementWise(eq, argsOf({&fa, &fb}, {&oc}));
  EXPECT_EQ(oc.get<uint8_t>(), (std::vector<uint8_t>{1, 0, 0}));
  ir::Layer ge("ge", ElementWiseParams{ElementWiseOp::kGreaterOrEqual});
  runElementWise(ge, argsOf({&fa, &fb}, {&oc}));
  EXPECT_EQ(oc.get<uint8_t>(), (std::vector<uint8_t>{1, 0, 1}));
  // Bool inputs to arithmetic and float inputs to logic are refused.
  Buf of = outBuf(DataType::kBool, {3});
  EXPECT_THROW(runElementWise(andL, argsOf({&fa, &fb}, {&of})), Error);
  // Incompatible shapes are refused.
  Buf c = f32({2}, {1, 2}), oo = outBuf(DataType::kFloat32, {3});
  ir::Layer add("add", ElementWiseParams{ElementWiseOp::kAdd});
  EXPECT_THROW(runElementWise(add, argsOf({&fa, &c}, {&oo})), Error);
}

TEST(CpuElementWise, HalfAndDoubleTypes) {
  std::vector<uint16_t> ha = {floatToHalf(1.5f), floatToHalf(-2.f), floatToHalf(0.25f)};
  std::vector<uint16_t> hb = {floatToHalf(2.f)};
  Buf a = make(DataType::kFloat16, {3}, ha), b = make(DataType::kFloat16, {1}, hb), o = outBuf(DataType::kFloat16, {3});
  ir::Layer mul("mul", ElementWiseParams{ElementWiseOp::kMul});
  runElementWise(mul, argsOf({&a, &b}, {&o}));
  auto got = o.get<uint16_t>();
  EXPECT_EQ(halfToFloat(got[0]), 3.f);
  EXPECT_EQ(halfToFloat(got[1]), -4.f);
  EXPECT_EQ(halfToFloat(got[2]), 0.5f);
  Buf da = make<double>(DataType::kFloat64, {2}, {1e-300, 3.0}), db = make<double>(DataType::kFloat64, {2}, {1e-10, 7.0});
  Buf od = outBuf(DataType::kFloat64, {2});
  ir::Layer div("div", ElementWiseParams{ElementWiseOp::kDiv});
  runElementWise(div, argsOf({&da, &db}, {&od}));
  EXPECT_DOUBLE_EQ(od.get<double>()[0], 1e-290);
  EXPECT_DOUBLE_EQ(od.get<double>()[1], 3.0 / 7.0);
}

// ---- Unary / Activation ---------------------------------------------------------------------------------

TEST(CpuUnary, FloatOpsAgainstStd) {
  struct Case { UnaryOp op; std::function<float(float)> f; float lo, hi; };
  std::vector<Case> cases = {
      {UnaryOp::kAbs, [](float x) { return std::fabs(x); }, -5, 5},
      {UnaryOp::kNeg, [](float x) { return -x; }, -5, 5},
      {UnaryOp::kExp, [](float x) { return std::exp(x); }, -5, 5},
      {UnaryOp::kLog, [](float x) { return std::log(x); }, 0.01f, 5},
      {UnaryOp::kSqrt, [](float x) { return std::sqrt(x); }, 0, 5},
      {UnaryOp::kReciprocal, [](float x) { return 1.f / x; }, 0.5f, 5},
      {UnaryOp::kFloor, [](float x) { return std::floor(x); }, -5, 5},
      {UnaryOp::kCeil, [](float x) { return std::ceil(x); }, -5, 5},
      {UnaryOp::kSin, [](float x) { return std::sin(x); }, -5, 5},
      {UnaryOp::kCos, [](float x) { return std::cos(x); }, -5, 5},
      {UnaryOp::kTan, [](float x) { return std::tan(x); }, -1, 1},
      {UnaryOp::kAsin, [](float x) { return std::asin(x); }, -1, 1},
      {UnaryOp::kAcos, [](float x) { return std::acos(x); }, -1, 1},
      {UnaryOp::kAtan, [](float x) { return std::atan(x); }, -5, 5},
      {UnaryOp::kSinh, [](float x) { return std::sinh(x); }, -3, 3},
      {UnaryOp::kCosh, [](float x) { return std::cosh(x); }, -3, 3},
      {UnaryOp::kAsinh, [](float x) { return std::asinh(x); }, -5, 5},
      {UnaryOp::kAcosh, [](float x) { return std::acosh(x); }, 1, 5},
      {UnaryOp::kAtanh, [](float x) { return std::atanh(x); }, -0.9f, 0.9f},
      {UnaryOp::kErf, [](float x) { return std::erf(x); }, -3, 3},
      {UnaryOp::kSign, [](float x) { return static_cast<float>((0.f < x) - (x < 0.f)); }, -5, 5},
  };
  uint32_t seed = 100;
  for (const Dims& shape : {Dims{37, 1001}, Dims{}, Dims{0, 4}, Dims{3}}) {
    for (auto& c : cases) {
      auto v = randomFloats(volume(shape), seed++, c.lo, c.hi);
      Buf x = f32(shape, v), y = outBuf(DataType::kFloat32, shape);
      ir::Layer layer("u", UnaryParams{c.op});
      runUnary(layer, argsOf({&x}, {&y}));
      auto got = y.get<float>();
      for (size_t i = 0; i < v.size(); ++i)
        ASSERT_NEAR(got[i], c.f(v[i]), 1e-6f * (1 + std::fabs(c.f(v[i])))) << unaryOpName(c.op);
    }
  }
}

TEST(CpuUnary, RoundHalfToEvenAndPredicates) {
  Buf x = f32({8}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4f, -2.6f}), y = outBuf(DataType::kFloat32, {8});
  ir::Layer round("round", UnaryParams{UnaryOp::kRound});
  runUnary(round, argsOf({&x}, {&y}));
  EXPECT_EQ(y.get<float>(), (std::vector<float>{0.f, 2.f, 2.f, -0.f, -2.f, -2.f, 2.f, -3.f}));
  float inf = std::numeric_limits<float>::infinity();
  Buf z = f32({4}, {NAN, inf, -inf, 1.f}), b = outBuf(DataType::kBool, {4});
  ir::Layer isnan("isnan", UnaryParams{UnaryOp::kIsNaN});
  runUnary(isnan, argsOf({&z}, {&b}));
  EXPECT_EQ(b.get<uint8_t>(), (std::vector<uint8_t>{1, 0, 0, 0}));
  ir::Layer isinf("isinf", UnaryParams{UnaryOp::kIsInf});
  runUnary(isinf, argsOf({&z}, {&b}));
  EXPECT_EQ(b.get<uint8_t>(), (std::vector<uint8_t>{0, 1, 1, 0}));
  ir::Layer isneg("isneg", UnaryParams{UnaryOp::kIsInfNegative});
  runUnary(isneg, argsOf({&z}, {&b}));
  EXPECT_EQ(b.get<uint8_t>(), (std::vector<uint8_t>{0, 0, 1, 0}));
  Buf bi = boolean({3}, {1, 0, 1}), bo = outBuf(DataType::kBool, {3});
  ir::Layer notL("not", UnaryParams{UnaryOp::kNot});
  runUnary(notL, argsOf({&bi}, {&bo}));
  EXPECT_EQ(bo.get<uint8_t>(), (std::vector<uint8_t>{0, 1, 0}));
  Buf ii = i32({3}, {0, 5, -7}), io = outBuf(DataType::kInt32, {3});
  ir::Layer bnot("bnot", UnaryParams{UnaryOp::kBitwiseNot});
  runUnary(bnot, argsOf({&ii}, {&io}));
  EXPECT_EQ(io.get<int32_t>(), (std::vector<int32_t>{-1, -6, 6}));
  ir::Layer absL("abs", UnaryParams{UnaryOp::kAbs});
  runUnary(absL, argsOf({&ii}, {&io}));
  EXPECT_EQ(io.get<int32_t>(), (std::vector<int32_t>{0, 5, 7}));
  ir::Layer exp("exp", UnaryParams{UnaryOp::kExp});
  EXPECT_THROW(runUnary(exp, argsOf({&ii}, {&io})), Error);
}

TEST(CpuActivation, AllTypesAgainstFormulas) {
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  auto sp = [](double v) { return std::log1p(std::exp(v)); };
  struct Case { ActivationType t; float alpha, beta; std::function<double(double)> f; };
  std::vector<Case> cases = {
      {ActivationType::kRelu, 0, 0, [](double v) { return std::max(0.0, v); }},
      {ActivationType::kSigmoid, 0, 0, sig},
      {ActivationType::kTanh, 0, 0, [](double v) { return std::tanh(v); }},
      {ActivationType::kLeakyRelu, 0.1f, 0, [](double v) { return v < 0 ? 0.1 * v : v; }},
      {ActivationType::kElu, 0.7f, 0, [](double v) { return v < 0 ? 0.7 * (std::exp(v) - 1) : v; }},
      {ActivationType::kSelu, 1.6732632f, 1.0507009f, [](double v) { return 1.0507009 * (v > 0 ? v : 1.6732632 * (std::exp(v) - 1)); }},
      {ActivationType::kClip, -1.f, 2.f, [](double v) { return std::min(2.0, std::max(-1.0, v)); }},
      {ActivationType::kHardSigmoid, 0.2f, 0.5f, [](double v) { return std::max(0.0, std::min(1.0, 0.2 * v + 0.5)); }},
      {ActivationType::kHardSwish, 0, 0, [](double v) { return v * std::max(0.0, std::min(1.0, v / 6 + 0.5)); }},
      {ActivationType::kSoftplus, 0, 0, sp},
      {ActivationType::kSoftsign, 0, 0, [](double v) { return v / (1 + std::fabs(v)); }},
      {ActivationType::kThresholdedRelu, 1.f, 0, [](double v) { return v > 1 ? v : 0; }},
      {ActivationType::kGelu, 0, 0, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }},
      {ActivationType::kGelu, 1, 0, [](double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))); }},
      {ActivationType::kMish, 0, 0, [=](double v) { return v * std::tanh(sp(v)); }},
      {ActivationType::kCelu, 1.3f, 0, [](double v) { return std::max(0.0, v) + std::min(0.0, 1.3 * (std::exp(v / 1.3) - 1)); }},
  };
  uint32_t seed = 500;
  for (const Dims& shape : {Dims{3, 17, 333}, Dims{}, Dims{5, 0}}) {
    for (auto& c : cases) {
      auto v = randomFloats(volume(shape), seed++, -6, 6);
      Buf x = f32(shape, v), y = outBuf(DataType::kFloat32, shape);
      ir::Layer layer("act", ActivationParams{c.t, c.alpha, c.beta});
      runActivation(layer, argsOf({&x}, {&y}));
      auto got = y.get<float>();
      for (size_t i = 0; i < v.size(); ++i)
        ASSERT_NEAR(got[i], c.f(v[i]), 2e-6 * (1 + std::fabs(c.f(v[i])))) << activationTypeName(c.t) << " x=" << v[i];
    }
  }
  // Gelu exact vs tanh differ noticeably at x = -2.5.
  Buf x = f32({1}, {-2.5f}), y1 = outBuf(DataType::kFloat32, {1}), y2 = outBuf(DataType::kFloat32, {1});
  runActivation(ir::Layer("g0", ActivationParams{ActivationType::kGelu, 0, 0}), argsOf({&x}, {&y1}));
  runActivation(ir::Layer("g1", ActivationParams{ActivationType::kGelu, 1, 0}), argsOf({&x}, {&y2}));
  EXPECT_NEAR(y1.get<float>()[0], -0.0155251f, 1e-6f);
  EXPECT_NEAR(y2.get<float>()[0], -0.0150843f, 1e-6f);
  // Integer relu/clip.
  Buf xi = i32({4}, {-5, 0, 3, 9}), yi = outBuf(DataType::kInt32, {4});
  runActivation(ir::Layer("c", ActivationParams{ActivationType::kClip, -2.f, 4.f}), argsOf({&xi}, {&yi}));
  EXPECT_EQ(yi.get<int32_t>(), (std::vector<int32_t>{-2, 0, 3, 4}));
  runActivation(ir::Layer("r", ActivationParams{ActivationType::kRelu, 0, 0}), argsOf({&xi}, {&yi}));
  EXPECT_EQ(yi.get<int32_t>(), (std::vector<int32_t>{0, 0, 3, 9}));
  EXPECT_THROW(runActivation(ir::Layer("s", ActivationParams{ActivationType::kSigmoid, 0, 0}), argsOf({&xi}, {&yi})),
               Error);
}

// ---- Cast -----------------------------------------------------------------------------------------------

TEST(CpuCast, FloatToIntegersTruncatesAndWraps) {
  Buf x = f32({6}, {-1.7f, 2.9f, 300.f, -1.f, NAN, 0.f});
  Buf o32 = outBuf(DataType::kInt32, {6}), o8 = outBuf(DataType::kUInt8, {6}), ob = outBuf(DataType::kBool, {6});
  runCast(ir::Layer("c", CastParams{DataType::kInt32}), argsOf({&x}, {&o32}));
  EXPECT_EQ(o32.get<int32_t>(), (std::vector<int32_t>{-1, 2, 300, -1, 0, 0}));
  runCast(ir::Layer("c", CastParams{DataType::kUInt8}), argsOf({&x}, {&o8}));
  EXPECT_EQ(o8.get<uint8_t>(), (std::vector<uint8_t>{255, 2, 44, 255, 0, 0}));
  runCast(ir::Layer("c", CastParams{DataType::kBool}), argsOf({&x}, {&ob}));
  EXPECT_EQ(ob.get<uint8_t>(), (std::vector<uint8_t>{1, 1, 1, 1, 1, 0}));
}

TEST(CpuCast, HalfBfloatDoubleIntBool) {
  Buf x = i64({4}, {1, -2, 2049, 70000});
  Buf h = outBuf(DataType::kFloat16, {4}), bf = outBuf(DataType::kBFloat16, {4}), d = outBuf(DataType::kFloat64, {4});
  runCast(ir::Layer("c", CastParams{DataType::kFloat16}), argsOf({&x}, {&h}));
  auto hv = h.get<uint16_t>();
  EXPECT_EQ(halfToFloat(hv[0]), 1.f);
  EXPECT_EQ(halfToFloat(hv[1]), -2.f);
  EXPECT_EQ(halfToFloat(hv[2]), 2048.f);  // round to nearest even
  EXPECT_TRUE(std::isinf(halfToFloat(hv[3])));
  runCast(ir::Layer("c", CastParams{DataType::kBFloat16}), argsOf({&x}, {&bf}));
  EXPECT_EQ(bfloat16ToFloat(bf.get<uint16_t>()[2]), 2048.f);
  runCast(ir::Layer("c", CastParams{DataType::kFloat64}), argsOf({&x}, {&d}));
  EXPECT_EQ(d.get<double>(), (std::vector<double>{1, -2, 2049, 70000}));
  // half -> int64 and bool -> float
  Buf back = outBuf(DataType::kInt64, {4});
  runCast(ir::Layer("c", CastParams{DataType::kInt64}), argsOf({&h}, {&back}));
  EXPECT_EQ(back.get<int64_t>()[2], 2048);
  EXPECT_EQ(back.get<int64_t>()[1], -2);
  Buf b = boolean({3}, {1, 0, 1}), bfo = outBuf(DataType::kFloat32, {3});
  runCast(ir::Layer("c", CastParams{DataType::kFloat32}), argsOf({&b}, {&bfo}));
  EXPECT_EQ(bfo.get<float>(), (std::vector<float>{1, 0, 1}));
  // Large int64 survives int64 -> uint64 -> int64 wrapping as numpy.
  Buf big = i64({2}, {-1, std::numeric_limits<int64_t>::max()}), u64 = outBuf(DataType::kUInt64, {2});
  runCast(ir::Layer("c", CastParams{DataType::kUInt64}), argsOf({&big}, {&u64}));
  EXPECT_EQ(u64.get<uint64_t>()[0], std::numeric_limits<uint64_t>::max());
  // Empty.
  Buf e = f32({0, 3}, {}), eo = outBuf(DataType::kInt8, {0, 3});
  runCast(ir::Layer("c", CastParams{DataType::kInt8}), argsOf({&e}, {&eo}));
}

TEST(CpuCast, Float8E4M3) {
  Buf x = f32({8}, {448.f, 500.f, -1000.f, 0.001953125f, 1.0625f, 1.1875f, NAN, -0.f});
  Buf o = outBuf(DataType::kFP8E4M3, {8});
  runCast(ir::Layer("c", CastParams{DataType::kFP8E4M3, true}), argsOf({&x}, {&o}));
  // 1.0625 is halfway between 1.0 (0x38) and 1.125 (0x39): even -> 0x38; 1.1875 halfway 1.125/1.25 -> 0x3a.
  EXPECT_EQ(o.get<uint8_t>(), (std::vector<uint8_t>{0x7e, 0x7e, 0xfe, 0x01, 0x38, 0x3a, 0x7f, 0x80}));
  runCast(ir::Layer("c", CastParams{DataType::kFP8E4M3, false}), argsOf({&x}, {&o}));
  EXPECT_EQ(o.get<uint8_t>()[1], 0x7f);
  EXPECT_EQ(o.get<uint8_t>()[2], 0xff);
  // Every code round-trips through float.
  std::vector<uint8_t> codes(256);
  std::iota(codes.begin(), codes.end(), 0);
  Buf c = make(DataType::kFP8E4M3, {256}, codes), f = outBuf(DataType::kFloat32, {256}), c2 = outBuf(DataType::kFP8E4M3, {256});
  runCast(ir::Layer("c", CastParams{DataType::kFloat32}), argsOf({&c}, {&f}));
  EXPECT_EQ(f.get<float>()[0x7e], 448.f);
  EXPECT_EQ(f.get<float>()[0x01], 0.001953125f);
  EXPECT_EQ(f.get<float>()[0x38], 1.f);
  runCast(ir::Layer("c", CastParams{DataType::kFP8E4M3}), argsOf({&f}, {&c2}));
  auto back = c2.get<uint8_t>();
  for (int i = 0; i < 256; ++i) {
    if ((i & 0x7f) != 0x7f) EXPECT_EQ(back[i], i) << i;
  }
}

// ---- data movement ---------------------------------------------------------------------------------

TEST(CpuData, ConstantIdentityReshape) {
  Weights w = Weights::copyOf(DataType::kInt32, {2, 2}, std::vector<int32_t>{1, 2, 3, 4}.data());
  Buf o = outBuf(DataType::kInt32, {2, 2});
  runConstant(ir::Layer("k", ConstantParams{w}), argsOf({}, {&o}));
  EXPECT_EQ(o.get<int32_t>(), (std::vector<int32_t>{1, 2, 3, 4}));
  Buf o2 = outBuf(DataType::kInt32, {4});
  runReshape(ir::Layer("r", ReshapeParams{}), argsOf({&o}, {&o2}));
  EXPECT_EQ(o2.get<int32_t>(), (std::vector<int32_t>{1, 2, 3, 4}));
  Buf o3 = outBuf(DataType::kInt32, {4});
  runIdentity(ir::Layer("i", IdentityParams{}), argsOf({&o2}, {&o3}));
  EXPECT_EQ(o3.get<int32_t>(), (std::vector<int32_t>{1, 2, 3, 4}));
  Buf bad = outBuf(DataType::kInt32, {3});
  EXPECT_THROW(runReshape(ir::Layer("r", ReshapeParams{}), argsOf({&o}, {&bad})), Error);
}

TEST(CpuData, TransposeAllPermsAgainstReference) {
  Dims shape = {3, 5, 2, 7};
  auto v = randomFloats(volume(shape), 9);
  Dims perm = {0, 1, 2, 3};
  do {
    Dims os(4);
    for (int i = 0; i < 4; ++i) os[i] = shape[perm[i]];
    Buf x = f32(shape, v), y = outBuf(DataType::kFloat32, os);
    TransposeParams p;
    p.perm = perm;
    runTranspose(ir::Layer("t", p), argsOf({&x}, {&y}));
    auto got = y.get<float>();
    Dims st = stridesOf(shape);
    int64_t k = 0;
    for (int64_t a = 0; a < os[0]; ++a)
      for (int64_t b = 0; b < os[1]; ++b)
        for (int64_t c = 0; c < os[2]; ++c)
          for (int64_t d = 0; d < os[3]; ++d, ++k) {
            int64_t idx[4] = {a, b, c, d}, src = 0;
            for (int i = 0; i < 4; ++i) src += idx[i] * st[perm[i]];
            ASSERT_EQ(got[k], v[src]) << dimsToString(perm);
          }
  } while (std::next_permutation(perm.begin(), perm.end()));
  // Large 2-D (tiled path) and default reversed perm.
  Dims s2 = {123, 77};
  auto v2 = randomFloats(volume(s2), 10);
  Buf x = f32(s2, v2), y = outBuf(DataType::kFloat32, {77, 123});
  runTranspose(ir::Layer("t", TransposeParams{}), argsOf({&x}, {&y}));
  auto got = y.get<float>();
  for (int i = 0; i < 123; ++i)
    for (int j = 0; j < 77; ++j) ASSERT_EQ(got[j * 123 + i], v2[i * 77 + j]);
}

TEST(CpuData, ConcatenationAndSplit) {
  Buf a = f32({2, 1, 3}, {1, 2, 3, 4, 5, 6}), b = f32({2, 2, 3}, {7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18});
  Buf e = f32({2, 0, 3}, {});
  Buf o = outBuf(DataType::kFloat32, {2, 3, 3});
  runConcatenation(ir::Layer("c", ConcatenationParams{-2}), argsOf({&a, &e, &b}, {&o}));
  EXPECT_EQ(o.get<float>(),
            (std::vector<float>{1, 2, 3, 7, 8, 9, 10, 11, 12, 4, 5, 6, 13, 14, 15, 16, 17, 18}));
  Buf s1 = outBuf(DataType::kFloat32, {2, 1, 3}), s2 = outBuf(DataType::kFloat32, {2, 2, 3});
  SplitParams sp;
  sp.axis = 1;
  runSplit(ir::Layer("s", sp), argsOf({&o}, {&s1, &s2}));
  EXPECT_EQ(s1.get<float>(), a.get<float>());
  EXPECT_EQ(s2.get<float>(), b.get<float>());
}

TEST(CpuData, SliceNegativeStepsAndClamping) {
  std::vector<float> v(24);
  std::iota(v.begin(), v.end(), 1.f);
  Buf x = f32({2, 3, 4}, v);
  // axis 2 reversed from the end, axis 0 clamped end, axis 1 step 2.
  Buf starts = i64({3}, {-1, 0, 0}), ends = i64({3}, {std::numeric_limits<int64_t>::min(), 100, 3}),
      axes = i32({3}, {2, 0, 1}), steps = i64({3}, {-2, 1, 2});
  Buf o = outBuf(DataType::kFloat32, {2, 2, 2});
  runSlice(ir::Layer("s", SliceParams{}), argsOf({&x, &starts, &ends, &axes, &steps}, {&o}));
  EXPECT_EQ(o.get<float>(), (std::vector<float>{4, 2, 12, 10, 16, 14, 24, 22}));
  // No axes/steps: plain slice with negative start.
  Buf st2 = i32({1}, {-1}), en2 = i32({1}, {5});
  Buf o2 = outBuf(DataType::kFloat32, {1, 3, 4});
  runSlice(ir::Layer("s", SliceParams{}), argsOf({&x, &st2, &en2, nullptr, nullptr}, {&o2}));
  EXPECT_EQ(o2.get<float>(), std::vector<float>(v.begin() + 12, v.end()));
  // Empty result.
  Buf st3 = i64({1}, {3}), en3 = i64({1}, {1});
  Buf ax3 = i64({1}, {2});
  Buf o3 = outBuf(DataType::kFloat32, {2, 3, 0});
  runSlice(ir::Layer("s", SliceParams{}), argsOf({&x, &st3, &en3, &ax3}, {&o3}));
  Buf zero = i64({1}, {0});
  EXPECT_THROW(runSlice(ir::Layer("s", SliceParams{}), argsOf({&x, &st3, &en3, &ax3, &zero}, {&o3})), Error);
}

TEST(CpuData, GatherModes) {
  std::vector<float> v(12);
  std::iota(v.begin(), v.end(), 0.f);
  Buf data = f32({3, 4}, v);
  Buf idx = i64({2}, {2, -3});
  Buf o = outBuf(DataType::kFloat32, {3, 2});
  GatherParams p;
  p.axis = 1;
  runGather(ir::Layer("g", p), argsOf({&data, &idx}, {&o}));
  EXPECT_EQ(o.get<float>(), (std::vector<float>{2, 1, 6, 5, 10, 9}));
  Buf idx0 = i32({2, 1}, {2, 0}), o0 = outBuf(DataType::kFloat32, {2, 1, 4});
  runGather(ir::Layer("g", GatherParams{}), argsOf({&data, &idx0}, {&o0}));
  EXPECT_EQ(o0.get<float>(), (std::vector<float>{8, 9, 10, 11, 0, 1, 2, 3}));
  Buf bad = i64({1}, {3}), ob = outBuf(DataType::kFloat32, {1, 4});
  EXPECT_THROW(runGather(ir::Layer("g", GatherParams{}), argsOf({&data, &bad}, {&ob})), Error);
  // Elements.
  Buf ie = i64({2, 2}, {0, 3, -1, 1}), oe = outBuf(DataType::kFloat32, {2, 2});
  GatherParams pe;
  pe.mode = GatherMode::kElements;
  pe.axis = 1;
  runGather(ir::Layer("g", pe), argsOf({&data, &ie}, {&oe}));
  EXPECT_EQ(oe.get<float>(), (std::vector<float>{0, 3, 7, 5}));
  // ND, batch_dims 0 and 1.
  GatherParams pn;
  pn.mode = GatherMode::kND;
  Buf in = i64({2, 2}, {1, 2, -1, 0}), on = outBuf(DataType::kFloat32, {2});
  runGather(ir::Layer("g", pn), argsOf({&data, &in}, {&on}));
  EXPECT_EQ(on.get<float>(), (std::vector<float>{6, 8}));
  Buf in1 = i64({2, 1}, {1, 0}), on1 = outBuf(DataType::kFloat32, {2, 4});
  runGather(ir::Layer("g", pn), argsOf({&data, &in1}, {&on1}));
  EXPECT_EQ(on1.get<float>(), (std::vector<float>{4, 5, 6, 7, 0, 1, 2, 3}));
  pn.batchDims = 1;
  Buf inb = i64({3, 1}, {3, 0, 2}), onb = outBuf(DataType::kFloat32, {3});
  runGather(ir::Layer("g", pn), argsOf({&data, &inb}, {&onb}));
  EXPECT_EQ(onb.get<float>(), (std::vector<float>{3, 4, 10}));
}

TEST(CpuData, ScatterElementsAndND) {
  Buf data = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Buf idx = i64({2, 2}, {0, 0, 2, -1}), upd = f32({2, 2}, {10, 20, 30, 40});
  Buf o = outBuf(DataType::kFloat32, {2, 3});
  ScatterParams p;
  p.axis = 1;
  runScatter(ir::Layer("s", p), argsOf({&data, &idx, &upd}, {&o}));
  EXPECT_EQ(o.get<float>(), (std::vector<float>{20, 2, 3, 4, 5, 40}));
  p.reduction = ScatterReduction::kAdd;
  runScatter(ir::Layer("s", p), argsOf({&data, &idx, &upd}, {&o}));
  EXPECT_EQ(o.get<float>(), (std::vector<float>{31, 2, 3, 4, 5, 76}));
  p.reduction = ScatterReduction::kMax;
  runScatter(ir::Layer("s", p), argsOf({&data, &idx, &upd}, {&o}));
  EXPECT_EQ(o.get<float>(), (std::vector<float>{20, 2, 3, 4, 5, 40}));
  ScatterParams pn;
  pn.mode = ScatterMode::kND;
  Buf in = i64({1, 1}, {1}), un = f32({1, 3}, {7, 8, 9});
  runScatter(ir::Layer("s", pn), argsOf({&data, &in, &un}, {&o}));
  EXPECT_EQ(o.get<float>(), (std::vector<float>{1, 2, 3, 7, 8, 9}));
  pn.reduction = ScatterReduction::kMul;
  Buf in2 = i64({2, 2}, {0, 1, 0, 1}), un2 = f32({2}, {3, 5});
  runScatter(ir::Layer("s", pn), argsOf({&data, &in2, &un2}, {&o}));
  EXPECT_EQ(o.get<float>(), (std::vector<float>{1, 30, 3, 4, 5, 6}));
  Buf bad = i64({1, 1}, {2});
  EXPECT_THROW(runScatter(ir::Layer("s", ScatterParams{ScatterMode::kND}), argsOf({&data, &bad, &un}, {&o})), Error);
}

TEST(CpuData, ShapeConstantOfShapeRange) {
  Buf x = f32({2, 0, 5}, {}), o = outBuf(DataType::kInt64, {2});
  ShapeParams sp;
  sp.start = -2;
  runShape(ir::Layer("s", sp), argsOf({&x}, {&o}));
  EXPECT_EQ(o.get<int64_t>(), (std::vector<int64_t>{0, 5}));
  ConstantOfShapeParams cp;
  cp.value = Weights::copyOf(DataType::kInt32, {1}, std::vector<int32_t>{7}.data());
  Buf shape = i64({2}, {2, 3}), co = outBuf(DataType::kInt32, {2, 3});
  runConstantOfShape(ir::Layer("c", cp), argsOf({&shape}, {&co}));
  EXPECT_EQ(co.get<int32_t>(), std::vector<int32_t>(6, 7));
  Buf s = f32({}, {1.f}), l = f32({}, {2.f}), d = f32({}, {0.25f}), ro = outBuf(DataType::kFloat32, {4});
  runRange(ir::Layer("r", RangeParams{}), argsOf({&s, &l, &d}, {&ro}));
  EXPECT_EQ(ro.get<float>(), (std::vector<float>{1, 1.25f, 1.5f, 1.75f}));
  Buf si = i32({}, {10}), li = i32({}, {3}), di = i32({}, {-3}), rio = outBuf(DataType::kInt32, {3});
  runRange(ir::Layer("r", RangeParams{}), argsOf({&si, &li, &di}, {&rio}));
  EXPECT_EQ(rio.get<int32_t>(), (std::vector<int32_t>{10, 7, 4}));
}

TEST(CpuData, ExpandTileSelect) {
  Buf x = f32({3, 1}, {1, 2, 3}), shp = i64({3}, {2, 1, 2}), o = outBuf(DataType::kFloat32, {2, 3, 2});
  runExpand(ir::Layer("e", ExpandParams{}), argsOf({&x, &shp}, {&o}));
  EXPECT_EQ(o.get<float>(), (std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  Buf t = f32({2, 2}, {1, 2, 3, 4}), reps = i64({2}, {2, 3}), to = outBuf(DataType::kFloat32, {4, 6});
  runTile(ir::Layer("t", TileParams{}), argsOf({&t, &reps}, {&to}));
  EXPECT_EQ(to.get<float>(), (std::vector<float>{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4,
                                                 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}));
  // Where with random broadcasts.
  std::mt19937 rng(3);
  for (auto& [sa, sb] : kBroadcastCases) {
    Dims sc = {sa.empty() ? 1 : sa.back()};
    Dims so = broadcastShape(broadcastShape(sa, sb), sc);
    std::vector<uint8_t> cv(volume(sc));
    for (auto& c : cv) c = rng() & 1;
    auto xv = randomFloats(volume(sa), rng()), yv = randomFloats(volume(sb), rng());
    Buf c = boolean(sc, cv), xa = f32(sa, xv), yb = f32(sb, yv), out = outBuf(DataType::kFloat32, so);
    runSelect(ir::Layer("w", SelectParams{}), argsOf({&c, &xa, &yb}, {&out}));
    auto got = out.get<float>();
    for (int64_t i = 0; i < volume(so); ++i)
      ASSERT_EQ(got[i], cv[sourceIndex(i, so, sc)] ? xv[sourceIndex(i, so, sa)] : yv[sourceIndex(i, so, sb)]);
  }
}

TEST(CpuData, PaddingModes) {
  Buf x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Buf pads = i64({4}, {0, 2, 1, 1});
  auto run = [&](PadMode m, Buf* value) {
    Buf o = outBuf(DataType::kFloat32, {3, 6});
    runPadding(ir::Layer("p", PaddingParams{m}), argsOf({&x, &pads, value}, {&o}));
    return o.get<float>();
  };
  Buf v = f32({}, {9.f});
  EXPECT_EQ(run(PadMode::kConstant, &v),
            (std::vector<float>{9, 9, 1, 2, 3, 9, 9, 9, 4, 5, 6, 9, 9, 9, 9, 9, 9, 9}));
  EXPECT_EQ(run(PadMode::kConstant, nullptr),
            (std::vector<float>{0, 0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(run(PadMode::kEdge, nullptr),
            (std::vector<float>{1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6, 4, 4, 4, 5, 6, 6}));
  EXPECT_EQ(run(PadMode::kReflect, nullptr),
            (std::vector<float>{3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2}));
  EXPECT_EQ(run(PadMode::kWrap, nullptr),
            (std::vector<float>{2, 3, 1, 2, 3, 1, 5, 6, 4, 5, 6, 4, 2, 3, 1, 2, 3, 1}));
  // Negative pads crop; axes input selects axis 1 only.
  Buf crop = i64({2}, {-1, 1}), axes = i64({1}, {-1}), o = outBuf(DataType::kFloat32, {2, 3});
  runPadding(ir::Layer("p", PaddingParams{PadMode::kEdge}), argsOf({&x, &crop, nullptr, &axes}, {&o}));
  EXPECT_EQ(o.get<float>(), (std::vector<float>{2, 3, 3, 5, 6, 6}));
}

TEST(CpuData, NonZeroOneHotTrilu) {
  Buf x = f32({2, 3}, {0, 1.5f, 0, -2, 0, 3}), o = outBuf(DataType::kInt64, {2, 3});
  runNonZero(ir::Layer("n", NonZeroParams{}), argsOf({&x}, {&o}));
  EXPECT_EQ(o.get<int64_t>(), (std::vector<int64_t>{0, 1, 1, 1, 0, 2}));
  Buf idx = i64({3}, {0, -1, 5}), depth = f32({}, {3.f}), vals = f32({2}, {-1, 1}), oh = outBuf(DataType::kFloat32, {3, 3});
  runOneHot(ir::Layer("o", OneHotParams{-1}), argsOf({&idx, &depth, &vals}, {&oh}));
  EXPECT_EQ(oh.get<float>(), (std::vector<float>{1, -1, -1, -1, -1, 1, -1, -1, -1}));
  runOneHot(ir::Layer("o", OneHotParams{0}), argsOf({&idx, &depth, &vals}, {&oh}));
  EXPECT_EQ(oh.get<float>(), (std::vector<float>{1, -1, -1, -1, -1, -1, -1, 1, -1}));
  std::vector<float> v(12);
  std::iota(v.begin(), v.end(), 1.f);
  Buf m = f32({3, 4}, v), k = i64({}, {1}), to = outBuf(DataType::kFloat32, {3, 4});
  runTrilu(ir::Layer("t", TriluParams{true}), argsOf({&m, &k}, {&to}));
  EXPECT_EQ(to.get<float>(), (std::vector<float>{0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12}));
  Buf km = i64({}, {-1});
  runTrilu(ir::Layer("t", TriluParams{false}), argsOf({&m, &km}, {&to}));
  EXPECT_EQ(to.get<float>(), (std::vector<float>{0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0}));
}

TEST(CpuData, SpaceDepth) {
  // x[n=1, c=8, h=1, w=2], b = 2.
  std::vector<float> v(16);
  std::iota(v.begin(), v.end(), 0.f);
  Buf x = f32({1, 8, 1, 2}, v), o = outBuf(DataType::kFloat32, {1, 2, 2, 4});
  auto ref = [&](bool crd) {
    std::vector<float> r(16);
    int C = 2, b = 2, H = 1, W = 2;
    for (int c = 0; c < C; ++c)
      for (int h = 0; h < H * b; ++h)
        for (int w = 0; w < W * b; ++w) {
          int bh = h % b, bw = w % b;
          int ic = crd ? c * b * b + bh * b + bw : (bh * b + bw) * C + c;
          r[(c * H * b + h) * W * b + w] = v[(ic * H + h / b) * W + w / b];
        }
    return r;
  };
  runSpaceDepth(ir::Layer("d", SpaceDepthParams{false, 2, false}), argsOf({&x}, {&o}));
  EXPECT_EQ(o.get<float>(), ref(false));
  runSpaceDepth(ir::Layer("d", SpaceDepthParams{false, 2, true}), argsOf({&x}, {&o}));
  EXPECT_EQ(o.get<float>(), ref(true));
  // SpaceToDepth inverts DCR DepthToSpace.
  Buf dcr = outBuf(DataType::kFloat32, {1, 2, 2, 4}), back = outBuf(DataType::kFloat32, {1, 8, 1, 2});
  runSpaceDepth(ir::Layer("d", SpaceDepthParams{false, 2, false}), argsOf({&x}, {&dcr}));
  runSpaceDepth(ir::Layer("s", SpaceDepthParams{true, 2, false}), argsOf({&dcr}, {&back}));
  EXPECT_EQ(back.get<float>(), v);
}

TEST(CpuData, QuantizeDequantize) {
  Buf x = f32({2, 3}, {2.5f, 3.5f, -2.5f, 1000.f, -1000.f, 0.6f}), s = f32({}, {1.f});
  Buf zp = make<uint8_t>(DataType::kUInt8, {}, {10}), o = outBuf(DataType::kUInt8, {2, 3});
  QuantizeParams qp;
  runQuantize(ir::Layer("q", qp), argsOf({&x, &s, &zp}, {&o}));
  EXPECT_EQ(o.get<uint8_t>(), (std::vector<uint8_t>{12, 14, 8, 255, 0, 11}));
  Buf o8 = outBuf(DataType::kInt8, {2, 3});
  qp.outputType = DataType::kInt8;
  runQuantize(ir::Layer("q", qp), argsOf({&x, &s}, {&o8}));
  EXPECT_EQ(o8.get<int8_t>(), (std::vector<int8_t>{2, 4, -2, 127, -128, 1}));
  // Per axis (axis 1) and blocked (axis 1, block 2).
  Buf sa = f32({3}, {1.f, 2.f, 4.f}), oa = outBuf(DataType::kInt8, {2, 3});
  runQuantize(ir::Layer("q", qp), argsOf({&x, &sa}, {&oa}));
  EXPECT_EQ(oa.get<int8_t>(), (std::vector<int8_t>{2, 2, -1, 127, -128, 0}));
  QuantizeParams bq = qp;
  bq.blockSize = 2;
  Buf sb = f32({2, 2}, {1.f, 0.5f, 2.f, 100.f}), ob = outBuf(DataType::kInt8, {2, 3});
  runQuantize(ir::Layer("q", bq), argsOf({&x, &sb}, {&ob}));
  EXPECT_EQ(ob.get<int8_t>(), (std::vector<int8_t>{2, 4, -5, 127, -128, 0}));
  // Dequantize per axis with zero points.
  Buf q = make<int8_t>(DataType::kInt8, {2, 3}, {-128, 0, 127, 5, 6, 7}), dz = make<int8_t>(DataType::kInt8, {3}, {1, 0, -1});
  Buf dout = outBuf(DataType::kFloat32, {2, 3});
  DequantizeParams dp;
  runDequantize(ir::Layer("d", dp), argsOf({&q, &sa, &dz}, {&dout}));
  EXPECT_EQ(dout.get<float>(), (std::vector<float>{-129, 0, 512, 4, 12, 32}));
  // Dequantize blocked without zero point, and float8.
  DequantizeParams db;
  db.blockSize = 2;
  runDequantize(ir::Layer("d", db), argsOf({&q, &sb}, {&dout}));
  EXPECT_EQ(dout.get<float>(), (std::vector<float>{-128, 0, 63.5f, 10, 12, 700}));
  Buf f8 = make<uint8_t>(DataType::kFP8E4M3, {2}, {0x38, 0xc0}), s2 = f32({}, {2.f}), f8o = outBuf(DataType::kFloat32, {2});
  runDequantize(ir::Layer("d", dp), argsOf({&f8, &s2}, {&f8o}));
  EXPECT_EQ(f8o.get<float>(), (std::vector<float>{2.f, -4.f}));
  // Mismatched per-axis scale is refused.
  Buf s4 = f32({4}, {1, 1, 1, 1});
  EXPECT_THROW(runQuantize(ir::Layer("q", qp), argsOf({&x, &s4}, {&o8})), Error);
}

// ---- backend ------------------------------------------------------------------------------------------

TEST(CpuBackend, KernelNamesMemoryAndSupport) {
  auto backend = makeCpuBackend();
  EXPECT_EQ(backend->name(), "cpu");
  EXPECT_TRUE(backend->isHostMemory());
  void* p = backend->allocate(100);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  std::vector<uint8_t> src(100, 7), dst(100, 0);
  backend->copyFromHost(p, src.data(), 100, nullptr);
  backend->copyToHost(dst.data(), p, 100, nullptr);
  EXPECT_EQ(dst, src);
  backend->deallocate(p);
  ir::Layer add("add", ElementWiseParams{ElementWiseOp::kAdd});
  auto kernel = backend->createKernel(add, {});
  EXPECT_EQ(kernel->name(), "cpu.elementwise");
  Buf a = f32({2}, {1, 2}), b = f32({2}, {3, 4}), o = outBuf(DataType::kFloat32, {2});
  kernel->execute(argsOf({&a, &b}, {&o}));
  EXPECT_EQ(o.get<float>(), (std::vector<float>{4, 6}));

  ir::Network net;
  auto* x = net.addTensor("x", DataType::kString, {2});
  auto* y = net.addTensor("y", DataType::kFloat32, {2});
  auto* out = net.addTensor("o", DataType::kFloat32, {2});
  ir::Layer l("e", ElementWiseParams{ElementWiseOp::kAdd});
  l.inputs = {y, y};
  l.outputs = {out};
  EXPECT_EQ(host::unsupportedReason(l), "");
  l.inputs = {x, y};
  EXPECT_NE(host::unsupportedReason(l), "");
  ir::Layer u("u", UnaryParams{UnaryOp::kExp});
  auto* i = net.addTensor("i", DataType::kInt32, {2});
  u.inputs = {i};
  u.outputs = {i};
  EXPECT_NE(host::unsupportedReason(u).find("int32"), std::string::npos);
}

TEST(CpuBackend, EvaluateLayerOnHost) {
  Weights a = Weights::copyOf(DataType::kFloat32, {2, 1}, std::vector<float>{1, 2}.data());
  Weights b = Weights::copyOf(DataType::kFloat32, {3}, std::vector<float>{10, 20, 30}.data());
  ir::Network net;
  ir::Layer add("add", ElementWiseParams{ElementWiseOp::kAdd});
  auto* ta = net.addTensor("a", DataType::kFloat32, {2, 1});
  auto* tb = net.addTensor("b", DataType::kFloat32, {3});
  auto* to = net.addTensor("o", DataType::kFloat32, {2, 3});
  add.inputs = {ta, tb};
  add.outputs = {to};
  auto outs = host::evaluateLayer(add, {&a, &b});
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].shape, (Dims{2, 3}));
  EXPECT_EQ(std::vector<float>(outs[0].as<float>(), outs[0].as<float>() + 6),
            (std::vector<float>{11, 21, 31, 12, 22, 32}));
  ir::Layer nz("nz", NonZeroParams{});
  auto* tn = net.addTensor("n", DataType::kInt64, {2, -1});
  nz.inputs = {ta};
  nz.outputs = {tn};
  Weights z = Weights::copyOf(DataType::kFloat32, {2, 1}, std::vector<float>{0, 5}.data());
  auto nzOut = host::evaluateLayer(nz, {&z});
  ASSERT_EQ(nzOut[0].shape, (Dims{2, 1}));
  EXPECT_EQ(nzOut[0].as<int64_t>()[0], 1);
  EXPECT_EQ(nzOut[0].as<int64_t>()[1], 0);
}

}  // namespace
}  // namespace kiln::cpu
