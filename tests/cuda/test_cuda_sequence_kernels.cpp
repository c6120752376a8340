// CUDA Recurrent (RNN / GRU / LSTM), DFT and STFT kernels against the CPU reference: every cell and
// direction, odd sizes, masked sequence lengths, initial states, peepholes, clip, the GRU / LSTM options,
// every activation, layout 1, omitted inputs and outputs; DFT and STFT over real / complex signals, odd and
// prime lengths, padding / truncation, axes, windows. fp32 tolerances are tight; fp16 ones allow for the
// fp16 rounding of the outputs (both sides compute in fp32 or better). Skips when no GPU is present.
#include "core/error.h"
#include "cuda/cuda_kernel_check.h"

namespace kiln {
namespace {

using namespace cuda_test;

class CudaRecurrentTyped : public ::testing::TestWithParam<DataType> {};
INSTANTIATE_TEST_SUITE_P(Float, CudaRecurrentTyped, ::testing::Values(F32, F16), [](const auto& info) {
  return std::string(dataTypeName(info.param));
});
class CudaSpectralTyped : public ::testing::TestWithParam<DataType> {};
INSTANTIATE_TEST_SUITE_P(Float, CudaSpectralTyped, ::testing::Values(F32, F16), [](const auto& info) {
  return std::string(dataTypeName(info.param));
});

// ---- Recurrent ----------------------------------------------------------------------------------

constexpr RecurrentCell kCells[] = {RecurrentCell::kRNN, RecurrentCell::kGRU, RecurrentCell::kLSTM};
constexpr RecurrentDirection kDirections[] = {RecurrentDirection::kForward, RecurrentDirection::kReverse,
                                              RecurrentDirection::kBidirectional};

// fp32: the two sides differ only in the order of float additions; fp16: plus one rounding of each output.
const Tol kRecurrent32{2e-5, 2e-4}, kRecurrent16{3e-3, 3e-3};

RecurrentParams recurrent(RecurrentCell cell, RecurrentDirection direction, int64_t hidden) {
  RecurrentParams p;
  p.cell = cell;
  p.direction = direction;
  p.hiddenSize = hidden;
  return p;
}

int64_t directionsOf(const RecurrentParams& p) { return p.direction == RecurrentDirection::kBidirectional ? 2 : 1; }

// Which optional inputs a case gives (the others are omitted).
struct RecurrentInputs {
  bool bias = true;
  std::vector<double> lengths = {};  // constant sequence lengths; empty: none
  DataType lengthType = I32;
  bool runtimeLengths = false;  // random lengths in [0, seq] as a network input instead
  bool initialH = false, initialC = false, peephole = false;
  bool constantWeights = false;  // w, r, bias as Constant layers (uploaded / converted at kernel creation)
};

// x, w, r, bias, sequence lengths, initial h, initial c, peephole (LSTM) as the case asks; trailing omitted
// inputs are dropped, inner ones are none().
std::vector<In> recurrentInputs(const RecurrentParams& p, DataType t, int64_t seq, int64_t batch, int64_t input,
                                const RecurrentInputs& o) {
  const int64_t dirs = directionsOf(p), gh = recurrentGates(p.cell) * p.hiddenSize, h = p.hiddenSize;
  // Weights in [-0.6, 0.6] keep the unbounded activations (relu, affine, softplus...) in range over the steps.
  auto weight = [&](Dims s) {
    return o.constantWeights ? cdata(t, std::move(s), -0.6, 0.6) : data(t, std::move(s), -0.6, 0.6);
  };
  const Dims state = p.batchFirst ? Dims{batch, dirs, h} : Dims{dirs, batch, h};
  std::vector<In> ins{data(t, p.batchFirst ? Dims{batch, seq, input} : Dims{seq, batch, input}),
                      weight({dirs, gh, input}), weight({dirs, gh, h})};
  ins.push_back(o.bias ? weight({dirs, 2 * gh}) : none());
  if (o.runtimeLengths)
    ins.push_back(data(o.lengthType, {batch}, 0, static_cast<double>(seq) + 1));
  else
    ins.push_back(o.lengths.empty() ? none() : ints(o.lengths, o.lengthType));
  ins.push_back(o.initialH ? data(t, state) : none());
  if (p.cell == RecurrentCell::kLSTM) {
    ins.push_back(o.initialC ? data(t, state) : none());
    ins.push_back(o.peephole ? weight({dirs, 3 * h}) : none());
  }
  while (ins.size() > 3 && ins.back().omitted) ins.pop_back();
  return ins;
}

int outputsOf(const RecurrentParams& p) { return p.cell == RecurrentCell::kLSTM ? 3 : 2; }

void checkRecurrent(const RecurrentParams& p, DataType t, int64_t seq, int64_t batch, int64_t input,
                    const RecurrentInputs& o = {}, int numOutputs = 0, Tol tol32 = kRecurrent32,
                    Tol tol16 = kRecurrent16) {
  SCOPED_TRACE(concat("cell ", static_cast<int>(p.cell), " direction ", static_cast<int>(p.direction), " seq ", seq,
                      " batch ", batch, " input ", input, " hidden ", p.hiddenSize, " layout ", p.batchFirst ? 1 : 0));
  check(p, recurrentInputs(p, t, seq, batch, input, o), numOutputs ? numOutputs : outputsOf(p), tol32, tol16);
}

// The heuristic-rank variants of cuda.recurrent.cublaslt run every GEMM of the layer (the input projection,
// the step GEMMs, GRU's reset GEMM) with another cuBLASLt algorithm: the results must not change. heur32 is
// beyond any heuristic list for these small problems, so it also covers the fall-back to the last algorithm.
TEST_P(CudaRecurrentTyped, CublasLtHeuristicRanks) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (const char* tactic : {"cuda.recurrent.cublaslt.heur1", "cuda.recurrent.cublaslt.heur3",
                             "cuda.recurrent.cublaslt.heur32"}) {
    SCOPED_TRACE(tactic);
    RecurrentParams lstm = recurrent(RecurrentCell::kLSTM, RecurrentDirection::kBidirectional, 5);
    checkTactic(tactic, lstm, recurrentInputs(lstm, t, 4, 3, 7, {}), outputsOf(lstm), kRecurrent32, kRecurrent16);
    RecurrentParams gru = recurrent(RecurrentCell::kGRU, RecurrentDirection::kForward, 9);  // reset before the GEMM
    checkTactic(tactic, gru, recurrentInputs(gru, t, 5, 2, 6, {.constantWeights = true}), outputsOf(gru),
                kRecurrent32, kRecurrent16);
  }
}

TEST_P(CudaRecurrentTyped, EveryCellAndDirection) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (RecurrentCell cell : kCells)
    for (RecurrentDirection direction : kDirections) {
      RecurrentParams p = recurrent(cell, direction, 5);
      checkRecurrent(p, t, 4, 3, 7);                        // odd batch, with bias
      checkRecurrent(p, t, 6, 1, 3, {.bias = false});       // batch 1, no bias
      checkRecurrent(recurrent(cell, direction, 1), t, 3, 2, 1);  // hidden 1, input 1
      checkRecurrent(p, t, 1, 4, 6);                        // one step
    }
}

