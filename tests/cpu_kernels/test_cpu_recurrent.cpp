// Tests of the CPU Recurrent kernel (ONNX RNN / GRU / LSTM) against a naive reference written from the ONNX
// equations: seeded random weights, awkward sizes (hidden 5, input 3, seq 7, batch 2), every direction, both
// layouts, sequence lengths shorter than the sequence, clip, custom activations, peepholes, input_forget,
// linear_before_reset, omitted outputs, float64 and float16; and one network built with addRecurrent.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/kernels/kernels.h"
#include "core/error.h"
#include "core/half.h"
#include "unit/test_helpers.h"

using namespace kiln;

namespace {

constexpr int64_t kSeq = 7, kBatch = 2, kInput = 3, kHidden = 5;

std::vector<float> randomFloats(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

double activate(RecurrentActivation f, double alpha, double beta, double v) {
  switch (f) {
    case RecurrentActivation::kRelu: return std::max(0.0, v);
    case RecurrentActivation::kTanh: return std::tanh(v);
    case RecurrentActivation::kSigmoid: return 1.0 / (1.0 + std::exp(-v));
    case RecurrentActivation::kAffine: return alpha * v + beta;
    case RecurrentActivation::kLeakyRelu: return v >= 0 ? v : alpha * v;
    case RecurrentActivation::kThresholdedRelu: return v >= alpha ? v : 0.0;
    case RecurrentActivation::kScaledTanh: return alpha * std::tanh(beta * v);
    case RecurrentActivation::kHardSigmoid: return std::min(1.0, std::max(0.0, alpha * v + beta));
    case RecurrentActivation::kElu: return v >= 0 ? v : alpha * (std::exp(v) - 1.0);
    case RecurrentActivation::kSoftsign: return v / (1.0 + std::fabs(v));
    case RecurrentActivation::kSoftplus: return std::log(1.0 + std::exp(v));
  }
  return v;
}

struct Inputs {
  int64_t seq = kSeq, batch = kBatch, input = kInput;
  std::vector<float> x, w, r, bias, h0, c0, peephole;  // empty: omitted
  std::vector<int32_t> lengths;                         // empty: omitted
};

struct Outputs {
  std::vector<float> y, yH, yC;
};

// The ONNX equations step by step, in double, with explicit ONNX-layout indexing.
Outputs reference(const RecurrentParams& p, const Inputs& in) {
  const int64_t S = in.seq, B = in.batch, I = in.input, H = p.hiddenSize;
  const int64_t G = recurrentGates(p.cell), D = p.direction == RecurrentDirection::kBidirectional ? 2 : 1;
  const int64_t F = recurrentActivationCount(p.cell);
  auto X = [&](int64_t t, int64_t b, int64_t i) { return in.x[(p.batchFirst ? b * S + t : t * B + b) * I + i]; };
  auto stateIndex = [&](int64_t d, int64_t b, int64_t j) { return (p.batchFirst ? b * D + d : d * B + b) * H + j; };
  auto yIndex = [&](int64_t t, int64_t d, int64_t b, int64_t j) {
    return (p.batchFirst ? (b * S + t) * D + d : (t * D + d) * B + b) * H + j;
  };
  Outputs out;
  out.y.assign(S * D * B * H, 0.f);
  out.yH.assign(D * B * H, 0.f);
  out.yC.assign(D * B * H, 0.f);
  for (int64_t d = 0; d < D; ++d) {
    auto f = [&](int k, double v) {
      RecurrentActivation defaults[3] = {p.cell == RecurrentCell::kRNN ? RecurrentActivation::kTanh
                                                                       : RecurrentActivation::kSigmoid,
                                         RecurrentActivation::kTanh, RecurrentActivation::kTanh};
      // clip bounds every gate activation's input; LSTM's h(Ct) is not clipped.
      bool clipped = !(p.cell == RecurrentCell::kLSTM && k == 2);
      if (clipped && std::isfinite(p.clip)) v = std::min<double>(p.clip, std::max<double>(-p.clip, v));
      if (p.activations.empty()) return activate(defaults[k], 0, 0, v);
      size_t a = static_cast<size_t>(d * F + k);
      return activate(p.activations[a], p.activationAlpha[a], p.activationBeta[a], v);
    };
    auto W = [&](int64_t row, int64_t i) { return static_cast<double>(in.w[(d * G * H + row) * I + i]); };
    auto R = [&](int64_t row, int64_t m) { return static_cast<double>(in.r[(d * G * H + row) * H + m]); };
    auto Wb = [&](int64_t row) { return in.bias.empty() ? 0.0 : in.bias[d * 2 * G * H + row]; };
    auto Rb = [&](int64_t row) { return in.bias.empty() ? 0.0 : in.bias[d * 2 * G * H + G * H + row]; };
    auto P = [&](int64_t k, int64_t j) { return in.peephole.empty() ? 0.0 : in.peephole[d * 3 * H + k * H + j]; };
    for (int64_t b = 0; b < B; ++b) {
      std::vector<double> h(H, 0.0), c(H, 0.0);
      for (int64_t j = 0; j < H; ++j) {
        if (!in.h0.empty()) h[j] = in.h0[stateIndex(d, b, j)];
        if (!in.c0.empty()) c[j] = in.c0[stateIndex(d, b, j)];
      }
      const int64_t len = in.lengths.empty() ? S : in.lengths[b];
      const bool reverse = p.direction == RecurrentDirection::kReverse || d == 1;
      for (int64_t step = 0; step < len; ++step) {
        const int64_t t = reverse ? len - 1 - step : step;
        auto xw = [&](int64_t row) {
          double s = 0;
          for (int64_t i = 0; i < I; ++i) s += X(t, b, i) * W(row, i);
          return s;
        };
        auto hr = [&](int64_t row, const std::vector<double>& state) {
          double s = 0;
          for (int64_t m = 0; m < H; ++m) s += state[m] * R(row, m);
          return s;
        };
        std::vector<double> hn(H), cn(H);
        if (p.cell == RecurrentCell::kRNN) {
          for (int64_t j = 0; j < H; ++j) hn[j] = f(0, xw(j) + hr(j, h) + Wb(j) + Rb(j));
        } else if (p.cell == RecurrentCell::kGRU) {
          std::vector<double> z(H), rg(H), rh(H);
          for (int64_t j = 0; j < H; ++j) {
            z[j] = f(0, xw(j) + hr(j, h) + Wb(j) + Rb(j));
            rg[j] = f(0, xw(H + j) + hr(H + j, h) + Wb(H + j) + Rb(H + j));
            rh[j] = rg[j] * h[j];
          }
          for (int64_t j = 0; j < H; ++j) {
            double candidate = p.linearBeforeReset
                                   ? f(1, xw(2 * H + j) + rg[j] * (hr(2 * H + j, h) + Rb(2 * H + j)) + Wb(2 * H + j))
                                   : f(1, xw(2 * H + j) + hr(2 * H + j, rh) + Rb(2 * H + j) + Wb(2 * H + j));
            hn[j] = (1 - z[j]) * candidate + z[j] * h[j];
          }
        } else {  // LSTM, gates i o f c
          for (int64_t j = 0; j < H; ++j) {
            double ig = f(0, xw(j) + hr(j, h) + P(0, j) * c[j] + Wb(j) + Rb(j));
            double fg = p.inputForget ? 1 - ig : f(0, xw(2 * H + j) + hr(2 * H + j, h) + P(2, j) * c[j] + Wb(2 * H + j) +
                                                          Rb(2 * H + j));
            double cg = f(1, xw(3 * H + j) + hr(3 * H + j, h) + Wb(3 * H + j) + Rb(3 * H + j));
            cn[j] = fg * c[j] + ig * cg;
            double og = f(0, xw(H + j) + hr(H + j, h) + P(1, j) * cn[j] + Wb(H + j) + Rb(H + j));
            hn[j] = og * f(2, cn[j]);
          }
          c = cn;
        }
        h = hn;
        for (int64_t j = 0; j < H; ++j) out.y[yIndex(t, d, b, j)] = static_cast<float>(h[j]);
      }
      for (int64_t j = 0; j < H; ++j) {  // length 0: zero final states
        out.yH[stateIndex(d, b, j)] = len == 0 ? 0.f : static_cast<float>(h[j]);
        out.yC[stateIndex(d, b, j)] = len == 0 ? 0.f : static_cast<float>(c[j]);
      }
    }
  }
  return out;
}

struct Options {
  bool bias = true, lengths = false, initial = false, peephole = false;
};

Inputs makeInputs(const RecurrentParams& p, const Options& o, uint32_t seed) {
  Inputs in;
  const int64_t G = recurrentGates(p.cell), D = p.direction == RecurrentDirection::kBidirectional ? 2 : 1;
  const int64_t H = p.hiddenSize;
  in.x = randomFloats(in.seq * in.batch * in.input, seed, -2.f, 2.f);
  in.w = randomFloats(D * G * H * in.input, seed + 1);
  in.r = randomFloats(D * G * H * H, seed + 2);
  if (o.bias) in.bias = randomFloats(D * 2 * G * H, seed + 3);
  if (o.lengths) in.lengths = {static_cast<int32_t>(in.seq - 3), static_cast<int32_t>(in.seq)};
  if (o.initial) {
    in.h0 = randomFloats(D * in.batch * H, seed + 4);
    if (p.cell == RecurrentCell::kLSTM) in.c0 = randomFloats(D * in.batch * H, seed + 5);
  }
  if (o.peephole) in.peephole = randomFloats(D * 3 * H, seed + 6);
  return in;
}

// Runs the kernel in float32 (or through float64 / float16 copies) and returns the outputs as float.
Outputs runKernel(const RecurrentParams& p, Inputs in, DataType type = DataType::kFloat32, bool omitY = false) {
  const int64_t D = p.direction == RecurrentDirection::kBidirectional ? 2 : 1, H = p.hiddenSize;
  const int64_t S = in.seq, B = in.batch, G = recurrentGates(p.cell);
  const bool lstm = p.cell == RecurrentCell::kLSTM;
  std::vector<std::vector<uint8_t>> storage;
  auto view = [&](const std::vector<float>& v, Dims shape) {
    if (v.empty()) return TensorView{nullptr, type, {}};
    std::vector<uint8_t> bytes(v.size() * dataTypeSize(type));
    for (size_t i = 0; i < v.size(); ++i) {
      if (type == DataType::kFloat32) reinterpret_cast<float*>(bytes.data())[i] = v[i];
      else if (type == DataType::kFloat64) reinterpret_cast<double*>(bytes.data())[i] = v[i];
      else reinterpret_cast<uint16_t*>(bytes.data())[i] = floatToHalf(v[i]);
    }
    storage.push_back(std::move(bytes));
    return TensorView{storage.back().data(), type, std::move(shape)};
  };
  storage.reserve(16);
  Dims state = p.batchFirst ? Dims{B, D, H} : Dims{D, B, H};
  KernelArgs args;
  args.inputs = {view(in.x, p.batchFirst ? Dims{B, S, in.input} : Dims{S, B, in.input}),
                 view(in.w, {D, G * H, in.input}),
                 view(in.r, {D, G * H, H}),
                 view(in.bias, {D, 2 * G * H}),
                 in.lengths.empty() ? TensorView{nullptr, DataType::kInt32, {}}
                                    : TensorView{in.lengths.data(), DataType::kInt32, {B}},
                 view(in.h0, state)};
  if (lstm) {
    args.inputs.push_back(view(in.c0, state));
    args.inputs.push_back(view(in.peephole, {D, 3 * H}));
  }
  std::vector<float> zerosY(S * D * B * H, 0.f), zerosState(D * B * H, 0.f);
  args.outputs = {omitY ? TensorView{nullptr, type, {}}
                        : view(zerosY, p.batchFirst ? Dims{B, S, D, H} : Dims{S, D, B, H}),
                  view(zerosState, state)};
  if (lstm) args.outputs.push_back(view(zerosState, state));
  ir::Layer layer("recurrent", p);
  cpu::runRecurrent(layer, args);
  auto read = [&](const TensorView& v) {
    std::vector<float> out(static_cast<size_t>(v.data ? v.count() : 0));
    for (size_t i = 0; i < out.size(); ++i) {
      if (type == DataType::kFloat32) out[i] = v.as<const float>()[i];
      else if (type == DataType::kFloat64) out[i] = static_cast<float>(v.as<const double>()[i]);
      else out[i] = halfToFloat(v.as<const uint16_t>()[i]);
    }
    return out;
  };
  Outputs out;
  out.y = read(args.outputs[0]);
  out.yH = read(args.outputs[1]);
  if (lstm) out.yC = read(args.outputs[2]);
  return out;
}

void expectNear(const std::vector<float>& got, const std::vector<float>& want, float tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], tol) << what << " at " << i;
}

