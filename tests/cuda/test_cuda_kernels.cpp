// CUDA kernels against the CPU reference (host::evaluateLayer): seeded random data, awkward shapes
// (odd, prime, tails, broadcasts, empty), fp32 and fp16, per-layer tolerances. Outputs are poisoned
// before each run. Skips when no GPU is present (but always compiles).
#include "cuda/cuda_kernel_check.h"

namespace kiln {
namespace {

using namespace cuda_test;


// ---- tests --------------------------------------------------------------------------------------

TEST(CudaBackend, Basics) {
  REQUIRE_GPU();
  EXPECT_EQ(gpu()->name(), "cuda:0");
  EXPECT_FALSE(gpu()->isHostMemory());
  EXPECT_GE(cuda::cudaComputeCapability(0), 70);
  std::cout << "device: " << cuda::cudaDeviceDescription(0) << "\n";
  EXPECT_THROW(cuda::makeCudaBackend(1000), Error);
}

TEST(CudaBackend, NoDeviceMessage) {
  if (gpu()) GTEST_SKIP() << "a device is present";
  try {
    cuda::makeCudaBackend(0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device is available"), std::string::npos) << e.what();
  }
}

class CudaTyped : public ::testing::TestWithParam<DataType> {};
INSTANTIATE_TEST_SUITE_P(Float, CudaTyped, ::testing::Values(F32, F16), [](const auto& info) {
  return std::string(dataTypeName(info.param));
});

TEST_P(CudaTyped, ElementWise) {
  REQUIRE_GPU();
  DataType t = GetParam();
  for (auto op : {ElementWiseOp::kAdd, ElementWiseOp::kSub, ElementWiseOp::kMul, ElementWiseOp::kMax,
                  ElementWiseOp::kMin}) {
    ElementWiseParams p;
    p.op = op;
    check(p, {data(t, {3, 1, 5}), data(t, {4, 1})});
    check(p, {data(t, {2, 3, 7}), data(t, {7})});
    check(p, {data(t, {37}), data(t, {})});
    check(p, {data(t, {0, 3}), data(t, {3})});
    // each way an operand reaches its element: same shape, row and channel broadcasts, strided, both sides
    check(p, {data(t, {33, 769}), data(t, {33, 769})});
    check(p, {data(t, {6, 7, 9}), data(t, {7, 9})});
    check(p, {data(t, {2, 5, 3, 4}), data(t, {5, 1, 1})});
    check(p, {data(t, {5, 1}), data(t, {5, 7})});
    check(p, {data(t, {3, 1, 5}), data(t, {1, 4, 1})});
    check(p, {data(t, {1, 3, 1, 5}), data(t, {2, 1, 4, 5})});
  }
  check(ElementWiseParams{ElementWiseOp::kDiv}, {data(t, {5, 13}), data(t, {5, 1}, 0.5, 2)});
  check(ElementWiseParams{ElementWiseOp::kPow}, {data(t, {4, 9}, 0.5, 2), data(t, {9}, -1, 2)}, 1, {1e-5, 1e-4},
        {5e-2, 2e-2});
  check(ElementWiseParams{ElementWiseOp::kPRelu}, {data(t, {2, 3, 4, 5}), data(t, {3, 1, 1})});
  check(ElementWiseParams{ElementWiseOp::kLess}, {data(t, {6, 7}), data(t, {7})});
  check(ElementWiseParams{ElementWiseOp::kGreaterOrEqual}, {data(t, {1, 7}), data(t, {5, 1})});
}

TEST(Cuda, ElementWiseIntsAndBools) {
  REQUIRE_GPU();
  check(ElementWiseParams{ElementWiseOp::kAdd}, {data(I32, {5, 7}, -50, 50), data(I32, {7}, -50, 50)});
  check(ElementWiseParams{ElementWiseOp::kMod}, {data(I64, {31}, -50, 50), data(I64, {31}, 1, 9)});
  check(ElementWiseParams{ElementWiseOp::kDiv}, {data(I64, {3, 11}, -50, 50), data(I64, {11}, 1, 9)});
  check(ElementWiseParams{ElementWiseOp::kEqual}, {data(I32, {4, 9}, 0, 3), data(I32, {9}, 0, 3)});
  check(ElementWiseParams{ElementWiseOp::kAnd}, {data(BOOL, {3, 17}), data(BOOL, {17})});
  check(ElementWiseParams{ElementWiseOp::kXor}, {data(BOOL, {29}), data(BOOL, {29})});
  check(ElementWiseParams{ElementWiseOp::kBitwiseAnd}, {data(I32, {13}, 0, 100), data(I32, {13}, 0, 100)});
}

TEST_P(CudaTyped, Unary) {
  REQUIRE_GPU();
  DataType t = GetParam();
  for (auto op : {UnaryOp::kAbs, UnaryOp::kNeg, UnaryOp::kExp, UnaryOp::kFloor, UnaryOp::kCeil, UnaryOp::kSin,
                  UnaryOp::kCos, UnaryOp::kAtan, UnaryOp::kErf, UnaryOp::kSign, UnaryOp::kSinh}) {
    check(UnaryParams{op}, {data(t, {3, 41})}, 1, {1e-5, 1e-4}, {2e-2, 2e-2});
  }
  check(UnaryParams{UnaryOp::kLog}, {data(t, {57}, 0.1, 5)});
  check(UnaryParams{UnaryOp::kSqrt}, {data(t, {57}, 0.1, 5)});
  check(UnaryParams{UnaryOp::kReciprocal}, {data(t, {57}, 0.5, 5)});
  check(UnaryParams{UnaryOp::kIsNaN}, {data(t, {19})});
}

TEST(Cuda, UnaryIntsAndBools) {
  REQUIRE_GPU();
  check(UnaryParams{UnaryOp::kAbs}, {data(I32, {23}, -9, 9)});
  check(UnaryParams{UnaryOp::kNeg}, {data(I64, {23}, -9, 9)});
  check(UnaryParams{UnaryOp::kNot}, {data(BOOL, {23})});
}

TEST_P(CudaTyped, Activation) {
  REQUIRE_GPU();
  DataType t = GetParam();
  struct A { ActivationType type; float alpha, beta; };
  for (A a : {A{ActivationType::kRelu, 0, 0}, A{ActivationType::kSigmoid, 0, 0}, A{ActivationType::kTanh, 0, 0},
              A{ActivationType::kLeakyRelu, 0.1f, 0}, A{ActivationType::kElu, 0.7f, 0},
              A{ActivationType::kSelu, 1.67f, 1.05f}, A{ActivationType::kClip, -0.5f, 0.8f},
              A{ActivationType::kHardSigmoid, 0.2f, 0.5f}, A{ActivationType::kHardSwish, 0, 0},
              A{ActivationType::kSoftplus, 0, 0}, A{ActivationType::kSoftsign, 0, 0},
              A{ActivationType::kThresholdedRelu, 0.3f, 0}, A{ActivationType::kGelu, 0, 0},
              A{ActivationType::kGelu, 1, 0}, A{ActivationType::kMish, 0, 0}, A{ActivationType::kCelu, 1.3f, 0}}) {
    ActivationParams p;
    p.type = a.type;
    p.alpha = a.alpha;
    p.beta = a.beta;
    check(p, {data(t, {3, 5, 67}, -4, 4)});
  }
}

TEST_P(CudaTyped, MatrixMultiply) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32{1e-4, 1e-4}, f16{3e-2, 2e-2};
  MatrixMultiplyParams p;
  check(p, {data(t, {7, 13}), data(t, {13, 5})}, 1, f32, f16);
  check(p, {data(t, {3, 7, 11}), data(t, {11, 9})}, 1, f32, f16);
  check(p, {data(t, {3, 7, 11}), cdata(t, {3, 11, 9})}, 1, f32, f16);
  check(p, {data(t, {2, 1, 5, 6}), data(t, {3, 6, 4})}, 1, f32, f16);
  check(p, {data(t, {13}), data(t, {13, 5})}, 1, f32, f16);
  check(p, {data(t, {4, 13}), data(t, {13})}, 1, f32, f16);
  check(p, {data(t, {64, 128}), cdata(t, {128, 96})}, 1, f32, {6e-2, 2e-2});
  MatrixMultiplyParams tb;
  tb.transposeB = true;
  check(tb, {data(t, {2, 9, 17}), data(t, {2, 5, 17})}, 1, f32, f16);
  MatrixMultiplyParams ta;
  ta.transposeA = true;
  check(ta, {data(t, {17, 9}), data(t, {17, 5})}, 1, f32, f16);
  // fuse_matmul_bias: a bias [N] in the epilogue (constant or not; folded batch, strided batch, broadcast loop, K=0)
  check(p, {data(t, {3, 7, 11}), cdata(t, {11, 9}), cdata(t, {9})}, 1, f32, f16);
  check(p, {data(t, {7, 13}), data(t, {13, 5}), data(t, {5})}, 1, f32, f16);
  check(p, {data(t, {3, 7, 11}), cdata(t, {3, 11, 9}), cdata(t, {9})}, 1, f32, f16);
  check(p, {data(t, {2, 1, 5, 6}), data(t, {3, 6, 4}), data(t, {4})}, 1, f32, f16);
  check(p, {data(t, {4, 0}), data(t, {0, 6}), data(t, {6})}, 1, f32, f16);
  check(tb, {data(t, {2, 9, 17}), data(t, {2, 5, 17}), cdata(t, {5})}, 1, f32, f16);
}

TEST_P(CudaTyped, Convolution) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32{1e-4, 1e-4}, f16{5e-2, 3e-2};
  ConvolutionParams p;
  p.strides = {2, 2};
  p.padsBegin = {1, 1};
  p.padsEnd = {1, 1};
  check(p, {data(t, {2, 3, 11, 13}), cdata(t, {8, 3, 3, 3}), cdata(t, {8})}, 1, f32, f16);
  ConvolutionParams dw;
  dw.groups = 6;
  dw.dilations = {2, 2};
  dw.padsBegin = {2, 2};
  dw.padsEnd = {2, 2};
  check(dw, {data(t, {1, 6, 9, 9}), cdata(t, {6, 1, 3, 3}), none()}, 1, f32, f16);
  ConvolutionParams g;
  g.groups = 2;
  check(g, {data(t, {2, 4, 7, 5}), data(t, {6, 2, 2, 3})}, 1, f32, f16);
  ConvolutionParams c1;
  c1.padsBegin = {1};
  c1.padsEnd = {1};
  check(c1, {data(t, {2, 4, 17}), cdata(t, {5, 4, 3}), cdata(t, {5})}, 1, f32, f16);
  ConvolutionParams c3;
  c3.padsBegin = {1, 0, 1};
  c3.padsEnd = {1, 0, 1};
  check(c3, {data(t, {1, 2, 5, 6, 7}), cdata(t, {3, 2, 3, 3, 3})}, 1, f32, f16);
  ConvolutionParams asym;
  asym.padsBegin = {0, 1};
  asym.padsEnd = {1, 0};
  check(asym, {data(t, {1, 3, 8, 9}), cdata(t, {4, 3, 3, 3})}, 1, f32, f16);
  ConvolutionParams same;
  same.paddingMode = PaddingMode::kSameUpper;
  same.strides = {2, 2};
  check(same, {data(t, {1, 3, 10, 7}), cdata(t, {4, 3, 4, 4})}, 1, f32, f16);
  // fuse_conv_activation's output clamp: ReLU with a bias, Clip without one
  ConvolutionParams relu = p;
  relu.outputMin = 0.f;
  check(relu, {data(t, {2, 3, 11, 13}), cdata(t, {8, 3, 3, 3}), cdata(t, {8})}, 1, f32, f16);
  ConvolutionParams clip;
  clip.outputMin = -0.5f;
  clip.outputMax = 1.5f;
  check(clip, {data(t, {3, 5, 7, 7}), cdata(t, {7, 5, 1, 1})}, 1, f32, f16);
}

TEST_P(CudaTyped, Deconvolution) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32{1e-4, 1e-4}, f16{5e-2, 3e-2};
  DeconvolutionParams p;
  p.strides = {2, 2};
  p.padsBegin = {1, 1};
  p.padsEnd = {1, 1};
  p.outputPadding = {1, 1};
  check(p, {data(t, {1, 4, 5, 6}), cdata(t, {4, 3, 3, 3}), cdata(t, {3})}, 1, f32, f16);
  DeconvolutionParams g;
  g.groups = 2;
  g.strides = {3, 1};
  check(g, {data(t, {2, 4, 3, 5}), cdata(t, {4, 1, 2, 3})}, 1, f32, f16);
}

