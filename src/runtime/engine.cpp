// Runtime and Engine: load a plan, create kernels, derive the static step schedule.
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "ir/shape_inference.h"
#include "runtime/engine_impl.h"

namespace kiln {

EngineImpl::EngineImpl(plan::PlanContents planContents) : contents(std::move(planContents)) {
  const ir::Network& net = network();
  try {
    deviceBackend = backendFor(contents.info.device);
  } catch (const Error& e) {
    // Typically a CUDA plan on a machine without a GPU (or a Kiln built without CUDA).
    fail(ErrorCode::kInvalidPlan, concat("cannot load this plan: it was built for ", contents.info.device,
                                         contents.info.target.empty() ? "" : " " + contents.info.target,
                                         ", which is not available here: ", e.what()));
  }
  cpuBackend = backendFor("cpu");
  primaryKind = deviceBackend->isHostMemory() ? kHostMemory : kDeviceMemory;
  std::string target = deviceBackend->target();
  KILN_CHECK(contents.info.target.empty() || target.empty() || contents.info.target == target, kInvalidPlan,
             "plan was built for ", contents.info.device, " ", contents.info.target, " but this device (",
             deviceBackend->name(), ") is ", target, "; rebuild the plan on this device");

  for (auto& t : net.tensors()) {
    tensorIndex[t.get()] = static_cast<int>(tensors.size());
    tensors.push_back(t.get());
    // String tensors hold std::string objects, which the byte arenas and copies cannot: a network with
    // any runs on host values.
    if (t->type() == DataType::kString) hostValueMode = true;
  }
  size_t numTensors = tensors.size(), numLayers = net.layers().size();
  hostEvaluated.assign(numTensors, false);
  readsInputValues.assign(numTensors, false);
  constantValue.assign(numTensors, nullptr);
  constantOnDevice.assign(numTensors, nullptr);
  hostLayer.assign(numLayers, false);
  layerBackend.assign(numLayers, nullptr);
  layerKind.assign(numLayers, kHostMemory);
  kernels.resize(numLayers);

  // Network inputs read as shape values.
  for (auto& layer : net.layers())
    for (int i = 0; i < layer->numInputs(); ++i)
      if (layer->inputs[i] && layer->inputs[i]->isInput && ir::isShapeInput(*layer, i))
        readsInputValues[indexOf(layer->inputs[i])] = hostEvaluated[indexOf(layer->inputs[i])] = true;

  // Host-evaluated tensors and layers, in topological order.
  for (size_t li = 0; li < numLayers; ++li) {
    const ir::Layer& layer = *net.layers()[li];
    bool allInputsKnown = true;
    for (auto* in : layer.inputs)
      if (in && !hostEvaluated[indexOf(in)]) allInputsKnown = false;
    if (layer.type() == LayerType::kConstant) {
      int t = indexOf(layer.outputs[0]);
      constantValue[t] = &layer.as<ConstantParams>().weights;
      hostEvaluated[t] = true;
      weightsBytes += static_cast<int64_t>(constantValue[t]->bytes ? constantValue[t]->bytes->size() : 0);
      continue;
    }
    if (layer.type() == LayerType::kShape ||
        (allInputsKnown && !ir::hasDataDependentShape(layer) && !ir::producesRunTimeValues(layer))) {
      hostLayer[li] = true;
      for (auto* out : layer.outputs) hostEvaluated[indexOf(out)] = true;
    }
  }

  // Backends and kernels for the other layers.
  for (size_t li = 0; li < numLayers; ++li) {
    const ir::Layer& layer = *net.layers()[li];
    if (layer.type() == LayerType::kConstant || hostLayer[li]) continue;
    if (ir::runsOnHostValues(layer)) {
      hostValueMode = true;
      continue;
    }
    const std::string& name = contents.info.layerBackends[li];
    const Backend* backend = name == "cpu" ? cpuBackend.get() : deviceBackend.get();
    layerBackend[li] = backend;
    layerKind[li] = backend->isHostMemory() ? kHostMemory : kDeviceMemory;
    std::vector<const HostTensor*> constants;
    for (auto* in : layer.inputs) constants.push_back(in ? constantValue[indexOf(in)] : nullptr);
    const std::string& tactic = li < contents.info.layerTactics.size() ? contents.info.layerTactics[li] : std::string();
    try {
      kernels[li] = backend->createKernel(layer, constants, tactic);
    } catch (const Error& e) {
      // The builder created every layer's kernel before it wrote the plan, so a layer no kernel here can run
      // (a tactic this build of Kiln does not have, or types and attributes no kernel takes) means a foreign
      // or damaged plan.
      fail(ErrorCode::kInvalidPlan, concat("cannot load this plan: ", e.what(), "; rebuild the plan"));
    }
  }

  // The schedule: layer runs with copies where a tensor is needed in the other memory.
  std::vector<int> available(numTensors, 0);  // bit per MemoryKind
  std::unordered_map<const ir::Layer*, size_t> layerIndex;
  for (size_t li = 0; li < numLayers; ++li) layerIndex[net.layers()[li].get()] = li;
  auto home = [&](const ir::Tensor* t) -> MemoryKind {
    return t->isInput ? primaryKind : layerKind[layerIndex.at(t->producerLayer)];
  };
  for (size_t li = 0; li < numLayers; ++li) {
    const ir::Layer& layer = *net.layers()[li];
    if (!kernels[li]) continue;
    MemoryKind kind = layerKind[li];
    for (int i = 0; i < layer.numInputs(); ++i) {
      const ir::Tensor* in = layer.inputs[i];
      if (!in || ir::isShapeInput(layer, i)) continue;
      int t = indexOf(in);
      if (constantValue[t]) {
        if (kind == kDeviceMemory && !constantOnDevice[t]) {
          size_t bytes = constantValue[t]->bytes->size();
          constantOnDevice[t] = deviceBackend->allocate(std::max<size_t>(bytes, 1));
          deviceBackend->copyFromHost(constantOnDevice[t], constantValue[t]->data(), bytes, nullptr);
        }
        continue;
      }
      if (hostEvaluated[t] && !in->isInput) continue;  // host value, mirrored to the device at reshape
      if (!available[t]) available[t] = 1 << home(in);
      if (!(available[t] & (1 << kind))) {
        steps.push_back({Step::Kind::kCopy, -1, t, home(in), kind});
        available[t] |= 1 << kind;
      }
    }
    steps.push_back({Step::Kind::kRunLayer, static_cast<int>(li), -1});
    for (auto* out : layer.outputs) available[indexOf(out)] = 1 << kind;
  }
  for (auto* out : net.outputs()) {
    int t = indexOf(out);
    if (hostEvaluated[t] || out->isInput) continue;
    if (!(available[t] & (1 << primaryKind))) steps.push_back({Step::Kind::kCopy, -1, t, home(out), primaryKind});
  }
  if (primaryKind == kDeviceMemory) deviceBackend->synchronize(nullptr);

  for (auto* t : net.inputs()) ioNames.push_back(t->name());
  for (auto* t : net.outputs()) ioNames.push_back(t->name());
}

EngineImpl::~EngineImpl() {
  for (void* p : constantOnDevice)
    if (p) deviceBackend->deallocate(p);
}

const ir::Tensor* EngineImpl::ioTensor(const std::string& name) const {
  for (auto* t : network().inputs())
    if (t->name() == name) return t;
  for (auto* t : network().outputs())
    if (t->name() == name) return t;
  std::string names;
  for (auto& n : ioNames) names += (names.empty() ? "" : ", ") + n;
  fail(ErrorCode::kInvalidArgument, concat("engine has no input or output named '", name, "' (it has: ", names, ")"));
}

// ---- Runtime ----

Runtime::Runtime(Logger& logger) : logger_(logger) {}

std::shared_ptr<Engine> Runtime::deserializeEngine(const void* data, size_t size) const {
  auto impl = std::make_unique<EngineImpl>(plan::readPlan(data, size));
  logger_.log(Severity::kVerbose, concat("loaded engine with ", impl->network().layers().size(), " layers for ",
                                         impl->contents.info.device));
  return std::make_shared<Engine>(std::move(impl));
}

std::shared_ptr<Engine> Runtime::deserializeEngineFromFile(const std::string& path) const {
  std::ifstream file(path, std::ios::binary);
  KILN_CHECK(file.good(), kIOError, "cannot open plan file '", path, "'");
  std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  try {
    return deserializeEngine(bytes.data(), bytes.size());
  } catch (const Error& e) {
    throw Error(e.code(), concat(path, ": ", e.what()));
  }
}

// ---- Engine ----

Engine::Engine(std::unique_ptr<EngineImpl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

int Engine::numIOTensors() const { return static_cast<int>(impl_->ioNames.size()); }
const std::string& Engine::ioTensorName(int index) const {
  KILN_CHECK(index >= 0 && index < numIOTensors(), kInvalidArgument, "I/O tensor index ", index,
             " out of range [0, ", numIOTensors(), ")");
  return impl_->ioNames[index];
}
TensorIOMode Engine::tensorIOMode(const std::string& name) const {
  for (auto* t : impl_->network().inputs())
    if (t->name() == name) return TensorIOMode::kInput;
  for (auto* t : impl_->network().outputs())
    if (t->name() == name) return TensorIOMode::kOutput;
  return TensorIOMode::kNone;
}
DataType Engine::tensorDataType(const std::string& name) const { return impl_->ioTensor(name)->type(); }
ValueKind Engine::tensorValueKind(const std::string& name) const { return impl_->ioTensor(name)->kind; }
Dims Engine::tensorShape(const std::string& name) const { return impl_->ioTensor(name)->dims(); }
ShapeRange Engine::profileShape(const std::string& name) const {
  const ir::Tensor* t = impl_->ioTensor(name);
  KILN_CHECK(t->isInput, kInvalidArgument, "'", name, "' is an output; profiles describe inputs");
  auto it = impl_->contents.info.profile.shapes.find(name);
  if (it != impl_->contents.info.profile.shapes.end()) return it->second;
  return ShapeRange{t->dims(), t->dims(), t->dims()};
}
const std::string& Engine::device() const { return impl_->contents.info.device; }
int Engine::numLayers() const { return static_cast<int>(impl_->network().layers().size()); }
int64_t Engine::weightsBytes() const { return impl_->weightsBytes; }

std::string Engine::layerInformation() const {
  std::ostringstream out;
  const auto& layers = impl_->network().layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    const ir::Layer& l = *layers[i];
    std::string where = l.type() == LayerType::kConstant ? "weights"
                        : impl_->hostLayer[i]            ? "host (shape)"
                        : !impl_->kernels[i]             ? "host (values)"
                                                         : impl_->kernels[i]->name();
    out << l.name() << " [" << layerTypeName(l.type()) << "] " << where << "\n";
  }
  return out.str();
}

std::vector<LayerTactic> Engine::layerTactics() const {
  std::vector<LayerTactic> result;
  const auto& layers = impl_->network().layers();
  const plan::PlanInfo& info = impl_->contents.info;
  for (size_t i = 0; i < layers.size(); ++i) {
    const ir::Layer& l = *layers[i];
    LayerTactic t;
    t.layerName = l.name();
    t.layerType = layerTypeName(l.type());
    if (impl_->kernels[i]) {
      t.backend = impl_->layerBackend[i]->name();
      t.tactic = impl_->kernels[i]->name();
    } else {
      t.backend = l.type() == LayerType::kConstant ? "weights" : "host";
    }
    if (i < info.layerTacticMs.size()) t.milliseconds = info.layerTacticMs[i];
    if (i < info.layerCandidates.size()) t.candidates = static_cast<int>(info.layerCandidates[i]);
    result.push_back(std::move(t));
  }
  return result;
}

std::unique_ptr<ExecutionContext> Engine::createExecutionContext() const {
  return std::make_unique<ExecutionContext>(shared_from_this());
}

std::vector<uint8_t> Engine::serialize() const { return plan::writePlan(impl_->network(), impl_->contents.info); }

}  // namespace kiln