void check(const RecurrentParams& p, const Options& o, uint32_t seed, const std::string& what) {
  Inputs in = makeInputs(p, o, seed);
  Outputs want = reference(p, in);
  Outputs got = runKernel(p, in);
  expectNear(got.y, want.y, 1e-5f, what + " y");
  expectNear(got.yH, want.yH, 1e-5f, what + " y_h");
  if (p.cell == RecurrentCell::kLSTM) expectNear(got.yC, want.yC, 1e-5f, what + " y_c");
}

RecurrentParams params(RecurrentCell cell, RecurrentDirection direction, bool batchFirst) {
  RecurrentParams p;
  p.cell = cell;
  p.direction = direction;
  p.hiddenSize = kHidden;
  p.batchFirst = batchFirst;
  return p;
}

const RecurrentDirection kDirections[] = {RecurrentDirection::kForward, RecurrentDirection::kReverse,
                                          RecurrentDirection::kBidirectional};

std::string label(const RecurrentParams& p, const Options& o) {
  return concat("cell ", static_cast<int>(p.cell), " direction ", static_cast<int>(p.direction), " layout ",
                p.batchFirst ? 1 : 0, " bias ", o.bias, " lengths ", o.lengths, " initial ", o.initial, " peephole ",
                o.peephole);
}

