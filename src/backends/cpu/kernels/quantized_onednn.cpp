// Quantized convolution and matrix multiply through oneDNN's int8 primitives (AVX512-VNNI/AMX where the CPU
// has them): s8/u8 source with its zero point, s8 weights reordered once, int32 accumulation, then the
// per-channel scale inScale * wScale[m] as oneDNN output scales, the bias (pre-divided by that scale:
// oneDNN adds it to the accumulator), the activation and clamp as eltwise post-ops, and for a quantized
// output 1 / outScale and the zero point, rounded half to even and saturated by oneDNN. The scale products
// are float32 (the reference's are float64), so an output may differ from it by one quantization step.
// Constant weights and bias only (what fold_qdq makes); convolutions channels-first. At exact ties (x.5 after
// scaling) oneDNN adds the output zero point before rounding half to even, ONNX after: one step apart.
#if KILN_HAVE_DNNL

#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/onednn.h"
#include "backends/cpu/kernels/quantized_common.h"

namespace kiln::cpu {
namespace {

using onednn::engine;
using onednn::memory;

memory::data_type dnnlType(DataType t) {
  switch (t) {
    case DataType::kInt8: return memory::data_type::s8;
    case DataType::kUInt8: return memory::data_type::u8;
    case DataType::kFloat32: return memory::data_type::f32;
    default: fail(ErrorCode::kUnsupported, concat("oneDNN quantized kernels: no ", dataTypeName(t)));
  }
}

// A dense row-major memory descriptor of `type` (rank 1 to 6).
memory::desc plainDesc(const Dims& dims, DataType type) {
  KILN_CHECK(!dims.empty() && dims.size() <= 6, kUnsupported, "oneDNN: no plain format for rank ", dims.size());
  static const memory::format_tag tags[] = {memory::format_tag::a, memory::format_tag::ab, memory::format_tag::abc,
                                            memory::format_tag::abcd, memory::format_tag::abcde,
                                            memory::format_tag::abcdef};
  return memory::desc(dims, dnnlType(type), tags[dims.size() - 1]);
}

bool isConstantInput(const ir::Layer& layer, size_t i) {
  const ir::Tensor* t = i < layer.inputs.size() ? layer.inputs[i] : nullptr;
  return t && t->producerLayer && t->producerLayer->type() == LayerType::kConstant;
}

// The quantization attributes of one layer: output scales per channel, the bias in accumulator units, the
// post-ops and zero points (see the file comment).
struct QuantizedAttributes {
  std::vector<float> outputScales;
  int outputScalesMask = 0;
  std::vector<float> accumulatorBias;  // empty: no bias
  dnnl::primitive_attr attr;
};

QuantizedAttributes quantizedAttributes(int64_t channels, int channelDim, float inputScale, int64_t inputZeroPoint,
                                        const std::vector<float>& weightScales, const HostTensor* bias,
                                        ConvActivation activation, float outputMin, float outputMax,
                                        DataType outputType, float outputScale, int64_t outputZeroPoint) {
  QuantizedAttributes q;
  const bool quantizedOutput = quantized::isQuantizedType(outputType);
  const bool clamp = outputMin != -std::numeric_limits<float>::infinity() ||
                     outputMax != std::numeric_limits<float>::infinity();
  const bool postOps = clamp || activation != ConvActivation::kNone;
  // Without post-ops 1 / outScale goes into the output scales; with them into the last post-op's scale.
  const double requantScale = quantizedOutput ? 1.0 / outputScale : 1.0;
  const int64_t n = weightScales.size() == 1 ? 1 : channels;
  q.outputScalesMask = n == 1 ? 0 : 1 << channelDim;
  std::vector<double> multiplier(static_cast<size_t>(channels));
  for (int64_t m = 0; m < channels; ++m)
    multiplier[m] = static_cast<double>(inputScale) * quantized::weightScaleOf(weightScales, m);
  for (int64_t m = 0; m < n; ++m)
    q.outputScales.push_back(static_cast<float>(multiplier[m] * (postOps ? 1.0 : requantScale)));
  if (bias) {
    for (int64_t m = 0; m < channels; ++m)
      q.accumulatorBias.push_back(static_cast<float>(bias->as<const float>()[m] / multiplier[m]));
  }
  q.attr.set_output_scales(q.outputScalesMask, q.outputScales);
  dnnl::post_ops ops;
  auto lastScale = [&](bool last) { return static_cast<float>(last ? requantScale : 1.0); };
  switch (activation) {
    case ConvActivation::kNone: break;
    case ConvActivation::kSilu: ops.append_eltwise(lastScale(!clamp), dnnl::algorithm::eltwise_swish, 1.f, 0.f); break;
    case ConvActivation::kHardSwish:
      ops.append_eltwise(lastScale(!clamp), dnnl::algorithm::eltwise_hardswish, 1.f / 6.f, 0.5f);
      break;
    case ConvActivation::kSigmoid:
      ops.append_eltwise(lastScale(!clamp), dnnl::algorithm::eltwise_logistic, 0.f, 0.f);
      break;
    case ConvActivation::kGelu: ops.append_eltwise(lastScale(!clamp), dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f); break;
  }
  if (clamp) {
    if (outputMin == 0.f && outputMax == std::numeric_limits<float>::infinity())
      ops.append_eltwise(lastScale(true), dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    else
      ops.append_eltwise(lastScale(true), dnnl::algorithm::eltwise_clip, outputMin, outputMax);
  }
  if (ops.len() > 0) q.attr.set_post_ops(ops);
  if (inputZeroPoint != 0) q.attr.set_zero_points(DNNL_ARG_SRC, 0, {static_cast<int32_t>(inputZeroPoint)});
  if (quantizedOutput && outputZeroPoint != 0)
    q.attr.set_zero_points(DNNL_ARG_DST, 0, {static_cast<int32_t>(outputZeroPoint)});
  q.attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return q;
}

// Constant weights and bias: at creation when the engine gives them (Constants), else copied from the first
// run's inputs (host evaluation creates kernels without constants; the weights are constants by contract).
struct ConstantOperands {
  HostTensor weights;
  std::optional<HostTensor> bias;
};
ConstantOperands constantOperands(const ir::Layer& layer, const Constants& constants, const KernelArgs* args) {
  const bool hasBias = layer.inputs.size() > 2 && layer.inputs[2];
  ConstantOperands c;
  if (constants.size() > 1 && constants[1]) {
    c.weights = *constants[1];
    if (hasBias) {
      KILN_CHECK(constants.size() > 2 && constants[2], kInvalidArgument, layer.describe(),
                 ": the oneDNN quantized kernels need a constant bias");
      c.bias = *constants[2];
    }
    return c;
  }
  KILN_CHECK(args && args->inputs.size() > 1 && args->inputs[1].data, kInvalidArgument, layer.describe(),
             ": the oneDNN quantized kernels need the weights (constant) before the first run");
  const TensorView& w = args->inputs[1];
  KILN_CHECK(w.type == DataType::kInt8, kInvalidArgument, layer.describe(), ": weights must be int8, got ",
             dataTypeName(w.type));
  c.weights = Weights::copyOf(DataType::kInt8, w.shape, w.data);
  if (hasBias) {
    const TensorView* b = detail::optionalInput(*args, 2);
    KILN_CHECK(b && b->type == DataType::kFloat32, kInvalidArgument, layer.describe(), ": the bias must be float32");
    c.bias = Weights::copyOf(DataType::kFloat32, b->shape, b->data);
  }
  return c;
}

// ---- convolution ----

struct QConvPlan {
  Dims y;
  dnnl::convolution_forward conv;
  memory::desc src, dst, scratchpad, srcPlain, dstPlain;
  std::optional<dnnl::reorder> srcIn, dstOut;
  memory weights;
  size_t srcOffset = 0, dstOffset = 0, scratchpadOffset = 0, workspaceBytes = 0;
};

class OneDnnQuantizedConvolution final : public CpuKernel {
 public:
  OneDnnQuantizedConvolution(const ir::Layer& layer, const TacticChoice& tactic, const Constants& constants)
      : CpuKernel(layer, tactic) {
    if (constants.size() > 1 && constants[1]) prepare(constantOperands(layer, constants, nullptr));
  }

  size_t workspaceSize(const KernelArgs& args) const override {
    if (args.inputs.empty() || args.outputs.empty() || args.outputs[0].count() <= 0) return 0;
    ensurePrepared(args);
    return planFor(args.inputs[0].shape, args.outputs[0].shape)->workspaceBytes;
  }

  void execute(const KernelArgs& args) const override {
    const ir::Layer& l = layer();
    KILN_CHECK(args.inputs.size() >= 2 && !args.outputs.empty(), kInvalidArgument, l.describe(),
               ": needs x, w and y");
    const TensorView &x = args.inputs[0], &y = args.outputs[0];
    const auto& p = l.as<QuantizedConvolutionParams>();
    KILN_CHECK(x.type == l.inputs[0]->type() && y.type == p.outputType, kInvalidArgument, l.describe(),
               ": x and y must be ", dataTypeName(l.inputs[0]->type()), " and ", dataTypeName(p.outputType), ", got ",
               dataTypeName(x.type), " and ", dataTypeName(y.type));
    if (y.count() == 0) return;
    ensurePrepared(args);
    std::shared_ptr<const QConvPlan> plan = planFor(x.shape, y.shape);
    KILN_CHECK(args.workspaceBytes >= plan->workspaceBytes && (plan->workspaceBytes == 0 || args.workspace),
               kInvalidArgument, l.describe(), ": needs ", plan->workspaceBytes, " bytes of workspace, got ",
               args.workspaceBytes);
    auto* workspace = static_cast<uint8_t*>(args.workspace);
    try {
      onednn::useKilnThreadCount();
      dnnl::stream stream(engine());
      memory src(plan->srcPlain, engine(), x.data);
      if (plan->srcIn) {
        memory blocked(plan->src, engine(), workspace + plan->srcOffset);
        plan->srcIn->execute(stream, src, blocked);
        src = blocked;
      }
      memory dstPlain(plan->dstPlain, engine(), y.data);
      memory dst = plan->dstOut ? memory(plan->dst, engine(), workspace + plan->dstOffset) : dstPlain;
      std::unordered_map<int, memory> convArgs{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, plan->weights}, {DNNL_ARG_DST, dst}};
      if (!attributes_.accumulatorBias.empty())
        convArgs.emplace(DNNL_ARG_BIAS, memory(plainDesc({ws_[0]}, DataType::kFloat32), engine(),
                                               const_cast<float*>(attributes_.accumulatorBias.data())));
      if (plan->scratchpad.get_size() > 0)
        convArgs.emplace(DNNL_ARG_SCRATCHPAD, memory(plan->scratchpad, engine(), workspace + plan->scratchpadOffset));
      plan->conv.execute(stream, convArgs);
      if (plan->dstOut) plan->dstOut->execute(stream, dst, dstPlain);
      stream.wait();
    } catch (const dnnl::error& e) {
      fail(ErrorCode::kRuntimeError, concat(l.describe(), ": oneDNN quantized convolution failed: ", e.what()));
    }
  }

 private:
  // [M, C/G, k...] as oneDNN's grouped weights [G, M/G, C/G, k...] (the same bytes).
  Dims groupedWeightDims(const Dims& ws) const {
    const int64_t groups = layer().as<QuantizedConvolutionParams>().conv.groups;
    if (groups == 1) return ws;
    Dims grouped = ws;
    grouped[0] = ws[0] / groups;
    grouped.insert(grouped.begin(), groups);
    return grouped;
  }

  // The weights in oneDNN's format and the quantization attributes, once (see ConstantOperands).
  void prepare(const ConstantOperands& c) const {
    const ir::Layer& l = layer();
    const auto& p = l.as<QuantizedConvolutionParams>();
    const Dims& ws = c.weights.shape;
    KILN_CHECK(ws.size() >= 3, kInvalidArgument, l.describe(), ": weights ", dimsToString(ws), " need rank >= 3");
    KILN_CHECK(!c.bias || c.bias->count() == ws[0], kInvalidArgument, l.describe(), ": bias must be [", ws[0], "]");
    KILN_CHECK(p.weightScales.size() == 1 || static_cast<int64_t>(p.weightScales.size()) == ws[0], kInvalidArgument,
               l.describe(), ": ", p.weightScales.size(), " weight scales for ", ws[0], " output channels");
    ws_ = ws;
    weights_.emplace(plainDesc(groupedWeightDims(ws), DataType::kInt8), c.weights);
    attributes_ = quantizedAttributes(ws[0], 1, p.inputScale, p.inputZeroPoint, p.weightScales,
                                      c.bias ? &*c.bias : nullptr, p.conv.activation, p.conv.outputMin,
                                      p.conv.outputMax, p.outputType, p.outputScale, p.outputZeroPoint);
    prepared_ = true;
    const Dims& xs = l.inputs[0]->dims();
    const Dims& ys = l.outputs[0]->dims();
    if (volume(xs) > 0 && volume(ys) > 0) planFor(xs, ys);  // build-time shapes known: plan now
  }

  void ensurePrepared(const KernelArgs& args) const {
    std::lock_guard<std::mutex> lock(prepareMutex_);
    if (!prepared_) prepare(constantOperands(layer(), {}, &args));
  }

  std::shared_ptr<const QConvPlan> planFor(const Dims& xs, const Dims& ys) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = plans_.find(xs);
    if (it == plans_.end()) it = plans_.emplace(xs, makePlan(xs, ys)).first;
    KILN_CHECK(it->second->y == ys, kInvalidArgument, layer().describe(), ": output ", dimsToString(ys),
               " does not match input ", dimsToString(xs), " (expected ", dimsToString(it->second->y), ")");
    return it->second;
  }

