// NaN propagation of the CUDA kernels against the CPU reference (which tests/cpu_kernels/
// test_nan_propagation.cpp pins to ONNX Runtime / numpy): MaxPool (values and indices), GlobalMaxPool and
// the reductions, ArgMax / ArgMin, TopK (both the sort and the select path), element-wise Max / Min,
// Clip, Relu, HardSigmoid, Celu, Softmax, and a recurrent cell. Inputs hold NaN in every pattern: none,
// one, two, a whole row or plane. fp32 and fp16. Skips when no GPU is present (but always compiles).
#include <limits>

#include "core/error.h"
#include "cuda/cuda_kernel_check.h"

namespace kiln {
namespace {

using namespace cuda_test;

class CudaNanPropagation : public ::testing::TestWithParam<DataType> {};
INSTANTIATE_TEST_SUITE_P(Float, CudaNanPropagation, ::testing::Values(F32, F16), [](const auto& info) {
  return std::string(dataTypeName(info.param));
});

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Seeded values in [-2, 2] for `rows` rows of `length`; row r holds, by r % 4: no NaN; one NaN at a
// row-dependent place; only NaN; NaN at a row-dependent place and at the end.
std::vector<double> rowsWithNaN(int64_t rows, int64_t length, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-2, 2);
  std::vector<double> v(static_cast<size_t>(rows * length));
  for (auto& x : v) x = u(rng);
  for (int64_t r = 0; r < rows; ++r) {
    double* row = v.data() + r * length;
    switch (r % 4) {
      case 1: row[(r * 7) % length] = kNaN; break;
      case 2: std::fill(row, row + length, kNaN); break;
      case 3: row[(r * 5) % length] = kNaN; row[length - 1] = kNaN; break;
      default: break;
    }
  }
  return v;
}

// A constant input (values are given only through Constant layers) of `shape`, NaN patterns per row of
// the last `rowDims` dims.
In nanInput(DataType t, Dims shape, size_t rowDims = 1, unsigned seed = 3) {
  int64_t length = 1;
  for (size_t i = shape.size() - rowDims; i < shape.size(); ++i) length *= shape[i];
  return In{t, shape, true, rowsWithNaN(volume(shape) / length, length, seed)};
}

TEST_P(CudaNanPropagation, MaxPool) {
  REQUIRE_GPU();
  DataType t = GetParam();
  PoolingParams p;
  p.kernelShape = {3, 3};
  p.strides = {2, 2};
  p.padsBegin = {1, 1};
  p.padsEnd = {1, 1};
  check(p, {nanInput(t, {2, 4, 7, 9}, 2)});     // NaN per plane: whole NaN planes give all-NaN windows
  check(p, {nanInput(t, {2, 4, 7, 9}, 2)}, 2);  // with indices: the first NaN's
  check(p, {nanInput(t, {2, 4, 7, 9}, 1)}, 2);  // NaN per image row
  PoolingParams p1;
  p1.kernelShape = {4};
  p1.strides = {3};
  check(p1, {nanInput(t, {2, 4, 23})}, 2);
}

TEST_P(CudaNanPropagation, GlobalMaxPoolAndReductions) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32{1e-4, 1e-4}, f16{3e-2, 2e-2};
  ReduceParams global;
  global.op = ReduceOp::kMax;
  global.axes = {2, 3};
  check(global, {nanInput(t, {2, 4, 5, 7}, 2)}, 1, f32, f16);
  for (auto op : {ReduceOp::kSum, ReduceOp::kMean, ReduceOp::kMax, ReduceOp::kMin, ReduceOp::kL1, ReduceOp::kL2,
                  ReduceOp::kSumSquare, ReduceOp::kLogSumExp}) {
    SCOPED_TRACE(reduceOpName(op));
    ReduceParams p;
    p.op = op;
    p.axes = {-1};
    check(p, {nanInput(t, {8, 67})}, 1, f32, f16);   // rows across the warp's lanes
    check(p, {nanInput(t, {8, 1000})}, 1, f32, f16);
  }
}