TEST_P(CudaTyped, Pooling) {
  REQUIRE_GPU();
  DataType t = GetParam();
  PoolingParams mx;
  mx.kernelShape = {3, 3};
  mx.strides = {2, 2};
  mx.padsBegin = {1, 1};
  mx.padsEnd = {1, 1};
  check(mx, {data(t, {2, 3, 11, 13})});
  check(mx, {data(t, {2, 3, 11, 13})}, 2);
  PoolingParams avg = mx;
  avg.type = PoolingType::kAverage;
  check(avg, {data(t, {2, 3, 11, 13})});
  avg.countIncludePad = true;
  check(avg, {data(t, {2, 3, 11, 13})});
  PoolingParams ceil;
  ceil.type = PoolingType::kAverage;
  ceil.kernelShape = {2, 2};
  ceil.strides = {2, 2};
  ceil.ceilMode = true;
  check(ceil, {data(t, {1, 5, 7, 9})});
  PoolingParams p1;
  p1.kernelShape = {4};
  p1.strides = {3};
  check(p1, {data(t, {2, 3, 23})});
  PoolingParams g;
  g.type = PoolingType::kAverage;
  g.kernelShape = {7, 7};
  check(g, {data(t, {2, 5, 7, 7})});
  PoolingParams lp;
  lp.type = PoolingType::kLp;
  lp.kernelShape = {2, 2};
  check(lp, {data(t, {1, 2, 5, 5})});
}

