// Convolution (cudnnConvolutionForward) and Deconvolution (cudnnConvolutionBackwardData) through the
// cuDNN 9 legacy API: NCHW, or NHWC tensors and KRSC filters for a channels-last convolution; 1-D as 2-D
// with a unit dim, groups, dilations, 3-D. Asymmetric convolution pads are applied by a zero-pad kernel
// into the workspace first. fp16 uses tensor-op math with fp32 compute, fp32 stays exact FMA (no TF32).
// The convolution epilogue (ConvolutionParams: bias, residual z, activation, clamp): with a bias and ReLU
// or nothing after it, one cudnnConvolutionBiasActivationForward call (y = act(conv + z + bias)); else
// cudnnConvolutionForward and one pointwise epilogue kernel (conv_epilogue.cu). Plans (descriptors and
// algorithm) are cached per input/output shape.
//
// Tactics: "cuda.conv.cudnn" / "cuda.deconv.cudnn" take cuDNN's heuristic choice (_v7) for each shape; their
// variants fix one algorithm ("cuda.conv.cudnn.fft_tiling", "cuda.deconv.cudnn.algo1", ...), used for a shape
// when cuDNN can run it there (listed runnable by _v7, its workspace query succeeds within the limit), else
// that shape falls back to the heuristic choice. cudnnFindConvolutionForwardAlgorithm's own timing was tried
// before the builder timed tactics: no gain at batch 32 on ResNet-50, slower graphs at batch 1.
#include <cudnn.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <iterator>
#include <map>
#include <mutex>

