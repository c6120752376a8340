// MatMul through oneDNN's matmul primitive (float32): a [..., K] (its batch folded into M) times a 2-D b
// [K, N] (or [N, K] with transposeB), plus the optional bias [N], then the epilogue activation as an
// eltwise post-op (relu, gelu_erf, gelu_tanh). One primitive per M, cached; constant
// weights reordered once into the primitive's preferred format, others read in place through strides.
#if KILN_HAVE_DNNL

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/gemm.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/onednn.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

using onednn::engine;
using onednn::memory;

dnnl::algorithm eltwiseOf(MatMulActivation activation) {
  switch (activation) {
    case MatMulActivation::kRelu: return dnnl::algorithm::eltwise_relu;
    case MatMulActivation::kGelu: return dnnl::algorithm::eltwise_gelu_erf;
    case MatMulActivation::kGeluTanh: return dnnl::algorithm::eltwise_gelu_tanh;
    case MatMulActivation::kNone: break;
  }
  fail(ErrorCode::kInternal, "no oneDNN eltwise post-op for MatMulActivation::kNone");
}

struct MatMulPlan {
  dnnl::matmul matmul;
  memory::desc src, weights, bias, dst, scratchpad;
  memory constantWeights;  // in `weights` format; empty when b is an input
};

class OneDnnMatrixMultiply final : public CpuKernel {
 public:
  OneDnnMatrixMultiply(const ir::Layer& layer, const TacticChoice& tactic, const HostTensor* constantB)
      : CpuKernel(layer, tactic), hasBias_(layer.inputs.size() > 2 && layer.inputs[2] != nullptr) {
    const Dims& bs = constantB ? constantB->shape : layer.inputs[1]->dims();
    KILN_CHECK(bs.size() == 2, kInvalidArgument, layer.describe(), ": the oneDNN MatMul takes a 2-D b, got ",
               dimsToString(bs));
    const bool transposeB = layer.as<MatrixMultiplyParams>().transposeB;
    k_ = transposeB ? bs[1] : bs[0];
    n_ = transposeB ? bs[0] : bs[1];
    if (constantB) weights_.emplace(weightsPlain(), *constantB);
    // Build-time shapes known: the primitive and the weights' reorder happen now, not on the first run.
    const Dims& as = layer.inputs[0]->dims();
    if (volume(as) > 0 && k_ > 0 && n_ > 0) planFor(volume(as) / k_);
  }

  size_t workspaceSize(const KernelArgs& args) const override {
    if (args.inputs.empty() || k_ <= 0 || n_ <= 0 || args.inputs[0].count() <= 0) return 0;
    return planFor(args.inputs[0].count() / k_)->scratchpad.get_size();
  }