TEST_P(CudaTyped, Reduce) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32{1e-4, 1e-4}, f16{3e-2, 2e-2};
  for (auto op : {ReduceOp::kSum, ReduceOp::kMean, ReduceOp::kMax, ReduceOp::kMin, ReduceOp::kL1, ReduceOp::kL2,
                  ReduceOp::kSumSquare, ReduceOp::kLogSumExp}) {
    ReduceParams p;
    p.op = op;
    p.axes = {1};
    check(p, {data(t, {3, 5, 7})}, 1, f32, f16);
    p.axes = {0, 2};
    p.keepDims = false;
    check(p, {data(t, {3, 5, 7})}, 1, f32, f16);
    p.axes = {};
    check(p, {data(t, {4, 67})}, 1, f32, f16);
    p.axes = {-1};
    check(p, {data(t, {2, 1000})}, 1, f32, f16);
  }
  ReduceParams prod;
  prod.op = ReduceOp::kProd;
  prod.axes = {1};
  check(prod, {data(t, {3, 4, 2}, 0.5, 1.5)}, 1, f32, f16);
  ReduceParams ls;
  ls.op = ReduceOp::kLogSum;
  ls.axes = {0};
  check(ls, {data(t, {5, 6}, 0.1, 2)}, 1, f32, f16);
}