TEST_P(CudaNanPropagation, ArgMaxAndArgMin) {
  REQUIRE_GPU();
  DataType t = GetParam();
  for (bool max : {true, false})
    for (bool last : {false, true}) {
      SCOPED_TRACE(concat(max ? "ArgMax" : "ArgMin", last ? " last" : " first"));
      ArgMinMaxParams p;
      p.max = max;
      p.selectLastIndex = last;
      p.axis = 1;
      check(p, {nanInput(t, {8, 70})});
      check(p, {nanInput(t, {8, 5})});
    }
}

TEST_P(CudaNanPropagation, TopK) {
  REQUIRE_GPU();
  DataType t = GetParam();
  for (bool largest : {true, false}) {
    SCOPED_TRACE(largest ? "largest" : "smallest");
    TopKParams p;
    p.largest = largest;
    check(p, {nanInput(t, {8, 37}), ints({5})}, 2);      // bitonic sort in shared memory
    check(p, {nanInput(t, {8, 37}), ints({37})}, 2);     // the whole row
    check(p, {nanInput(t, {4, 3000}), ints({7})}, 2);    // k rounds of selection
  }
}

TEST_P(CudaNanPropagation, ElementWiseMaxAndMin) {
  REQUIRE_GPU();
  DataType t = GetParam();
  for (ElementWiseOp op : {ElementWiseOp::kMax, ElementWiseOp::kMin}) {
    SCOPED_TRACE(elementWiseOpName(op));
    check(ElementWiseParams{op}, {nanInput(t, {8, 9}, 1, 3), nanInput(t, {8, 9}, 1, 4)});
    check(ElementWiseParams{op}, {nanInput(t, {8, 9}), In{t, {1}, true, {kNaN}}});
  }
}

TEST_P(CudaNanPropagation, ClipReluHardSigmoidCelu) {
  REQUIRE_GPU();
  DataType t = GetParam();
  for (ActivationParams p : {ActivationParams{ActivationType::kRelu, 0.f, 0.f},
                             ActivationParams{ActivationType::kClip, -0.5f, 1.f},
                             ActivationParams{ActivationType::kHardSigmoid, 0.2f, 0.5f},
                             ActivationParams{ActivationType::kCelu, 1.5f, 0.f}}) {
    SCOPED_TRACE(activationTypeName(p.type));
    check(p, {nanInput(t, {8, 33})});
  }
}

TEST_P(CudaNanPropagation, Softmax) {
  REQUIRE_GPU();
  DataType t = GetParam();
  for (SoftmaxType type : {SoftmaxType::kSoftmax, SoftmaxType::kLogSoftmax}) {
    SoftmaxParams p;
    p.type = type;
    check(p, {nanInput(t, {8, 33})}, 1, {1e-5, 1e-4}, {3e-2, 2e-2});    // one warp per row
    check(p, {nanInput(t, {8, 3000})}, 1, {1e-5, 1e-4}, {3e-2, 2e-2});  // one block per row
    p.axis = 0;
    check(p, {nanInput(t, {8, 33})}, 1, {1e-5, 1e-4}, {3e-2, 2e-2});    // strided axis
  }
}

// A NaN in x reaches the gates through the clip (the infinite default used to turn it into a number).
TEST_P(CudaNanPropagation, RecurrentCells) {
  REQUIRE_GPU();
  DataType t = GetParam();
  for (RecurrentCell cell : {RecurrentCell::kRNN, RecurrentCell::kGRU, RecurrentCell::kLSTM}) {
    SCOPED_TRACE(static_cast<int>(cell));
    RecurrentParams p;
    p.cell = cell;
    p.hiddenSize = 5;
    const int64_t gh = recurrentGates(cell) * 5;
    // x [seq 3, batch 4, input 3]: batch entries 1, 2 and 3 hold NaN at every step, entry 0 none.
    check(p, {nanInput(t, {3, 4, 3}), cdata(t, {1, gh, 3}, -0.6, 0.6), cdata(t, {1, gh, 5}, -0.6, 0.6)},
          cell == RecurrentCell::kLSTM ? 3 : 2, {1e-5, 1e-4}, {3e-2, 2e-2});
  }
}

}  // namespace
}  // namespace kiln