// ---- the three cells over every direction, layout and optional input ------------------------------

TEST(CpuRecurrent, MatchesReferenceOverAllOptions) {
  uint32_t seed = 100;
  for (RecurrentCell cell : {RecurrentCell::kRNN, RecurrentCell::kGRU, RecurrentCell::kLSTM})
    for (RecurrentDirection direction : kDirections)
      for (bool batchFirst : {false, true})
        for (int mask = 0; mask < 8; ++mask) {
          Options o;
          o.bias = (mask & 1) != 0;
          o.lengths = (mask & 2) != 0;
          o.initial = (mask & 4) != 0;
          o.peephole = cell == RecurrentCell::kLSTM && mask >= 4;
          RecurrentParams p = params(cell, direction, batchFirst);
          check(p, o, seed++, label(p, o));
        }
}

TEST(CpuRecurrent, GruLinearBeforeReset) {
  uint32_t seed = 300;
  for (RecurrentDirection direction : kDirections)
    for (bool batchFirst : {false, true}) {
      RecurrentParams p = params(RecurrentCell::kGRU, direction, batchFirst);
      p.linearBeforeReset = true;
      Options o{true, true, true, false};
      check(p, o, seed++, "linear_before_reset " + label(p, o));
    }
}

TEST(CpuRecurrent, LstmInputForgetAndPeepholes) {
  uint32_t seed = 400;
  for (RecurrentDirection direction : kDirections) {
    RecurrentParams p = params(RecurrentCell::kLSTM, direction, direction == RecurrentDirection::kReverse);
    p.inputForget = true;
    Options o{true, true, true, true};
    check(p, o, seed++, "input_forget " + label(p, o));
  }
}

