// The CUDA backend's one kernel table: LayerType -> factory, and unsupportedReason() listing the
// configurations (types, modes) without a CUDA kernel; the runtime runs those layers on the CPU.
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/kernels/kernels.h"
#include "ir/einsum.h"

namespace kiln::cuda {
namespace {

using Factory = std::unique_ptr<Kernel> (*)(const std::shared_ptr<DeviceContext>&, const ir::Layer&, const Constants&);

bool isFloat(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16; }
bool isInt(DataType t) { return t == DataType::kInt32 || t == DataType::kInt64; }
bool isNumeric(DataType t) { return isFloat(t) || isInt(t); }
bool isIndex(DataType t) { return t == DataType::kInt32 || t == DataType::kInt64; }
bool isMovable(DataType t) { return t != DataType::kString; }
bool isCastable(DataType t) { return t != DataType::kString && t != DataType::kFP8E4M3; }

DataType inType(const ir::Layer& l, size_t i) {
  return i < l.inputs.size() && l.inputs[i] ? l.inputs[i]->type() : DataType::kFloat32;
}
DataType outType(const ir::Layer& l, size_t i = 0) {
  return i < l.outputs.size() && l.outputs[i] ? l.outputs[i]->type() : DataType::kFloat32;
}
int64_t inRank(const ir::Layer& l, size_t i = 0) {
  return i < l.inputs.size() && l.inputs[i] ? static_cast<int64_t>(l.inputs[i]->dims().size()) : 0;
}

std::string typeReason(DataType t, const char* wanted) {
  return concat("no CUDA kernel for ", dataTypeName(t), " (supported: ", wanted, ")");
}

bool isBitwise(ElementWiseOp op) {
  switch (op) {
    case ElementWiseOp::kBitShiftLeft: case ElementWiseOp::kBitShiftRight: case ElementWiseOp::kBitwiseAnd:
    case ElementWiseOp::kBitwiseOr: case ElementWiseOp::kBitwiseXor:
      return true;
    default:
      return false;
  }
}
bool isLogic(ElementWiseOp op) {
  return op == ElementWiseOp::kAnd || op == ElementWiseOp::kOr || op == ElementWiseOp::kXor;
}

// Einsum: numeric operands of one type, within the kernel's limits on operands and summed labels
// (counted on the build-time dims; unknown sizes do not matter).
std::string einsumReason(const ir::Layer& layer) {
  DataType t0 = inType(layer, 0);
  if (!isNumeric(t0)) return typeReason(t0, "float32, float16, int32, int64");
  std::vector<Dims> shapes;
  for (auto* t : layer.inputs) {
    if (!t || t->type() != t0) return "operands of different types";
    shapes.push_back(t->dims());
  }
  if (shapes.size() > static_cast<size_t>(kEinsumMaxOperands))
    return concat("more than ", kEinsumMaxOperands, " einsum operands");
  try {
    ir::EinsumLabels labels = ir::parseEinsum(layer, layer.as<EinsumParams>().equation, shapes);
    if (labels.summed.size() > static_cast<size_t>(kEinsumMaxSummed))
      return concat("more than ", kEinsumMaxSummed, " summed einsum labels");
  } catch (const Error& e) {
    return e.what();  // the CPU kernel reports it when the layer runs
  }
  return "";
}

std::string reasonFor(const ir::Layer& layer) {
  for (auto* t : layer.inputs)
    if (t && t->kind != ValueKind::kTensor) return "sequences and optionals live on the host";
  for (auto* t : layer.outputs)
    if (t && t->kind != ValueKind::kTensor) return "sequences and optionals live on the host";
  for (auto* t : layer.inputs)
    if (t && t->dims().size() > static_cast<size_t>(kMaxRank)) return concat("rank above ", kMaxRank);
  for (auto* t : layer.outputs)
    if (t && t->dims().size() > static_cast<size_t>(kMaxRank)) return concat("rank above ", kMaxRank);
  DataType t0 = inType(layer, 0);
  switch (layer.type()) {
    case LayerType::kConstant:
      return layer.as<ConstantParams>().weights.type == DataType::kString ? "string constants stay on the host" : "";
    case LayerType::kIdentity: case LayerType::kReshape: case LayerType::kTranspose: case LayerType::kConcatenation:
    case LayerType::kSlice: case LayerType::kSplit: case LayerType::kExpand: case LayerType::kTile:
    case LayerType::kPadding: case LayerType::kTrilu:
      return isMovable(t0) ? "" : typeReason(t0, "any non-string type");
    case LayerType::kShape:
      return "";
    case LayerType::kConstantOfShape:
      return isMovable(outType(layer)) ? "" : typeReason(outType(layer), "any non-string type");
    case LayerType::kCast:
      return isCastable(t0) && isCastable(layer.as<CastParams>().to) ? "" : "no CUDA cast from/to string or fp8";
    case LayerType::kElementWise: {
      auto op = layer.as<ElementWiseParams>().op;
      if (inType(layer, 1) != t0) return "mixed input types";
      if (isBitwise(op)) return isInt(t0) ? "" : typeReason(t0, "int32, int64 for bitwise ops");
      if (isLogic(op)) return t0 == DataType::kBool ? "" : typeReason(t0, "bool for logic ops");
      if (t0 == DataType::kBool)
        return op == ElementWiseOp::kEqual ? "" : typeReason(t0, "float32, float16, int32, int64");
      if (op == ElementWiseOp::kPRelu && !isFloat(t0)) return typeReason(t0, "float32, float16");
      return isNumeric(t0) ? "" : typeReason(t0, "float32, float16, int32, int64");
    }
    case LayerType::kUnary: {
      auto op = layer.as<UnaryParams>().op;
      if (op == UnaryOp::kNot) return t0 == DataType::kBool ? "" : typeReason(t0, "bool");
      if (op == UnaryOp::kBitwiseNot) return isInt(t0) ? "" : typeReason(t0, "int32, int64");
      if (op == UnaryOp::kAbs || op == UnaryOp::kNeg || op == UnaryOp::kSign || op == UnaryOp::kFloor ||
          op == UnaryOp::kCeil || op == UnaryOp::kRound)
        return isNumeric(t0) ? "" : typeReason(t0, "float32, float16, int32, int64");
      return isFloat(t0) ? "" : typeReason(t0, "float32, float16");
    }
    case LayerType::kActivation:
    case LayerType::kSoftmax:
    case LayerType::kLRN:
      return isFloat(t0) ? "" : typeReason(t0, "float32, float16");
    case LayerType::kMatrixMultiply:
      if (!isFloat(t0)) return typeReason(t0, "float32, float16");
      if (layer.inputs.size() > 2 && layer.inputs[2] && inType(layer, 2) != t0) return "bias of another type";
      return inType(layer, 1) == t0 ? "" : "mixed input types";
    case LayerType::kConvolution:
    case LayerType::kDeconvolution: {
      if (!isFloat(t0)) return typeReason(t0, "float32, float16");
      if (inType(layer, 1) != t0) return "weights of another type than the input";
      if (layer.inputs.size() > 2 && layer.inputs[2] && inType(layer, 2) != t0) return "bias of another type";
      int64_t r = inRank(layer);
      if (r < 3 || r > 5) return "cuDNN convolutions need 1-3 spatial dims";
      if (layer.type() == LayerType::kDeconvolution) {
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
      }
      return "";
    }
    case LayerType::kPooling: {
      const auto& p = layer.as<PoolingParams>();
      if (!isFloat(t0)) return typeReason(t0, "float32, float16");
      int64_t r = inRank(layer);
      if (r < 3 || r > 5) return "pooling over more than 3 spatial dims";
      if (layer.outputs.size() > 1 && p.storageOrder != 0) return "column-major max-pool indices";
      return "";
    }
    case LayerType::kReduce:
    case LayerType::kArgMinMax:
    case LayerType::kCumSum:
    case LayerType::kTopK:
    case LayerType::kRange:
      return isNumeric(layer.type() == LayerType::kRange ? outType(layer) : t0)
                 ? ""
                 : typeReason(t0, "float32, float16, int32, int64");
    case LayerType::kNormalization: {
      if (!isFloat(t0)) return typeReason(t0, "float32, float16");
      for (size_t i = 1; i < layer.inputs.size(); ++i)
        if (layer.inputs[i] && layer.inputs[i]->type() != t0) return "parameters of another type than the input";
      if (layer.outputs.size() > 1) return "no CUDA kernel writes the Mean / InvStdDev statistics outputs yet";
      return "";
    }
    case LayerType::kGather:
    case LayerType::kScatter: {
      if (!isIndex(inType(layer, 1))) return typeReason(inType(layer, 1), "int32, int64 indices");
      if (layer.type() == LayerType::kScatter && layer.as<ScatterParams>().reduction != ScatterReduction::kNone)
        return isNumeric(t0) ? "" : typeReason(t0, "float32, float16, int32, int64 for reductions");
      if (layer.type() == LayerType::kGather && layer.as<GatherParams>().mode == GatherMode::kND &&
          layer.inputs[1]->dims().empty())
        return "GatherND with scalar indices";
      return isMovable(t0) ? "" : typeReason(t0, "any non-string type");
    }
    case LayerType::kSelect:
      return inType(layer, 0) == DataType::kBool && isMovable(inType(layer, 1)) ? "" : "Select needs a bool condition";
    case LayerType::kResize: {
      const auto& p = layer.as<ResizeParams>();
      if (!isFloat(t0)) return typeReason(t0, "float32, float16");
      if (p.mode == ResizeMode::kCubic) return "cubic resize";
      if (p.antialias) return "antialiased resize";
      return "";
    }
    case LayerType::kOneHot: {
      DataType it = t0;
      if (!(isIndex(it) || it == DataType::kFloat32)) return typeReason(it, "int32, int64, float32 indices");
      return isMovable(outType(layer)) ? "" : "string output";
    }
    case LayerType::kQuantize: {
      const auto& p = layer.as<QuantizeParams>();
      if (p.blockSize > 0) return "blocked quantization";
      if (!isFloat(t0)) return typeReason(t0, "float32, float16 inputs");
      DataType o = outType(layer);
      if (!(o == DataType::kInt8 || o == DataType::kUInt8 || o == DataType::kInt16 || o == DataType::kUInt16 ||
            o == DataType::kInt32))
        return typeReason(o, "int8, uint8, int16, uint16, int32 outputs");
      return "";
    }
    case LayerType::kDequantize: {
      if (layer.as<DequantizeParams>().blockSize > 0) return "blocked dequantization";
      if (!(t0 == DataType::kInt8 || t0 == DataType::kUInt8 || t0 == DataType::kInt16 || t0 == DataType::kUInt16 ||
            t0 == DataType::kInt32))
        return typeReason(t0, "int8, uint8, int16, uint16, int32 inputs");
      return isFloat(outType(layer)) ? "" : typeReason(outType(layer), "float32, float16 outputs");
    }
    case LayerType::kSpaceDepth:
      return inRank(layer) == 4 && isMovable(t0) ? "" : "DepthToSpace/SpaceToDepth need a 4-D input";
    case LayerType::kEinsum:
      return einsumReason(layer);
    case LayerType::kNonZero:
      return "NonZero has a data-dependent output shape";
    case LayerType::kGridSample:
      if (!isFloat(t0)) return typeReason(t0, "float32, float16");
      return isFloat(inType(layer, 1)) ? "" : typeReason(inType(layer, 1), "float32, float16 grids");
    case LayerType::kNonMaxSuppression:
      return "NonMaxSuppression has a data-dependent output shape";
    case LayerType::kRoiAlign:
      if (!isFloat(t0)) return typeReason(t0, "float32, float16");
      if (!isFloat(inType(layer, 1))) return typeReason(inType(layer, 1), "float32, float16 rois");
      return isIndex(inType(layer, 2)) ? "" : typeReason(inType(layer, 2), "int32, int64 batch indices");
    case LayerType::kUnique:
      return "Unique has data-dependent output shapes";
    case LayerType::kDeterminant:
      return isFloat(t0) ? "" : typeReason(t0, "float32, float16");
    case LayerType::kTfIdfVectorizer:
      return "TfIdfVectorizer is a host-side n-gram lookup (no CUDA kernel)";
    case LayerType::kDFT:
      return isFloat(t0) ? "" : typeReason(t0, "float32, float16");
    case LayerType::kSTFT:
      if (!isFloat(t0)) return typeReason(t0, "float32, float16");
      if (layer.inputs.size() > 2 && layer.inputs[2] && inType(layer, 2) != t0)
        return "a window of another type than the signal";
      return "";
    case LayerType::kWindow:
    case LayerType::kMelWeightMatrix:
      return "window and mel weights are small generated tables computed on the host";
    case LayerType::kRandom:
      return "random sampling runs on the host so seeded results match the CPU backend";
    case LayerType::kRecurrent: {
      if (!isFloat(t0)) return typeReason(t0, "float32, float16");
      for (size_t i = 1; i < layer.inputs.size(); ++i)
        if (i != 4 && layer.inputs[i] && inType(layer, i) != t0) return "weights or states of another type than x";
      if (layer.inputs.size() > 4 && layer.inputs[4] && !isIndex(inType(layer, 4)))
        return typeReason(inType(layer, 4), "int32, int64 sequence lengths");
      return "";
    }
    case LayerType::kIf: case LayerType::kLoop: case LayerType::kScan: case LayerType::kSequenceMap:
      return "control flow runs its subnetworks on the host";
    case LayerType::kSequence: case LayerType::kOptional:
      return "sequences and optionals live on the host";
    case LayerType::kStringNormalizer:
      return "string tensors live on the host";
    default:
      return "unknown layer type";
  }
}

Factory factoryFor(LayerType type) {
  static const Factory table[] = {
      makeConstantKernel,     // kConstant
      makeIdentityKernel,     // kIdentity
      makeCastKernel,         // kCast
      makeElementWiseKernel,  // kElementWise
      makeUnaryKernel,        // kUnary
      makeActivationKernel,   // kActivation
      makeMatrixMultiplyKernel,
      makeConvolutionKernel,
      makeDeconvolutionKernel,
      makePoolingKernel,
      makeReduceKernel,
      makeSoftmaxKernel,
      makeNormalizationKernel,
      makeIdentityKernel,  // kReshape: the data does not change
      makeTransposeKernel,
      makeConcatenationKernel,
      makeSliceKernel,
      makeSplitKernel,
      makeGatherKernel,
      makeScatterKernel,
      makeShapeKernel,
      makeConstantOfShapeKernel,
      makeRangeKernel,
      makeExpandKernel,
      makeTileKernel,
      makeSelectKernel,
      makePaddingKernel,
      makeResizeKernel,
      makeTopKKernel,
      makeArgMinMaxKernel,
      makeCumSumKernel,
      makeEinsumKernel,
      nullptr,  // kNonZero
      makeOneHotKernel,
      makeQuantizeKernel,
      makeDequantizeKernel,
      makeTriluKernel,
      makeLRNKernel,
      makeSpaceDepthKernel,
      makeGridSampleKernel,
      nullptr,  // kNonMaxSuppression
      makeRoiAlignKernel,
      nullptr,  // kUnique
      makeDeterminantKernel,
      nullptr,  // kTfIdfVectorizer
      makeDFTKernel,
      makeSTFTKernel,
      nullptr,  // kWindow
      nullptr,  // kMelWeightMatrix
      nullptr,  // kRandom
      makeRecurrentKernel,
      nullptr,  // kIf
      nullptr,  // kLoop
      nullptr,  // kScan
      nullptr,  // kSequence
      nullptr,  // kOptional
      nullptr,  // kSequenceMap
      nullptr,  // kStringNormalizer
  };
  static_assert(sizeof(table) / sizeof(table[0]) == static_cast<size_t>(LayerType::kCount),
                "one CUDA table entry per layer type");
  auto i = static_cast<size_t>(type);
  return i < static_cast<size_t>(LayerType::kCount) ? table[i] : nullptr;
}

}  // namespace

std::string unsupportedReason(const ir::Layer& layer) {
  if (!factoryFor(layer.type())) {
    std::string r = reasonFor(layer);
    return r.empty() ? "no CUDA kernel for this layer type" : r;
  }
  return reasonFor(layer);
}

std::unique_ptr<Kernel> createKernelFor(const std::shared_ptr<DeviceContext>& ctx, const ir::Layer& layer,
                                        const Constants& constants) {
  Factory f = factoryFor(layer.type());
  KILN_CHECK(f != nullptr, kUnsupported, layer.describe(), ": no CUDA kernel");
  return f(ctx, layer, constants);
}

}  // namespace kiln::cuda
