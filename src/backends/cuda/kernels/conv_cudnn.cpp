// Convolution (cudnnConvolutionForward) and Deconvolution (cudnnConvolutionBackwardData) through the
// cuDNN 9 legacy API: NCHW, 1-D as 2-D with a unit dim, groups, dilations, 3-D. Asymmetric
// convolution pads are applied by a zero-pad kernel into the workspace first. The algorithm comes
// from the cuDNN heuristics (_v7) per input shape and is cached (cudnnFindConvolutionForwardAlgorithm's
// timed choice was tried: no gain at batch 32 on ResNet-50, slower graphs at batch 1); fp16 uses tensor-op math with fp32
// compute, fp32 stays exact FMA (no TF32). Bias and the fused output clamp (ReLU/Clip) are one
// per-channel kernel after cuDNN.
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "backends/cuda/kernels/kernels.h"

namespace kiln::cuda {
namespace {

#define KILN_DNN_CHECK(call)                                                                                  \
  do {                                                                                                        \
    cudnnStatus_t s_ = (call);                                                                                \
    if (s_ != CUDNN_STATUS_SUCCESS)                                                                           \
      fail(ErrorCode::kRuntimeError, concat("cuDNN error: ", #call, " failed with ", cudnnGetErrorString(s_))); \
  } while (0)

constexpr size_t kMaxAlgoWorkspace = size_t(1) << 30;

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = 0;
  size_t algoWorkspace = 0;
  // asymmetric pads: x is first padded into the workspace
  bool prePad = false;
  Dims paddedShape, prePadBegin;
  size_t paddedBytes = 0;
  ~ConvPlan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

size_t alignUp(size_t v) { return (v + 255) & ~size_t(255); }

void setTensor(cudnnTensorDescriptor_t d, cudnnDataType_t dt, Dims shape) {
  while (shape.size() < 4) shape.push_back(1);
  std::vector<int> dims(shape.begin(), shape.end()), strides(shape.size());
  Dims st = stridesOf(shape);
  for (size_t i = 0; i < st.size(); ++i) strides[i] = static_cast<int>(st[i]);
  KILN_DNN_CHECK(cudnnSetTensorNdDescriptor(d, dt, static_cast<int>(dims.size()), dims.data(), strides.data()));
}

class ConvKernel final : public NamedKernel {
 public:
  ConvKernel(std::shared_ptr<DeviceContext> ctx, const ir::Layer& layer, bool deconv)
      : NamedKernel(concat(deconv ? "cuda/deconv_" : "cuda/conv_", layer.inputs[0]->type() == DataType::kFloat16 ? "f16" : "f32",
                           "_cudnn")),
        ctx_(std::move(ctx)), layer_(&layer), deconv_(deconv), type_(layer.inputs[0]->type()) {
    if (deconv) {
      const auto& p = layer.as<DeconvolutionParams>();
      kernelShape_ = p.kernelShape; strides_ = p.strides; dilations_ = p.dilations;
      padsBegin_ = p.padsBegin; padsEnd_ = p.padsEnd; mode_ = p.paddingMode; groups_ = p.groups;
      outputPadding_ = p.outputPadding;
    } else {
      const auto& p = layer.as<ConvolutionParams>();
      kernelShape_ = p.kernelShape; strides_ = p.strides; dilations_ = p.dilations;
      padsBegin_ = p.padsBegin; padsEnd_ = p.padsEnd; mode_ = p.paddingMode; groups_ = p.groups;
      clampMin_ = p.outputMin; clampMax_ = p.outputMax;
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
    const void* w = args.inputs[1].data;  // constants are the engine's device copies, uploaded once
    const void* b = present(args, 2) ? args.inputs[2].data : nullptr;
    size_t need = alignUp(p.paddedBytes) + p.algoWorkspace;
    KILN_CHECK(args.workspaceBytes >= need || need == 0, kInternal, layer_->describe(), ": workspace of ",
               args.workspaceBytes, " bytes, ", need, " needed");
    const void* xin = x.data;
    char* ws = static_cast<char*>(args.workspace);
    if (p.prePad) {
      launchZeroPad(x.data, ws, dataTypeSize(type_), x.shape, p.prePadBegin, p.paddedShape, s);
      xin = ws;
    }
    void* algoWs = p.algoWorkspace ? ws + alignUp(p.paddedBytes) : nullptr;
    float alpha = 1.f, beta = 0.f;
    if (x.count() > 0) {
      std::lock_guard<std::mutex> lock(ctx_->cudnnMutex());
      auto h = reinterpret_cast<cudnnHandle_t>(ctx_->cudnn());
      KILN_DNN_CHECK(cudnnSetStream(h, s));
      if (deconv_)
        KILN_DNN_CHECK(cudnnConvolutionBackwardData(h, &alpha, p.w, w, p.x, xin, p.conv,
                                                    static_cast<cudnnConvolutionBwdDataAlgo_t>(p.algo), algoWs,
                                                    p.algoWorkspace, &beta, p.y, y.data));
      else
        KILN_DNN_CHECK(cudnnConvolutionForward(h, &alpha, p.x, xin, p.w, w, p.conv,
                                               static_cast<cudnnConvolutionFwdAlgo_t>(p.algo), algoWs,
                                               p.algoWorkspace, &beta, p.y, y.data));
    } else {
      KILN_CUDA_CHECK(cudaMemsetAsync(y.data, 0, y.bytes(), s));
    }
    if (b || clampMin_ != -INFINITY || clampMax_ != INFINITY)
      launchChannelBiasClamp(y.data, b, type_, y.shape[0], y.shape[1], prodDims(y.shape, 2, y.shape.size()), clampMin_,
                             clampMax_, s);
  }

 private:
  const ConvPlan& plan(const KernelArgs& args) const {
    const Dims& xs = args.inputs[0].shape;
    const Dims& ys = args.outputs[0].shape;
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = std::make_pair(xs, ys);
    auto it = plans_.find(key);
    if (it != plans_.end()) return *it->second;
    return *plans_.emplace(key, makePlan(args)).first->second;
  }

  std::unique_ptr<ConvPlan> makePlan(const KernelArgs& args) const {
    const Dims& xs = args.inputs[0].shape;
    const Dims& ws = args.inputs[1].shape;
    const Dims& ys = args.outputs[0].shape;
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
    setTensor(plan->x, dt, xShape);
    setTensor(plan->y, dt, ys);
    KILN_DNN_CHECK(cudnnSetFilterNdDescriptor(plan->w, dt, CUDNN_TENSOR_NCHW, 2 + nd, filt.data()));
    KILN_DNN_CHECK(cudnnSetConvolutionNdDescriptor(plan->conv, nd, padA.data(), strideA.data(), dilA.data(),
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    KILN_DNN_CHECK(cudnnSetConvolutionGroupCount(plan->conv, static_cast<int>(groups_)));
    KILN_DNN_CHECK(cudnnSetConvolutionMathType(plan->conv, type_ == DataType::kFloat16 ? CUDNN_TENSOR_OP_MATH
                                                                                        : CUDNN_FMA_MATH));
    std::lock_guard<std::mutex> lock(ctx_->cudnnMutex());
    auto h = reinterpret_cast<cudnnHandle_t>(ctx_->cudnn());
    bool found = false;
    if (deconv_) {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      int n = 0;
      KILN_DNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, plan->w, plan->x, plan->conv, plan->y,
                                                                 CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
      for (int i = 0; i < n && !found; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kMaxAlgoWorkspace) {
          plan->algo = perf[i].algo;
          found = true;
        }
      if (found) {
        KILN_DNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
            h, plan->w, plan->x, plan->conv, plan->y, static_cast<cudnnConvolutionBwdDataAlgo_t>(plan->algo),
            &plan->algoWorkspace));
      }
    } else {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int n = 0;
      KILN_DNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, plan->x, plan->w, plan->conv, plan->y,
                                                            CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
      for (int i = 0; i < n && !found; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kMaxAlgoWorkspace) {
          plan->algo = perf[i].algo;
          found = true;
        }
      if (found) {
        KILN_DNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, plan->x, plan->w, plan->conv, plan->y,
                                                               static_cast<cudnnConvolutionFwdAlgo_t>(plan->algo),
                                                               &plan->algoWorkspace));
      }
    }
    KILN_CHECK(found, kUnsupported, layer_->describe(), ": cuDNN has no algorithm for input ", dimsToString(xs),
               " weights ", dimsToString(ws), " output ", dimsToString(ys));
    return plan;
  }

  std::shared_ptr<DeviceContext> ctx_;
  const ir::Layer* layer_;
  bool deconv_;
  DataType type_;
  Dims kernelShape_, strides_, dilations_, padsBegin_, padsEnd_, outputPadding_;
  PaddingMode mode_ = PaddingMode::kExplicit;
  int64_t groups_ = 1;
  float clampMin_ = -INFINITY, clampMax_ = INFINITY;  // fuse_conv_activation's output clamp
  mutable std::mutex mutex_;
  mutable std::map<std::pair<Dims, Dims>, std::unique_ptr<ConvPlan>> plans_;
};

}  // namespace

std::unique_ptr<Kernel> makeConvolutionKernel(const std::shared_ptr<DeviceContext>& ctx, const ir::Layer& layer,
                                              const Constants&) {
  return std::make_unique<ConvKernel>(ctx, layer, false);
}
std::unique_ptr<Kernel> makeDeconvolutionKernel(const std::shared_ptr<DeviceContext>& ctx, const ir::Layer& layer,
                                                const Constants&) {
  return std::make_unique<ConvKernel>(ctx, layer, true);
}

}  // namespace kiln::cuda