TEST(CpuRecurrent, ClipAndCustomActivations) {
  // Per direction: LSTM f g h, GRU f g, RNN f; the reverse direction uses other functions than forward.
  using A = RecurrentActivation;
  RecurrentParams lstm = params(RecurrentCell::kLSTM, RecurrentDirection::kBidirectional, false);
  lstm.activations = {A::kHardSigmoid, A::kSoftsign, A::kScaledTanh, A::kSigmoid, A::kElu, A::kAffine};
  lstm.activationAlpha = {0.3f, 0.f, 0.9f, 0.f, 0.7f, 0.5f};
  lstm.activationBeta = {0.4f, 0.f, 1.3f, 0.f, 0.f, -0.2f};
  lstm.clip = 0.75f;
  check(lstm, Options{true, true, true, true}, 500, "custom LSTM");

  RecurrentParams gru = params(RecurrentCell::kGRU, RecurrentDirection::kBidirectional, true);
  gru.activations = {A::kSigmoid, A::kLeakyRelu, A::kHardSigmoid, A::kSoftplus};
  gru.activationAlpha = {0.f, 0.1f, 0.25f, 0.f};
  gru.activationBeta = {0.f, 0.f, 0.5f, 0.f};
  gru.clip = 1.5f;
  check(gru, Options{true, true, true, false}, 501, "custom GRU");
  gru.linearBeforeReset = true;
  check(gru, Options{true, false, true, false}, 502, "custom GRU linear_before_reset");

  RecurrentParams rnn = params(RecurrentCell::kRNN, RecurrentDirection::kReverse, false);
  rnn.activations = {A::kRelu};
  rnn.activationAlpha = {0.f};
  rnn.activationBeta = {0.f};
  check(rnn, Options{true, true, true, false}, 503, "relu RNN");
  rnn.activations = {A::kThresholdedRelu};
  rnn.activationAlpha = {0.2f};
  rnn.clip = 0.5f;
  check(rnn, Options{true, false, false, false}, 504, "thresholded relu RNN");
}

