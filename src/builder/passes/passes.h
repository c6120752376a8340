// Builder passes. Each returns true when it changed the network. They run in the order listed in
// pass_manager.cpp, repeated until none changes anything.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "ir/network.h"

namespace kiln {
class Backend;
}

namespace kiln::passes {

// What reduce_precision may do: run float32 layers in `reduced` (float16 or bfloat16) where the backend
// that runs the layer (the device, else the CPU fallback) has a kernel for the reduced types.
struct PrecisionPolicy {
  DataType reduced = DataType::kFloat32;  // kFloat32: every layer keeps its types
  const Backend* device = nullptr;
  const Backend* fallback = nullptr;      // the CPU; may equal device
  int castsInserted = 0;                  // out: Cast layers added at the precision boundaries
  bool onlyPinnedLayers = false;          // reduce only the layers layerPrecisions pins to `reduced`
  // quantize_implicit (and reduce_precision's per-layer precisions): the calibrated scale of each tensor
  // by name (empty: no quantization), the quantized type (kInt8 or kFP8E4M3), BuilderConfig's per-layer
  // precisions and how strictly they hold. Precisions not honored under kPrefer add a line to warnings.
  std::map<std::string, float> quantizationScales;
  DataType quantizedType = DataType::kInt8;
  std::map<std::string, DataType> layerPrecisions;
  PrecisionConstraints constraints = PrecisionConstraints::kNone;
  int quantizedLayers = 0;            // out: layers given Quantize/Dequantize inputs
  std::vector<std::string> warnings;  // out
};

struct PassContext {
  ir::Network& network;
  std::vector<std::string>& log;  // one line per change worth reporting
  // The backend the network is built for; passes that make layers some backends cannot run (fusions)
  // ask it first. nullptr: any backend (unit tests).
  const Backend* target = nullptr;
  PrecisionPolicy* precision = nullptr;  // null: reduce_precision does nothing
  bool targetCanRun(const ir::Layer& layer) const { return target == nullptr || target->unsupportedReason(layer).empty(); }
};

// Folds DequantizeLinear -> Convolution/MatMul [-> bias Add] [-> Relu/Clip] [-> QuantizeLinear] with int8
// constant weights into QuantizedConvolution / QuantizedMatrixMultiply (integer compute, the output
// requantized when a QuantizeLinear follows), when the target backend runs them. Runs before
// fold_constants, which would turn the weights' DequantizeLinear into float32 constants.
bool foldQdq(PassContext& context);
// Evaluates layers whose inputs are all constants (and Shape layers whose input shape is static)
// with the CPU kernels, replacing them by Constant layers.
bool foldConstants(PassContext& context);
// Removes layers that do nothing: Identity, Cast to the same type, Reshape to the same static shape,
// Transpose by the identity permutation, Concatenation of one input.
bool removeNoOps(PassContext& context);
// Folds a BatchNormalization whose input is a Convolution with constant weights (and bias), used by
// nothing else, into the convolution's weights and bias.
bool foldBatchNormIntoConv(PassContext& context);
// Fuses Add(conv(x), z) into the convolution's residual input (same static shape, no broadcast) when
// the convolution has no epilogue activation or clamp yet and the target backend runs the fused layer.
bool fuseConvResidual(PassContext& context);
// Fuses an activation that alone reads a Convolution's output into the convolution's epilogue: Relu and
// Clip into the output clamp, Sigmoid, HardSwish, exact GELU and SiLU (x * sigmoid(x)) into its
// activation; when the target backend runs such a convolution.
bool fuseConvActivation(PassContext& context);
// Folds a Transpose of the last two dims that alone feeds a MatMul into its transposeA/transposeB flag.
bool foldTransposeIntoMatMul(PassContext& context);
// Replaces the exported attention subgraph (MatMul, scale, mask, Softmax, MatMul; with the Transposes around
// it when they make [B,S,H,D] operands) by one Attention layer, when the target backend runs it.
bool fuseAttention(PassContext& context);
// Fuses an Add of a constant [N] bias that alone reads a MatMul's output into the MatMul (bias input),
// when the target backend runs it.
bool fuseMatMulBias(PassContext& context);
// Replaces the erf form of GELU (Div/Mul by sqrt 2, Erf, Add 1, two Muls) by one Activation(kGelu),
// when the target backend runs it.
bool fuseGelu(PassContext& context);
// Fuses an Activation (Relu, exact or tanh GELU) that alone reads a MatMul's output into the MatMul's
// GEMM epilogue, after its bias, when the target backend runs the fused layer.
bool fuseMatMulActivation(PassContext& context);
// Replaces the decomposed LayerNorm subgraph (ONNX opset < 17: ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt,
// Div, Mul, Add) by one Normalization(kLayer); fuses a same-shape Add before a Layer/RMS normalization into
// it (addsResidual), the Add's other readers served by the layer's sum output; when the target runs it.
bool fuseResidualNorm(PassContext& context);
// Removes layers whose outputs nothing uses.
bool eliminateDeadLayers(PassContext& context);
// With calibrated scales (context.precision): gives each float32 Convolution and MatrixMultiply whose
// inputs all have a scale QuantizeLinear/DequantizeLinear pairs on those inputs (symmetric, zero point 0;
// constant weights per output channel for int8), as an explicitly quantized model has them, so fold_qdq
// makes them quantized layers; layers pinned to another precision are left alone.
bool quantizeImplicit(PassContext& context);
// Switches float32 activations of layers that can run in reduced precision (context.precision) to
// float16/bfloat16: network inputs and outputs keep their types, Casts are inserted only where a
// reduced tensor meets a float32 reader (or the reverse), float32 constants read only by reduced layers
// are converted once, and host-evaluated shape arithmetic stays float32.
bool reducePrecision(PassContext& context);
// On device targets: runs chains of float16/bfloat16 2-D convolutions and the pooling, reduce and
// layout-free layers between them channels-last (NHWC), Transposes only at the chains' edges; removes
// Transpose pairs that cancel (any target).
bool chooseChannelsLast(PassContext& context);
// Fuses groups of two or more connected element-wise layers (ElementWise arithmetic, Unary math,
// Activation, float Casts) whose intermediate values nothing else reads into one Pointwise layer, when
// the target backend runs it. Runs last: the other fusions take their patterns first, and the Casts
// reduce_precision adds fuse too. Host-valued shape arithmetic is left alone.
bool fusePointwise(PassContext& context);

}  // namespace kiln::passes
