// Convolution through oneDNN (float32; 1-D/2-D/3-D, groups, dilations, strides, asymmetric pads, bias, the
// fused epilogue as post-ops: the residual as a sum into the destination, which holds z before the
// convolution runs, then the activation as eltwise; the clamp after it in Kiln's NaN-passing epilogue): one primitive per input shape, cached; constant weights
// reordered once into the primitive's preferred format; the NC[D]HW activations reordered to and from the
// primitive's (blocked) formats in the kernel's workspace, which also holds oneDNN's scratchpad.
#if KILN_HAVE_DNNL

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/conv_epilogue.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/onednn.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

using onednn::engine;
using onednn::memory;
using onednn::plainDesc;

// The primitive for one (x, w) shape pair, the reorders around it and where its buffers sit in the
// workspace.
struct ConvPlan {
  Dims y;
  dnnl::convolution_forward conv;
  memory::desc src, weights, bias, dst, scratchpad;  // the primitive's formats
  memory::desc srcPlain, weightsPlain, dstPlain;
  std::optional<dnnl::reorder> srcIn, weightsIn, dstOut;  // when the primitive's format is not the plain one
  std::optional<dnnl::reorder> residualIn;  // z into the primitive's dst format (with dstOut and a residual)
  memory constantWeights;  // in `weights` format; empty when the weights are an input
  size_t srcOffset = 0, weightsOffset = 0, dstOffset = 0, scratchpadOffset = 0, workspaceBytes = 0;
};

class OneDnnConvolution final : public CpuKernel {
 public:
  OneDnnConvolution(const ir::Layer& layer, const TacticChoice& tactic, const HostTensor* constantWeights)
      : CpuKernel(layer, tactic),
        hasBias_(layer.inputs.size() > 2 && layer.inputs[2] != nullptr),
        hasResidual_(layer.inputs.size() > 3 && layer.inputs[3] != nullptr) {
    clampOnly_.outputMin = layer.as<ConvolutionParams>().outputMin;
    clampOnly_.outputMax = layer.as<ConvolutionParams>().outputMax;
    const Dims& ws = layer.inputs[1]->dims();
    if (constantWeights) {
      KILN_CHECK(constantWeights->shape == ws || volume(ws) < 0, kInvalidArgument, layer.describe(), ": weights ",
                 dimsToString(constantWeights->shape), " do not match the layer's ", dimsToString(ws));
      weights_.emplace(plainDesc(groupedWeightDims(constantWeights->shape)), *constantWeights);
    }
    // Build-time shapes known: the primitive and the weights' reorder happen now, not on the first run.
    const Dims& xs = layer.inputs[0]->dims();
    const Dims& ys = layer.outputs[0]->dims();
    if (volume(xs) > 0 && volume(ws) > 0 && volume(ys) > 0) planFor(xs, ws, ys);
  }

  size_t workspaceSize(const KernelArgs& args) const override {
    if (args.inputs.size() < 2 || args.outputs.empty() || args.outputs[0].count() <= 0) return 0;
    return planFor(args.inputs[0].shape, args.inputs[1].shape, args.outputs[0].shape)->workspaceBytes;
  }

