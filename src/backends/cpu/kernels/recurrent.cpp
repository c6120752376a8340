// Recurrent (ONNX RNN / GRU / LSTM): per direction one packed GEMM projects every time step (X * W^T plus the
// biases that can be folded), then each step runs a GEMM H * R^T and the gate math, parallel over the batch.
// clip bounds the inputs of the gate activations (not of LSTM's h(Ct), as in ONNX Runtime).
// float16/bfloat16 compute in float; float64 in double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/gemm.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

// One resolved activation function of a gate.
template <class C>
struct GateFunction {
  RecurrentActivation type = RecurrentActivation::kSigmoid;
  C alpha = 0, beta = 0;

  C operator()(C v) const {
    switch (type) {
      case RecurrentActivation::kRelu: return v > C(0) ? v : C(0);
      case RecurrentActivation::kTanh: return std::tanh(v);
      case RecurrentActivation::kSigmoid: {
        if (v >= C(0)) return C(1) / (C(1) + std::exp(-v));
        C e = std::exp(v);
        return e / (C(1) + e);
      }
      case RecurrentActivation::kAffine: return alpha * v + beta;
      case RecurrentActivation::kLeakyRelu: return v < C(0) ? alpha * v : v;
      case RecurrentActivation::kThresholdedRelu: return v >= alpha ? v : C(0);
      case RecurrentActivation::kScaledTanh: return alpha * std::tanh(beta * v);
      case RecurrentActivation::kHardSigmoid: return std::max(C(0), std::min(C(1), alpha * v + beta));
      case RecurrentActivation::kElu: return v < C(0) ? alpha * std::expm1(v) : v;
      case RecurrentActivation::kSoftsign: return v / (C(1) + std::fabs(v));
      case RecurrentActivation::kSoftplus: return v > C(0) ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
    }
    return v;
  }
};

// The activation functions (f, g[, h]) of direction `dir`: the given ones or the ONNX defaults.
template <class C>
std::vector<GateFunction<C>> gateFunctions(const RecurrentParams& p, int64_t dir, const ir::Layer& layer) {
  const int64_t count = recurrentActivationCount(p.cell);
  std::vector<GateFunction<C>> out(static_cast<size_t>(count));
  if (p.activations.empty()) {
    for (int64_t i = 0; i < count; ++i)
      out[i].type = (p.cell == RecurrentCell::kRNN || i > 0) ? RecurrentActivation::kTanh : RecurrentActivation::kSigmoid;
    return out;
  }
  const size_t first = static_cast<size_t>(dir * count);
  KILN_CHECK(p.activations.size() >= first + count && p.activationAlpha.size() == p.activations.size() &&
                 p.activationBeta.size() == p.activations.size(),
             kInvalidArgument, layer.describe(), ": expects ", count, " activations per direction with one alpha and beta "
             "each, got ", p.activations.size(), " activations, ", p.activationAlpha.size(), " alphas, ",
             p.activationBeta.size(), " betas");
  for (int64_t i = 0; i < count; ++i) {
    out[i].type = p.activations[first + i];
    out[i].alpha = static_cast<C>(p.activationAlpha[first + i]);
    out[i].beta = static_cast<C>(p.activationBeta[first + i]);
  }
  return out;
}

template <class C>
struct RecurrentProblem {
  const RecurrentParams& p;
  const ir::Layer& layer;
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, gates = 0, dirs = 0;
  const C *x = nullptr, *w = nullptr, *r = nullptr, *bias = nullptr, *initialH = nullptr, *initialC = nullptr,
          *peephole = nullptr;
  std::vector<int64_t> lengths = {};  // per batch entry
  C *y = nullptr, *yH = nullptr, *yC = nullptr;

  // Row of x (and of the projection) for time t, batch entry b.
  int64_t xRow(int64_t t, int64_t b) const { return p.batchFirst ? b * seq + t : t * batch + b; }
  int64_t yOffset(int64_t t, int64_t d, int64_t b) const {
    return (p.batchFirst ? (b * seq + t) * dirs + d : (t * dirs + d) * batch + b) * hidden;
  }
  int64_t stateOffset(int64_t d, int64_t b) const { return (p.batchFirst ? b * dirs + d : d * batch + b) * hidden; }