TEST_P(CudaRecurrentTyped, SequenceLengthsMaskSteps) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (RecurrentCell cell : kCells)
    for (RecurrentDirection direction : kDirections) {
      RecurrentParams p = recurrent(cell, direction, 7);
      // shorter than seq for some entries, 0 (zero final states) and full for others
      checkRecurrent(p, t, 5, 5, 4, {.lengths = {5, 2, 0, 1, 5}});
      checkRecurrent(p, t, 5, 5, 4, {.lengths = {3, 5, 1, 0, 4}, .lengthType = I64, .initialH = true,
                                      .initialC = true});
      checkRecurrent(p, t, 6, 3, 5, {.runtimeLengths = true, .initialH = true});
      p.batchFirst = true;
      checkRecurrent(p, t, 5, 5, 4, {.lengths = {2, 5, 0, 4, 1}, .initialH = true, .initialC = true});
    }
}

TEST_P(CudaRecurrentTyped, InitialStatesAndPeepholes) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (RecurrentDirection direction : kDirections) {
    for (RecurrentCell cell : {RecurrentCell::kRNN, RecurrentCell::kGRU})
      checkRecurrent(recurrent(cell, direction, 6), t, 4, 3, 5, {.initialH = true});
    RecurrentParams lstm = recurrent(RecurrentCell::kLSTM, direction, 9);
    checkRecurrent(lstm, t, 4, 3, 5, {.initialH = true, .initialC = true});
    checkRecurrent(lstm, t, 4, 3, 5, {.initialC = true, .peephole = true});  // c only: h starts at 0
    checkRecurrent(lstm, t, 5, 3, 5, {.lengths = {5, 3, 1}, .initialH = true, .initialC = true, .peephole = true});
    checkRecurrent(lstm, t, 3, 2, 4, {.bias = false, .peephole = true});
  }
}