  void execute(const KernelArgs& args) const override {
    const ir::Layer& l = layer();
    KILN_CHECK(args.inputs.size() >= 2 && !args.outputs.empty(), kInvalidArgument, l.describe(),
               ": convolution needs x and w");
    const TensorView &x = args.inputs[0], &w = args.inputs[1], &y = args.outputs[0];
    const TensorView* b = detail::optionalInput(args, 2);
    KILN_CHECK(x.type == DataType::kFloat32 && w.type == DataType::kFloat32 && y.type == DataType::kFloat32 &&
                   (!b || b->type == DataType::kFloat32),
               kInvalidArgument, l.describe(), ": the oneDNN convolution takes float32 only");
    KILN_CHECK((b != nullptr) == hasBias_, kInvalidArgument, l.describe(), ": the bias is ",
               hasBias_ ? "missing" : "not expected");
    const TensorView* z = detail::optionalInput(args, 3);
    KILN_CHECK((z != nullptr) == hasResidual_, kInvalidArgument, l.describe(), ": the residual is ",
               hasResidual_ ? "missing" : "not expected");
    KILN_CHECK(!z || (z->type == DataType::kFloat32 && z->shape == y.shape), kInvalidArgument, l.describe(),
               ": residual ", z ? dimsToString(z->shape) : "", " must be float32 of the output's shape ",
               dimsToString(y.shape));
    if (y.count() == 0) return;
    std::shared_ptr<const ConvPlan> plan = planFor(x.shape, w.shape, y.shape);
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
      memory weights = plan->constantWeights;
      if (!weights) {
        weights = memory(plan->weightsPlain, engine(), w.data);
        if (plan->weightsIn) {
          memory blocked(plan->weights, engine(), workspace + plan->weightsOffset);
          plan->weightsIn->execute(stream, weights, blocked);
          weights = blocked;
        }
      }
      memory dstPlain(plan->dstPlain, engine(), y.data);
      memory dst = plan->dstOut ? memory(plan->dst, engine(), workspace + plan->dstOffset) : dstPlain;
      if (z) {  // the sum post-op adds what dst holds
        memory residual(plan->dstPlain, engine(), z->data);
        if (plan->residualIn) plan->residualIn->execute(stream, residual, dst);
        else if (z->data != y.data) std::copy_n(z->as<const float>(), z->count(), y.as<float>());
      }
      std::unordered_map<int, memory> convArgs{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
      if (b) convArgs.emplace(DNNL_ARG_BIAS, memory(plan->bias, engine(), b->data));
      if (plan->scratchpad.get_size() > 0)
        convArgs.emplace(DNNL_ARG_SCRATCHPAD, memory(plan->scratchpad, engine(), workspace + plan->scratchpadOffset));
      plan->conv.execute(stream, convArgs);
      if (plan->dstOut) plan->dstOut->execute(stream, dst, dstPlain);
      stream.wait();
      if (clampOnly_.hasOutputClamp()) applyConvEpilogue<float>(clampOnly_, y.as<float>(), nullptr, y.count());
    } catch (const dnnl::error& e) {
      fail(ErrorCode::kRuntimeError, concat(l.describe(), ": oneDNN convolution failed: ", e.what()));
    }
  }

 private:
  // [M, C/G, k...] as oneDNN's grouped weights [G, M/G, C/G, k...] (the same bytes).
  Dims groupedWeightDims(const Dims& ws) const {
    const int64_t groups = layer().as<ConvolutionParams>().groups;
    if (groups == 1) return ws;
    Dims grouped = ws;
    grouped[0] = ws[0] / groups;
    grouped.insert(grouped.begin(), groups);
    return grouped;
  }

