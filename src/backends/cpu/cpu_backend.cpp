// The CPU backend: host memory (64-byte aligned), memcpy copies, kernels from the kernel table, dtype
// checks per layer, and runLayerOnHost for constant folding and run-time shape tensors.
#include "backends/cpu/cpu_backend.h"

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <new>
#include <unordered_map>

#include "core/error.h"
#include "ir/shape_inference.h"

namespace kiln::cpu {

int64_t countNonZero(const ir::Layer& layer, const TensorView& in);          // kernels/nonzero.cpp
int64_t countSelectedBoxes(const ir::Layer& layer, const KernelArgs& args);  // kernels/non_max_suppression.cpp
int64_t countUnique(const ir::Layer& layer, const TensorView& in);           // kernels/unique.cpp
int64_t countNormalizedStrings(const ir::Layer& layer, const TensorView& in); // kernels/string_normalizer.cpp

namespace {

// The size of the data-dependent dims of a layer for which ir::hasDataDependentShape is true.
int64_t dataDependentCount(const ir::Layer& layer, const KernelArgs& args) {
  switch (layer.type()) {
    case LayerType::kNonZero: return countNonZero(layer, args.inputs[0]);
    case LayerType::kNonMaxSuppression: return countSelectedBoxes(layer, args);
    case LayerType::kUnique: return countUnique(layer, args.inputs[0]);
    case LayerType::kStringNormalizer: return countNormalizedStrings(layer, args.inputs[0]);
    default: fail(ErrorCode::kInternal, concat(layer.describe(), ": no data-dependent shape"));
  }
}

enum : unsigned {
  F = 1,       // float32/float16/bfloat16/float64
  S = 2,       // signed integers
  U = 4,       // unsigned integers
  B = 8,       // bool
  F8 = 16,     // float8 e4m3
  STR = 32,    // string (std::string objects, never copied as bytes)
  I = S | U,
  N = F | S | U,
  ALL = N | B,
  MOVE = ALL | F8,  // layers that only move bytes
};

unsigned classOf(DataType t) {
  switch (t) {
    case DataType::kFloat32: case DataType::kFloat16: case DataType::kBFloat16: case DataType::kFloat64: return F;
    case DataType::kInt8: case DataType::kInt16: case DataType::kInt32: case DataType::kInt64: return S;
    case DataType::kUInt8: case DataType::kUInt16: case DataType::kUInt32: case DataType::kUInt64: return U;
    case DataType::kBool: return B;
    case DataType::kFP8E4M3: return F8;
    case DataType::kString: return STR;
    default: return 0;
  }
}

std::string checkTensor(const ir::Layer& layer, const ir::Tensor* t, unsigned allowed, const char* role, int index) {
  if (t == nullptr) return {};
  if (classOf(t->type()) & allowed) return {};
  return concat(layer.describe(), ": the CPU backend does not support ", dataTypeName(t->type()), " for ", role, " ",
                index);
}

// Allowed classes for the data input (index 0) / every non-shape input, and for outputs.
void allowedFor(const ir::Layer& layer, unsigned& in, unsigned& out) {
  in = out = N;
  switch (layer.type()) {
    case LayerType::kConstant: case LayerType::kIdentity: case LayerType::kReshape:
      in = out = MOVE | STR;  // copyBytes copies strings element by element
      break;
    case LayerType::kTranspose:
    case LayerType::kConcatenation: case LayerType::kSlice: case LayerType::kSplit: case LayerType::kGather:
    case LayerType::kExpand: case LayerType::kTile: case LayerType::kSelect: case LayerType::kPadding:
    case LayerType::kTrilu: case LayerType::kSpaceDepth: case LayerType::kConstantOfShape: case LayerType::kOneHot:
    case LayerType::kNonZero: case LayerType::kShape:
      in = out = MOVE;
      break;
    case LayerType::kCast: in = out = MOVE | STR; break;
    case LayerType::kStringNormalizer: in = out = STR; break;
    case LayerType::kScatter:
      in = out = layer.as<ScatterParams>().reduction == ScatterReduction::kNone ? ALL : N;
      break;
    case LayerType::kQuantize: in = F | S; out = I | F8; break;
    case LayerType::kDequantize: in = I | F8; out = F; break;
    case LayerType::kElementWise: {
      switch (layer.as<ElementWiseParams>().op) {
        case ElementWiseOp::kAnd: case ElementWiseOp::kOr: case ElementWiseOp::kXor: in = out = B; break;
        case ElementWiseOp::kEqual: case ElementWiseOp::kLess: case ElementWiseOp::kGreater:
        case ElementWiseOp::kLessOrEqual: case ElementWiseOp::kGreaterOrEqual: in = ALL; out = B; break;
        case ElementWiseOp::kBitShiftLeft: case ElementWiseOp::kBitShiftRight: in = out = I; break;
        case ElementWiseOp::kBitwiseAnd: case ElementWiseOp::kBitwiseOr: case ElementWiseOp::kBitwiseXor:
          in = out = I | B;
          break;
        default: in = out = N; break;
      }
      break;
    }
    case LayerType::kUnary: {
      switch (layer.as<UnaryParams>().op) {
        case UnaryOp::kAbs: case UnaryOp::kNeg: case UnaryOp::kSign: in = out = N; break;
        case UnaryOp::kNot: in = out = B; break;
        case UnaryOp::kBitwiseNot: in = out = I; break;
        case UnaryOp::kIsNaN: case UnaryOp::kIsInf: case UnaryOp::kIsInfPositive: case UnaryOp::kIsInfNegative:
          in = F; out = B;
          break;
        default: in = out = F; break;
      }
      break;
    }
    case LayerType::kActivation: {
      ActivationType t = layer.as<ActivationParams>().type;
      in = out = (t == ActivationType::kRelu || t == ActivationType::kClip) ? N : F;
      break;
    }
    case LayerType::kConvolution: case LayerType::kDeconvolution: case LayerType::kSoftmax:
    case LayerType::kNormalization: case LayerType::kLRN: case LayerType::kRecurrent:
      in = out = F;
      break;
    case LayerType::kTopK: case LayerType::kArgMinMax: in = N; out = N; break;
    case LayerType::kGridSample: case LayerType::kRoiAlign: case LayerType::kDeterminant: in = out = F; break;
    case LayerType::kNonMaxSuppression: in = F; out = S; break;
    case LayerType::kUnique: in = out = ALL; break;
    case LayerType::kRandom: in = out = ALL; break;  // *Like ops read only the shape; Bernoulli may draw bools
    default: in = out = N; break;
  }
}

class CpuKernel final : public Kernel {
 public:
  CpuKernel(const ir::Layer& layer, KernelFunction fn, std::unique_ptr<PreparedKernel> prepared)
      : layer_(layer), fn_(fn), prepared_(std::move(prepared)) {
    name_ = std::string("cpu/") + layerTypeName(layer.type());
    for (char& c : name_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (prepared_) name_ += "_" + prepared_->tactic();
  }
  void execute(const KernelArgs& args) const override {
    if (prepared_) prepared_->run(layer_, args);
    else fn_(layer_, args);
  }
  std::string name() const override { return name_; }

 private:
  ir::Layer layer_;  // a copy: params and name stay valid for the kernel's life
  KernelFunction fn_;
  std::unique_ptr<PreparedKernel> prepared_;  // nullptr: fn_ runs
  std::string name_;
};

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  std::string unsupportedReason(const ir::Layer& layer) const override { return cpu::unsupportedReason(layer); }
  std::string deviceSignature() const override { return "cpu"; }
  std::vector<std::string> tactics(const ir::Layer& layer, int) const override {
    if (!cpu::unsupportedReason(layer).empty()) return {};
    return {"cpu." + std::string(layerTypeName(layer.type()))};
  }
  std::unique_ptr<Kernel> createKernel(const ir::Layer& layer, const Constants& constants,
                                       const std::string&) const override {
    KernelFunction fn = kernelFor(layer.type());
    KILN_CHECK(fn != nullptr, kUnsupported, layer.describe(), ": the CPU backend has no kernel for this layer");
    PrepareFunction prepare = prepareFunctionFor(layer.type());
    return std::make_unique<CpuKernel>(layer, fn, prepare ? prepare(layer, constants) : nullptr);
  }
  bool isHostMemory() const override { return true; }
  void* allocate(size_t bytes) const override {
    size_t rounded = ((bytes + 63) / 64) * 64;
    if (rounded == 0) rounded = 64;
    void* p = std::aligned_alloc(64, rounded);
    KILN_CHECK(p != nullptr, kRuntimeError, "cpu: cannot allocate ", bytes, " bytes");
    return p;
  }
  void deallocate(void* pointer) const override { std::free(pointer); }
  void copyFromHost(void* dst, const void* src, size_t bytes, void*) const override { copyBytes(dst, src, bytes); }
  void copyToHost(void* dst, const void* src, size_t bytes, void*) const override { copyBytes(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes, void*) const override { copyBytes(dst, src, bytes); }
  void synchronize(void*) const override {}

 private:
  static void copyBytes(void* dst, const void* src, size_t bytes) {
    if (bytes > 0 && dst != src) std::memmove(dst, src, bytes);
  }
};

}  // namespace

std::string unsupportedReason(const ir::Layer& layer) {
  if (hostKernelFor(layer.type())) return {};  // element types are checked by the kernels they run
  if (kernelFor(layer.type()) == nullptr) return concat(layer.describe(), ": the CPU backend has no kernel for it");
  unsigned in = 0, out = 0;
  allowedFor(layer, in, out);
  for (int i = 0; i < static_cast<int>(layer.inputs.size()); ++i) {
    const ir::Tensor* t = layer.inputs[i];
    if (t == nullptr) continue;
    // Shape inputs (indices, pads, repeats, ...) are integers read on the host; any integer type works.
    unsigned allowed = in;
    if (i > 0) {
      switch (layer.type()) {
        case LayerType::kGather: case LayerType::kSlice: case LayerType::kPadding: case LayerType::kTile:
        case LayerType::kExpand: case LayerType::kSplit: case LayerType::kReshape: case LayerType::kTrilu:
        case LayerType::kTopK: case LayerType::kCumSum: case LayerType::kReduce:
          allowed = (layer.type() == LayerType::kPadding && i == 2) ? in : I;
          break;
        case LayerType::kScatter: allowed = i == 1 ? I : in; break;
        case LayerType::kSelect: allowed = MOVE; break;
        case LayerType::kOneHot: allowed = i == 2 ? MOVE : N; break;
        case LayerType::kQuantize: allowed = i == 1 ? F : (I | F8); break;
        case LayerType::kDequantize: allowed = i == 1 ? F : (I | F8); break;
        case LayerType::kElementWise:
          if (layer.as<ElementWiseParams>().op == ElementWiseOp::kPow) allowed = N;
          break;
        case LayerType::kResize: allowed = F | I; break;
        case LayerType::kNonMaxSuppression: allowed = i == 2 ? I : F; break;
        case LayerType::kRoiAlign: allowed = i == 2 ? I : F; break;
        case LayerType::kRecurrent: allowed = i == 4 ? I : F; break;  // sequence lengths
        default: break;
      }
    } else if (layer.type() == LayerType::kSelect) {
      allowed = B;
    } else if (layer.type() == LayerType::kOneHot) {
      allowed = N;
    }
    std::string reason = checkTensor(layer, t, allowed, "input", i);
    if (!reason.empty()) return reason;
  }
  for (int i = 0; i < static_cast<int>(layer.outputs.size()); ++i) {
    const ir::Tensor* t = layer.outputs[i];
    unsigned allowed = out;
    if (i > 0 && (layer.type() == LayerType::kTopK || layer.type() == LayerType::kPooling)) allowed = S;
    if (layer.type() == LayerType::kShape || layer.type() == LayerType::kArgMinMax) allowed = S;
    if (i > 0 && layer.type() == LayerType::kUnique) allowed = S;
    std::string reason = checkTensor(layer, t, allowed, "output", i);
    if (!reason.empty()) return reason;
  }
  return {};
}

std::shared_ptr<Backend> makeCpuBackend() {
  static std::shared_ptr<Backend> backend = std::make_shared<CpuBackend>();
  return backend;
}

std::vector<HostTensor> runLayerOnHost(const ir::Layer& layer, const std::vector<const HostTensor*>& inputs) {
  if (HostKernelFunction host = hostKernelFor(layer.type())) return host(layer, inputs);
  for (size_t i = 0; i < inputs.size(); ++i)
    KILN_CHECK(!inputs[i] || inputs[i]->kind == ValueKind::kTensor || layer.type() == LayerType::kIdentity,
               kInvalidArgument, layer.describe(), ": input ", i, " is a ", valueKindName(inputs[i]->kind),
               "; this layer takes tensors");
  if (layer.type() == LayerType::kIdentity && inputs.size() == 1 && inputs[0] &&
      inputs[0]->kind != ValueKind::kTensor)
    return {*inputs[0]};  // sequences and optionals are immutable: share the elements
  KernelFunction fn = kernelFor(layer.type());
  KILN_CHECK(fn != nullptr, kUnsupported, layer.describe(), ": the CPU backend has no kernel for this layer");
  std::vector<TensorDesc> descs(inputs.size());
  std::vector<const TensorDesc*> descPtrs(inputs.size(), nullptr);
  KernelArgs args;
  for (size_t i = 0; i < inputs.size(); ++i) {
    TensorView view;
    if (inputs[i] != nullptr) {
      descs[i] = {inputs[i]->type, inputs[i]->shape};
      descPtrs[i] = &descs[i];
      view.data = const_cast<void*>(inputs[i]->data());
      view.type = inputs[i]->type;
      view.shape = inputs[i]->shape;
      // A Shape layer reads only its input's shape, so callers may pass a shape without data.
      KILN_CHECK(view.data != nullptr || volume(view.shape) == 0 || layer.type() == LayerType::kShape,
                 kInvalidArgument, layer.describe(), ": input ", i, " has no data");
      if (view.data == nullptr) view.data = &descs[i];  // empty tensor: any non-null address
    }
    args.inputs.push_back(std::move(view));
  }
  std::vector<TensorDesc> outDescs = ir::inferOutputs(layer, descPtrs, inputs);
  if (ir::hasDataDependentShape(layer)) {
    // Every dim left unknown with all input values given is the one data-dependent count.
    KILN_CHECK(!args.inputs.empty() && args.inputs[0].data != nullptr, kInvalidArgument, layer.describe(),
               ": missing input");
    int64_t n = dataDependentCount(layer, args);
    for (TensorDesc& d : outDescs)
      for (int64_t& dim : d.shape)
        if (dim < 0) dim = n;
  }
  std::vector<HostTensor> outputs;
  for (size_t i = 0; i < outDescs.size(); ++i) {
    const TensorDesc& d = outDescs[i];
    KILN_CHECK(volume(d.shape) >= 0, kInternal, layer.describe(), ": output ", i, " has an unknown shape ",
               dimsToString(d.shape), " after inference with all input values");
    outputs.push_back(Weights::zeros(d.type, d.shape));
    TensorView view;
    view.type = d.type;
    view.shape = d.shape;
    view.data = const_cast<uint8_t*>(outputs.back().bytes->data());
    args.outputs.push_back(std::move(view));
  }
  // Empty outputs get a non-null address so kernels can treat them uniformly.
  static uint64_t emptyDummy[8];
  for (TensorView& v : args.outputs)
    if (v.data == nullptr) v.data = emptyDummy;
  fn(layer, args);
  return outputs;
}

std::vector<HostTensor> runNetworkOnHost(const ir::Network& network, const std::vector<const HostTensor*>& inputs,
                                         const ir::Layer& owner) {
  KILN_CHECK(inputs.size() == network.inputs().size(), kInternal, owner.describe(), ": subnetwork takes ",
             network.inputs().size(), " inputs, got ", inputs.size());
  std::unordered_map<const ir::Tensor*, const HostTensor*> known;
  std::vector<std::vector<HostTensor>> produced;  // keeps layer outputs alive
  produced.reserve(network.layers().size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    KILN_CHECK(inputs[i] != nullptr, kInternal, owner.describe(), ": subnetwork input ", i, " has no value");
    known[network.inputs()[i]] = inputs[i];
  }
  auto valueOf = [&](const ir::Tensor* t) -> const HostTensor* {
    auto it = known.find(t);
    KILN_CHECK(it != known.end(), kInvalidModel, owner.describe(), ": subnetwork tensor '", t->name(),
               "' has no value (it is neither an input nor produced before use)");
    return it->second;
  };
  for (auto& layer : network.layers()) {
    std::vector<const HostTensor*> layerInputs;
    for (auto* in : layer->inputs) layerInputs.push_back(in ? valueOf(in) : nullptr);
    produced.push_back(runLayerOnHost(*layer, layerInputs));
    KILN_CHECK(produced.back().size() == layer->outputs.size(), kInternal, layer->describe(), " produced ",
               produced.back().size(), " outputs, expected ", layer->outputs.size());
    for (size_t o = 0; o < layer->outputs.size(); ++o) known[layer->outputs[o]] = &produced.back()[o];
  }
  std::vector<HostTensor> outputs;
  for (auto* out : network.outputs()) outputs.push_back(*valueOf(out));
  return outputs;
}

}  // namespace kiln::cpu