TEST_P(CudaRecurrentTyped, ClipBoundsTheGateInputs) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (RecurrentCell cell : kCells)
    for (RecurrentDirection direction : {RecurrentDirection::kForward, RecurrentDirection::kBidirectional}) {
      RecurrentParams p = recurrent(cell, direction, 5);
      p.clip = 0.4f;
      checkRecurrent(p, t, 4, 3, 6, {.initialH = true, .initialC = true, .peephole = true});
      p.clip = 1.5f;
      checkRecurrent(p, t, 4, 3, 6, {.lengths = {4, 2, 3}});
    }
}

TEST_P(CudaRecurrentTyped, GruLinearBeforeReset) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (RecurrentDirection direction : kDirections) {
    RecurrentParams p = recurrent(RecurrentCell::kGRU, direction, 7);
    p.linearBeforeReset = true;
    checkRecurrent(p, t, 5, 3, 4);
    checkRecurrent(p, t, 5, 3, 4, {.bias = false});
    checkRecurrent(p, t, 5, 4, 4, {.lengths = {5, 1, 0, 3}, .initialH = true});
    p.batchFirst = true;
    checkRecurrent(p, t, 4, 3, 6, {.lengths = {2, 4, 3}, .initialH = true});
  }
}

TEST_P(CudaRecurrentTyped, LstmInputForget) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (RecurrentDirection direction : kDirections) {
    RecurrentParams p = recurrent(RecurrentCell::kLSTM, direction, 6);
    p.inputForget = true;
    checkRecurrent(p, t, 4, 3, 5);
    checkRecurrent(p, t, 4, 3, 5, {.lengths = {1, 4, 2}, .initialH = true, .initialC = true, .peephole = true});
  }
}

TEST_P(CudaRecurrentTyped, EveryActivationWithAlphaAndBeta) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  using A = RecurrentActivation;
  struct F { A type; float alpha, beta; };
  // Per cell: one list per direction (forward, reverse), so the two directions differ.
  auto set = [](RecurrentParams& p, std::vector<F> fns) {
    for (const F& f : fns) {
      p.activations.push_back(f.type);
      p.activationAlpha.push_back(f.alpha);
      p.activationBeta.push_back(f.beta);
    }
  };
  RecurrentParams rnn = recurrent(RecurrentCell::kRNN, RecurrentDirection::kBidirectional, 5);
  set(rnn, {{A::kLeakyRelu, 0.1f, 0}, {A::kScaledTanh, 0.8f, 1.3f}});
  checkRecurrent(rnn, t, 4, 3, 6, {.lengths = {4, 2, 3}, .initialH = true});
  RecurrentParams rnn2 = recurrent(RecurrentCell::kRNN, RecurrentDirection::kBidirectional, 5);
  set(rnn2, {{A::kRelu, 0, 0}, {A::kAffine, 0.5f, 0.2f}});
  checkRecurrent(rnn2, t, 4, 3, 6);
  RecurrentParams rnn3 = recurrent(RecurrentCell::kRNN, RecurrentDirection::kForward, 5);
  set(rnn3, {{A::kThresholdedRelu, 0.3f, 0}});
  checkRecurrent(rnn3, t, 4, 3, 6);
  RecurrentParams gru = recurrent(RecurrentCell::kGRU, RecurrentDirection::kBidirectional, 6);
  set(gru, {{A::kHardSigmoid, 0.2f, 0.5f}, {A::kSoftsign, 0, 0}, {A::kSigmoid, 0, 0}, {A::kElu, 0.7f, 0}});
  checkRecurrent(gru, t, 4, 3, 5, {.initialH = true});
  gru.linearBeforeReset = true;
  checkRecurrent(gru, t, 4, 3, 5, {.initialH = true});
  RecurrentParams lstm = recurrent(RecurrentCell::kLSTM, RecurrentDirection::kBidirectional, 6);
  set(lstm, {{A::kSigmoid, 0, 0}, {A::kSoftplus, 0, 0}, {A::kTanh, 0, 0},
             {A::kHardSigmoid, 0.3f, 0.4f}, {A::kTanh, 0, 0}, {A::kSoftsign, 0, 0}});
  checkRecurrent(lstm, t, 4, 3, 5, {.initialH = true, .initialC = true, .peephole = true});
}