#include "backends/cuda/kernels/channels_last.h"
#include "core/channels_last.h"
#include "backends/cuda/kernels/conv_epilogue.h"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {
namespace {

#define KILN_DNN_CHECK(call)                                                                                  \
  do {                                                                                                        \
    cudnnStatus_t s_ = (call);                                                                                \
    if (s_ != CUDNN_STATUS_SUCCESS)                                                                           \
      fail(ErrorCode::kRuntimeError, concat("cuDNN error: ", #call, " failed with ", cudnnGetErrorString(s_))); \
  } while (0)

constexpr size_t kMaxAlgoWorkspace = size_t(1) << 30;

// An algorithm a tactic can fix: its cuDNN enum value and its name in the tactic.
struct CudnnAlgorithm {
  int value;
  const char* name;
};
// cudnnConvolutionFwdAlgo_t and cudnnConvolutionBwdDataAlgo_t, each in the order their variants are listed
// when the build-time shape is unknown (the usual winners first).
constexpr CudnnAlgorithm kForwardAlgorithms[] = {
    {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, "implicit_precomp_gemm"},
    {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, "implicit_gemm"},
    {CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED, "winograd_nonfused"},
    {CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING, "fft_tiling"},
    {CUDNN_CONVOLUTION_FWD_ALGO_GEMM, "gemm"},
    {CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD, "winograd"},
    {CUDNN_CONVOLUTION_FWD_ALGO_FFT, "fft"},
    {CUDNN_CONVOLUTION_FWD_ALGO_DIRECT, "direct"},
};
constexpr CudnnAlgorithm kBackwardDataAlgorithms[] = {
    {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, "algo1"},
    {CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, "algo0"},
    {CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING, "fft_tiling"},
    {CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED, "winograd_nonfused"},
    {CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT, "fft"},
    {CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD, "winograd"},
};
static_assert(std::size(kForwardAlgorithms) == CUDNN_CONVOLUTION_FWD_ALGO_COUNT, "every forward algorithm named");
static_assert(std::size(kBackwardDataAlgorithms) == CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
              "every backward-data algorithm named");

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = 0;
  size_t algoWorkspace = 0;
  // asymmetric pads: x is first padded into the workspace (shapes in the layer's layout)
  bool prePad = false;
  Dims paddedShape, prePadBegin;
  size_t paddedBytes = 0;
  // the fused cudnnConvolutionBiasActivationForward call, when the epilogue allows it
  bool fused = false;
  mutable std::atomic<bool> fusedRejected{false};  // cuDNN refused the fused call: the unfused path from then on
  cudnnTensorDescriptor_t bias = nullptr;
  cudnnActivationDescriptor_t activation = nullptr;
  ~ConvPlan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (activation) cudnnDestroyActivationDescriptor(activation);
  }
};

size_t alignUp(size_t v) { return (v + 255) & ~size_t(255); }

// `shape` is logical NC[D]HW; channelsLast: the memory holds it as N[D]HWC.
void setTensor(cudnnTensorDescriptor_t d, cudnnDataType_t dt, Dims shape, bool channelsLast = false) {
  while (shape.size() < 4) shape.push_back(1);
  std::vector<int> dims(shape.begin(), shape.end());
  if (channelsLast) {
    KILN_DNN_CHECK(cudnnSetTensorNdDescriptorEx(d, CUDNN_TENSOR_NHWC, dt, static_cast<int>(dims.size()), dims.data()));
    return;
  }
  std::vector<int> strides(shape.size());
  Dims st = stridesOf(shape);
  for (size_t i = 0; i < st.size(); ++i) strides[i] = static_cast<int>(st[i]);
  KILN_DNN_CHECK(cudnnSetTensorNdDescriptor(d, dt, static_cast<int>(dims.size()), dims.data(), strides.data()));
}


// A (de)convolution layer's parameters, and its cuDNN descriptors for given shapes.
class ConvGeometry {
 public:
  ConvGeometry(const ir::Layer& layer, bool deconv) : layer_(&layer), deconv_(deconv), type_(layer.inputs[0]->type()) {
    if (deconv) {
      const auto& p = layer.as<DeconvolutionParams>();
      strides_ = p.strides; dilations_ = p.dilations;
      padsBegin_ = p.padsBegin; padsEnd_ = p.padsEnd; mode_ = p.paddingMode; groups_ = p.groups;
      outputPadding_ = p.outputPadding;
    } else {
      const auto& p = layer.as<ConvolutionParams>();
      strides_ = p.strides; dilations_ = p.dilations;
      padsBegin_ = p.padsBegin; padsEnd_ = p.padsEnd; mode_ = p.paddingMode; groups_ = p.groups;
      channelsLast_ = p.channelsLast;
    }
  }
  const ir::Layer& layer() const { return *layer_; }
  bool deconv() const { return deconv_; }
  DataType type() const { return type_; }