TEST(Cuda, ReduceInts) {
  REQUIRE_GPU();
  ReduceParams p;
  p.axes = {1};
  check(p, {data(I32, {3, 50, 2}, -9, 9)});
  p.op = ReduceOp::kMax;
  check(p, {data(I64, {3, 50, 2}, -9, 9)});
}

TEST_P(CudaTyped, Softmax) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32{1e-6, 1e-4}, f16{5e-3, 2e-2};
  for (auto type : {SoftmaxType::kSoftmax, SoftmaxType::kLogSoftmax, SoftmaxType::kHardmax}) {
    SoftmaxParams p;
    p.type = type;
    check(p, {data(t, {5, 37}, -5, 5)}, 1, f32, f16);
    check(p, {data(t, {3, 3001}, -5, 5)}, 1, f32, f16);
    // rows that fit one warp's registers (4, 16 and 32 per lane, exact and with tails), many rows, and 1025
    for (int64_t n : {1, 128, 500, 1024, 1025}) check(p, {data(t, {3, n}, -5, 5)}, 1, f32, f16);
    check(p, {data(t, {2, 12, 37, 128}, -5, 5)}, 1, f32, f16);
    p.axis = 1;
    check(p, {data(t, {3, 7, 5}, -5, 5)}, 1, f32, f16);
    p.coerce2d = true;
    check(p, {data(t, {3, 7, 5}, -5, 5)}, 1, f32, f16);
  }
}

TEST_P(CudaTyped, Normalization) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32{1e-4, 1e-4}, f16{3e-2, 2e-2};
  NormalizationParams bn;
  check(bn, {data(t, {2, 3, 5, 5}), data(t, {3}), data(t, {3}), data(t, {3}), data(t, {3}, 0.5, 2)}, 1, f32, f16);
  NormalizationParams in;
  in.type = NormalizationType::kInstance;
  check(in, {data(t, {2, 3, 7, 5}), data(t, {3}), data(t, {3})}, 1, f32, f16);
  NormalizationParams ln;
  ln.type = NormalizationType::kLayer;
  ln.axis = -1;
  check(ln, {data(t, {4, 7, 33}), cdata(t, {33}), cdata(t, {33})}, 1, f32, f16);
  check(ln, {data(t, {2, 3, 768}), cdata(t, {768}), none()}, 1, f32, f16);
  for (int64_t n : {1, 128, 500, 1024, 1025}) check(ln, {data(t, {37, n}), cdata(t, {n}), cdata(t, {n})}, 1, f32, f16);
  ln.axis = 1;
  check(ln, {data(t, {4, 7, 9}), cdata(t, {7, 9}), cdata(t, {7, 9})}, 1, f32, f16);
  check(ln, {data(t, {4, 7, 9}), cdata(t, {9}), cdata(t, {9})}, 1, f32, f16);  // scale broadcast inside the row
  NormalizationParams gn;
  gn.type = NormalizationType::kGroup;
  gn.numGroups = 3;
  check(gn, {data(t, {2, 6, 4, 5}), data(t, {6}), data(t, {6})}, 1, f32, f16);
  NormalizationParams rms;
  rms.type = NormalizationType::kRMS;
  rms.axis = -1;
  check(rms, {data(t, {5, 129}), cdata(t, {129})}, 1, f32, f16);
  check(rms, {data(t, {3, 2000}), cdata(t, {2000})}, 1, f32, f16);
  LRNParams lrn;
  lrn.size = 3;
  check(lrn, {data(t, {2, 7, 3, 4})}, 1, f32, f16);
}