  std::shared_ptr<const ConvPlan> planFor(const Dims& xs, const Dims& ws, const Dims& ys) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = std::make_pair(xs, ws);
    auto it = plans_.find(key);
    if (it == plans_.end()) it = plans_.emplace(key, makePlan(xs, ws, ys)).first;
    KILN_CHECK(it->second->y == ys, kInvalidArgument, layer().describe(), ": output ", dimsToString(ys),
               " does not match input ", dimsToString(xs), " and weights ", dimsToString(ws), " (expected ",
               dimsToString(it->second->y), ")");
    return it->second;
  }

  std::shared_ptr<const ConvPlan> makePlan(const Dims& xs, const Dims& ws, const Dims& ys) const {
    const ir::Layer& l = layer();
    const auto& p = l.as<ConvolutionParams>();
    KILN_CHECK(xs.size() >= 3 && xs.size() <= 5 && ws.size() == xs.size() && ys.size() == xs.size(), kInvalidArgument,
               l.describe(), ": the oneDNN convolution takes NC[D]HW input and weights of rank 3 to 5, got x ",
               dimsToString(xs), " and w ", dimsToString(ws));
    const int64_t C = xs[1], M = ws[0], G = p.groups;
    KILN_CHECK(G >= 1 && C % G == 0 && M % G == 0 && ws[1] == C / G && ws[1] > 0 && ys[0] == xs[0] && ys[1] == M,
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
      // The end padding that yields `out` (the window may stop short of the input's end).
      const int64_t extent = (kernel[i] - 1) * dilation + 1;
      padR[i] = std::max<int64_t>(0, (out[i] - 1) * strides[i] + extent - in[i] - padL[i]);
    }
    auto plan = std::make_shared<ConvPlan>();
    plan->y = ys;
    plan->srcPlain = plainDesc(xs);
    plan->weightsPlain = plainDesc(groupedWeightDims(ws));
    plan->dstPlain = plainDesc(ys);
    auto any = [](const Dims& dims) { return memory::desc(dims, memory::data_type::f32, memory::format_tag::any); };
    try {
      onednn::useKilnThreadCount();
      memory::desc bias = hasBias_ ? plainDesc({M}) : memory::desc();
      dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_auto,
                                           any(xs), any(groupedWeightDims(ws)), bias, any(ys), strides, dilates, padL,
                                           padR);
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      dnnl::post_ops ops;
      if (hasResidual_) ops.append_sum(1.f);
      switch (p.activation) {
        case ConvActivation::kNone: break;
        case ConvActivation::kSilu: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_swish, 1.f, 0.f); break;
        case ConvActivation::kHardSwish:  // oneDNN 2.x ignores alpha and beta; 3.x reads them
          ops.append_eltwise(1.f, dnnl::algorithm::eltwise_hardswish, 1.f / 6.f, 0.5f);
          break;
        case ConvActivation::kSigmoid: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_logistic, 0.f, 0.f); break;
        case ConvActivation::kGelu: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f); break;
      }
      // The clamp is not a post-op: oneDNN's clip and relu turn NaN into the lower bound (see execute()).
      if (ops.len() > 0) attr.set_post_ops(ops);
      dnnl::convolution_forward::primitive_desc pd(desc, attr, engine());
      plan->conv = dnnl::convolution_forward(pd);
      plan->src = pd.src_desc();
      plan->weights = pd.weights_desc();
      plan->bias = pd.bias_desc();
      plan->dst = pd.dst_desc();
      plan->scratchpad = pd.scratchpad_desc();
      onednn::WorkspaceLayout layout;
      auto reorder = [](const memory::desc& from, const memory::desc& to) {
        return dnnl::reorder(dnnl::reorder::primitive_desc(engine(), from, engine(), to));
      };
      if (plan->src != plan->srcPlain) {
        plan->srcIn = reorder(plan->srcPlain, plan->src);
        plan->srcOffset = layout.add(plan->src.get_size());
      }
      if (weights_) {
        plan->constantWeights = weights_->in(plan->weights);
      } else if (plan->weights != plan->weightsPlain) {
        plan->weightsIn = reorder(plan->weightsPlain, plan->weights);
        plan->weightsOffset = layout.add(plan->weights.get_size());
      }
      if (plan->dst != plan->dstPlain) {
        plan->dstOut = reorder(plan->dst, plan->dstPlain);
        if (hasResidual_) plan->residualIn = reorder(plan->dstPlain, plan->dst);
        plan->dstOffset = layout.add(plan->dst.get_size());
      }
      plan->scratchpadOffset = layout.add(plan->scratchpad.get_size());
      plan->workspaceBytes = layout.bytes;
    } catch (const dnnl::error& e) {
      fail(ErrorCode::kUnsupported, concat(l.describe(), ": oneDNN has no convolution for x ", dimsToString(xs),
                                           ", w ", dimsToString(ws), ": ", e.what()));
    }
    return plan;
  }

  bool hasBias_;
  bool hasResidual_;
  ConvolutionParams clampOnly_;  // the layer's output clamp alone, applied NaN-passing after the primitive
  std::optional<onednn::ReorderedWeights> weights_;  // constant weights; empty when they are an input
  mutable std::mutex mutex_;
  mutable std::map<std::pair<Dims, Dims>, std::shared_ptr<const ConvPlan>> plans_;
};

}  // namespace

std::string supportsConvolutionOneDnn(const ir::Layer& layer) {
  std::string why = checkFloat32(layer);
  if (!why.empty()) return why;
  if (layer.inputs.size() < 2 || !layer.inputs[0] || !layer.inputs[1] || layer.outputs.empty())
    return "needs the input, weights and output tensors";
  size_t rank = layer.inputs[0]->dims().size();
  if (rank < 3 || rank > 5) return concat("1-D, 2-D and 3-D convolutions only, not rank ", rank);
  if (layer.as<ConvolutionParams>().channelsLast) return "channels-first only (cpu.conv.gemm_packed runs channels-last)";
  return {};
}

std::unique_ptr<CpuKernel> createConvolutionOneDnn(const ir::Layer& layer, const Constants& constants,
                                                   const TacticChoice& tactic) {
  return std::make_unique<OneDnnConvolution>(layer, tactic, constants.size() > 1 ? constants[1] : nullptr);
}

}  // namespace kiln::cpu

#endif  // KILN_HAVE_DNNL
