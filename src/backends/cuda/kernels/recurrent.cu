// Recurrent (ONNX RNN / GRU / LSTM) with the CPU kernel's semantics (backends/cpu/kernels/recurrent.cpp).
// One cuBLASLt GEMM projects every time step of every direction (X * W^T, fp32 result); then each step runs
// one GEMM H * R^T for all directions at once (strided batch over directions) and one fused pointwise kernel
// for the biases, gates, clip, state update, sequence_lens masking and y. GRU without linear_before_reset needs
// (r (.) H) * Rh^T: a reset kernel and a second GEMM come between. States and gate buffers are fp32 in the
// workspace; fp16 keeps x, the weights and the outputs in fp16 but computes in fp32 (R is converted to fp32
// for the step GEMMs: once at creation when constant, else into the workspace at each run). Sequence lengths
// stay on the device: steps at or past an entry's length are masked (state kept, zeros in y); lengths are
// clamped to [0, seq] (the CPU kernel rejects others). A fixed launch sequence per shape (graph-capturable).
// Tactics: "cuda.recurrent.cublaslt" and its variants "heur<k>": every GEMM of the layer with cuBLASLt's
// k-th heuristic algorithm (cublaslt_gemm.h).
#include <cmath>

#include "backends/cuda/kernels/cublaslt_gemm.h"
#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"
#include "core/half.h"

namespace kiln::cuda {
namespace {

constexpr int kBlock = 256;

struct GateFunction {
  RecurrentActivation type = RecurrentActivation::kSigmoid;
  float alpha = 0.f, beta = 0.f;
};

// Everything the pointwise kernels need, by value.
struct Cell {
  RecurrentCell cell = RecurrentCell::kLSTM;
  int64_t seq = 0, batch = 0, hidden = 0, gates = 0, dirs = 0;
  bool reverse = false;  // direction kReverse: direction 0 runs backwards (direction 1 always does)
  bool batchFirst = false, linearBeforeReset = false, inputForget = false;
  float clip = INFINITY;
  GateFunction fn[2][3];      // [direction][f, g, h]
  const void* lengths = nullptr;  // [batch] int32 or int64 on the device; nullptr: all seq
  bool lengths64 = false;