TEST(CpuRecurrent, ShortSequencesLeaveZerosAndKeepTheLastState) {
  RecurrentParams p = params(RecurrentCell::kLSTM, RecurrentDirection::kBidirectional, false);
  Inputs in = makeInputs(p, Options{true, true, true, false}, 600);
  in.lengths = {0, 3};
  Outputs got = runKernel(p, in);
  Outputs want = reference(p, in);
  expectNear(got.y, want.y, 1e-5f, "y");
  expectNear(got.yH, want.yH, 1e-5f, "y_h");
  expectNear(got.yC, want.yC, 1e-5f, "y_c");
  // Batch entry 0 has no steps: y and its final states are zero (as ONNX Runtime), whatever the initial state.
  for (int64_t t = 0; t < kSeq; ++t)
    for (int64_t d = 0; d < 2; ++d)
      for (int64_t j = 0; j < kHidden; ++j) EXPECT_EQ(got.y[((t * 2 + d) * kBatch + 0) * kHidden + j], 0.f);
  for (int64_t d = 0; d < 2; ++d)
    for (int64_t j = 0; j < kHidden; ++j) {
      EXPECT_EQ(got.yH[(d * kBatch + 0) * kHidden + j], 0.f);
      EXPECT_EQ(got.yC[(d * kBatch + 0) * kHidden + j], 0.f);
    }
  // Batch entry 1 stops after 3 steps: later rows of y are zero.
  for (int64_t t = 3; t < kSeq; ++t)
    for (int64_t j = 0; j < kHidden; ++j) EXPECT_EQ(got.y[((t * 2 + 0) * kBatch + 1) * kHidden + j], 0.f);
}

TEST(CpuRecurrent, OmittedYAndOtherTypes) {
  RecurrentParams p = params(RecurrentCell::kGRU, RecurrentDirection::kBidirectional, true);
  Inputs in = makeInputs(p, Options{true, true, true, false}, 700);
  Outputs want = reference(p, in);
  Outputs noY = runKernel(p, in, DataType::kFloat32, /*omitY=*/true);
  EXPECT_TRUE(noY.y.empty());
  expectNear(noY.yH, want.yH, 1e-5f, "y_h without y");

  RecurrentParams lstm = params(RecurrentCell::kLSTM, RecurrentDirection::kForward, false);
  Inputs lin = makeInputs(lstm, Options{true, true, true, true}, 701);
  Outputs lwant = reference(lstm, lin);
  Outputs d = runKernel(lstm, lin, DataType::kFloat64);
  expectNear(d.y, lwant.y, 1e-6f, "float64 y");
  expectNear(d.yC, lwant.yC, 1e-6f, "float64 y_c");
  // float16: the reference sees the same rounded inputs; tolerance for half outputs and steps.
  for (auto* v : {&lin.x, &lin.w, &lin.r, &lin.bias, &lin.h0, &lin.c0, &lin.peephole})
    for (float& f : *v) f = halfToFloat(floatToHalf(f));
  lwant = reference(lstm, lin);
  Outputs h = runKernel(lstm, lin, DataType::kFloat16);
  expectNear(h.y, lwant.y, 5e-3f, "float16 y");
  expectNear(h.yH, lwant.yH, 5e-3f, "float16 y_h");
}

