#include "builder/pass_manager.h"

#include <algorithm>

#include "core/error.h"

namespace kiln::passes {

const std::vector<Pass>& allPasses() {
  // Order: fold_qdq first, while the weights' DequantizeLinear layers still read int8 constants (fold_constants
  // would evaluate them into float32 weights); folding next turns shape chains into constants, which makes Reshapes static and so
  // exposes no-ops; BatchNorm folds into a convolution before residual and activation fusion, which need
  // the Add / activation to follow the convolution directly (the residual first: it is added before the
  // activation); implicit quantization after the fusions (BatchNorm must be folded into the weights before
  // they are quantized, Transposes into MatMuls before Q/DQ separates them) and before fold_qdq;
  // dead-layer elimination sweeps what the others disconnected; precision reduction next to last, so it sees the final layers (the next round folds Casts of
  // constants it may leave); layout selection last, since it picks chains by their reduced types (the
  // next round folds the Transposes of constant weights it adds); pointwise fusion after all of them, so the
  // other fusions take their patterns first and the Casts at precision edges fuse too.
  static const std::vector<Pass> passes = {
      {"fold_qdq",
       "fold DequantizeLinear -> Conv/MatMul [-> Relu] [-> QuantizeLinear] with int8 weights into quantized layers",
       foldQdq},
      {"fold_constants", "evaluate layers whose inputs are constants (and static Shape layers) at build time",
       foldConstants},
      {"remove_noops", "remove Identity, same-type Cast, same-shape Reshape/Expand/Tile, identity Transpose",
       removeNoOps},
      {"fold_batchnorm_into_conv", "fold BatchNormalization after a constant-weight Convolution into its weights and bias",
       foldBatchNormIntoConv},
      {"fuse_conv_residual", "fuse an Add of a same-shape tensor after a Convolution into its residual input",
       fuseConvResidual},
      {"fuse_conv_activation",
       "fuse a Relu/Clip/Sigmoid/HardSwish/GELU/SiLU after a Convolution into the convolution's epilogue",
       fuseConvActivation},
      {"fold_transpose_into_matmul", "fold a Transpose of the last two dims feeding a MatMul into its transpose flag",
       foldTransposeIntoMatMul},
      {"fuse_attention", "replace MatMul/scale/mask/Softmax/MatMul attention subgraphs by one Attention layer", fuseAttention},
      {"fuse_matmul_bias", "fuse an Add of a constant bias after a MatMul into the MatMul's epilogue", fuseMatMulBias},
      {"fuse_gelu", "replace the erf GELU subgraph x*0.5*(1+erf(x/sqrt2)) by one Activation(Gelu)", fuseGelu},
      {"fuse_matmul_activation", "fuse a Relu/GELU after a MatMul (and its bias) into the MatMul's GEMM epilogue",
       fuseMatMulActivation},
      {"fuse_residual_norm",
       "fuse the decomposed LayerNorm subgraph into one LayerNorm, and a residual Add into the LayerNorm/RMSNorm after it",
       fuseResidualNorm},
      {"quantize_implicit",
       "with --int8/--fp8: Quantize/Dequantize pairs with the calibrated scales on the inputs of Conv/MatMul layers",
       quantizeImplicit},
      {"eliminate_dead_layers", "remove layers whose outputs are never used", eliminateDeadLayers},
      {"reduce_precision", "with --fp16/--bf16: run float32 layers in float16/bfloat16, Casts at the boundaries",
       reducePrecision},
      {"choose_channels_last",
       "on device targets: run float16/bfloat16 convolution chains channels-last (NHWC), Transposes at their edges",
       chooseChannelsLast},
      {"fuse_pointwise", "fuse chains of element-wise, activation and cast layers into one generated Pointwise layer",
       fusePointwise},
  };
  return passes;
}

void runPasses(ir::Network& network, const std::vector<std::string>& disabled, std::vector<std::string>& log,
               int maxRounds, const Backend* target, PrecisionPolicy* precision) {
  for (const std::string& name : disabled) {
    bool known = std::any_of(allPasses().begin(), allPasses().end(), [&](const Pass& p) { return name == p.name; });
    if (known) continue;
    std::string names;
    for (const Pass& p : allPasses()) names += (names.empty() ? "" : ", ") + std::string(p.name);
    fail(ErrorCode::kInvalidArgument, concat("unknown pass '", name, "' (passes: ", names, ")"));
  }
  PassContext context{network, log, target, precision};
  for (int round = 0; round < maxRounds; ++round) {
    bool changed = false;
    for (const Pass& pass : allPasses()) {
      if (std::find(disabled.begin(), disabled.end(), pass.name) != disabled.end()) continue;
      if (pass.run(context)) {
        changed = true;
        network.inferShapes();  // folded shape tensors refine downstream shapes
      }
    }
    if (!changed) return;
  }
}

}  // namespace kiln::passes