  std::shared_ptr<const QConvPlan> makePlan(const Dims& xs, const Dims& ys) const {
    const ir::Layer& l = layer();
    const auto& qp = l.as<QuantizedConvolutionParams>();
    const ConvolutionParams& p = qp.conv;
    const Dims& ws = ws_;
    KILN_CHECK(xs.size() >= 3 && xs.size() <= 5 && ws.size() == xs.size() && ys.size() == xs.size(), kInvalidArgument,
               l.describe(), ": takes NC[D]HW input and weights of rank 3 to 5, got x ", dimsToString(xs), " and w ",
               dimsToString(ws));
    const int64_t C = xs[1], M = ws[0], G = p.groups;
    KILN_CHECK(G >= 1 && C % G == 0 && M % G == 0 && ws[1] == C / G && ys[0] == xs[0] && ys[1] == M,
               kInvalidArgument, l.describe(), ": x ", dimsToString(xs), ", w ", dimsToString(ws), " and y ",
               dimsToString(ys), " do not match with ", G, " groups");
    const size_t n = xs.size() - 2;
    Dims in(xs.begin() + 2, xs.end()), out(ys.begin() + 2, ys.end()), kernel(ws.begin() + 2, ws.end());
    std::vector<int64_t> padsBegin =
        detail::windowPadsBegin(p.paddingMode, p.padsBegin, in, out, kernel, p.strides, p.dilations);
    memory::dims strides(n), dilates(n), padL(n), padR(n);
    for (size_t i = 0; i < n; ++i) {
      strides[i] = detail::dimOr(p.strides, i, 1);
      const int64_t dilation = detail::dimOr(p.dilations, i, 1);
      KILN_CHECK(strides[i] >= 1 && dilation >= 1, kInvalidArgument, l.describe(),
                 ": strides and dilations must be positive");
      dilates[i] = dilation - 1;  // oneDNN counts the gaps
      padL[i] = padsBegin[i];
      const int64_t extent = (kernel[i] - 1) * dilation + 1;
      padR[i] = std::max<int64_t>(0, (out[i] - 1) * strides[i] + extent - in[i] - padL[i]);
    }
    const DataType xType = l.inputs[0]->type();
    auto plan = std::make_shared<QConvPlan>();
    plan->y = ys;
    plan->srcPlain = plainDesc(xs, xType);
    plan->dstPlain = plainDesc(ys, qp.outputType);
    auto any = [](const Dims& dims, DataType t) { return memory::desc(dims, dnnlType(t), memory::format_tag::any); };
    try {
      onednn::useKilnThreadCount();
      memory::desc bias = attributes_.accumulatorBias.empty() ? memory::desc() : plainDesc({M}, DataType::kFloat32);
      dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                           any(xs, xType), any(groupedWeightDims(ws), DataType::kInt8), bias,
                                           any(ys, qp.outputType), strides, dilates, padL, padR);
      dnnl::convolution_forward::primitive_desc pd(desc, attributes_.attr, engine());
      plan->conv = dnnl::convolution_forward(pd);
      plan->src = pd.src_desc();
      plan->dst = pd.dst_desc();
      plan->scratchpad = pd.scratchpad_desc();
      plan->weights = weights_->in(pd.weights_desc());
      onednn::WorkspaceLayout layout;
      auto reorder = [](const memory::desc& from, const memory::desc& to) {
        return dnnl::reorder(dnnl::reorder::primitive_desc(engine(), from, engine(), to));
      };
      if (plan->src != plan->srcPlain) {
        plan->srcIn = reorder(plan->srcPlain, plan->src);
        plan->srcOffset = layout.add(plan->src.get_size());
      }
      if (plan->dst != plan->dstPlain) {
        plan->dstOut = reorder(plan->dst, plan->dstPlain);
        plan->dstOffset = layout.add(plan->dst.get_size());
      }
      plan->scratchpadOffset = layout.add(plan->scratchpad.get_size());
      plan->workspaceBytes = layout.bytes;
    } catch (const dnnl::error& e) {
      fail(ErrorCode::kUnsupported, concat(l.describe(), ": oneDNN has no quantized convolution for x ",
                                           dimsToString(xs), ", w ", dimsToString(ws), ": ", e.what()));
    }
    return plan;
  }