TEST_P(CudaTyped, DataMovement) {
  REQUIRE_GPU();
  DataType t = GetParam();
  check(TransposeParams{{2, 0, 1}}, {data(t, {3, 5, 7})});
  check(TransposeParams{{0, 2, 3, 1}}, {data(t, {2, 3, 5, 7})});
  check(TransposeParams{}, {data(t, {3, 4})});
  // runs contiguous on both sides move as wider elements (16, 8 or 4 bytes, or not at all)
  for (int64_t d : {8, 4, 6, 3, 64}) check(TransposeParams{{0, 2, 1, 3}}, {data(t, {2, 5, 3, d})});
  check(ConcatenationParams{1}, {data(t, {2, 3, 4}), data(t, {2, 5, 4}), data(t, {2, 0, 4})});
  check(ConcatenationParams{-1}, {data(t, {3, 1}), data(t, {3, 6})});
  check(SliceParams{}, {data(t, {7, 9}), ints({1, -1}), ints({6, 0}), ints({0, 1}), ints({2, -2})});
  check(SelectParams{}, {data(BOOL, {2, 1, 1, 9}), data(t, {2, 12, 7, 9}), data(t, {})});  // BERT mask shape
  check(SelectParams{}, {data(BOOL, {5, 6}), data(t, {5, 6}), data(t, {5, 6})});
  check(SliceParams{}, {data(t, {5, 6, 7}), ints({2}), ints({1000}), ints({-1}), none()});
  SplitParams sp;
  sp.axis = 1;
  check(sp, {data(t, {2, 7, 3}), ints({2, 4, 1})}, 3);
  check(ExpandParams{}, {data(t, {3, 1}), ints({2, 3, 4})});
  check(TileParams{}, {data(t, {2, 3}), ints({2, 3})});
  check(SelectParams{}, {data(BOOL, {3, 1}), data(t, {3, 4}), data(t, {4})});
  for (auto mode : {PadMode::kConstant, PadMode::kReflect, PadMode::kEdge, PadMode::kWrap}) {
    PaddingParams pp;
    pp.mode = mode;
    check(pp, {data(t, {3, 4, 5}), ints({0, 1, 2, 0, 2, 1})});
  }
  check(PaddingParams{}, {data(t, {3, 4}), ints({1, -1, 0, 2}), scalar(1.5, t)});
  SpaceDepthParams d2s;
  d2s.blockSize = 2;
  check(d2s, {data(t, {1, 8, 3, 5})});
  d2s.crd = true;
  check(d2s, {data(t, {2, 8, 3, 2})});
  d2s.toDepth = true;
  d2s.crd = false;
  check(d2s, {data(t, {1, 3, 4, 6})});
  TriluParams tr;
  check(tr, {data(t, {2, 5, 7}), scalar(1, I64)});
  tr.upper = false;
  check(tr, {data(t, {5, 4}), scalar(-1, I64)});
  check(IdentityParams{}, {data(t, {3, 7})});
  ReshapeParams rp;
  rp.mode = ReshapeMode::kFlatten;
  check(rp, {data(t, {3, 7, 2})});
}

TEST_P(CudaTyped, GatherScatter) {
  REQUIRE_GPU();
  DataType t = GetParam();
  GatherParams g;
  g.axis = 1;
  check(g, {data(t, {3, 7, 4}), data(I64, {2, 5}, -7, 7)});
  g.axis = 0;
  check(g, {data(t, {9, 4}), data(I32, {6}, 0, 9)});
  GatherParams ge;
  ge.mode = GatherMode::kElements;
  ge.axis = 1;
  check(ge, {data(t, {3, 7}), data(I64, {3, 4}, -7, 7)});
  GatherParams gnd;
  gnd.mode = GatherMode::kND;
  check(gnd, {data(t, {4, 5, 3}), data(I64, {6, 2}, 0, 4)});
  ScatterParams se;
  se.axis = 1;
  check(se, {data(t, {3, 7}), In{I64, {3, 2}, true, {0, 3, 6, 1, 2, 5}}, data(t, {3, 2})}, 1);
  ScatterParams sa = se;
  sa.reduction = ScatterReduction::kAdd;
  check(sa, {data(t, {3, 7}), In{I64, {3, 2}, true, {0, 0, 6, 6, -1, 2}}, data(t, {3, 2})}, 1);
  ScatterParams sm = se;
  sm.reduction = ScatterReduction::kMax;
  check(sm, {data(t, {3, 7}), In{I64, {3, 2}, true, {1, 1, 4, 4, 0, 6}}, data(t, {3, 2})}, 1);
  ScatterParams snd;
  snd.mode = ScatterMode::kND;
  check(snd, {data(t, {5, 4}), In{I64, {2, 1}, true, {4, 0}}, data(t, {2, 4})}, 1);
  check(snd, {data(t, {3, 4}), In{I64, {3, 2}, true, {0, 1, 2, 3, 1, 0}}, data(t, {3})}, 1);
}

