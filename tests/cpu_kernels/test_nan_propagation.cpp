// NaN propagation of the CPU kernels, as ONNX Runtime, PyTorch and numpy: MaxPool (values and indices;
// an all-NaN window gives NaN, not -inf), GlobalMaxPool and the other reductions, ArgMax / ArgMin (numpy:
// the first NaN's index), TopK (NaN is the largest value), element-wise Max / Min, Clip, Relu,
// HardSigmoid, Celu, Softmax / LogSoftmax (a row holding a NaN gives NaN). Float32 and float16 each.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backends/cpu/kernels/kernels.h"
#include "core/half.h"
#include "cpu_kernels/kernel_test_buffers.h"

namespace kiln::cpu {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// A float32 or float16 tensor holding v (rounded to half for float16).
Buf floats(DataType type, const Dims& shape, const std::vector<float>& v) {
  if (type == DataType::kFloat32) return f32(shape, v);
  std::vector<uint16_t> h;
  for (float x : v) h.push_back(floatToHalf(x));
  return make(DataType::kFloat16, shape, h);
}

std::vector<float> floatsOf(const Buf& b) {
  if (b.type == DataType::kFloat32) return b.get<float>();
  std::vector<float> v;
  for (uint16_t h : b.get<uint16_t>()) v.push_back(halfToFloat(h));
  return v;
}

// NaN where want is NaN, else within tol (relative above 1) of want.
void expectFloats(const std::vector<float>& got, const std::vector<float>& want, const std::string& what,
                  float tol = 0.f) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) EXPECT_TRUE(std::isnan(got[i])) << what << " at " << i << ": " << got[i] << ", want NaN";
    else if (std::isinf(want[i])) EXPECT_EQ(got[i], want[i]) << what << " at " << i;
    else EXPECT_NEAR(got[i], want[i], tol * std::max(1.f, std::abs(want[i]))) << what << " at " << i;
  }
}

class NanPropagation : public ::testing::TestWithParam<DataType> {
 protected:
  DataType type() const { return GetParam(); }
  float tol() const { return type() == DataType::kFloat16 ? 2e-3f : 1e-6f; }
};
INSTANTIATE_TEST_SUITE_P(Float, NanPropagation, ::testing::Values(DataType::kFloat32, DataType::kFloat16),
                         [](const auto& info) { return std::string(dataTypeName(info.param)); });

// ---- MaxPool -------------------------------------------------------------------------------------

// 4x4 input, 2x2 windows with stride 2: all NaN; no NaN; a NaN after a number; a number after a NaN.
const std::vector<float> kPoolInput = {kNaN, kNaN, 1, 2,     //
                                       kNaN, kNaN, 3, 4,     //
                                       5,    kNaN, 7, 8,     //
                                       9,    10,   kNaN, 11};

TEST_P(NanPropagation, MaxPoolWindowWithNaNGivesNaN) {
  PoolingParams p;
  p.kernelShape = {2, 2};
  p.strides = {2, 2};
  ir::Layer layer("pool", p);
  Buf x = floats(type(), {1, 1, 4, 4}, kPoolInput);
  Buf y = outBuf(type(), {1, 1, 2, 2});
  runPooling(layer, argsOf({&x}, {&y}));  // the row-wise path (no indices)
  expectFloats(floatsOf(y), {kNaN, 4, kNaN, kNaN}, "values");

  Buf yi = outBuf(type(), {1, 1, 2, 2}), indices = outBuf(DataType::kInt64, {1, 1, 2, 2});
  runPooling(layer, argsOf({&x}, {&yi, &indices}));
  expectFloats(floatsOf(yi), {kNaN, 4, kNaN, kNaN}, "values with indices");
  EXPECT_EQ(indices.get<int64_t>(), (std::vector<int64_t>{0, 7, 9, 14}));  // the first NaN of each window
}

TEST_P(NanPropagation, MaxPoolOverlappingPaddedWindows) {
  // 3x3 windows, stride 1, pads 1 over a 3x3 input with one NaN in the middle: every window holds it.
  PoolingParams p;
  p.kernelShape = {3, 3};
  p.padsBegin = {1, 1};
  p.padsEnd = {1, 1};
  ir::Layer layer("pool", p);
  Buf x = floats(type(), {1, 1, 3, 3}, {1, 2, 3, 4, kNaN, 6, 7, 8, 9});
  Buf y = outBuf(type(), {1, 1, 3, 3});
  runPooling(layer, argsOf({&x}, {&y}));
  expectFloats(floatsOf(y), std::vector<float>(9, kNaN), "values");
  // A 1-D pool with a NaN only in the last window.
  PoolingParams p1;
  p1.kernelShape = {2};
  p1.strides = {2};
  ir::Layer layer1("pool1d", p1);
  Buf x1 = floats(type(), {1, 2, 6}, {1, 2, 3, 4, 5, kNaN, -1, -2, -3, -4, -kInf, -5});
  Buf y1 = outBuf(type(), {1, 2, 3});
  runPooling(layer1, argsOf({&x1}, {&y1}));
  expectFloats(floatsOf(y1), {2, 4, kNaN, -1, -3, -5}, "1-D values");
}