  mutable std::mutex prepareMutex_;
  mutable bool prepared_ = false;
  mutable Dims ws_;
  mutable QuantizedAttributes attributes_;
  mutable std::optional<onednn::ReorderedWeights> weights_;
  mutable std::mutex mutex_;
  mutable std::map<Dims, std::shared_ptr<const QConvPlan>> plans_;
};

// ---- matrix multiply ----

struct QMatMulPlan {
  dnnl::matmul matmul;
  memory::desc src, dst, scratchpad;
  memory weights;
};

class OneDnnQuantizedMatrixMultiply final : public CpuKernel {
 public:
  OneDnnQuantizedMatrixMultiply(const ir::Layer& layer, const TacticChoice& tactic, const Constants& constants)
      : CpuKernel(layer, tactic) {
    if (constants.size() > 1 && constants[1]) prepare(constantOperands(layer, constants, nullptr));
  }

  size_t workspaceSize(const KernelArgs& args) const override {
    if (args.inputs.empty() || args.inputs[0].count() <= 0) return 0;
    ensurePrepared(args);
    if (k_ <= 0 || n_ <= 0) return 0;
    return planFor(args.inputs[0].count() / k_)->scratchpad.get_size();
  }

  void execute(const KernelArgs& args) const override {
    const ir::Layer& l = layer();
    KILN_CHECK(args.inputs.size() >= 2 && !args.outputs.empty(), kInvalidArgument, l.describe(), ": needs a, b and y");
    const TensorView &a = args.inputs[0], &y = args.outputs[0];
    const auto& p = l.as<QuantizedMatrixMultiplyParams>();
    KILN_CHECK(a.type == l.inputs[0]->type() && y.type == p.outputType, kInvalidArgument, l.describe(),
               ": a and y must be ", dataTypeName(l.inputs[0]->type()), " and ", dataTypeName(p.outputType));
    if (y.count() == 0) return;
    ensurePrepared(args);
    KILN_CHECK(!a.shape.empty() && a.shape.back() == k_, kInvalidArgument, l.describe(), ": a ",
               dimsToString(a.shape), " must end in K = ", k_);
    const int64_t rows = k_ > 0 ? a.count() / k_ : 0;
    KILN_CHECK(y.count() == rows * n_, kInvalidArgument, l.describe(), ": output ", dimsToString(y.shape),
               " must hold ", rows, " x ", n_);
    std::shared_ptr<const QMatMulPlan> plan = planFor(rows);
    KILN_CHECK(args.workspaceBytes >= plan->scratchpad.get_size(), kInvalidArgument, l.describe(), ": needs ",
               plan->scratchpad.get_size(), " bytes of workspace, got ", args.workspaceBytes);
    try {
      onednn::useKilnThreadCount();
      dnnl::stream stream(engine());
      std::unordered_map<int, memory> mmArgs{{DNNL_ARG_SRC, memory(plan->src, engine(), a.data)},
                                             {DNNL_ARG_WEIGHTS, plan->weights},
                                             {DNNL_ARG_DST, memory(plan->dst, engine(), y.data)}};
      if (!attributes_.accumulatorBias.empty())
        mmArgs.emplace(DNNL_ARG_BIAS, memory(plainDesc({1, n_}, DataType::kFloat32), engine(),
                                             const_cast<float*>(attributes_.accumulatorBias.data())));
      if (plan->scratchpad.get_size() > 0)
        mmArgs.emplace(DNNL_ARG_SCRATCHPAD, memory(plan->scratchpad, engine(), args.workspace));
      plan->matmul.execute(stream, mmArgs);
      stream.wait();
    } catch (const dnnl::error& e) {
      fail(ErrorCode::kRuntimeError, concat(l.describe(), ": oneDNN quantized MatMul failed: ", e.what()));
    }
  }