TEST(CpuRecurrent, LargerProblemUsesTheSameMath) {
  // Sizes past the GEMM's register tiles and several parallel chunks.
  RecurrentParams p = params(RecurrentCell::kLSTM, RecurrentDirection::kBidirectional, false);
  p.hiddenSize = 37;
  Inputs in;
  in.seq = 11;
  in.batch = 9;
  in.input = 19;
  const int64_t G = 4, D = 2, H = p.hiddenSize;
  in.x = randomFloats(in.seq * in.batch * in.input, 800);
  in.w = randomFloats(D * G * H * in.input, 801, -0.3f, 0.3f);
  in.r = randomFloats(D * G * H * H, 802, -0.3f, 0.3f);
  in.bias = randomFloats(D * 2 * G * H, 803);
  in.lengths.resize(in.batch);
  for (int64_t b = 0; b < in.batch; ++b) in.lengths[b] = static_cast<int32_t>((b * 5) % (in.seq + 1));
  Outputs want = reference(p, in);
  Outputs got = runKernel(p, in);
  expectNear(got.y, want.y, 1e-4f, "y");
  expectNear(got.yH, want.yH, 1e-4f, "y_h");
  expectNear(got.yC, want.yC, 1e-4f, "y_c");
}

TEST(CpuRecurrent, BadInputsThrow) {
  RecurrentParams p = params(RecurrentCell::kRNN, RecurrentDirection::kForward, false);
  Inputs in = makeInputs(p, Options{true, true, false, false}, 900);
  in.lengths = {8, 1};  // past the sequence
  EXPECT_THROW(runKernel(p, in), Error);
  in.lengths = {-1, 1};
  EXPECT_THROW(runKernel(p, in), Error);
  // A bias of the wrong size, and a float16 w with a float32 x.
  std::vector<float> x(kSeq * kBatch * kInput), w(kHidden * kInput), r(kHidden * kHidden), bias(kHidden);
  std::vector<float> y(kSeq * kBatch * kHidden), yH(kBatch * kHidden);
  const DataType f32 = DataType::kFloat32;
  KernelArgs args{{TensorView{x.data(), f32, {kSeq, kBatch, kInput}}, TensorView{w.data(), f32, {1, kHidden, kInput}},
                   TensorView{r.data(), f32, {1, kHidden, kHidden}}, TensorView{bias.data(), f32, {1, kHidden}}},
                  {TensorView{y.data(), f32, {kSeq, 1, kBatch, kHidden}}, TensorView{yH.data(), f32, {1, kBatch, kHidden}}}};
  ir::Layer layer("recurrent", p);
  EXPECT_THROW(cpu::runRecurrent(layer, args), Error);
  args.inputs.pop_back();
  cpu::runRecurrent(layer, args);  // fine without the bias
  args.inputs[1].type = DataType::kFloat16;
  EXPECT_THROW(cpu::runRecurrent(layer, args), Error);
}

// Fuzzer regression: a zero-size batch made the GRU step offset a null pointer (UB). Every output is empty.
TEST(CpuRecurrent, ZeroBatchGivesEmptyOutputs) {
  for (RecurrentCell cell : {RecurrentCell::kRNN, RecurrentCell::kGRU, RecurrentCell::kLSTM})
    for (bool batchFirst : {false, true}) {
      RecurrentParams p = params(cell, RecurrentDirection::kBidirectional, batchFirst);
      const int64_t G = recurrentGates(cell), D = 2, H = kHidden;
      std::vector<float> w = randomFloats(D * G * H * kInput, 1), r = randomFloats(D * G * H * H, 2);
      std::vector<float> bias = randomFloats(D * 2 * G * H, 3);
      float sentinel[1] = {42.f};  // stands for the zero-size tensors' storage; must stay untouched
      const DataType f32 = DataType::kFloat32;
      Dims state = batchFirst ? Dims{0, D, H} : Dims{D, 0, H};
      KernelArgs args{{TensorView{sentinel, f32, batchFirst ? Dims{0, kSeq, kInput} : Dims{kSeq, 0, kInput}},
                       TensorView{w.data(), f32, {D, G * H, kInput}}, TensorView{r.data(), f32, {D, G * H, H}},
                       TensorView{bias.data(), f32, {D, 2 * G * H}}},
                      {TensorView{sentinel, f32, batchFirst ? Dims{0, kSeq, D, H} : Dims{kSeq, D, 0, H}},
                       TensorView{sentinel, f32, state}}};
      if (cell == RecurrentCell::kLSTM) args.outputs.push_back(TensorView{sentinel, f32, state});
      ir::Layer layer("recurrent", p);
      EXPECT_NO_THROW(cpu::runRecurrent(layer, args)) << "cell " << static_cast<int>(cell);
      EXPECT_EQ(sentinel[0], 42.f);
    }
}