TEST_P(CudaTyped, ResizeTopKAndMore) {
  REQUIRE_GPU();
  DataType t = GetParam();
  ResizeParams rn;
  check(rn, {data(t, {1, 2, 5, 7}), none(), In{F32, {4}, true, {1, 1, 2, 1.5}}});
  ResizeParams rl;
  rl.mode = ResizeMode::kLinear;
  check(rl, {data(t, {1, 2, 5, 7}), none(), none(), ints({1, 2, 9, 4})});
  rl.coordinateTransform = ResizeCoordinateTransform::kAlignCorners;
  check(rl, {data(t, {2, 3, 4, 4}), none(), none(), ints({2, 3, 7, 9})});
  rl.coordinateTransform = ResizeCoordinateTransform::kAsymmetric;
  check(rl, {data(t, {1, 1, 6}), none(), In{F32, {3}, true, {1, 1, 0.5}}});
  TopKParams tk;
  check(tk, {data(t, {3, 37}), ints({5})}, 2);
  tk.axis = 0;
  tk.largest = false;
  check(tk, {data(t, {41, 3}), ints({41})}, 2);
  TopKParams big;
  check(big, {data(t, {2, 5000}), ints({7})}, 2);
  ArgMinMaxParams am;
  am.axis = 1;
  check(am, {data(t, {4, 33, 2})});
  am.max = false;
  am.keepDims = false;
  check(am, {data(t, {4, 33})});
  CumSumParams cs;
  check(cs, {data(t, {5, 9}), scalar(1, I64)}, 1, {1e-5, 1e-4}, {3e-2, 2e-2});
  cs.exclusive = true;
  cs.reverse = true;
  check(cs, {data(t, {5, 9}), scalar(0, I32)}, 1, {1e-5, 1e-4}, {3e-2, 2e-2});
  CastParams c;
  c.to = t == F32 ? F16 : F32;
  check(c, {data(t, {7, 3})});
  c.to = I32;
  check(c, {data(t, {31}, -100, 100)});
  c.to = BOOL;
  check(c, {data(t, {31})});
}

TEST(Cuda, IntegerLayers) {
  REQUIRE_GPU();
  CastParams c;
  c.to = F16;
  check(c, {data(I64, {17}, -1000, 1000)});
  c.to = I32;
  check(c, {data(BOOL, {17})});
  check(RangeParams{}, {scalar(3, I64), scalar(40, I64), scalar(4, I64)});
  check(RangeParams{}, {scalar(1.5, F32), scalar(-3, F32), scalar(-0.25, F32)});
  ConstantOfShapeParams cos;
  float v = 2.5f;
  cos.value = Weights::copyOf(F32, {1}, &v);
  check(cos, {ints({3, 5})});
  check(ShapeParams{}, {data(F32, {3, 5, 7})});
  ShapeParams sp;
  sp.start = 1;
  sp.end = -1;
  check(sp, {data(F32, {3, 5, 7, 2})});
  OneHotParams oh;
  check(oh, {data(I64, {2, 5}, 0, 6), scalar(6, I64), In{F32, {2}, true, {0.5, 3}}});
  check(GatherParams{}, {data(I64, {5, 3}, -9, 9), data(I64, {4}, 0, 5)});
  check(TransposeParams{{1, 0}}, {data(BOOL, {5, 3})});
  QuantizeParams q;
  q.outputType = DataType::kUInt8;
  check(q, {data(F32, {2, 3, 4}, -3, 3), In{F32, {}, true, {0.05}}, In{DataType::kUInt8, {}, true, {128}}});
  DequantizeParams dq;
  dq.axis = 1;
  check(dq, {data(DataType::kInt8, {2, 3, 4}, -100, 100), In{F32, {3}, true, {0.1, 0.2, 0.05}}, none()});
}

TEST(Cuda, UnsupportedIsReported) {
  ir::Network net;
  auto* x = net.addInput("x", F32, {3, 4});
  auto* layer = static_cast<ir::Layer*>(net.addLayer(NonZeroParams{}, {x}));
  EXPECT_FALSE(cuda::unsupportedReason(*layer).empty());
  auto* ok = static_cast<ir::Layer*>(net.addLayer(ActivationParams{}, {x}));
  EXPECT_TRUE(cuda::unsupportedReason(*ok).empty());
}