  void runDirection(int64_t d) const;
};

template <class C>
void RecurrentProblem<C>::runDirection(int64_t d) const {
  const bool reverse = p.direction == RecurrentDirection::kReverse || d == 1;
  const bool gru = p.cell == RecurrentCell::kGRU, lstm = p.cell == RecurrentCell::kLSTM;
  const int64_t H = hidden, GH = gates * hidden;
  const C* wd = w + d * GH * input;
  const C* rd = r + d * GH * hidden;
  const C* wb = bias ? bias + d * 2 * GH : nullptr;
  const C* rb = bias ? wb + GH : nullptr;
  const C* pd = peephole ? peephole + d * 3 * H : nullptr;
  const std::vector<GateFunction<C>> fn = gateFunctions<C>(p, d, layer);
  const C clip = static_cast<C>(p.clip);
  auto clipped = [clip](C v) { return v < -clip ? -clip : (v > clip ? clip : v); };  // NaN passes
  // GRU with linear_before_reset keeps Rbh inside r * (H * Rh^T + Rbh); every other recurrent bias is folded.
  const bool keepHiddenBias = gru && p.linearBeforeReset;

  // Projection of all steps: [seq * batch, gates * hidden] in x's row order, plus the folded biases.
  const int64_t rows = seq * batch;
  std::vector<C> projection(static_cast<size_t>(rows * GH));
  gemm(false, true, rows, GH, input, x, input, wd, input, projection.data(), GH);
  if (wb) {
    std::vector<C> rowBias(static_cast<size_t>(GH));
    for (int64_t j = 0; j < GH; ++j) rowBias[j] = wb[j] + (keepHiddenBias && j >= 2 * H ? C(0) : rb[j]);
    parallelFor(rows, std::max<int64_t>(1, 4096 / GH), [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) {
        C* row = projection.data() + i * GH;
        for (int64_t j = 0; j < GH; ++j) row[j] += rowBias[j];
      }
    });
  }

  // State: h (and c) per batch entry, [batch, hidden].
  std::vector<C> h(static_cast<size_t>(batch * H), C(0)), c(lstm ? static_cast<size_t>(batch * H) : 0, C(0));
  for (int64_t b = 0; b < batch; ++b) {
    if (initialH) std::copy_n(initialH + stateOffset(d, b), H, h.data() + b * H);
    if (lstm && initialC) std::copy_n(initialC + stateOffset(d, b), H, c.data() + b * H);
  }
  std::vector<C> recurrent(static_cast<size_t>(batch * GH));          // H * R^T per step
  std::vector<C> resetHidden(gru ? static_cast<size_t>(batch * H) : 0);  // GRU: r (.) H
  const int64_t grain = std::max<int64_t>(1, 2048 / GH);

  for (int64_t step = 0; step < seq; ++step) {
    const int64_t t = reverse ? seq - 1 - step : step;
    auto active = [&](int64_t b) { return t < lengths[b]; };
    if (gru && !p.linearBeforeReset) {
      // z and r first; the candidate needs (r (.) H) * Rh^T.
      gemm(false, true, batch, 2 * H, H, h.data(), H, rd, H, recurrent.data(), GH);
      parallelFor(batch, grain, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const C* xp = projection.data() + xRow(t, b) * GH;
          C* hp = recurrent.data() + b * GH;
          for (int64_t j = 0; j < H; ++j) {
            hp[j] = fn[0](clipped(xp[j] + hp[j]));                     // z
            C reset = fn[0](clipped(xp[H + j] + hp[H + j]));           // r
            resetHidden[b * H + j] = reset * h[b * H + j];
          }
        }
      });
      gemm(false, true, batch, H, H, resetHidden.data(), H, rd + 2 * H * H, H, recurrent.data() + 2 * H, GH);
    } else {
      gemm(false, true, batch, GH, H, h.data(), H, rd, H, recurrent.data(), GH);
    }
    parallelFor(batch, grain, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        C* hb = h.data() + b * H;
        if (!active(b)) {
          if (y) std::fill_n(y + yOffset(t, d, b), H, C(0));
          continue;
        }
        const C* xp = projection.data() + xRow(t, b) * GH;
        const C* hp = recurrent.data() + b * GH;
        switch (p.cell) {
          case RecurrentCell::kRNN:
            for (int64_t j = 0; j < H; ++j) hb[j] = fn[0](clipped(xp[j] + hp[j]));
            break;
          case RecurrentCell::kGRU:
            for (int64_t j = 0; j < H; ++j) {
              C z, candidate;
              if (p.linearBeforeReset) {
                z = fn[0](clipped(xp[j] + hp[j]));
                C reset = fn[0](clipped(xp[H + j] + hp[H + j]));
                C hiddenBias = rb ? rb[2 * H + j] : C(0);
                candidate = fn[1](clipped(xp[2 * H + j] + reset * (hp[2 * H + j] + hiddenBias)));
              } else {
                z = hp[j];  // already activated above
                candidate = fn[1](clipped(xp[2 * H + j] + hp[2 * H + j]));
              }
              hb[j] = (C(1) - z) * candidate + z * hb[j];
            }
            break;
          case RecurrentCell::kLSTM: {
            C* cb = c.data() + b * H;
            for (int64_t j = 0; j < H; ++j) {
              // Gate order i, o, f, c; peephole order i, o, f.
              C in = fn[0](clipped(xp[j] + hp[j] + (pd ? pd[j] * cb[j] : C(0))));
              C forget = p.inputForget ? C(1) - in
                                       : fn[0](clipped(xp[2 * H + j] + hp[2 * H + j] + (pd ? pd[2 * H + j] * cb[j] : C(0))));
              C cell = fn[1](clipped(xp[3 * H + j] + hp[3 * H + j]));
              C next = forget * cb[j] + in * cell;
              C out = fn[0](clipped(xp[H + j] + hp[H + j] + (pd ? pd[H + j] * next : C(0))));
              cb[j] = next;
              hb[j] = out * fn[2](next);
            }
            break;
          }
        }
        if (y) std::copy_n(hb, H, y + yOffset(t, d, b));
      }
    });
  }
  // Final states; an entry of length 0 gets zeros (as ONNX Runtime), not its initial state.
  for (int64_t b = 0; b < batch; ++b) {
    if (lengths[b] == 0) {
      if (yH) std::fill_n(yH + stateOffset(d, b), H, C(0));
      if (yC) std::fill_n(yC + stateOffset(d, b), H, C(0));
      continue;
    }
    if (yH) std::copy_n(h.data() + b * H, H, yH + stateOffset(d, b));
    if (yC) std::copy_n(c.data() + b * H, H, yC + stateOffset(d, b));
  }
}