 private:
  void prepare(const ConstantOperands& c) const {
    const ir::Layer& l = layer();
    const auto& p = l.as<QuantizedMatrixMultiplyParams>();
    KILN_CHECK(c.weights.shape.size() == 2, kInvalidArgument, l.describe(), ": weights ",
               dimsToString(c.weights.shape), " must be [K, N]");
    k_ = c.weights.shape[0];
    n_ = c.weights.shape[1];
    KILN_CHECK(!c.bias || c.bias->count() == n_, kInvalidArgument, l.describe(), ": bias must be [", n_, "]");
    KILN_CHECK(p.weightScales.size() == 1 || static_cast<int64_t>(p.weightScales.size()) == n_, kInvalidArgument,
               l.describe(), ": ", p.weightScales.size(), " weight scales for ", n_, " output columns");
    weights_.emplace(plainDesc({k_, n_}, DataType::kInt8), c.weights);
    attributes_ = quantizedAttributes(n_, 1, p.inputScale, p.inputZeroPoint, p.weightScales,
                                      c.bias ? &*c.bias : nullptr, ConvActivation::kNone, p.outputMin, p.outputMax,
                                      p.outputType, p.outputScale, p.outputZeroPoint);
    prepared_ = true;
    const Dims& as = l.inputs[0]->dims();
    if (volume(as) > 0 && k_ > 0 && n_ > 0) planFor(volume(as) / k_);  // build-time shapes known: plan now
  }