TEST_P(CudaRecurrentTyped, Layout1) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (RecurrentCell cell : kCells)
    for (RecurrentDirection direction : kDirections) {
      RecurrentParams p = recurrent(cell, direction, 5);
      p.batchFirst = true;
      checkRecurrent(p, t, 4, 3, 7);
      checkRecurrent(p, t, 3, 1, 2, {.bias = false, .initialH = true, .initialC = true, .peephole = true});
    }
}

TEST_P(CudaRecurrentTyped, OmittedOutputs) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (RecurrentCell cell : kCells)
    for (RecurrentDirection direction : {RecurrentDirection::kReverse, RecurrentDirection::kBidirectional}) {
      RecurrentParams p = recurrent(cell, direction, 5);
      checkRecurrent(p, t, 4, 3, 6, {.lengths = {4, 0, 2}}, 1);  // y only
      if (cell == RecurrentCell::kLSTM)
        checkRecurrent(p, t, 4, 3, 6, {.lengths = {4, 0, 2}, .initialC = true}, 2);  // y, y_h
    }
}

TEST_P(CudaRecurrentTyped, ConstantWeights) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (RecurrentCell cell : kCells) {
    RecurrentParams p = recurrent(cell, RecurrentDirection::kBidirectional, 7);
    checkRecurrent(p, t, 4, 3, 5, {.lengths = {4, 1, 3}, .initialH = true, .peephole = true, .constantWeights = true});
    if (cell == RecurrentCell::kGRU) {
      p.linearBeforeReset = true;
      checkRecurrent(p, t, 4, 3, 5, {.constantWeights = true});
    }
  }
}

TEST_P(CudaRecurrentTyped, LargerShapes) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  const Tol f32{5e-5, 5e-4}, f16{5e-3, 5e-3};
  for (RecurrentCell cell : kCells) {
    RecurrentParams p = recurrent(cell, RecurrentDirection::kBidirectional, 64);
    checkRecurrent(p, t, 9, 16, 48, {.runtimeLengths = true, .initialH = true, .initialC = true}, 0, f32, f16);
    p.batchFirst = true;
    p.hiddenSize = 33;
    checkRecurrent(p, t, 7, 13, 40, {.lengths = {7, 1, 0, 2, 3, 4, 5, 6, 7, 7, 3, 2, 1}, .peephole = true}, 0, f32,
                   f16);
  }
}

TEST_P(CudaRecurrentTyped, EmptyBatchOrSequence) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (RecurrentCell cell : kCells) {
    RecurrentParams p = recurrent(cell, RecurrentDirection::kBidirectional, 4);
    checkRecurrent(p, t, 3, 0, 5);  // every output empty
    checkRecurrent(p, t, 0, 2, 5);  // no steps: y empty, zero final states
  }
}