template <class C>
void recurrent(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<RecurrentParams>();
  RecurrentProblem<C> prob{p, layer};
  const TensorView& xv = args.inputs[0];
  KILN_CHECK(xv.shape.size() == 3, kInvalidArgument, layer.describe(), ": x must be 3-D, got ",
             dimsToString(xv.shape));
  prob.seq = p.batchFirst ? xv.shape[1] : xv.shape[0];
  prob.batch = p.batchFirst ? xv.shape[0] : xv.shape[1];
  prob.input = xv.shape[2];
  prob.hidden = p.hiddenSize;
  prob.gates = recurrentGates(p.cell);
  prob.dirs = p.direction == RecurrentDirection::kBidirectional ? 2 : 1;
  const int64_t GH = prob.gates * prob.hidden, stateCount = prob.dirs * prob.batch * prob.hidden;
  KILN_CHECK(prob.hidden >= 1, kInvalidArgument, layer.describe(), ": hidden size must be >= 1, got ", prob.hidden);
  auto expectCount = [&](const TensorView* v, int64_t want, const char* what) {
    if (!v) return;
    KILN_CHECK(v->count() == want, kInvalidArgument, layer.describe(), ": ", what, " has shape ",
               dimsToString(v->shape), ", expected ", want, " elements");
  };
  const TensorView* bias = detail::optionalInput(args, 3);
  const TensorView* lengths = detail::optionalInput(args, 4);
  const TensorView* initialH = detail::optionalInput(args, 5);
  const TensorView* initialC = p.cell == RecurrentCell::kLSTM ? detail::optionalInput(args, 6) : nullptr;
  const TensorView* peephole = p.cell == RecurrentCell::kLSTM ? detail::optionalInput(args, 7) : nullptr;
  expectCount(&args.inputs[1], prob.dirs * GH * prob.input, "w");
  expectCount(&args.inputs[2], prob.dirs * GH * prob.hidden, "r");
  expectCount(bias, prob.dirs * 2 * GH, "bias");
  expectCount(lengths, prob.batch, "sequence lengths");
  expectCount(initialH, stateCount, "initial h");
  expectCount(initialC, stateCount, "initial c");
  expectCount(peephole, prob.dirs * 3 * prob.hidden, "peephole");
  prob.x = xv.as<const C>();
  prob.w = args.inputs[1].as<const C>();
  prob.r = args.inputs[2].as<const C>();
  prob.bias = bias ? bias->as<const C>() : nullptr;
  prob.initialH = initialH ? initialH->as<const C>() : nullptr;
  prob.initialC = initialC ? initialC->as<const C>() : nullptr;
  prob.peephole = peephole ? peephole->as<const C>() : nullptr;
  prob.lengths.assign(static_cast<size_t>(prob.batch), prob.seq);
  if (lengths) {
    prob.lengths = readInts(*lengths, layer);
    for (int64_t len : prob.lengths)
      KILN_CHECK(len >= 0 && len <= prob.seq, kInvalidArgument, layer.describe(), ": sequence length ", len,
                 " is out of range [0, ", prob.seq, "]");
  }
  auto output = [&](size_t i, int64_t want, const char* what) -> C* {
    if (i >= args.outputs.size() || args.outputs[i].data == nullptr) return nullptr;
    KILN_CHECK(args.outputs[i].count() == want, kInvalidArgument, layer.describe(), ": output ", what, " has shape ",
               dimsToString(args.outputs[i].shape), ", expected ", want, " elements");
    return args.outputs[i].as<C>();
  };
  prob.y = output(0, prob.seq * stateCount, "y");
  prob.yH = output(1, stateCount, "y_h");
  prob.yC = p.cell == RecurrentCell::kLSTM ? output(2, stateCount, "y_c") : nullptr;
  if (prob.batch == 0) return;  // every output is empty
  for (int64_t d = 0; d < prob.dirs; ++d) prob.runDirection(d);
}

}  // namespace

std::string supportsRecurrent(const ir::Layer& layer) {
  return checkTypesPerIndex(layer, {kFloats, kFloats, kFloats, kFloats, kIntegers, kFloats}, {kFloats});  // input 4: sequence lengths
}

void runRecurrent(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 3);
  const DataType type = args.inputs[0].type;
  for (size_t i = 1; i < args.inputs.size(); ++i)
    if (i != 4 && args.inputs[i].data != nullptr) checkSameType(layer, args.inputs[0], args.inputs[i]);
  switch (type) {
    case DataType::kFloat32: recurrent<float>(layer, args); break;
    case DataType::kFloat64: recurrent<double>(layer, args); break;
    case DataType::kFloat16:
    case DataType::kBFloat16:
      detail::runInFloat(args, {0, 1, 2, 3, 5, 6, 7}, {0, 1, 2},
                         [&](const KernelArgs& fa) { recurrent<float>(layer, fa); });
      break;
    default: unsupportedType(type, layer);
  }
}

}  // namespace kiln::cpu