  void ensurePrepared(const KernelArgs& args) const {
    std::lock_guard<std::mutex> lock(prepareMutex_);
    if (!prepared_) prepare(constantOperands(layer(), {}, &args));
  }

  std::shared_ptr<const QMatMulPlan> planFor(int64_t rows) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = plans_.find(rows);
    if (it == plans_.end()) it = plans_.emplace(rows, makePlan(rows)).first;
    return it->second;
  }

  std::shared_ptr<const QMatMulPlan> makePlan(int64_t rows) const {
    const ir::Layer& l = layer();
    const auto& p = l.as<QuantizedMatrixMultiplyParams>();
    auto plan = std::make_shared<QMatMulPlan>();
    try {
      onednn::useKilnThreadCount();
      plan->src = plainDesc({rows, k_}, l.inputs[0]->type());
      plan->dst = plainDesc({rows, n_}, p.outputType);
      memory::desc weights({k_, n_}, memory::data_type::s8, memory::format_tag::any);
      memory::desc bias = attributes_.accumulatorBias.empty() ? memory::desc() : plainDesc({1, n_}, DataType::kFloat32);
      dnnl::matmul::desc desc(plan->src, weights, bias, plan->dst);
      dnnl::matmul::primitive_desc pd(desc, attributes_.attr, engine());
      plan->matmul = dnnl::matmul(pd);
      plan->scratchpad = pd.scratchpad_desc();
      plan->weights = weights_->in(pd.weights_desc());
    } catch (const dnnl::error& e) {
      fail(ErrorCode::kUnsupported, concat(l.describe(), ": oneDNN has no quantized MatMul for ", rows, " x ", k_,
                                           " x ", n_, ": ", e.what()));
    }
    return plan;
  }

  mutable std::mutex prepareMutex_;
  mutable bool prepared_ = false;
  mutable int64_t k_ = 0, n_ = 0;
  mutable QuantizedAttributes attributes_;
  mutable std::optional<onednn::ReorderedWeights> weights_;
  mutable std::mutex mutex_;
  mutable std::map<int64_t, std::shared_ptr<const QMatMulPlan>> plans_;
};