TEST(CudaRecurrent, SupportedConfigurations) {
  ir::Network net;
  auto* x = net.addInput("x", F32, {3, 2, 4});
  auto* w = net.addInput("w", F32, {1, 20, 4});
  auto* r = net.addInput("r", F32, {1, 20, 5});
  auto* lstm = static_cast<ir::Layer*>(net.addLayer(recurrent(RecurrentCell::kLSTM, RecurrentDirection::kForward, 5),
                                                    {x, w, r}, 3));
  EXPECT_EQ(cuda::unsupportedReason(*lstm), "");
  auto* x64 = net.addInput("x64", DataType::kFloat64, {3, 2, 4});
  auto* w64 = net.addInput("w64", DataType::kFloat64, {1, 20, 4});
  auto* r64 = net.addInput("r64", DataType::kFloat64, {1, 20, 5});
  auto* lstm64 = static_cast<ir::Layer*>(net.addLayer(
      recurrent(RecurrentCell::kLSTM, RecurrentDirection::kForward, 5), {x64, w64, r64}, 3));
  EXPECT_NE(cuda::unsupportedReason(*lstm64).find("float64"), std::string::npos) << cuda::unsupportedReason(*lstm64);
}

// ---- DFT / STFT ---------------------------------------------------------------------------------

// Direct transforms accumulate n terms in fp32 (the CPU kernel in double): the absolute error grows with n.
Tol dftTol32(int64_t n) { return {1e-5 + 1e-6 * static_cast<double>(n), 1e-4}; }
Tol dftTol16(int64_t n) { return {2e-3 + 2e-5 * static_cast<double>(n), 3e-3}; }

DFTParams dft(int64_t axis, bool inverse = false, bool onesided = false) {
  DFTParams p;
  p.axis = axis;
  p.inverse = inverse;
  p.onesided = onesided;
  return p;
}

TEST_P(CudaSpectralTyped, DftForwardAndInverse) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (bool inverse : {false, true})
    for (int64_t n : {1, 2, 7, 8, 9, 13, 31, 64}) {
      SCOPED_TRACE(concat("n ", n, inverse ? " inverse" : ""));
      check(dft(1, inverse), {data(t, {3, n, 1})}, 1, dftTol32(n), dftTol16(n));  // real
      check(dft(1, inverse), {data(t, {2, n, 2})}, 1, dftTol32(n), dftTol16(n));  // complex
    }
}

TEST_P(CudaSpectralTyped, DftOnesided) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (int64_t n : {1, 2, 8, 9, 16, 17, 29}) {
    SCOPED_TRACE(concat("n ", n));
    check(dft(1, false, true), {data(t, {4, n, 1})}, 1, dftTol32(n), dftTol16(n));
    check(dft(-2, false, true), {data(t, {2, n, 2})}, 1, dftTol32(n), dftTol16(n));
  }
}

TEST_P(CudaSpectralTyped, DftLengthPadsOrTruncates) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (DataType lengthType : {I64, I32})
    for (int64_t n : {12, 16, 5, 3, 1}) {  // from 9 samples: zero-padded to 12 and 16, truncated to 5, 3, 1
      SCOPED_TRACE(concat("dft_length ", n));
      check(dft(1), {data(t, {2, 9, 1}), scalar(static_cast<double>(n), lengthType)}, 1, dftTol32(n), dftTol16(n));
      check(dft(1, true), {data(t, {2, 9, 2}), scalar(static_cast<double>(n), lengthType)}, 1, dftTol32(n),
            dftTol16(n));
      check(dft(1, false, true), {data(t, {3, 9, 1}), scalar(static_cast<double>(n), lengthType)}, 1, dftTol32(n),
            dftTol16(n));
    }
  check(dft(2), {data(t, {2, 3, 7, 2}), scalar(11, I64)}, 1, dftTol32(11), dftTol16(11));  // inner dims too
}

TEST_P(CudaSpectralTyped, DftAxes) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  // [2, 5, 3, 4, parts]: every signal axis, so signals have outer and inner dims
  for (int64_t parts : {1, 2})
    for (int64_t axis : {0, 1, 2, 3, -2, -3}) {
      SCOPED_TRACE(concat("axis ", axis, " parts ", parts));
      check(dft(axis), {data(t, {2, 5, 3, 4, parts})}, 1, dftTol32(5), dftTol16(5));
      check(dft(axis, true), {data(t, {2, 5, 3, 4, parts})}, 1, dftTol32(5), dftTol16(5));
      check(dft(axis, false, true), {data(t, {2, 5, 3, 4, parts})}, 1, dftTol32(5), dftTol16(5));
    }
  check(dft(0), {data(t, {11, 1})}, 1, dftTol32(11), dftTol16(11));  // rank 2: one signal
}