  // The descriptors (and pre-padding) for input xs, weights ws and output ys in the layer's layout; no
  // algorithm yet.
  std::unique_ptr<ConvPlan> describe(const Dims& layoutXs, const Dims& layoutWs, const Dims& layoutYs) const {
    const Dims xs = channelsLast_ ? channelsFirstOf(layoutXs) : layoutXs;
    const Dims ws = channelsLast_ ? channelsFirstOf(layoutWs) : layoutWs;
    const Dims ys = channelsLast_ ? channelsFirstOf(layoutYs) : layoutYs;
    int sr = static_cast<int>(xs.size()) - 2;
    KILN_CHECK(sr >= 1 && sr <= 3, kUnsupported, layer_->describe(), ": cuDNN convolution needs 1-3 spatial dims");
    auto at = [](const Dims& d, int i, int64_t def) { return i < static_cast<int>(d.size()) ? d[i] : def; };
    std::vector<int64_t> k(sr), st(sr), dil(sr), pb(sr), pe(sr);
    for (int i = 0; i < sr; ++i) {
      k[i] = ws[2 + i];
      st[i] = at(strides_, i, 1);
      dil[i] = at(dilations_, i, 1);
      int64_t dk = (k[i] - 1) * dil[i] + 1;
      if (mode_ == PaddingMode::kExplicit) {
        pb[i] = at(padsBegin_, i, 0);
        pe[i] = at(padsEnd_, i, 0);
      } else if (mode_ == PaddingMode::kValid) {
        pb[i] = pe[i] = 0;
        if (deconv_) {
          int64_t total = st[i] * (xs[2 + i] - 1) + at(outputPadding_, i, 0) + dk - ys[2 + i];
          pb[i] = 0;
          pe[i] = std::max<int64_t>(total, 0);
        }
      } else {
        int64_t total = deconv_ ? st[i] * (xs[2 + i] - 1) + at(outputPadding_, i, 0) + dk - ys[2 + i]
                                : std::max<int64_t>(0, (ys[2 + i] - 1) * st[i] + dk - xs[2 + i]);
        total = std::max<int64_t>(total, 0);
        bool upper = mode_ == PaddingMode::kSameUpper;
        pb[i] = upper ? total / 2 : total - total / 2;
        pe[i] = total - pb[i];
      }
    }
    // explicit deconvolution with outputShape: pads follow from it
    if (deconv_ && mode_ == PaddingMode::kExplicit) {
      for (int i = 0; i < sr; ++i) {
        int64_t dk = (k[i] - 1) * dil[i] + 1;
        int64_t total = st[i] * (xs[2 + i] - 1) + at(outputPadding_, i, 0) + dk - ys[2 + i];
        if (total != pb[i] + pe[i]) {  // outputShape given: SAME_UPPER-like split as ONNX does
          pb[i] = total - total / 2;
          pe[i] = total / 2;
        }
      }
    }
    auto plan = std::make_unique<ConvPlan>();
    cudnnDataType_t dt = type_ == DataType::kFloat16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
    Dims xShape = xs;
    std::vector<int> pads(sr);
    for (int i = 0; i < sr; ++i) {
      int64_t sym = std::min(pb[i], pe[i]);
      pads[i] = static_cast<int>(sym);
      if (pb[i] != pe[i]) {
        KILN_CHECK(!deconv_, kUnsupported, layer_->describe(),
                   ": the cuDNN deconvolution kernel needs symmetric pads, got ", pb[i], " and ", pe[i]);
        plan->prePad = true;
      }
    }
    if (plan->prePad) {
      plan->prePadBegin.assign(xs.size(), 0);
      plan->paddedShape = xs;
      for (int i = 0; i < sr; ++i) {
        int64_t sym = std::min(pb[i], pe[i]);
        plan->prePadBegin[2 + i] = pb[i] - sym;
        plan->paddedShape[2 + i] = xs[2 + i] + (pb[i] - sym) + (pe[i] - sym);
      }
      xShape = plan->paddedShape;
      plan->paddedBytes = static_cast<size_t>(volume(xShape)) * dataTypeSize(type_);
      if (channelsLast_) {  // the zero-pad kernel works on the memory layout
        plan->paddedShape = channelsLastOf(plan->paddedShape);
        plan->prePadBegin = channelsLastOf(plan->prePadBegin);
      }
    }
    // 1-D: a trailing unit dim
    int nd = std::max(sr, 2);
    std::vector<int> padA(nd, 0), strideA(nd, 1), dilA(nd, 1), filt(2 + nd, 1);
    for (int i = 0; i < sr; ++i) {
      padA[i] = pads[i];
      strideA[i] = static_cast<int>(st[i]);
      dilA[i] = static_cast<int>(dil[i]);
    }
    filt[0] = static_cast<int>(ws[0]);
    filt[1] = static_cast<int>(ws[1]);
    for (int i = 0; i < sr; ++i) filt[2 + i] = static_cast<int>(k[i]);
    KILN_DNN_CHECK(cudnnCreateTensorDescriptor(&plan->x));
    KILN_DNN_CHECK(cudnnCreateTensorDescriptor(&plan->y));
    KILN_DNN_CHECK(cudnnCreateFilterDescriptor(&plan->w));
    KILN_DNN_CHECK(cudnnCreateConvolutionDescriptor(&plan->conv));
    setTensor(plan->x, dt, xShape, channelsLast_);
    setTensor(plan->y, dt, ys, channelsLast_);
    KILN_DNN_CHECK(cudnnSetFilterNdDescriptor(plan->w, dt, channelsLast_ ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, 2 + nd,
                                              filt.data()));
    KILN_DNN_CHECK(cudnnSetConvolutionNdDescriptor(plan->conv, nd, padA.data(), strideA.data(), dilA.data(),
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    KILN_DNN_CHECK(cudnnSetConvolutionGroupCount(plan->conv, static_cast<int>(groups_)));
    KILN_DNN_CHECK(cudnnSetConvolutionMathType(plan->conv, type_ == DataType::kFloat16 ? CUDNN_TENSOR_OP_MATH
                                                                                        : CUDNN_FMA_MATH));
    return plan;
  }

 private:
  const ir::Layer* layer_;
  bool deconv_;
  DataType type_;
  Dims strides_, dilations_, padsBegin_, padsEnd_, outputPadding_;
  PaddingMode mode_ = PaddingMode::kExplicit;
  int64_t groups_ = 1;
  bool channelsLast_ = false;
};

// An algorithm cuDNN can run for a described (de)convolution, and its workspace.
struct RunnableAlgorithm {
  int algo;
  size_t workspace;
};

// cuDNN's workspace query for `algo` on the plan's configuration: its status says whether cuDNN supports it.
cudnnStatus_t algorithmWorkspace(cudnnHandle_t h, const ConvPlan& p, bool deconv, int algo, size_t* bytes) {
  if (deconv)
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w, p.x, p.conv, p.y,
                                                        static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
  return cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.conv, p.y, static_cast<cudnnConvolutionFwdAlgo_t>(algo),
                                                 bytes);
}

// The algorithms cuDNN's heuristic (_v7) lists for the plan's configuration, best first, keeping those it
// reports runnable whose workspace query succeeds within kMaxAlgoWorkspace. Hold the context's cuDNN mutex.
std::vector<RunnableAlgorithm> runnableAlgorithms(cudnnHandle_t h, const ConvPlan& p, bool deconv) {
  std::vector<int> listed;
  if (deconv) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int n = 0;
    KILN_DNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.x, p.conv, p.y,
                                                               CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
    for (int i = 0; i < n; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kMaxAlgoWorkspace) listed.push_back(perf[i].algo);
  } else {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    KILN_DNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                          &n, perf));
    for (int i = 0; i < n; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kMaxAlgoWorkspace) listed.push_back(perf[i].algo);
  }
  std::vector<RunnableAlgorithm> runnable;
  for (int algo : listed) {
    // each algorithm once, at its best place in the list
    bool seen = std::any_of(runnable.begin(), runnable.end(), [&](const RunnableAlgorithm& r) { return r.algo == algo; });
    size_t bytes = 0;
    if (!seen && algorithmWorkspace(h, p, deconv, algo, &bytes) == CUDNN_STATUS_SUCCESS && bytes <= kMaxAlgoWorkspace)
      runnable.push_back({algo, bytes});
  }
  return runnable;
}