// A NaN in x reaches every later output of its batch entry (the infinite default clip used to turn it
// into +inf, and the gates into finite values); the other entry is unaffected.
TEST(CpuRecurrent, NaNInputPropagates) {
  for (RecurrentCell cell : {RecurrentCell::kRNN, RecurrentCell::kGRU, RecurrentCell::kLSTM}) {
    RecurrentParams p = params(cell, RecurrentDirection::kForward, false);
    Inputs in = makeInputs(p, Options{}, 950);
    in.x[0] = std::numeric_limits<float>::quiet_NaN();  // t 0, batch entry 0
    Outputs got = runKernel(p, in);
    for (int64_t t = 0; t < kSeq; ++t)
      for (int64_t j = 0; j < kHidden; ++j) {
        EXPECT_TRUE(std::isnan(got.y[(t * kBatch + 0) * kHidden + j])) << "cell " << static_cast<int>(cell) << " t " << t;
        EXPECT_FALSE(std::isnan(got.y[(t * kBatch + 1) * kHidden + j])) << "cell " << static_cast<int>(cell) << " t " << t;
      }
  }
}

// ---- a network built with addRecurrent, through the builder, plan and runtime ----------------------

TEST(CpuRecurrent, NetworkWithAddRecurrent) {
  RecurrentParams p = params(RecurrentCell::kLSTM, RecurrentDirection::kBidirectional, true);
  p.activations = {RecurrentActivation::kSigmoid, RecurrentActivation::kTanh, RecurrentActivation::kTanh,
                   RecurrentActivation::kHardSigmoid, RecurrentActivation::kTanh, RecurrentActivation::kSoftsign};
  p.activationAlpha = {0.f, 0.f, 0.f, 0.3f, 0.f, 0.f};
  p.activationBeta = {0.f, 0.f, 0.f, 0.6f, 0.f, 0.f};
  p.clip = 2.f;
  Inputs in = makeInputs(p, Options{true, true, true, true}, 1000);
  const int64_t D = 2, G = 4, H = kHidden;
  auto net = Builder().createNetwork();
  ITensor* x = net->addInput("x", DataType::kFloat32, {kBatch, kSeq, kInput});
  ITensor* lengths = net->addInput("lengths", DataType::kInt32, {kBatch});
  ITensor* h0 = net->addInput("h0", DataType::kFloat32, {kBatch, D, H});
  ITensor* c0 = net->addInput("c0", DataType::kFloat32, {kBatch, D, H});
  ITensor* y = net->addRecurrent(x, kiln::testing::floats({D, G * H, kInput}, in.w), kiln::testing::floats({D, G * H, H}, in.r),
                                 kiln::testing::floats({D, 2 * G * H}, in.bias), p, lengths, h0, c0,
                                 kiln::testing::floats({D, 3 * H}, in.peephole), "lstm");
  EXPECT_EQ(y->dims(), (Dims{kBatch, kSeq, D, H}));
  ASSERT_EQ(y->producer()->numOutputs(), 3);
  y->setName("y");
  y->producer()->output(1)->setName("y_h");
  y->producer()->output(2)->setName("y_c");
  net->markOutput(y);
  net->markOutput(y->producer()->output(1));
  net->markOutput(y->producer()->output(2));
  auto engine = kiln::testing::buildEngine(*net);
  std::vector<uint8_t> bytes = engine->serialize();
  auto reloaded = Runtime().deserializeEngine(bytes.data(), bytes.size());  // params survive the plan
  Outputs want = reference(p, in);
  auto context = reloaded->createExecutionContext();
  std::vector<float> gotY(want.y.size()), gotH(want.yH.size()), gotC(want.yC.size());
  context->setTensorAddress("x", in.x.data());
  context->setTensorAddress("lengths", in.lengths.data());
  context->setTensorAddress("h0", in.h0.data());
  context->setTensorAddress("c0", in.c0.data());
  context->setTensorAddress("y", gotY.data());
  context->setTensorAddress("y_h", gotH.data());
  context->setTensorAddress("y_c", gotC.data());
  context->execute();
  expectNear(gotY, want.y, 1e-5f, "y");
  expectNear(gotH, want.yH, 1e-5f, "y_h");
  expectNear(gotC, want.yC, 1e-5f, "y_c");
}

}  // namespace