  void execute(const KernelArgs& args) const override {
    const ir::Layer& l = layer();
    KILN_CHECK(args.inputs.size() >= 2 && !args.outputs.empty(), kInvalidArgument, l.describe(),
               ": MatMul needs 2 inputs");
    const TensorView &a = args.inputs[0], &b = args.inputs[1], &y = args.outputs[0];
    const TensorView* bias = detail::optionalInput(args, 2);
    KILN_CHECK(a.type == DataType::kFloat32 && b.type == DataType::kFloat32 && y.type == DataType::kFloat32 &&
                   (!bias || bias->type == DataType::kFloat32),
               kInvalidArgument, l.describe(), ": the oneDNN MatMul takes float32 only");
    const bool transposeB = l.as<MatrixMultiplyParams>().transposeB;
    KILN_CHECK(b.shape == (transposeB ? Dims{n_, k_} : Dims{k_, n_}), kInvalidArgument, l.describe(), ": b ",
               dimsToString(b.shape), " differs from the kernel's [K=", k_, ", N=", n_, "]");
    KILN_CHECK(!a.shape.empty() && a.shape.back() == k_, kInvalidArgument, l.describe(), ": a ",
               dimsToString(a.shape), " must end with K = ", k_);
    const int64_t rows = a.count() / std::max<int64_t>(k_, 1);
    KILN_CHECK(y.count() == rows * n_, kInvalidArgument, l.describe(), ": MatMul output shape ",
               dimsToString(y.shape), " does not match a ", dimsToString(a.shape), " x b ", dimsToString(b.shape));
    KILN_CHECK((bias != nullptr) == hasBias_, kInvalidArgument, l.describe(), ": the bias is ",
               hasBias_ ? "missing" : "not expected");
    KILN_CHECK(!bias || bias->count() == n_, kInvalidArgument, l.describe(), ": MatMul bias ",
               dimsToString(bias->shape), " must hold N = ", n_, " values");
    if (y.count() == 0) return;
    if (k_ == 0) {  // an empty product: the activation of the bias alone
      float* out = y.as<float>();
      const MatMulActivation activation = l.as<MatrixMultiplyParams>().activation;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < n_; ++j)
          out[r * n_ + j] = matMulActivation(activation, bias ? bias->as<const float>()[j] : 0.f);
      return;
    }
    std::shared_ptr<const MatMulPlan> plan = planFor(rows);
    KILN_CHECK(args.workspaceBytes >= plan->scratchpad.get_size() && (plan->scratchpad.get_size() == 0 || args.workspace),
               kInvalidArgument, l.describe(), ": needs ", plan->scratchpad.get_size(), " bytes of workspace, got ",
               args.workspaceBytes);
    try {
      onednn::useKilnThreadCount();
      dnnl::stream stream(engine());
      memory weights = plan->constantWeights ? plan->constantWeights : memory(plan->weights, engine(), b.data);
      std::unordered_map<int, memory> matmulArgs{{DNNL_ARG_SRC, memory(plan->src, engine(), a.data)},
                                                 {DNNL_ARG_WEIGHTS, weights},
                                                 {DNNL_ARG_DST, memory(plan->dst, engine(), y.data)}};
      if (bias) matmulArgs.emplace(DNNL_ARG_BIAS, memory(plan->bias, engine(), bias->data));
      if (plan->scratchpad.get_size() > 0)
        matmulArgs.emplace(DNNL_ARG_SCRATCHPAD, memory(plan->scratchpad, engine(), args.workspace));
      plan->matmul.execute(stream, matmulArgs);
      stream.wait();
    } catch (const dnnl::error& e) {
      fail(ErrorCode::kRuntimeError, concat(l.describe(), ": oneDNN matmul failed: ", e.what()));
    }
  }

 private:
  // b [K, N] as stored: row-major, or transposed ([N, K] row-major) through strides.
  memory::desc weightsPlain() const {
    const bool transposeB = layer().as<MatrixMultiplyParams>().transposeB;
    return memory::desc({k_, n_}, memory::data_type::f32, transposeB ? memory::dims{1, k_} : memory::dims{n_, 1});
  }

  std::shared_ptr<const MatMulPlan> planFor(int64_t rows) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = plans_.find(rows);
    if (it == plans_.end()) it = plans_.emplace(rows, makePlan(rows)).first;
    return it->second;
  }

  std::shared_ptr<const MatMulPlan> makePlan(int64_t rows) const {
    auto plan = std::make_shared<MatMulPlan>();
    try {
      onednn::useKilnThreadCount();
      memory::desc src({rows, k_}, memory::data_type::f32, memory::format_tag::ab);
      memory::desc weights = weights_ ? memory::desc({k_, n_}, memory::data_type::f32, memory::format_tag::any)
                                      : weightsPlain();
      memory::desc bias = hasBias_ ? memory::desc({1, n_}, memory::data_type::f32, memory::format_tag::ab)
                                   : memory::desc();
      memory::desc dst({rows, n_}, memory::data_type::f32, memory::format_tag::ab);
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      const MatMulActivation activation = layer().as<MatrixMultiplyParams>().activation;
      if (activation != MatMulActivation::kNone) {
        dnnl::post_ops ops;
        ops.append_eltwise(1.f, eltwiseOf(activation), 0.f, 0.f);
        attr.set_post_ops(ops);
      }
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, weights, bias, dst), attr, engine());
      plan->matmul = dnnl::matmul(pd);
      plan->src = pd.src_desc();
      plan->weights = pd.weights_desc();
      plan->bias = pd.bias_desc();
      plan->dst = pd.dst_desc();
      plan->scratchpad = pd.scratchpad_desc();
      if (weights_) plan->constantWeights = weights_->in(plan->weights);
    } catch (const dnnl::error& e) {
      fail(ErrorCode::kUnsupported, concat(layer().describe(), ": oneDNN has no matmul for [", rows, ", ", k_,
                                           "] x [", k_, ", ", n_, "]: ", e.what()));
    }
    return plan;
  }

  bool hasBias_;
  int64_t k_ = 0, n_ = 0;
  std::optional<onednn::ReorderedWeights> weights_;  // constant b; empty when b is an input
  mutable std::mutex mutex_;
  mutable std::map<int64_t, std::shared_ptr<const MatMulPlan>> plans_;  // by the number of rows M
};

}  // namespace

std::string supportsMatrixMultiplyOneDnn(const ir::Layer& layer) {
  std::string why = checkFloat32(layer);
  if (!why.empty()) return why;
  if (layer.inputs.size() < 2 || !layer.inputs[0] || !layer.inputs[1]) return "needs both operand tensors";
  if (layer.as<MatrixMultiplyParams>().transposeA) return "no transposed a";
  if (layer.inputs[1]->dims().size() != 2) return concat("a 2-D b only, not rank ", layer.inputs[1]->dims().size());
  const Dims& b = layer.inputs[1]->dims();
  if (b[0] < 0 || b[1] < 0) return concat("b's dims must be known at build time, not ", dimsToString(b));
  return {};
}

std::unique_ptr<CpuKernel> createMatrixMultiplyOneDnn(const ir::Layer& layer, const Constants& constants,
                                                      const TacticChoice& tactic) {
  return std::make_unique<OneDnnMatrixMultiply>(layer, tactic, constants.size() > 1 ? constants[1] : nullptr);
}

}  // namespace kiln::cpu

#endif  // KILN_HAVE_DNNL