// ---- reductions (GlobalMaxPool is a ReduceMax over the spatial axes) --------------------------------

TEST_P(NanPropagation, ReduceMaxAndMinGiveNaN) {
  // Channels: NaN in the middle, all NaN, no NaN (with an infinity), NaN last.
  Buf x = floats(type(), {1, 4, 2, 2}, {1, kNaN, 3, 2, kNaN, kNaN, kNaN, kNaN, -kInf, 1, 2, 0, 1, 2, 3, kNaN});
  for (ReduceOp op : {ReduceOp::kMax, ReduceOp::kMin}) {
    ReduceParams p;
    p.op = op;
    p.axes = {2, 3};
    ir::Layer layer("global_pool", p);
    Buf y = outBuf(type(), {1, 4, 1, 1});
    runReduce(layer, argsOf({&x}, {&y}));
    expectFloats(floatsOf(y), {kNaN, kNaN, op == ReduceOp::kMax ? 2.f : -kInf, kNaN}, reduceOpName(op));
  }
}

TEST_P(NanPropagation, EveryReductionOfARowWithNaNIsNaN) {
  Buf x = floats(type(), {2, 4}, {1, 2, kNaN, 4, 1, 2, 3, 4});
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMean, ReduceOp::kMax, ReduceOp::kMin, ReduceOp::kProd, ReduceOp::kL1,
                      ReduceOp::kL2, ReduceOp::kLogSum, ReduceOp::kLogSumExp, ReduceOp::kSumSquare}) {
    ReduceParams p;
    p.op = op;
    p.axes = {1};
    ir::Layer layer("reduce", p);
    Buf y = outBuf(type(), {2, 1});
    runReduce(layer, argsOf({&x}, {&y}));
    std::vector<float> got = floatsOf(y);
    EXPECT_TRUE(std::isnan(got[0])) << reduceOpName(op) << ": " << got[0];
    EXPECT_FALSE(std::isnan(got[1])) << reduceOpName(op);
  }
  // LogSumExp with a NaN next to an infinity: NaN, not the infinity.
  ReduceParams p;
  p.op = ReduceOp::kLogSumExp;
  p.axes = {1};
  ir::Layer layer("reduce", p);
  Buf xi = floats(type(), {1, 3}, {kInf, kNaN, 0});
  Buf y = outBuf(type(), {1, 1});
  runReduce(layer, argsOf({&xi}, {&y}));
  EXPECT_TRUE(std::isnan(floatsOf(y)[0]));
}

// ---- ArgMax / ArgMin ---------------------------------------------------------------------------------

TEST_P(NanPropagation, ArgMaxAndArgMinPickTheFirstNaN) {
  // Rows: NaN at 1 and 3; no NaN; all NaN.
  const std::vector<float> rows = {1, kNaN, 3, kNaN, 2, 5, 1, 0, kNaN, kNaN, kNaN, kNaN};
  std::vector<float> columns(12);  // the same data transposed, reduced over axis 0 (the strided path)
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) columns[c * 3 + r] = rows[r * 4 + c];
  struct Case { bool max, last; std::vector<int64_t> want; };
  for (const Case& c : {Case{true, false, {1, 1, 0}}, Case{false, false, {1, 3, 0}}, Case{true, true, {3, 1, 3}},
                        Case{false, true, {3, 3, 3}}}) {
    ArgMinMaxParams p;
    p.max = c.max;
    p.selectLastIndex = c.last;
    std::string what = concat(c.max ? "ArgMax" : "ArgMin", c.last ? " last" : " first");
    p.axis = 1;
    Buf x = floats(type(), {3, 4}, rows), y = outBuf(DataType::kInt64, {3, 1});
    runArgMinMax(ir::Layer("arg", p), argsOf({&x}, {&y}));
    EXPECT_EQ(y.get<int64_t>(), c.want) << what << " axis 1";
    p.axis = 0;
    Buf xt = floats(type(), {4, 3}, columns), yt = outBuf(DataType::kInt64, {1, 3});
    runArgMinMax(ir::Layer("arg", p), argsOf({&xt}, {&yt}));
    EXPECT_EQ(yt.get<int64_t>(), c.want) << what << " axis 0";
  }
}

// ---- TopK ------------------------------------------------------------------------------------------