  // Time step processed by direction d at step `step`.
  __device__ int64_t timeOf(int64_t d, int64_t step) const { return reverse || d == 1 ? seq - 1 - step : step; }
  // Row of x (and of the projection) for time t, batch entry b.
  __device__ int64_t xRow(int64_t t, int64_t b) const { return batchFirst ? b * seq + t : t * batch + b; }
  __device__ int64_t yOffset(int64_t t, int64_t d, int64_t b) const {
    return (batchFirst ? (b * seq + t) * dirs + d : (t * dirs + d) * batch + b) * hidden;
  }
  __device__ int64_t stateOffset(int64_t d, int64_t b) const {
    return (batchFirst ? b * dirs + d : d * batch + b) * hidden;
  }
  __device__ int64_t lengthOf(int64_t b) const {
    if (!lengths) return seq;
    int64_t n = lengths64 ? static_cast<const int64_t*>(lengths)[b] : static_cast<const int32_t*>(lengths)[b];
    return n < 0 ? 0 : (n > seq ? seq : n);
  }
};

__device__ __forceinline__ float activate(const GateFunction& f, float v) {
  switch (f.type) {
    case RecurrentActivation::kRelu: return v > 0.f ? v : 0.f;
    case RecurrentActivation::kTanh: return tanhf(v);
    case RecurrentActivation::kSigmoid: {
      if (v >= 0.f) return 1.f / (1.f + expf(-v));
      float e = expf(v);
      return e / (1.f + e);
    }
    case RecurrentActivation::kAffine: return f.alpha * v + f.beta;
    case RecurrentActivation::kLeakyRelu: return v < 0.f ? f.alpha * v : v;
    case RecurrentActivation::kThresholdedRelu: return v >= f.alpha ? v : 0.f;
    case RecurrentActivation::kScaledTanh: return f.alpha * tanhf(f.beta * v);
    case RecurrentActivation::kHardSigmoid: return fmaxf(0.f, fminf(1.f, f.alpha * v + f.beta));
    case RecurrentActivation::kElu: return v < 0.f ? f.alpha * expm1f(v) : v;
    case RecurrentActivation::kSoftsign: return v / (1.f + fabsf(v));
    case RecurrentActivation::kSoftplus: return v > 0.f ? v + log1pf(expf(-v)) : log1pf(expf(v));
  }
  return v;
}

// v clamped to [-clip, clip] with plain comparisons, as the CPU kernel: NaN passes.
__device__ __forceinline__ float clipTo(float clip, float v) { return v < -clip ? -clip : (v > clip ? clip : v); }

// Bias of gate g at j that is added to the projection: Wb + Rb, except GRU linear_before_reset's candidate
// gate, which keeps Rbh inside r * (H Rh^T + Rbh).
template <class T>
__device__ __forceinline__ float foldedBias(const Cell& s, const T* bias, int64_t d, int64_t g, int64_t j) {
  if (!bias) return 0.f;
  const int64_t gh = s.gates * s.hidden;
  const T* wb = bias + d * 2 * gh;
  float w = toCompute(wb[g * s.hidden + j]);
  if (s.cell == RecurrentCell::kGRU && s.linearBeforeReset && g == 2) return w;
  return w + toCompute(wb[gh + g * s.hidden + j]);
}

// Decomposes a flat index over [dirs, batch, hidden].
__device__ __forceinline__ void splitState(const Cell& s, int64_t i, int64_t& d, int64_t& b, int64_t& j) {
  j = i % s.hidden;
  int64_t db = i / s.hidden;
  b = db % s.batch;
  d = db / s.batch;
}

// h (and c) [dirs, batch, hidden] from the initial states (in the layer's state layout), else zeros.
template <class T>
__global__ void initStateKernel(Cell s, const T* __restrict__ initialH, const T* __restrict__ initialC,
                                float* __restrict__ h, float* __restrict__ c) {
  KILN_GRID_STRIDE(i, s.dirs * s.batch * s.hidden) {
    int64_t d, b, j;
    splitState(s, i, d, b, j);
    h[i] = initialH ? toCompute(initialH[s.stateOffset(d, b) + j]) : 0.f;
    if (c) c[i] = initialC ? toCompute(initialC[s.stateOffset(d, b) + j]) : 0.f;
  }
}

// GRU without linear_before_reset, between the two step GEMMs: z (activated) into rec's z columns and
// r (.) H into resetHidden. proj: [dirs, seq * batch, gates * hidden]; rec: [dirs, batch, gates * hidden].
template <class T>
__global__ void gruResetKernel(Cell s, int64_t step, const float* __restrict__ proj, float* __restrict__ rec,
                               const T* __restrict__ bias, const float* __restrict__ h,
                               float* __restrict__ resetHidden) {
  const int64_t H = s.hidden, GH = s.gates * s.hidden;
  KILN_GRID_STRIDE(i, s.dirs * s.batch * H) {
    int64_t d, b, j;
    splitState(s, i, d, b, j);
    const int64_t t = s.timeOf(d, step);
    const float* xp = proj + (d * s.seq * s.batch + s.xRow(t, b)) * GH;
    float* hp = rec + (d * s.batch + b) * GH;
    const GateFunction& f = s.fn[d][0];
    float z = activate(f, clipTo(s.clip, (xp[j] + foldedBias(s, bias, d, 0, j)) + hp[j]));
    float reset = activate(f, clipTo(s.clip, (xp[H + j] + foldedBias(s, bias, d, 1, j)) + hp[H + j]));
    hp[j] = z;
    resetHidden[i] = reset * h[i];
  }
}

// One step of every direction: gates from the projection and rec = H * R^T, state update, y.
template <class T>
__global__ void cellStepKernel(Cell s, int64_t step, const float* __restrict__ proj, const float* __restrict__ rec,
                               const T* __restrict__ bias, const T* __restrict__ peephole, float* __restrict__ h,
                               float* __restrict__ c, T* __restrict__ y) {
  const int64_t H = s.hidden, GH = s.gates * s.hidden;
  KILN_GRID_STRIDE(i, s.dirs * s.batch * H) {
    int64_t d, b, j;
    splitState(s, i, d, b, j);
    const int64_t t = s.timeOf(d, step);
    if (t >= s.lengthOf(b)) {
      if (y) y[s.yOffset(t, d, b) + j] = fromCompute<T>(0.f);
      continue;
    }
    const float* xp = proj + (d * s.seq * s.batch + s.xRow(t, b)) * GH;
    const float* hp = rec + (d * s.batch + b) * GH;
    const GateFunction* fn = s.fn[d];
    // Gate input g: projection + folded bias + recurrent term (the CPU kernel's order of additions).
    auto gateIn = [&](int64_t g) { return (xp[g * H + j] + foldedBias(s, bias, d, g, j)) + hp[g * H + j]; };
    float next = 0.f;
    switch (s.cell) {
      case RecurrentCell::kRNN:
        next = activate(fn[0], clipTo(s.clip, gateIn(0)));
        break;
      case RecurrentCell::kGRU: {
        float z, candidate;
        if (s.linearBeforeReset) {
          z = activate(fn[0], clipTo(s.clip, gateIn(0)));
          float reset = activate(fn[0], clipTo(s.clip, gateIn(1)));
          float hiddenBias = bias ? toCompute(bias[d * 2 * GH + GH + 2 * H + j]) : 0.f;
          candidate = activate(fn[1], clipTo(s.clip, (xp[2 * H + j] + foldedBias(s, bias, d, 2, j)) +
                                                         reset * (hp[2 * H + j] + hiddenBias)));
        } else {
          z = hp[j];  // activated by gruResetKernel
          candidate = activate(fn[1], clipTo(s.clip, gateIn(2)));
        }
        next = (1.f - z) * candidate + z * h[i];
        break;
      }
      case RecurrentCell::kLSTM: {  // gate order i, o, f, c; peephole order i, o, f
        const T* pd = peephole ? peephole + d * 3 * H : nullptr;
        const float cPrev = c[i];
        float in = activate(fn[0], clipTo(s.clip, gateIn(0) + (pd ? toCompute(pd[j]) * cPrev : 0.f)));
        float forget = s.inputForget
                           ? 1.f - in
                           : activate(fn[0], clipTo(s.clip, gateIn(2) + (pd ? toCompute(pd[2 * H + j]) * cPrev : 0.f)));
        float cell = activate(fn[1], clipTo(s.clip, gateIn(3)));
        float cNext = forget * cPrev + in * cell;
        float out = activate(fn[0], clipTo(s.clip, gateIn(1) + (pd ? toCompute(pd[H + j]) * cNext : 0.f)));
        c[i] = cNext;
        next = out * activate(fn[2], cNext);
        break;
      }
    }
    h[i] = next;
    if (y) y[s.yOffset(t, d, b) + j] = fromCompute<T>(next);
  }
}

// y_h / y_c from the final states; an entry of length 0 gets zeros (as the CPU kernel and ONNX Runtime).
template <class T>
__global__ void finalStateKernel(Cell s, const float* __restrict__ h, const float* __restrict__ c, T* __restrict__ yH,
                                 T* __restrict__ yC) {
  KILN_GRID_STRIDE(i, s.dirs * s.batch * s.hidden) {
    int64_t d, b, j;
    splitState(s, i, d, b, j);
    const bool empty = s.lengthOf(b) == 0;
    const int64_t o = s.stateOffset(d, b) + j;
    if (yH) yH[o] = fromCompute<T>(empty ? 0.f : h[i]);
    if (yC) yC[o] = fromCompute<T>(empty ? 0.f : c[i]);
  }
}

// Sizes of one run, from x's shape.
struct Problem {
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, gates = 0, dirs = 0;
  int64_t rows() const { return seq * batch; }
  int64_t gateWidth() const { return gates * hidden; }
};

// Byte offsets of the workspace regions (256-byte aligned); the GEMM workspace takes the rest.
struct Workspace {
  size_t proj = 0, rec = 0, h = 0, c = 0, reset = 0, r32 = 0, gemm = 0, end = 0;
};

class RecurrentKernel final : public NamedKernel {
 public:
  // Every GEMM takes the algorithm of rank `heuristicRank` in cuBLASLt's heuristic list (cublaslt_gemm.h).
  RecurrentKernel(std::string name, std::shared_ptr<DeviceContext> ctx, int heuristicRank, const ir::Layer& layer,
                  const Constants& constants)
      : NamedKernel(std::move(name)), gemm_(std::move(ctx), heuristicRank), p_(layer.as<RecurrentParams>()), type_(layer.inputs[0]->type()) {
    KILN_CHECK(type_ == DataType::kFloat32 || type_ == DataType::kFloat16, kUnsupported, layer.describe(),
               ": no CUDA Recurrent kernel for ", dataTypeName(type_));
    // The step GEMMs multiply the fp32 state: a constant fp16 R is converted to fp32 once, here.
    if (type_ == DataType::kFloat16 && constants.size() > 2 && constants[2] && constants[2]->data()) {
      const HostTensor& r = *constants[2];
      std::vector<float> converted(static_cast<size_t>(r.count()));
      for (size_t i = 0; i < converted.size(); ++i) converted[i] = halfToFloat(r.as<uint16_t>()[i]);
      r32_ = std::make_shared<DeviceBuffer>(converted.data(), converted.size() * sizeof(float));
    }
    // The gate functions per direction: the given ones or the ONNX defaults.
    const int64_t dirs = p_.direction == RecurrentDirection::kBidirectional ? 2 : 1;
    const int64_t count = recurrentActivationCount(p_.cell);
    KILN_CHECK(p_.activations.empty() ||
                   (p_.activations.size() >= static_cast<size_t>(dirs * count) &&
                    p_.activationAlpha.size() == p_.activations.size() &&
                    p_.activationBeta.size() == p_.activations.size()),
               kInvalidArgument, layer.describe(), ": expects ", count, " activations per direction with one alpha "
               "and beta each, got ", p_.activations.size());
    for (int64_t d = 0; d < dirs; ++d)
      for (int64_t i = 0; i < count; ++i) {
        GateFunction& f = fn_[d][i];
        if (p_.activations.empty()) {
          const bool useTanh = p_.cell == RecurrentCell::kRNN || i > 0;
          f.type = useTanh ? RecurrentActivation::kTanh : RecurrentActivation::kSigmoid;
          continue;
        }
        f.type = p_.activations[d * count + i];
        f.alpha = p_.activationAlpha[d * count + i];
        f.beta = p_.activationBeta[d * count + i];
      }
  }