std::string checkConstantOperands(const ir::Layer& layer) {
  if (!isConstantInput(layer, 1)) return "constant weights only";
  if (layer.inputs.size() > 2 && layer.inputs[2] && !isConstantInput(layer, 2)) return "a constant bias only";
  return {};
}

}  // namespace

std::string supportsQuantizedConvolutionOneDnn(const ir::Layer& layer) {
  std::string why = quantized::checkQuantizedTypes(layer);
  if (why.empty()) why = checkConstantOperands(layer);
  if (!why.empty()) return why;
  size_t rank = layer.inputs[0]->dims().size();
  if (rank < 3 || rank > 5) return concat("1-D, 2-D and 3-D convolutions only, not rank ", rank);
  if (layer.as<QuantizedConvolutionParams>().conv.channelsLast) return "channels-first only";
  return {};
}

std::unique_ptr<CpuKernel> createQuantizedConvolutionOneDnn(const ir::Layer& layer, const Constants& constants,
                                                            const TacticChoice& tactic) {
  return std::make_unique<OneDnnQuantizedConvolution>(layer, tactic, constants);
}

std::string supportsQuantizedMatrixMultiplyOneDnn(const ir::Layer& layer) {
  std::string why = quantized::checkQuantizedTypes(layer);
  if (why.empty()) why = checkConstantOperands(layer);
  return why;
}

std::unique_ptr<CpuKernel> createQuantizedMatrixMultiplyOneDnn(const ir::Layer& layer, const Constants& constants,
                                                               const TacticChoice& tactic) {
  return std::make_unique<OneDnnQuantizedMatrixMultiply>(layer, tactic, constants);
}

}  // namespace kiln::cpu

#endif  // KILN_HAVE_DNNL