// float16 variants of the layers whose CUDA kernels take float16 outside the typed suites above
// (mixed-type layers: quantization, generators, one-hot values, casts from float16).
TEST(Cuda, Float16MixedTypeLayers) {
  REQUIRE_GPU();
  Tol exact{0, 0}, half{1e-3, 1e-3};
  QuantizeParams q;
  q.outputType = DataType::kInt8;
  q.axis = 1;
  // tolerance 1: a quotient at a .5 tie may round either way in float32 on the two sides
  check(q, {data(F16, {2, 3, 5}, -3, 3), In{F16, {3}, true, {0.0625, 0.125, 0.25}}, none()}, 1, exact, {1.0, 0});
  DequantizeParams dq;
  check(dq, {data(DataType::kInt8, {4, 7}, -100, 100), In{F16, {}, true, {0.125}}, none()}, 1, exact, half);
  check(RangeParams{}, {scalar(0.5, F16), scalar(7, F16), scalar(0.25, F16)}, 1, exact, {2e-3, 1e-3});
  ConstantOfShapeParams cos;
  uint16_t v = floatToHalf(-1.5f);
  cos.value = Weights::copyOf(F16, {1}, &v);
  check(cos, {ints({4, 3})}, 1, exact, exact);
  OneHotParams oh;
  check(oh, {data(I64, {3, 4}, 0, 5), scalar(5, I64), In{F16, {2}, true, {-1, 2.5}}}, 1, exact, exact);
  CastParams c;
  for (DataType to : {I64, DataType::kInt8, BOOL}) {
    c.to = to;
    check(c, {data(F16, {5, 13}, -50, 50)}, 1, exact, exact);
  }
}

// ---- engines on the GPU: fp16 builds and CUDA graphs ---------------------------------------------

// y = softmax(layernorm(relu(x @ W + b))), x [batch, 24]
std::unique_ptr<NetworkDefinition> smallMlp(bool withCpuLayer = false) {
  auto net = Builder().createNetwork();
  ITensor* x = net->addInput("x", F32, {-1, 24}, {"batch"});
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<float> w(24 * 16), b(16), scale(16, 1.25f), shift(16, 0.1f);
  for (auto& e : w) e = u(rng);
  for (auto& e : b) e = u(rng);
  ITensor* h = net->addActivation(
      net->addElementWise(net->addMatrixMultiply(x, false, net->addConstant(Weights::copyOf(F32, {24, 16}, w.data())),
                                                 false),
                          net->addConstant(Weights::copyOf(F32, {16}, b.data())), ElementWiseOp::kAdd),
      ActivationType::kRelu);
  NormalizationParams ln;
  ln.type = NormalizationType::kLayer;
  ln.axis = -1;
  h = net->addLayer(ln, {h, net->addConstant(Weights::copyOf(F32, {16}, scale.data())),
                         net->addConstant(Weights::copyOf(F32, {16}, shift.data()))})->output(0);
  if (withCpuLayer) {  // h + zero-width uniform noise: Random runs on the CPU between device layers
    RandomParams noise;
    noise.a = noise.b = 0.f;
    noise.hasSeed = true;
    h = net->addElementWise(h, net->addLayer(noise, {h})->output(0), ElementWiseOp::kAdd);
  }
  ITensor* y = net->addSoftmax(h, -1);
  y->setName("y");
  net->markOutput(y);
  return net;
}

std::shared_ptr<Engine> buildMlp(const std::string& device, bool fp16, bool withCpuLayer = false,
                                 BuildSummary* summary = nullptr) {
  BuilderConfig config;
  config.device = device;
  config.fp16 = fp16;
  config.profile.setDimensions("x", {1, 24}, {8, 24}, {64, 24});
  auto net = smallMlp(withCpuLayer);
  std::vector<uint8_t> plan = Builder().buildSerializedNetwork(*net, config, summary);
  return Runtime().deserializeEngine(plan.data(), plan.size());
}

std::vector<float> runOnHost(const Engine& engine, const std::vector<float>& x) {
  auto context = engine.createExecutionContext();
  int64_t batch = static_cast<int64_t>(x.size() / 24);
  std::vector<float> y(static_cast<size_t>(batch) * 16, NAN);
  context->setInputShape("x", {batch, 24});
  context->setTensorAddress("x", const_cast<float*>(x.data()));
  context->setTensorAddress("y", y.data());
  context->execute();
  return y;
}

std::vector<float> randomInput(int64_t batch, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  std::vector<float> x(static_cast<size_t>(batch) * 24);
  for (auto& e : x) e = u(rng);
  return x;
}

#define CUDA_OK(call) ASSERT_EQ((call), cudaSuccess) << #call