  size_t workspaceSize(const KernelArgs& args) const override {
    return layout(problemOf(args)).end + LtGemmRunner::kMaxWorkspace;
  }

  void execute(const KernelArgs& args) const override {
    dispatchFloat(type_, [&](auto tag) { run<typename decltype(tag)::type>(args); });
  }

 private:
  bool lstm() const { return p_.cell == RecurrentCell::kLSTM; }
  bool gruResetFirst() const { return p_.cell == RecurrentCell::kGRU && !p_.linearBeforeReset; }
  bool convertsR() const { return type_ == DataType::kFloat16 && !r32_; }

  Problem problemOf(const KernelArgs& args) const {
    const Dims& x = args.inputs[0].shape;
    KILN_CHECK(x.size() == 3, kInvalidArgument, "Recurrent: x must be 3-D, got ", dimsToString(x));
    Problem pr;
    pr.seq = p_.batchFirst ? x[1] : x[0];
    pr.batch = p_.batchFirst ? x[0] : x[1];
    pr.input = x[2];
    pr.hidden = p_.hiddenSize;
    pr.gates = recurrentGates(p_.cell);
    pr.dirs = p_.direction == RecurrentDirection::kBidirectional ? 2 : 1;
    return pr;
  }

  Workspace layout(const Problem& pr) const {
    Workspace w;
    size_t at = 0;
    auto take = [&](int64_t floats) {
      size_t o = at;
      at += (static_cast<size_t>(floats) * sizeof(float) + 255) / 256 * 256;
      return o;
    };
    const int64_t states = pr.dirs * pr.batch * pr.hidden;
    w.proj = take(pr.dirs * pr.rows() * pr.gateWidth());
    w.rec = take(pr.dirs * pr.batch * pr.gateWidth());
    w.h = take(states);
    w.c = take(lstm() ? states : 0);
    w.reset = take(gruResetFirst() ? states : 0);
    w.r32 = take(convertsR() ? pr.dirs * pr.gateWidth() * pr.hidden : 0);
    w.gemm = w.end = at;
    return w;
  }