TEST_P(CudaSpectralTyped, DftLongSignals) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (int64_t n : {997, 1024}) {  // prime and power of two
    SCOPED_TRACE(concat("n ", n));
    check(dft(1), {data(t, {2, n, 1}, -1, 1)}, 1, dftTol32(n), dftTol16(n));
    check(dft(1, true), {data(t, {1, n, 2}, -1, 1)}, 1, dftTol32(n), dftTol16(n));
    check(dft(1, false, true), {data(t, {3, n, 2}, -1, 1)}, 1, dftTol32(n), dftTol16(n));
  }
}

TEST_P(CudaSpectralTyped, DftEmpty) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  check(dft(1), {data(t, {0, 8, 1})});
  check(dft(0), {data(t, {6, 0, 2})});
}

STFTParams stft(bool onesided) {
  STFTParams p;
  p.onesided = onesided;
  return p;
}

TEST_P(CudaSpectralTyped, StftWithWindow) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (bool onesided : {true, false}) {
    SCOPED_TRACE(onesided ? "onesided" : "two-sided");
    check(stft(onesided), {data(t, {2, 64, 1}), scalar(8, I64), data(t, {16}, 0, 1)}, 1, dftTol32(16), dftTol16(16));
    // odd frame length and a step that leaves a tail; frame_length given too
    check(stft(onesided), {data(t, {3, 50, 1}), scalar(7, I64), data(t, {15}, 0, 1), scalar(15, I64)}, 1,
          dftTol32(15), dftTol16(15));
    // constant window, int32 step, one frame
    check(stft(onesided), {data(t, {1, 21, 1}), scalar(5, I32), cdata(t, {21}, 0, 1)}, 1, dftTol32(21), dftTol16(21));
  }
  // complex signal, two-sided
  check(stft(false), {data(t, {2, 40, 2}), scalar(6, I64), data(t, {12}, 0, 1)}, 1, dftTol32(12), dftTol16(12));
}

TEST_P(CudaSpectralTyped, StftWithoutWindow) {
  REQUIRE_GPU();
  const DataType t = GetParam();
  for (bool onesided : {true, false}) {
    SCOPED_TRACE(onesided ? "onesided" : "two-sided");
    check(stft(onesided), {data(t, {2, 64, 1}), scalar(16, I64), none(), scalar(32, I64)}, 1, dftTol32(32),
          dftTol16(32));
    check(stft(onesided), {data(t, {1, 45, 1}), scalar(4, I64), none(), scalar(13, I64)}, 1, dftTol32(13),
          dftTol16(13));
    check(stft(onesided), {data(t, {3, 9, 1}), scalar(1, I64), none(), scalar(9, I64)}, 1, dftTol32(9), dftTol16(9));
  }
  check(stft(false), {data(t, {2, 30, 2}), scalar(3, I64), none(), scalar(11, I64)}, 1, dftTol32(11), dftTol16(11));
  check(stft(true), {data(t, {1, 600, 1}, -1, 1), scalar(100, I64), none(), scalar(256, I64)}, 1, dftTol32(256),
        dftTol16(256));
}

TEST(CudaSpectral, SupportedConfigurations) {
  ir::Network net;
  auto* x = net.addInput("x", F32, {2, 8, 1});
  EXPECT_EQ(cuda::unsupportedReason(*static_cast<ir::Layer*>(net.addLayer(dft(1), {x}))), "");
  ConstantParams step;
  step.weights = Weights::copyOf(I64, {}, std::vector<int64_t>{2}.data());
  auto* stepTensor = net.addLayer(step, {}, 1)->output(0);
  auto* window16 = net.addInput("w", F16, {4});
  auto* window32 = net.addInput("w32", F32, {4});
  EXPECT_EQ(cuda::unsupportedReason(*static_cast<ir::Layer*>(net.addLayer(stft(true), {x, stepTensor, window32}))), "");
  EXPECT_FALSE(
      cuda::unsupportedReason(*static_cast<ir::Layer*>(net.addLayer(stft(true), {x, stepTensor, window16}))).empty());
}

}  // namespace
}  // namespace kiln