class ConvKernel final : public NamedKernel {
 public:
  // fixedAlgo: the algorithm to use where cuDNN can run it, -1 for the heuristic choice everywhere.
  ConvKernel(std::string name, std::shared_ptr<DeviceContext> ctx, const ir::Layer& layer, bool deconv, int fixedAlgo)
      : NamedKernel(std::move(name)), ctx_(std::move(ctx)), geometry_(layer, deconv), fixedAlgo_(fixedAlgo) {
    if (!deconv) {
      const auto& p = layer.as<ConvolutionParams>();
      clampMin_ = p.outputMin;
      clampMax_ = p.outputMax;
      activation_ = p.activation;
      channelsLast_ = p.channelsLast;
    }
  }

  size_t workspaceSize(const KernelArgs& args) const override {
    const ConvPlan& p = plan(args);
    return alignUp(p.paddedBytes) + p.algoWorkspace;
  }

  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& y = args.outputs[0];
    if (y.count() == 0) return;
    const ConvPlan& p = plan(args);
    auto s = streamOf(args);
    const DataType type = geometry_.type();
    const void* w = args.inputs[1].data;  // constants are the engine's device copies, uploaded once
    const void* b = present(args, 2) ? args.inputs[2].data : nullptr;
    size_t need = alignUp(p.paddedBytes) + p.algoWorkspace;
    KILN_CHECK(args.workspaceBytes >= need || need == 0, kInternal, geometry_.layer().describe(), ": workspace of ",
               args.workspaceBytes, " bytes, ", need, " needed");
    const void* xin = x.data;
    char* ws = static_cast<char*>(args.workspace);
    if (p.prePad) {
      launchZeroPad(x.data, ws, dataTypeSize(type), x.shape, p.prePadBegin, p.paddedShape, s);
      xin = ws;
    }
    void* algoWs = p.algoWorkspace ? ws + alignUp(p.paddedBytes) : nullptr;
    const void* z = present(args, 3) ? args.inputs[3].data : nullptr;
    if (z)
      KILN_CHECK(args.inputs[3].shape == y.shape, kInvalidArgument, geometry_.layer().describe(), ": residual ",
                 dimsToString(args.inputs[3].shape), " does not match the output ", dimsToString(y.shape));
    float alpha = 1.f, beta = 0.f;
    if (x.count() > 0) {
      std::lock_guard<std::mutex> lock(ctx_->cudnnMutex());
      auto h = reinterpret_cast<cudnnHandle_t>(ctx_->cudnn());
      KILN_DNN_CHECK(cudnnSetStream(h, s));
      if (geometry_.deconv()) {
        KILN_DNN_CHECK(cudnnConvolutionBackwardData(h, &alpha, p.w, w, p.x, xin, p.conv,
                                                    static_cast<cudnnConvolutionBwdDataAlgo_t>(p.algo), algoWs,
                                                    p.algoWorkspace, &beta, p.y, y.data));
      } else if (p.fused && b && !p.fusedRejected.load()) {
        // y = act(conv + alpha2 * z + bias); without a residual z is y itself with alpha2 = 0.
        float alpha2 = z ? 1.f : 0.f;
        cudnnStatus_t status = cudnnConvolutionBiasActivationForward(
            h, &alpha, p.x, xin, p.w, w, p.conv, static_cast<cudnnConvolutionFwdAlgo_t>(p.algo), algoWs,
            p.algoWorkspace, &alpha2, p.y, z ? z : y.data, p.bias, b, p.activation, p.y, y.data);
        if (status == CUDNN_STATUS_SUCCESS) return;
        // cuDNN refuses some configurations (types, layouts) of its fused call as unsupported or as bad
        // parameters; the same convolution then runs unfused, checked by cudnnConvolutionForward.
        if (status != CUDNN_STATUS_NOT_SUPPORTED && status != CUDNN_STATUS_BAD_PARAM)
          fail(ErrorCode::kRuntimeError, concat(geometry_.layer().describe(),
                                                ": cudnnConvolutionBiasActivationForward failed with ",
                                                cudnnGetErrorString(status)));
        p.fusedRejected.store(true);
        KILN_DNN_CHECK(cudnnConvolutionForward(h, &alpha, p.x, xin, p.w, w, p.conv,
                                               static_cast<cudnnConvolutionFwdAlgo_t>(p.algo), algoWs,
                                               p.algoWorkspace, &beta, p.y, y.data));
      } else {
        KILN_DNN_CHECK(cudnnConvolutionForward(h, &alpha, p.x, xin, p.w, w, p.conv,
                                               static_cast<cudnnConvolutionFwdAlgo_t>(p.algo), algoWs,
                                               p.algoWorkspace, &beta, p.y, y.data));
      }
    } else {
      KILN_CUDA_CHECK(cudaMemsetAsync(y.data, 0, y.bytes(), s));
    }
    const int64_t channels = channelsLast_ ? y.shape.back() : y.shape[1];
    if (geometry_.deconv()) {
      if (b) launchChannelBiasClamp(y.data, b, type, y.shape[0], y.shape[1], prodDims(y.shape, 2, y.shape.size()),
                                    -INFINITY, INFINITY, s);
    } else if (b || z || activation_ != ConvActivation::kNone || clampMin_ != -INFINITY || clampMax_ != INFINITY) {
      // NC[D]HW: channel (i / spatial) % C; channels-last: i % C.
      const int64_t inner = channelsLast_ ? 1 : prodDims(y.shape, 2, y.shape.size());
      launchConvEpilogue(y.data, b, z, type, y.count() / std::max<int64_t>(channels * inner, 1), channels, inner,
                         activation_, clampMin_, clampMax_, s);
    }
  }

 private:
  const ConvPlan& plan(const KernelArgs& args) const {
    const Dims& xs = args.inputs[0].shape;
    const Dims& ys = args.outputs[0].shape;
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = std::make_pair(xs, ys);
    auto it = plans_.find(key);
    if (it != plans_.end()) return *it->second;
    return *plans_.emplace(key, makePlan(xs, args.inputs[1].shape, ys)).first->second;
  }

  // The descriptors, then the fixed algorithm where cuDNN can run it for these shapes, else its heuristic choice.
  std::unique_ptr<ConvPlan> makePlan(const Dims& xs, const Dims& ws, const Dims& ys) const {
    std::unique_ptr<ConvPlan> plan = geometry_.describe(xs, ws, ys);
    std::lock_guard<std::mutex> lock(ctx_->cudnnMutex());
    auto h = reinterpret_cast<cudnnHandle_t>(ctx_->cudnn());
    std::vector<RunnableAlgorithm> runnable = runnableAlgorithms(h, *plan, geometry_.deconv());
    KILN_CHECK(!runnable.empty(), kUnsupported, geometry_.layer().describe(), ": cuDNN has no algorithm for input ",
               dimsToString(xs), " weights ", dimsToString(ws), " output ", dimsToString(ys));
    RunnableAlgorithm chosen = runnable.front();
    for (const RunnableAlgorithm& r : runnable)
      if (r.algo == fixedAlgo_) chosen = r;
    plan->algo = chosen.algo;
    plan->algoWorkspace = chosen.workspace;
    describeFusedEpilogue(*plan, ys);
    return plan;
  }

  // cudnnConvolutionBiasActivationForward computes act(conv + z + bias) with act ReLU or identity, the
  // identity with the implicit precomputed GEMM algorithm only; it needs a bias. Else the plan stays unfused.
  void describeFusedEpilogue(ConvPlan& plan, const Dims& ys) const {
    const ir::Layer& layer = geometry_.layer();
    if (geometry_.deconv() || layer.inputs.size() < 3 || !layer.inputs[2] || activation_ != ConvActivation::kNone)
      return;
    const bool relu = clampMin_ == 0.f && clampMax_ == INFINITY;
    const bool identity = clampMin_ == -INFINITY && clampMax_ == INFINITY;
    if (!relu && !(identity && plan.algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)) return;
    const int64_t channels = channelsLast_ ? ys.back() : ys[1];
    Dims biasShape(std::max<size_t>(ys.size(), 4), 1);
    biasShape[1] = channels;
    KILN_DNN_CHECK(cudnnCreateTensorDescriptor(&plan.bias));
    setTensor(plan.bias, geometry_.type() == DataType::kFloat16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT, biasShape);
    KILN_DNN_CHECK(cudnnCreateActivationDescriptor(&plan.activation));
    KILN_DNN_CHECK(cudnnSetActivationDescriptor(plan.activation, relu ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY,
                                                CUDNN_PROPAGATE_NAN, 0.0));
    plan.fused = true;
  }

  std::shared_ptr<DeviceContext> ctx_;
  ConvGeometry geometry_;
  int fixedAlgo_;
  float clampMin_ = -INFINITY, clampMax_ = INFINITY;  // fuse_conv_activation's output clamp
  ConvActivation activation_ = ConvActivation::kNone;
  bool channelsLast_ = false;
  mutable std::mutex mutex_;
  mutable std::map<std::pair<Dims, Dims>, std::unique_ptr<ConvPlan>> plans_;
};