TEST_P(NanPropagation, TopKSortsNaNAsTheLargest) {
  Buf x = floats(type(), {2, 5}, {1, kNaN, 3, kNaN, 2, 0, 1, 2, 3, 4});
  Buf k = i64({1}, {3});
  for (bool largest : {true, false}) {
    TopKParams p;
    p.largest = largest;
    Buf values = outBuf(type(), {2, 3}), indices = outBuf(DataType::kInt64, {2, 3});
    runTopK(ir::Layer("topk", p), argsOf({&x, &k}, {&values, &indices}));
    if (largest) {
      expectFloats(floatsOf(values), {kNaN, kNaN, 3, 4, 3, 2}, "largest");
      EXPECT_EQ(indices.get<int64_t>(), (std::vector<int64_t>{1, 3, 2, 4, 3, 2}));
    } else {
      expectFloats(floatsOf(values), {1, 2, 3, 0, 1, 2}, "smallest");
      EXPECT_EQ(indices.get<int64_t>(), (std::vector<int64_t>{0, 4, 2, 0, 1, 2}));
    }
  }
}

// ---- element-wise Max / Min ----------------------------------------------------------------------------

TEST_P(NanPropagation, ElementWiseMaxAndMinPropagateNaN) {
  Buf a = floats(type(), {5}, {1, kNaN, kNaN, 2, -kInf});
  Buf b = floats(type(), {5}, {kNaN, 1, kNaN, 3, kNaN});
  Buf scalarNaN = floats(type(), {1}, {kNaN});
  for (ElementWiseOp op : {ElementWiseOp::kMax, ElementWiseOp::kMin}) {
    ir::Layer layer("minmax", ElementWiseParams{op});
    Buf y = outBuf(type(), {5});
    runElementWise(layer, argsOf({&a, &b}, {&y}));
    expectFloats(floatsOf(y), {kNaN, kNaN, kNaN, op == ElementWiseOp::kMax ? 3.f : 2.f, kNaN}, elementWiseOpName(op));
    Buf ys = outBuf(type(), {5});
    runElementWise(layer, argsOf({&b, &scalarNaN}, {&ys}));  // broadcast scalar
    expectFloats(floatsOf(ys), std::vector<float>(5, kNaN), concat(elementWiseOpName(op), " with a NaN scalar"));
  }
}

// ---- activations -----------------------------------------------------------------------------------

TEST_P(NanPropagation, ClipReluHardSigmoidCeluKeepNaN) {
  const std::vector<float> in = {kNaN, -1, 0.5f, 3, -kNaN};
  struct Case { ActivationParams p; std::vector<float> want; };
  const std::vector<Case> cases = {
      {{ActivationType::kRelu, 0.f, 0.f}, {kNaN, 0, 0.5f, 3, kNaN}},
      {{ActivationType::kClip, 0.f, 1.f}, {kNaN, 0, 0.5f, 1, kNaN}},
      {{ActivationType::kClip, -kInf, kInf}, {kNaN, -1, 0.5f, 3, kNaN}},
      {{ActivationType::kHardSigmoid, 0.2f, 0.5f}, {kNaN, 0.3f, 0.6f, 1, kNaN}},
      {{ActivationType::kCelu, 1.f, 0.f}, {kNaN, std::expm1(-1.f), 0.5f, 3, kNaN}},
  };
  for (const Case& c : cases) {
    Buf x = floats(type(), {5}, in), y = outBuf(type(), {5});
    runActivation(ir::Layer("act", c.p), argsOf({&x}, {&y}));
    expectFloats(floatsOf(y), c.want, activationTypeName(c.p.type), tol());
  }
}

// ---- Softmax (fuzzer finding: NaN reached an int conversion in the fast exp) ----------------------------

TEST_P(NanPropagation, SoftmaxRowWithNaNOrInfinityMinusInfinityIsNaN) {
  // Rows: a NaN; +inf (inf - inf = NaN); ordinary.
  const std::vector<float> rows = {1, kNaN, 2, 3, kInf, 0, 1, 2, 1, 2, 3, 4};
  std::vector<float> columns(12);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) columns[c * 3 + r] = rows[r * 4 + c];
  for (SoftmaxType t : {SoftmaxType::kSoftmax, SoftmaxType::kLogSoftmax}) {
    for (int64_t axis : {1, 0}) {  // contiguous rows; a strided axis
      SoftmaxParams p;
      p.type = t;
      p.axis = axis;
      Buf x = floats(type(), axis == 1 ? Dims{3, 4} : Dims{4, 3}, axis == 1 ? rows : columns);
      Buf y = outBuf(type(), x.shape);
      runSoftmax(ir::Layer("softmax", p), argsOf({&x}, {&y}));
      std::vector<float> got = floatsOf(y);
      for (int r = 0; r < 3; ++r) {
        double sum = 0;
        for (int c = 0; c < 4; ++c) {
          float v = got[axis == 1 ? r * 4 + c : c * 3 + r];
          if (r < 2) EXPECT_TRUE(std::isnan(v)) << "type " << static_cast<int>(t) << " axis " << axis << " row " << r;
          else sum += t == SoftmaxType::kSoftmax ? v : std::exp(v);
        }
        if (r == 2) EXPECT_NEAR(sum, 1.0, 2e-3) << "type " << static_cast<int>(t) << " axis " << axis;
      }
    }
  }
}

}  // namespace
}  // namespace kiln::cpu