  template <class T>
  void run(const KernelArgs& args) const {
    const Problem pr = problemOf(args);
    if (pr.batch == 0) return;  // every output is empty
    const Workspace w = layout(pr);
    KILN_CHECK(args.workspaceBytes >= w.end, kInternal, "Recurrent: workspace of ", args.workspaceBytes,
               " bytes, needs ", w.end);
    char* ws = static_cast<char*>(args.workspace);
    float* proj = reinterpret_cast<float*>(ws + w.proj);
    float* rec = reinterpret_cast<float*>(ws + w.rec);
    float* h = reinterpret_cast<float*>(ws + w.h);
    float* c = lstm() ? reinterpret_cast<float*>(ws + w.c) : nullptr;
    float* resetHidden = gruResetFirst() ? reinterpret_cast<float*>(ws + w.reset) : nullptr;
    void* gemmWs = ws + w.gemm;
    const size_t gemmBytes = args.workspaceBytes - w.gemm;
    const cudaStream_t stream = streamOf(args);

    auto input = [&](size_t i) -> const T* { return present(args, i) ? args.inputs[i].as<const T>() : nullptr; };
    auto output = [&](size_t i) -> T* {
      return i < args.outputs.size() && args.outputs[i].data ? args.outputs[i].as<T>() : nullptr;
    };
    const T* x = args.inputs[0].as<const T>();
    const T* weights = args.inputs[1].as<const T>();
    const T* bias = input(3);
    const T* initialH = input(5);
    const T* initialC = lstm() ? input(6) : nullptr;
    const T* peephole = lstm() ? input(7) : nullptr;
    T* y = output(0);
    T* yH = output(1);
    T* yC = lstm() ? output(2) : nullptr;

    const int64_t H = pr.hidden, GH = pr.gateWidth(), states = pr.dirs * pr.batch * H;
    const float* r = nullptr;
    if (type_ == DataType::kFloat32) {
      r = args.inputs[2].as<const float>();
    } else if (r32_) {
      r = static_cast<const float*>(r32_->get());
    } else {
      float* converted = reinterpret_cast<float*>(ws + w.r32);
      launchCast(args.inputs[2].data, type_, converted, DataType::kFloat32, pr.dirs * GH * H, stream);
      r = converted;
    }

    Cell s;
    s.cell = p_.cell;
    s.seq = pr.seq;
    s.batch = pr.batch;
    s.hidden = H;
    s.gates = pr.gates;
    s.dirs = pr.dirs;
    s.reverse = p_.direction == RecurrentDirection::kReverse;
    s.batchFirst = p_.batchFirst;
    s.linearBeforeReset = p_.linearBeforeReset;
    s.inputForget = p_.inputForget;
    s.clip = p_.clip;
    for (int d = 0; d < 2; ++d)
      for (int i = 0; i < 3; ++i) s.fn[d][i] = fn_[d][i];
    if (present(args, 4)) {
      s.lengths = args.inputs[4].data;
      s.lengths64 = args.inputs[4].type == DataType::kInt64;
    }

    // Projection of every step and direction: proj[d] = X * W[d]^T, [seq * batch, GH] in x's row order.
    if (pr.rows() > 0) {
      if (pr.input == 0) {
        const size_t bytes = static_cast<size_t>(pr.dirs * pr.rows() * GH) * sizeof(float);
        KILN_CUDA_CHECK(cudaMemsetAsync(proj, 0, bytes, stream));
      } else {
        LtGemm g;
        g.M = pr.rows();
        g.N = GH;
        g.K = pr.input;
        g.transB = true;
        g.lda = g.ldb = pr.input;
        g.ldc = GH;
        g.batch = pr.dirs;
        g.strideA = 0;
        g.strideB = GH * pr.input;
        g.strideC = pr.rows() * GH;
        g.abType = type_;
        g.cType = DataType::kFloat32;
        gemm_.run(g, x, weights, proj, gemmWs, gemmBytes, stream);
      }
    }

    const unsigned grid = gridFor(states, kBlock);
    initStateKernel<T><<<grid, kBlock, 0, stream>>>(s, initialH, initialC, h, c);
    KILN_CUDA_CHECK_LAUNCH("recurrent init");

    // rec[d][:, col0 : col0 + n] = a[d] * R[d][row0 : row0 + n]^T, for every direction.
    auto stepGemm = [&](const float* a, int64_t row0, int64_t n) {
      LtGemm g;
      g.M = pr.batch;
      g.N = n;
      g.K = H;
      g.transB = true;
      g.lda = g.ldb = H;
      g.ldc = GH;
      g.batch = pr.dirs;
      g.strideA = pr.batch * H;
      g.strideB = GH * H;
      g.strideC = pr.batch * GH;
      gemm_.run(g, a, r + row0 * H, rec + row0, gemmWs, gemmBytes, stream);
    };
    for (int64_t step = 0; step < pr.seq; ++step) {
      if (gruResetFirst()) {
        stepGemm(h, 0, 2 * H);  // z and r
        gruResetKernel<T><<<grid, kBlock, 0, stream>>>(s, step, proj, rec, bias, h, resetHidden);
        KILN_CUDA_CHECK_LAUNCH("recurrent gru reset");
        stepGemm(resetHidden, 2 * H, H);  // (r (.) H) * Rh^T
      } else {
        stepGemm(h, 0, GH);
      }
      cellStepKernel<T><<<grid, kBlock, 0, stream>>>(s, step, proj, rec, bias, peephole, h, c, y);
      KILN_CUDA_CHECK_LAUNCH("recurrent step");
    }
    if (yH || yC) {
      finalStateKernel<T><<<grid, kBlock, 0, stream>>>(s, h, c, yH, yC);
      KILN_CUDA_CHECK_LAUNCH("recurrent final state");
    }
  }

  LtGemmRunner gemm_;
  RecurrentParams p_;
  DataType type_;
  GateFunction fn_[2][3];
  std::shared_ptr<DeviceBuffer> r32_;  // fp16 only: a constant R converted to fp32
};

}  // namespace

std::string supportsRecurrent(const ir::Layer& layer) {
  DataType t = inType(layer, 0);
  if (!isFloat(t)) return typeReason(t, "float32, float16");
  for (size_t i = 1; i < layer.inputs.size(); ++i)
    if (i != 4 && layer.inputs[i] && inType(layer, i) != t) return "weights or states of another type than x";
  if (layer.inputs.size() > 4 && layer.inputs[4] && !isIndex(inType(layer, 4)))
    return typeReason(inType(layer, 4), "int32, int64 sequence lengths");
  return "";
}
std::unique_ptr<Kernel> createRecurrent(const std::shared_ptr<DeviceContext>& ctx, const ir::Layer& layer,
                                        const Constants& constants, const TacticChoice& tactic) {
  return std::make_unique<RecurrentKernel>(tactic.name, ctx, cublasLtHeuristicRank(layer, tactic), layer, constants);
}

}  // namespace kiln::cuda