const CudnnAlgorithm* algorithmsOf(bool deconv, size_t* count) {
  *count = deconv ? std::size(kBackwardDataAlgorithms) : std::size(kForwardAlgorithms);
  return deconv ? kBackwardDataAlgorithms : kForwardAlgorithms;
}

// The fixed algorithm a tactic names (-1 for the row's heuristic tactic).
int fixedAlgorithmOf(const ir::Layer& layer, const TacticChoice& tactic, bool deconv) {
  if (tactic.variant.empty()) return -1;
  size_t count = 0;
  const CudnnAlgorithm* algorithms = algorithmsOf(deconv, &count);
  std::string known;
  for (size_t i = 0; i < count; ++i) {
    if (tactic.variant == algorithms[i].name) return algorithms[i].value;
    known += concat(i ? ", " : "", algorithms[i].name);
  }
  fail(ErrorCode::kUnsupported, concat(layer.describe(), ": tactic '", tactic.name, "' names no cuDNN ",
                                       deconv ? "backward-data" : "forward", " algorithm (known: ", known, ")"));
}

// Variants at `effort` (1: 2, 2: 3, 3: 4, 4 and 5: all): with a static build-time shape, the algorithms cuDNN
// can run for it in its heuristic order, without its first choice (the row's own tactic); with an unknown
// (or empty) dim, the fixed order of the algorithm table, since the run-time shapes decide what runs.
// Asks cuDNN on the current device (CudaBackend::tactics makes its device current).
std::vector<std::string> algorithmVariants(const ir::Layer& layer, int effort, bool deconv) {
  size_t count = 0;
  const CudnnAlgorithm* algorithms = algorithmsOf(deconv, &count);
  const size_t cap = effort >= 4 ? count : static_cast<size_t>(std::max(effort, 1)) + 1;
  const Dims& xs = layer.inputs[0]->dims();
  const Dims& ws = layer.inputs[1]->dims();
  const Dims& ys = layer.outputs[0]->dims();
  bool known = true;
  for (const Dims* dims : {&xs, &ws, &ys})
    for (int64_t d : *dims) known = known && d > 0;
  std::vector<std::string> names;
  if (!known) {
    for (size_t i = 0; i < count && names.size() < cap; ++i) names.push_back(algorithms[i].name);
    return names;
  }
  std::unique_ptr<ConvPlan> plan = ConvGeometry(layer, deconv).describe(xs, ws, ys);
  int device = 0;
  KILN_CUDA_CHECK(cudaGetDevice(&device));
  std::shared_ptr<DeviceContext> ctx = deviceContextFor(device);
  std::vector<RunnableAlgorithm> runnable;
  {
    std::lock_guard<std::mutex> lock(ctx->cudnnMutex());
    runnable = runnableAlgorithms(reinterpret_cast<cudnnHandle_t>(ctx->cudnn()), *plan, deconv);
  }
  for (size_t r = 1; r < runnable.size() && names.size() < cap; ++r)
    for (size_t i = 0; i < count; ++i)
      if (algorithms[i].value == runnable[r].algo) names.push_back(algorithms[i].name);
  return names;
}