TEST(CudaEngine, Fp16BuildMatchesCpuFloat32) {
  REQUIRE_GPU();
  BuildSummary summary;
  auto fp16 = buildMlp("cuda", true, false, &summary);
  EXPECT_EQ(summary.reducedPrecisionLayers, 4);  // MatMul (with its bias Add fused), Relu, LayerNorm, Softmax
  EXPECT_EQ(summary.castsInserted, 2);
  EXPECT_TRUE(summary.fallbackLayers.empty());
  EXPECT_EQ(fp16->tensorDataType("y"), F32);
  auto reference = buildMlp("cpu", false);
  std::vector<float> x = randomInput(13, 5);
  std::vector<float> got = runOnHost(*fp16, x), want = runOnHost(*reference, x);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-2 + 2e-2 * std::fabs(want[i])) << i;
}

// Captures enqueue once into a CUDA graph, replays it on new input data, and compares with execute().
TEST(CudaEngine, EnqueueCapturedIntoGraphReplaysWithSameResults) {
  REQUIRE_GPU();
  for (bool fp16 : {false, true}) {
    SCOPED_TRACE(fp16 ? "fp16" : "fp32");
    auto engine = buildMlp("cuda", fp16);
    auto context = engine->createExecutionContext();
    const int64_t batch = 11;
    size_t xBytes = batch * 24 * sizeof(float), yBytes = batch * 16 * sizeof(float);
    void *dx = nullptr, *dy = nullptr;
    CUDA_OK(cudaMalloc(&dx, xBytes));
    CUDA_OK(cudaMalloc(&dy, yBytes));
    cudaStream_t stream = nullptr;
    CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    context->setInputShape("x", {batch, 24});
    context->setTensorAddress("x", dx);
    context->setTensorAddress("y", dy);
    std::vector<float> x1 = randomInput(batch, 1), x2 = randomInput(batch, 2), y(batch * 16);
    CUDA_OK(cudaMemcpy(dx, x1.data(), xBytes, cudaMemcpyHostToDevice));
    context->enqueue(stream);  // plans memory outside the capture
    CUDA_OK(cudaStreamSynchronize(stream));

    CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    context->enqueue(stream);
    cudaGraph_t graph = nullptr;
    CUDA_OK(cudaStreamEndCapture(stream, &graph));
    cudaGraphExec_t exec = nullptr;
    CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));

    for (const std::vector<float>* x : {&x2, &x1, &x2}) {
      CUDA_OK(cudaMemcpyAsync(dx, x->data(), xBytes, cudaMemcpyHostToDevice, stream));
      CUDA_OK(cudaMemsetAsync(dy, 0xff, yBytes, stream));  // poison
      CUDA_OK(cudaGraphLaunch(exec, stream));
      CUDA_OK(cudaMemcpyAsync(y.data(), dy, yBytes, cudaMemcpyDeviceToHost, stream));
      CUDA_OK(cudaStreamSynchronize(stream));
      std::vector<float> want = runOnHost(*engine, *x);
      for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], want[i], 1e-6) << i;  // same kernels and tactics
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(stream);
    cudaFree(dx);
    cudaFree(dy);
  }
}

TEST(CudaEngine, CaptureWithCpuLayersOrPendingReshapeIsRefused) {
  REQUIRE_GPU();
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  void *dx = nullptr, *dy = nullptr;
  CUDA_OK(cudaMalloc(&dx, 4 * 24 * sizeof(float)));
  CUDA_OK(cudaMalloc(&dy, 4 * 16 * sizeof(float)));
  auto tryCapture = [&](ExecutionContext& context) -> std::string {
    EXPECT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
    std::string message;
    try {
      context.enqueue(stream);
    } catch (const Error& e) {
      message = e.what();
    }
    cudaGraph_t graph = nullptr;
    cudaStreamEndCapture(stream, &graph);
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    return message;
  };
  {
    auto engine = buildMlp("cuda", false, /*withCpuLayer=*/true);
    auto context = engine->createExecutionContext();
    context->setInputShape("x", {4, 24});
    context->setTensorAddress("x", dx);
    context->setTensorAddress("y", dy);
    context->enqueue(stream);
    CUDA_OK(cudaStreamSynchronize(stream));
    std::string message = tryCapture(*context);
    EXPECT_NE(message.find("runs on the CPU"), std::string::npos) << message;
  }
  {
    auto engine = buildMlp("cuda", false);
    auto context = engine->createExecutionContext();
    context->setInputShape("x", {4, 24});
    context->setTensorAddress("x", dx);
    context->setTensorAddress("y", dy);
    std::string message = tryCapture(*context);  // no enqueue since the shape was set
    EXPECT_NE(message.find("run enqueue once"), std::string::npos) << message;
  }
  cudaStreamDestroy(stream);
  cudaFree(dx);
  cudaFree(dy);
}

}  // namespace
}  // namespace kiln