// What both cuDNN rows support: float types alike for x, w and bias, 1-3 spatial dims.
std::string convolutionReason(const ir::Layer& layer) {
  DataType t = inType(layer, 0);
  if (!isFloat(t)) return typeReason(t, "float32, float16");
  if (inType(layer, 1) != t) return "weights of another type than the input";
  if (layer.inputs.size() > 2 && layer.inputs[2] && inType(layer, 2) != t) return "bias of another type";
  if (layer.inputs.size() > 3 && layer.inputs[3] && inType(layer, 3) != t) return "residual of another type";
  int64_t r = inRank(layer);
  if (r < 3 || r > 5) return "cuDNN convolutions need 1-3 spatial dims";
  return "";
}

}  // namespace

std::string supportsConvolution(const ir::Layer& layer) {
  if (layer.as<ConvolutionParams>().channelsLast) return "channels-last convolutions run in cuda.conv.cudnn_nhwc";
  return convolutionReason(layer);
}
std::string supportsConvolutionChannelsLast(const ir::Layer& layer) {
  if (!layer.as<ConvolutionParams>().channelsLast) return "channels-first convolutions run in cuda.conv.cudnn";
  if (inRank(layer) != 4) return "channels-last convolutions are 2-D (NHWC) only";
  return convolutionReason(layer);
}
std::unique_ptr<Kernel> createConvolution(const std::shared_ptr<DeviceContext>& ctx, const ir::Layer& layer,
                                          const Constants&, const TacticChoice& tactic) {
  return std::make_unique<ConvKernel>(tactic.name, ctx, layer, false, fixedAlgorithmOf(layer, tactic, false));
}
std::vector<std::string> convolutionAlgorithmVariants(const ir::Layer& layer, int effort) {
  return algorithmVariants(layer, effort, false);
}

std::string supportsDeconvolution(const ir::Layer& layer) {
  std::string why = convolutionReason(layer);
  if (!why.empty()) return why;
  // cuDNN's backward-data convolution takes one pad per side: the total padding must be even.
  const auto& p = layer.as<DeconvolutionParams>();
  if (p.paddingMode == PaddingMode::kExplicit && p.outputShape.empty()) {
    for (size_t i = 0; i < p.padsBegin.size() && i < p.padsEnd.size(); ++i)
      if (p.padsBegin[i] != p.padsEnd[i]) return "asymmetric deconvolution pads";
  } else if (p.paddingMode == PaddingMode::kSameUpper || p.paddingMode == PaddingMode::kSameLower ||
             !p.outputShape.empty()) {
    const Dims& x = layer.inputs[0]->dims();
    const Dims& w = layer.inputs[1]->dims();  // [C_in, C_out / groups, k...]
    Dims kernel = p.kernelShape.empty() ? Dims(w.begin() + std::min<size_t>(2, w.size()), w.end()) : p.kernelShape;
    for (size_t i = 0; i < kernel.size(); ++i) {
      int64_t s = i < p.strides.size() ? p.strides[i] : 1, d = i < p.dilations.size() ? p.dilations[i] : 1;
      int64_t op = i < p.outputPadding.size() ? p.outputPadding[i] : 0;
      // total = s * (in - 1) + op + effective kernel - out, with out = in * s for the SAME modes
      int64_t total = op + (kernel[i] - 1) * d + 1 - s;
      if (!p.outputShape.empty()) {
        int64_t in = x[x.size() - kernel.size() + i];
        if (in < 0) return "deconvolution output_shape on a dynamic input (pads known only at run time)";
        total = s * (in - 1) + op + (kernel[i] - 1) * d + 1 - p.outputShape[p.outputShape.size() - kernel.size() + i];
      }
      if (total % 2 != 0) return "asymmetric deconvolution pads (odd total padding)";
    }
  }
  return "";
}
std::unique_ptr<Kernel> createDeconvolution(const std::shared_ptr<DeviceContext>& ctx, const ir::Layer& layer,
                                            const Constants&, const TacticChoice& tactic) {
  return std::make_unique<ConvKernel>(tactic.name, ctx, layer, true, fixedAlgorithmOf(layer, tactic, true));
}
std::vector<std::string> deconvolutionAlgorithmVariants(const ir::Layer& layer, int effort) {
  return algorithmVariants(layer, effort, true);
}

}  // namespace kiln::cuda
