// ExecutionContext: per-inference shapes, bindings and activation memory.
//
// reshape() runs whenever input shapes change (or input values shape the network): it infers every
// tensor's shape, evaluates shape tensors on the host, plans the activation arenas from tensor
// lifetimes over the step schedule and sizes the workspaces. enqueue() then only runs steps.
// When a shape depends on data (NonZero), the context runs the network layer by layer on the host
// instead ("data-dependent mode"); outputs are then owned by the context.
//
// Reliability: a cheap "busy" flag refuses calls that overlap a run on another thread; each run installs a
// RunControl (cancel(), setTimeLimit()) checked between steps and layers and by host loops; sizes known only
// at run time are checked against overflow and the plan's limits (maxTensorElements, memoryLimit) before
// their memory is allocated.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <new>

#include "backends/host_eval.h"
#include "backends/run_control.h"
#include "core/checked_math.h"
#include "core/error.h"
#include "ir/layers/shape_value.h"
#include "ir/shape_inference.h"
#include "runtime/engine_impl.h"
#include "runtime/memory_planner.h"

namespace kiln {

namespace {
// Memory owned through a backend.
struct Buffer {
  const Backend* backend = nullptr;
  void* pointer = nullptr;
  size_t bytes = 0;
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { release(); }
  void release() {
    if (pointer) backend->deallocate(pointer);
    pointer = nullptr;
    bytes = 0;
  }
  // Ensures at least `size` bytes; contents are not kept. An allocation failure is a kiln::Error
  // (kRuntimeError) naming `what` and the bytes.
  void reserve(const Backend* owner, size_t size, const std::string& what) {
    if (pointer && bytes >= size && backend == owner) return;
    release();
    size = std::max<size_t>(size, 1);
    try {
      pointer = owner->allocate(size);
    } catch (const std::bad_alloc&) {
      fail(ErrorCode::kRuntimeError, concat("cannot allocate ", size, " bytes for ", what, " on ", owner->name()));
    } catch (const Error& e) {
      fail(ErrorCode::kRuntimeError, concat("cannot allocate ", size, " bytes for ", what, ": ", e.what()));
    }
    backend = owner;
    bytes = size;
  }
};

const char* memoryName(int kind) { return kind == kHostMemory ? "host" : "device"; }

// Every dim known (none is -1).
bool knownShape(const Dims& shape) {
  return std::none_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; });
}
}  // namespace

struct ContextImpl {
  const EngineImpl& engine;
  std::vector<Dims> inputShapes;             // per network input
  std::vector<void*> bindings;               // per tensor (I/O only)
  std::vector<TensorDesc> descs;             // per tensor, current
  std::vector<const HostTensor*> values;     // per tensor: host value when known at reshape
  std::vector<HostTensor> ownedValues;       // per tensor: storage of host-evaluated values
  std::vector<int64_t> offsets[2];           // per tensor: arena offset by MemoryKind, -1 when not in the arena
  Buffer arenas[2], workspaces[2];
  std::vector<std::unique_ptr<Buffer>> ownedOutputs;  // per tensor: storage of unbound outputs
  std::vector<std::unique_ptr<Buffer>> hostOutputs;   // per tensor: host copies of unbound outputs after execute()
  std::vector<std::unique_ptr<Buffer>> stagedInputs;  // per tensor: device copies of execute()'s host inputs
  bool outputsOnHost = false;                         // the last run was execute(): unbound outputs read on the host
  std::vector<std::unique_ptr<Buffer>> deviceMirrors; // per tensor: device copies of host-evaluated values
  std::vector<HostTensor> lazyValues;        // data-dependent mode: every tensor's value
  std::vector<HostTensor> containerOutputs;  // per tensor: sequence/optional/string outputs (tensorAddress points here)
  bool dirty = true;
  bool shapesOnly = false;                   // reshape infers shapes and values only (settleShapes): no memory
  bool dataDependent = false;
  bool valuesRead = false;                   // some input's values shape the network
  Profiler* profiler = nullptr;
  std::vector<std::unique_ptr<StreamTimer>> stepTimers;  // per engine step, while profiling
  std::vector<char> viewSteps;               // per engine step: a view layer whose output shares its input's memory
  int64_t arenaBytes[2] = {0, 0};
  int64_t naiveBytes[2] = {0, 0};
  int64_t hostValueBytes = 0;                // bytes of the values evaluated at reshape from input values
  int64_t valueBytes = 0;                    // data-dependent mode: bytes of the layer outputs of this run so far
  std::atomic<bool> busy{false};             // a public call is in progress (the one-thread guard)
  std::atomic<bool> cancelRequested{false};  // cancel() was called; consumed by the check that stops a run
  double timeLimitMs = 0;                    // setTimeLimit(); 0: none

  explicit ContextImpl(const EngineImpl& e) : engine(e) {
    size_t n = e.tensors.size();
    bindings.assign(n, nullptr);
    descs.assign(n, {});
    values.assign(n, nullptr);
    ownedValues.assign(n, {});
    offsets[0].assign(n, -1);
    offsets[1].assign(n, -1);
    ownedOutputs.resize(n);
    hostOutputs.resize(n);
    stagedInputs.resize(n);
    deviceMirrors.resize(n);
    containerOutputs.resize(n);
    for (auto* t : e.network().inputs()) {
      inputShapes.push_back(t->dims());
      valuesRead = valuesRead || e.readsInputValues[e.indexOf(t)];
    }
  }

  const Backend* backendOf(MemoryKind kind) const {
    return kind == kHostMemory ? engine.cpuBackend.get() : engine.deviceBackend.get();
  }
  int inputPosition(const ir::Tensor* t) const {
    const auto& inputs = engine.network().inputs();
    return static_cast<int>(std::find(inputs.begin(), inputs.end(), t) - inputs.begin());
  }

  // bindingsOnHost: the bound input addresses are host memory (execute() on a GPU engine).
  void reshape(bool bindingsOnHost = false);
  void planMemory();
  void* address(int t, MemoryKind kind);
  KernelArgs argsFor(int layer, void* stream, bool withAddresses);
  void run(void* stream);
  void runDataDependent();
  void copyHostValueToOutput(int t, void* stream);
  void enqueue(void* stream);
  // The byte size of tensor t at `desc`, a size known only at run time: throws kiln::Error
  // (kInvalidArgument) naming the tensor, its layer and its shape when the element count overflows or
  // exceeds the plan's maxTensorElements.
  int64_t checkedRunTimeBytes(int t, const TensorDesc& desc) const;
  // Throws kiln::Error (kInvalidArgument) when `bytes` of activation memory exceed the plan's memoryLimit.
  void checkMemoryLimit(int64_t bytes, const std::string& what) const;
  std::string describeTensor(int t) const;
};

std::string ContextImpl::describeTensor(int t) const {
  const ir::Tensor* tensor = engine.tensors[t];
  if (tensor->producerLayer) return concat("tensor '", tensor->name(), "' (output of ", tensor->producerLayer->describe(), ")");
  return concat("tensor '", tensor->name(), "'");
}

int64_t ContextImpl::checkedRunTimeBytes(int t, const TensorDesc& desc) const {
  int64_t elements = checkedVolume(desc.shape);
  int64_t bytes = checkedByteSize(desc.type, desc.shape);
  KILN_CHECK(elements >= 0 && bytes >= 0, kInvalidArgument, "size overflow: ", describeTensor(t), " has shape ",
             dimsToString(desc.shape), ", whose size does not fit in 64 bits");
  int64_t limit = engine.contents.info.maxTensorElements;
  KILN_CHECK(elements <= limit, kInvalidArgument, describeTensor(t), " has shape ", dimsToString(desc.shape), ": ",
             elements, " elements, over the plan's maxTensorElements of ", limit, " (BuilderConfig::maxTensorElements)");
  return bytes;
}

void ContextImpl::checkMemoryLimit(int64_t bytes, const std::string& what) const {
  int64_t limit = engine.contents.info.memoryLimit;
  KILN_CHECK(limit == 0 || bytes <= limit, kInvalidArgument, what, " takes the context to ", bytes,
             " bytes of activation memory, over the plan's memoryLimit of ", limit, " bytes (BuilderConfig::memoryLimit)");
}

void ContextImpl::reshape(bool bindingsOnHost) {
  const ir::Network& net = engine.network();
  // Inputs.
  for (size_t i = 0; i < net.inputs().size(); ++i) {
    const ir::Tensor* in = net.inputs()[i];
    int t = engine.indexOf(in);
    if (in->kind != ValueKind::kTensor) {  // a bound Weights, read by runDataDependent
      descs[t] = {in->type(), in->dims(), in->kind};
      values[t] = nullptr;
      continue;
    }
    KILN_CHECK(volume(inputShapes[i]) >= 0, kInvalidArgument, "input '", in->name(), "' has dynamic shape ",
               dimsToString(in->dims()), ": call setInputShape before running");
    descs[t] = {in->type(), inputShapes[i]};
    values[t] = nullptr;
    if (engine.readsInputValues[t]) {
      HostTensor value = Weights::zeros(in->type(), inputShapes[i]);
      size_t bytes = value.bytes->size();
      KILN_CHECK(bindings[t] != nullptr || bytes == 0, kInvalidArgument, "input '", in->name(),
                 "' gives shape values: bind its address before running");
      auto* dst = const_cast<uint8_t*>(value.bytes->data());
      if (bytes == 0) {
        // An empty tensor has no values to read; its address may be null.
      } else if (engine.primaryKind == kHostMemory || bindingsOnHost) {
        std::memcpy(dst, bindings[t], bytes);
      } else {
        engine.deviceBackend->copyToHost(dst, bindings[t], bytes, nullptr);
      }
      ownedValues[t] = std::move(value);
      values[t] = &ownedValues[t];
    }
  }
  // Layers in order: infer shapes; evaluate host layers. In host-value mode only the host layers run
  // here; runDataDependent infers the rest from the values.
  // Shapes computed from input values are known only now: their sizes are checked against the plan's limits
  // (other shapes lie within the profile, checked at build at its max shapes).
  bool checkSizes = valuesRead && !shapesOnly;
  hostValueBytes = 0;
  dataDependent = engine.hostValueMode;
  for (size_t li = 0; li < net.layers().size(); ++li) {
    host::checkRunControl();
    const ir::Layer& layer = *net.layers()[li];
    if (layer.type() == LayerType::kConstant) {
      int t = engine.indexOf(layer.outputs[0]);
      descs[t] = {engine.constantValue[t]->type, engine.constantValue[t]->shape};
      values[t] = engine.constantValue[t];
      continue;
    }
    std::vector<const TensorDesc*> inDescs;
    ir::InputValues inValues;
    for (auto* in : layer.inputs) {
      inDescs.push_back(in ? &descs[engine.indexOf(in)] : nullptr);
      inValues.push_back(in ? values[engine.indexOf(in)] : nullptr);
    }
    if (engine.hostLayer[li]) {
      // A Shape of dims known only once the network runs (after NonZero, a Pad by computed pads), and what
      // is computed from it, run with the data-dependent layers: never evaluated here with -1 dims.
      bool deferred = false;
      if (layer.type() == LayerType::kShape) deferred = !ir::shapeValueKnown(layer, inDescs[0]->shape);
      else
        for (size_t i = 0; i < layer.inputs.size(); ++i) deferred = deferred || (layer.inputs[i] && !inValues[i]);
      if (deferred) {
        std::vector<TensorDesc> outs = ir::inferOutputs(layer, inDescs, inValues);
        for (size_t o = 0; o < outs.size(); ++o) {
          int t = engine.indexOf(layer.outputs[o]);
          descs[t] = outs[o];
          values[t] = nullptr;
        }
        dataDependent = true;
        continue;
      }
      if (checkSizes) {  // before evaluateLayer allocates the outputs
        std::vector<TensorDesc> expected = ir::inferOutputs(layer, inDescs, inValues);
        for (size_t o = 0; o < expected.size(); ++o) {
          if (!knownShape(expected[o].shape)) continue;
          int t = engine.indexOf(layer.outputs[o]);
          hostValueBytes = addOrThrow(hostValueBytes, checkedRunTimeBytes(t, expected[o]), "activation memory");
          checkMemoryLimit(hostValueBytes, describeTensor(t));
        }
      }
      std::vector<HostTensor> outs;
      if (layer.type() == LayerType::kShape) {
        HostTensor shapeOnly = Weights::shapeOnly(inDescs[0]->type, inDescs[0]->shape);  // only the shape is read
        outs = host::evaluateLayer(layer, {&shapeOnly});
      } else {
        outs = host::evaluateLayer(layer, inValues);
      }
      for (size_t o = 0; o < outs.size(); ++o) {
        int t = engine.indexOf(layer.outputs[o]);
        descs[t] = {outs[o].type, outs[o].shape};
        ownedValues[t] = std::move(outs[o]);
        values[t] = &ownedValues[t];
      }
      continue;
    }
    if (engine.hostValueMode) continue;
    std::vector<TensorDesc> outs = ir::inferOutputs(layer, inDescs, inValues);
    for (size_t o = 0; o < outs.size(); ++o) {
      int t = engine.indexOf(layer.outputs[o]);
      descs[t] = outs[o];
      values[t] = nullptr;
      if (!knownShape(outs[o].shape)) dataDependent = true;
      else if (checkSizes) checkedRunTimeBytes(t, outs[o]);
    }
  }
  if (dataDependent) {
    // The data-dependent mode runs every layer with the CPU kernels on host buffers: on a GPU engine
    // that is what execute() hands over; enqueue() with device buffers cannot take that path.
    KILN_CHECK(engine.primaryKind == kHostMemory || bindingsOnHost, kUnsupported,
               "this network has data-dependent shapes or host-only values (NonZero, control flow, sequences, "
               "optionals): on a GPU engine it runs on the host through execute() with host buffers, not "
               "through enqueue()");
  } else if (!shapesOnly) {
    planMemory();
  }
  dirty = false;
}

SettledShapes settleShapes(const EngineImpl& engine, const std::map<std::string, Dims>& inputShapes) {
  ContextImpl context(engine);
  context.shapesOnly = true;
  const auto& inputs = engine.network().inputs();
  std::vector<HostTensor> inputValues(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto it = inputShapes.find(inputs[i]->name());
    if (it != inputShapes.end()) context.inputShapes[i] = it->second;
    int t = engine.indexOf(inputs[i]);
    if (engine.readsInputValues[t] && volume(context.inputShapes[i]) >= 0) {
      inputValues[i] = Weights::zeros(inputs[i]->type(), context.inputShapes[i]);
      context.bindings[t] = const_cast<uint8_t*>(inputValues[i].bytes->data());
    }
  }
  context.reshape(/*bindingsOnHost=*/true);
  SettledShapes result;
  result.descs = context.descs;
  result.values.resize(engine.tensors.size());
  result.known.assign(engine.tensors.size(), false);
  for (size_t t = 0; t < engine.tensors.size(); ++t)
    if (context.values[t]) {
      result.values[t] = *context.values[t];
      result.known[t] = true;
    }
  return result;
}

void ContextImpl::planMemory() {
  const ir::Network& net = engine.network();
  // Buffers (tensor, kind) that live in an arena, with lifetimes in step indices.
  struct Slot {
    int tensor;
    MemoryKind kind;
    BufferRequest request;
  };
  std::vector<Slot> slots;
  std::vector<int> slotOf[2];
  slotOf[0].assign(engine.tensors.size(), -1);
  slotOf[1].assign(engine.tensors.size(), -1);
  auto bytesOf = [&](int t) { return volume(descs[t].shape) * static_cast<int64_t>(dataTypeSize(descs[t].type)); };
  auto inArena = [&](int t, MemoryKind kind) {
    const ir::Tensor* tensor = engine.tensors[t];
    if (engine.constantValue[t] || engine.hostEvaluated[t]) return false;
    if ((tensor->isInput || tensor->isOutput) && kind == engine.primaryKind) return false;
    return true;
  };
  auto define = [&](int t, MemoryKind kind, int step) {
    if (!inArena(t, kind) || slotOf[kind][t] >= 0) return;
    slotOf[kind][t] = static_cast<int>(slots.size());
    slots.push_back({t, kind, {bytesOf(t), step, step}});
  };
  auto use = [&](int t, MemoryKind kind, int step) {
    int s = slotOf[kind][t];
    if (s >= 0) slots[s].request.lastUse = std::max(slots[s].request.lastUse, step);
  };
  viewSteps.assign(engine.steps.size(), 0);
  for (size_t si = 0; si < engine.steps.size(); ++si) {
    const Step& step = engine.steps[si];
    int s = static_cast<int>(si);
    if (step.kind == Step::Kind::kCopy) {
      use(step.tensor, step.from, s);
      define(step.tensor, step.to, s);
      continue;
    }
    const ir::Layer& layer = *net.layers()[step.layer];
    MemoryKind kind = engine.layerKind[step.layer];
    for (int i = 0; i < layer.numInputs(); ++i)
      if (layer.inputs[i]) use(engine.indexOf(layer.inputs[i]), kind, s);
    // A Reshape or Identity between two arena tensors is a view: its output shares the input's slot (whose
    // lifetime the output's uses extend) and the step runs nothing. Kernels never write their inputs, so
    // the shared bytes stay valid for both.
    if ((layer.type() == LayerType::kReshape || layer.type() == LayerType::kIdentity) && layer.numInputs() >= 1 &&
        layer.inputs[0] && layer.outputs.size() == 1) {
      int in = engine.indexOf(layer.inputs[0]), out = engine.indexOf(layer.outputs[0]);
      if (slotOf[kind][in] >= 0 && inArena(out, kind) && slotOf[kind][out] < 0 && bytesOf(in) == bytesOf(out)) {
        slotOf[kind][out] = slotOf[kind][in];
        viewSteps[si] = 1;
        continue;
      }
    }
    for (auto* out : layer.outputs) define(engine.indexOf(out), kind, s);
  }
  for (int kind = 0; kind < 2; ++kind) {
    std::vector<BufferRequest> requests;
    std::vector<int> requestOfSlot(slots.size(), -1);
    for (size_t i = 0; i < slots.size(); ++i)
      if (slots[i].kind == kind) {
        requestOfSlot[i] = static_cast<int>(requests.size());
        requests.push_back(slots[i].request);
      }
    MemoryPlan plan = kiln::planMemory(requests);
    std::fill(offsets[kind].begin(), offsets[kind].end(), -1);
    for (size_t t = 0; t < engine.tensors.size(); ++t)
      if (slotOf[kind][t] >= 0) offsets[kind][t] = plan.offsets[requestOfSlot[slotOf[kind][t]]];
    arenaBytes[kind] = plan.arenaBytes;
    naiveBytes[kind] = plan.naiveBytes;
  }
  // Shapes computed from input values may need more than the build checked (BuilderConfig::memoryLimit).
  if (valuesRead)
    checkMemoryLimit(addOrThrow(hostValueBytes, addOrThrow(arenaBytes[0], arenaBytes[1], "activation memory"),
                                "activation memory"),
                     "the shapes computed from input values");
  for (int kind = 0; kind < 2; ++kind)
    if (arenaBytes[kind] > 0)
      arenas[kind].reserve(backendOf(static_cast<MemoryKind>(kind)), static_cast<size_t>(arenaBytes[kind]),
                           concat("the ", memoryName(kind), " activation arena"));
  // Unbound outputs get context-owned memory; host-evaluated values used on the device get mirrors.
  for (auto* out : net.outputs()) {
    int t = engine.indexOf(out);
    if (!ownedOutputs[t]) ownedOutputs[t] = std::make_unique<Buffer>();
    ownedOutputs[t]->reserve(backendOf(engine.primaryKind), static_cast<size_t>(bytesOf(t)),
                             concat("output '", out->name(), "'"));
  }
  if (engine.primaryKind == kDeviceMemory) {
    for (size_t li = 0; li < net.layers().size(); ++li) {
      if (!engine.kernels[li] || engine.layerKind[li] != kDeviceMemory) continue;
      const ir::Layer& layer = *net.layers()[li];
      for (int i = 0; i < layer.numInputs(); ++i) {
        const ir::Tensor* in = layer.inputs[i];
        if (!in || ir::isShapeInput(layer, i)) continue;
        int t = engine.indexOf(in);
        if (!engine.hostEvaluated[t] || engine.constantValue[t] || in->isInput) continue;
        if (!deviceMirrors[t]) deviceMirrors[t] = std::make_unique<Buffer>();
        size_t bytes = values[t]->bytes->size();
        deviceMirrors[t]->reserve(engine.deviceBackend.get(), bytes, concat("the device copy of '", in->name(), "'"));
        engine.deviceBackend->copyFromHost(deviceMirrors[t]->pointer, values[t]->data(), bytes, nullptr);
      }
    }
    engine.deviceBackend->synchronize(nullptr);
  }
  // Workspaces: the largest any kernel needs, per memory kind.
  size_t workspace[2] = {0, 0};
  for (const Step& step : engine.steps)
    if (step.kind == Step::Kind::kRunLayer) {
      size_t& w = workspace[engine.layerKind[step.layer]];
      w = std::max(w, engine.kernels[step.layer]->workspaceSize(argsFor(step.layer, nullptr, false)));
    }
  for (int kind = 0; kind < 2; ++kind)
    if (workspace[kind] > 0)
      workspaces[kind].reserve(backendOf(static_cast<MemoryKind>(kind)), workspace[kind],
                               concat("the ", memoryName(kind), " workspace"));
}

void* ContextImpl::address(int t, MemoryKind kind) {
  const ir::Tensor* tensor = engine.tensors[t];
  if (engine.constantValue[t])
    return kind == kHostMemory ? const_cast<void*>(engine.constantValue[t]->data()) : engine.constantOnDevice[t];
  if (engine.hostEvaluated[t] && !tensor->isInput) {
    if (kind == kHostMemory) return const_cast<void*>(values[t]->data());
    KILN_CHECK(deviceMirrors[t] != nullptr, kInternal, "no device copy of host value '", tensor->name(), "'");
    return deviceMirrors[t]->pointer;
  }
  if ((tensor->isInput || tensor->isOutput) && kind == engine.primaryKind) {
    if (bindings[t]) return bindings[t];
    // An empty input (0 elements) needs no address: kernels read nothing from it.
    KILN_CHECK(!tensor->isInput || volume(descs[t].shape) == 0, kInvalidArgument, "input '", tensor->name(),
               "' has no address: call setTensorAddress before running");
    if (tensor->isInput) return nullptr;
    return ownedOutputs[t]->pointer;
  }
  KILN_CHECK(offsets[kind][t] >= 0, kInternal, "tensor '", tensor->name(), "' has no memory");
  return static_cast<uint8_t*>(arenas[kind].pointer) + offsets[kind][t];
}

KernelArgs ContextImpl::argsFor(int li, void* stream, bool withAddresses) {
  const ir::Layer& layer = *engine.network().layers()[li];
  MemoryKind kind = engine.layerKind[li];
  KernelArgs args;
  args.stream = stream;
  for (int i = 0; i < layer.numInputs(); ++i) {
    const ir::Tensor* in = layer.inputs[i];
    if (!in) {
      args.inputs.push_back({});
      continue;
    }
    int t = engine.indexOf(in);
    // Shape inputs are always read on the host.
    MemoryKind where = ir::isShapeInput(layer, i) ? kHostMemory : kind;
    void* data = nullptr;
    if (withAddresses) data = where == kHostMemory && values[t] ? const_cast<void*>(values[t]->data()) : address(t, where);
    args.inputs.push_back({data, descs[t].type, descs[t].shape});
  }
  for (auto* out : layer.outputs) {
    int t = engine.indexOf(out);
    args.outputs.push_back({withAddresses ? address(t, kind) : nullptr, descs[t].type, descs[t].shape});
  }
  args.workspace = workspaces[kind].pointer;
  args.workspaceBytes = workspaces[kind].bytes;
  return args;
}

void ContextImpl::copyHostValueToOutput(int t, void* stream) {
  void* dst = bindings[t] ? bindings[t] : ownedOutputs[t]->pointer;
  const HostTensor* value = values[t];
  size_t bytes = value->bytes ? value->bytes->size() : 0;
  if (bytes == 0) return;
  if (engine.primaryKind == kHostMemory) std::memcpy(dst, value->data(), bytes);
  else engine.deviceBackend->copyFromHost(dst, value->data(), bytes, stream);
}

void ContextImpl::run(void* stream) {
  const ir::Network& net = engine.network();
  if (profiler) {
    KILN_CHECK(!engine.deviceBackend || !engine.deviceBackend->isCapturing(stream), kUnsupported,
               "cannot capture a profiled run into a graph: remove the profiler (setProfiler(nullptr)) first");
    stepTimers.resize(engine.steps.size());
  }
  // The timer of step i, created on first use by the backend that runs it.
  auto timerFor = [&](size_t i, MemoryKind kind) -> StreamTimer& {
    if (!stepTimers[i]) stepTimers[i] = backendOf(kind)->createTimer();
    return *stepTimers[i];
  };
  for (size_t i = 0; i < engine.steps.size(); ++i) {
    host::checkRunControl();  // on a GPU, between steps as they are enqueued
    const Step& step = engine.steps[i];
    if (step.kind == Step::Kind::kCopy) {
      int t = step.tensor;
      void* src = address(t, step.from);
      void* dst = address(t, step.to);
      size_t bytes = static_cast<size_t>(volume(descs[t].shape)) * dataTypeSize(descs[t].type);
      if (profiler) timerFor(i, kDeviceMemory).start(stream);
      if (step.to == kHostMemory) {
        KILN_CHECK(!engine.deviceBackend->isCapturing(stream), kUnsupported, "cannot capture this engine into a ",
                   "graph: tensor '", engine.tensors[t]->name(), "' goes to a layer that runs on the CPU, which needs ",
                   "a host synchronization in the middle of the run");
        engine.deviceBackend->copyToHost(dst, src, bytes, stream);
        if (profiler) timerFor(i, kDeviceMemory).stop(stream);
        engine.deviceBackend->synchronize(stream);  // the host layer that follows reads it now
      } else {
        engine.deviceBackend->copyFromHost(dst, src, bytes, stream);
        if (profiler) timerFor(i, kDeviceMemory).stop(stream);
      }
      continue;
    }
    if (viewSteps[i]) continue;  // its output is its input's memory
    MemoryKind kind = engine.layerKind[step.layer];
    if (kind == kHostMemory && engine.primaryKind == kDeviceMemory) engine.deviceBackend->synchronize(stream);
    if (profiler) timerFor(i, kind).start(stream);
    engine.kernels[step.layer]->execute(argsFor(step.layer, stream, true));
    if (profiler) timerFor(i, kind).stop(stream);
  }
  if (profiler) {
    // Timers are read once the run is over, so layers are timed without a synchronization between them.
    backendOf(engine.primaryKind)->synchronize(stream);
    for (size_t i = 0; i < engine.steps.size(); ++i) {
      if (!stepTimers[i]) continue;  // a view step ran nothing
      const Step& step = engine.steps[i];
      double ms = stepTimers[i]->elapsedMs();
      if (step.kind == Step::Kind::kCopy)
        profiler->reportLayerTime(engine.tensors[step.tensor]->name(),
                                  step.to == kHostMemory ? "copy to host" : "copy to device", ms);
      else
        profiler->reportLayerTime(net.layers()[step.layer]->name(), layerTypeName(net.layers()[step.layer]->type()),
                                  ms);
    }
  }
  // Outputs known at reshape time (shape computations, constants) are copied into place.
  for (auto* out : net.outputs()) {
    int t = engine.indexOf(out);
    if (out->isInput) {
      void* src = bindings[t];
      void* dst = ownedOutputs[t]->pointer;
      size_t bytes = static_cast<size_t>(volume(descs[t].shape)) * dataTypeSize(descs[t].type);
      KILN_CHECK(src != nullptr || bytes == 0, kInvalidArgument, "input '", out->name(), "' has no address");
      if (bytes > 0) engine.deviceBackend->copy(dst, src, bytes, stream);
    } else if (engine.hostEvaluated[t]) {
      copyHostValueToOutput(t, stream);
    }
  }
}

void ContextImpl::runDataDependent() {
  const ir::Network& net = engine.network();
  lazyValues.assign(engine.tensors.size(), {});
  std::vector<const HostTensor*> known = values;
  for (auto* in : net.inputs()) {
    int t = engine.indexOf(in);
    KILN_CHECK(bindings[t] != nullptr || volume(descs[t].shape) == 0, kInvalidArgument, "input '", in->name(),
               "' has no address: call setTensorAddress before running");
    if (in->kind != ValueKind::kTensor) {
      const auto* value = static_cast<const Weights*>(bindings[t]);
      KILN_CHECK(value->kind == in->kind, kInvalidArgument, "input '", in->name(), "' is a ", valueKindName(in->kind),
                 " but the bound value is a ", valueKindName(value->kind));
      lazyValues[t] = *value;
      // An empty container has no element to tell its element type (a .pb file need not say): the
      // network's declaration does.
      if (value->elements && value->elements->empty()) lazyValues[t].type = in->type();
    } else {
      lazyValues[t] = Weights::copyOf(descs[t].type, descs[t].shape, bindings[t]);
    }
    known[t] = &lazyValues[t];
  }
  // Every layer output of the run is kept until its end: with the values evaluated at reshape, valueBytes
  // is the run's activation memory.
  valueBytes = hostValueBytes;
  for (size_t li = 0; li < net.layers().size(); ++li) {
    host::checkRunControl();
    const ir::Layer& layer = *net.layers()[li];
    if (layer.type() == LayerType::kConstant || (engine.hostLayer[li] && values[engine.indexOf(layer.outputs[0])]))
      continue;  // evaluated at reshape
    std::vector<const HostTensor*> inputs;
    std::vector<const TensorDesc*> inDescs;
    for (auto* in : layer.inputs) {
      inputs.push_back(in ? known[engine.indexOf(in)] : nullptr);
      inDescs.push_back(in ? &descs[engine.indexOf(in)] : nullptr);
    }
    // Sizes are checked before evaluateLayer allocates; the outputs of layers on host values (control flow,
    // sequences) and the data-dependent counts (NonZero) are known only after it runs.
    int64_t expectedBytes = 0;
    if (!ir::runsOnHostValues(layer)) {
      std::vector<TensorDesc> expected = ir::inferOutputs(layer, inDescs, inputs);
      for (size_t o = 0; o < expected.size(); ++o) {
        if (!knownShape(expected[o].shape)) continue;
        int t = engine.indexOf(layer.outputs[o]);
        expectedBytes = addOrThrow(expectedBytes, checkedRunTimeBytes(t, expected[o]), "activation memory");
        checkMemoryLimit(addOrThrow(valueBytes, expectedBytes, "activation memory"), describeTensor(t));
      }
    }
    std::vector<HostTensor> outs;
    try {
      outs = host::evaluateLayer(layer, inputs);
    } catch (const std::bad_alloc&) {
      fail(ErrorCode::kRuntimeError, concat(layer.describe(), ": cannot allocate its outputs (", expectedBytes,
                                            " bytes known before it ran)"));
    }
    KILN_CHECK(outs.size() == layer.outputs.size(), kInternal, layer.describe(), " produced ", outs.size(),
               " outputs, expected ", layer.outputs.size());
    for (size_t o = 0; o < outs.size(); ++o) {
      int t = engine.indexOf(layer.outputs[o]);
      lazyValues[t] = std::move(outs[o]);
      known[t] = &lazyValues[t];
      descs[t] = {lazyValues[t].type, lazyValues[t].shape, lazyValues[t].kind};
      if (lazyValues[t].kind != ValueKind::kTensor) continue;
      valueBytes = addOrThrow(valueBytes, checkedRunTimeBytes(t, descs[t]), "activation memory");
      checkMemoryLimit(valueBytes, describeTensor(t));
    }
  }
  for (auto* out : net.outputs()) {
    int t = engine.indexOf(out);
    KILN_CHECK(bindings[t] == nullptr, kInvalidArgument, "output '", out->name(),
               "' is computed on the host (a data-dependent shape, or strings): leave it unbound and read it with "
               "tensorAddress() after execute()");
    const HostTensor* value = known[t];
    KILN_CHECK(value != nullptr, kInternal, "output '", out->name(), "' was not computed");
    if (value->kind != ValueKind::kTensor || value->type == DataType::kString) {
      containerOutputs[t] = *value;  // strings: tensorAddress gives its std::string array
      continue;
    }
    size_t bytes = value->bytes ? value->bytes->size() : 0;
    if (!ownedOutputs[t]) ownedOutputs[t] = std::make_unique<Buffer>();
    ownedOutputs[t]->reserve(engine.cpuBackend.get(), bytes, concat("output '", out->name(), "'"));
    if (bytes) std::memcpy(ownedOutputs[t]->pointer, value->data(), bytes);
  }
}

// ---- public API ----

namespace {
// The one-thread guard: a public call marks the context busy for its life, and a call that finds it busy
// (another thread is inside a call) throws instead of corrupting that call's state. One atomic exchange.
class BusyGuard {
 public:
  BusyGuard(ContextImpl& context, const char* call) : busy_(context.busy) {
    KILN_CHECK(!busy_.exchange(true, std::memory_order_acquire), kInvalidArgument, "ExecutionContext '",
               static_cast<const void*>(&context), "' is used by two threads at once (", call,
               " overlaps a call on another thread); use one context per thread");
  }
  ~BusyGuard() { busy_.store(false, std::memory_order_release); }
  BusyGuard(const BusyGuard&) = delete;
  BusyGuard& operator=(const BusyGuard&) = delete;

 private:
  std::atomic<bool>& busy_;
};

host::RunControl runControlOf(ContextImpl& context) {
  host::RunControl control;
  control.cancelRequested = &context.cancelRequested;
  control.timeLimitMs = context.timeLimitMs;
  control.maxTensorElements = context.engine.contents.info.maxTensorElements;
  control.deadline = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double, std::milli>(context.timeLimitMs));
  return control;
}

// One execute()/enqueue(): its cancellation and time limit are installed on the running thread for its
// life. A cancel() made before the run stops it at once; one made too late for the run's last check is
// dropped when the run ends.
class RunScope {
 public:
  explicit RunScope(ContextImpl& context)
      : context_(context), control_(runControlOf(context)), installed_(control_) {
    control_.check();
  }
  ~RunScope() { context_.cancelRequested.store(false); }
  RunScope(const RunScope&) = delete;
  RunScope& operator=(const RunScope&) = delete;

 private:
  ContextImpl& context_;
  host::RunControl control_;
  host::ScopedRunControl installed_;
};
}  // namespace

ExecutionContext::ExecutionContext(std::shared_ptr<const Engine> engine)
    : engine_(std::move(engine)), impl_(std::make_unique<ContextImpl>(engine_->impl())) {}
ExecutionContext::~ExecutionContext() = default;
const Engine& ExecutionContext::engine() const { return *engine_; }

void ExecutionContext::setInputShape(const std::string& name, const Dims& dims) {
  BusyGuard guard(*impl_, "setInputShape");
  const EngineImpl& e = engine_->impl();
  const ir::Tensor* t = e.ioTensor(name);
  KILN_CHECK(t->isInput, kInvalidArgument, "'", name, "' is an output; only inputs take a shape");
  KILN_CHECK(t->kind == ValueKind::kTensor, kInvalidArgument, "input '", name, "' is a ", valueKindName(t->kind),
             ": bind a kiln::Weights holding it with setTensorAddress; it takes no shape");
  const Dims& declared = t->dims();
  KILN_CHECK(dims.size() == declared.size(), kInvalidArgument, "input '", name, "' has rank ", declared.size(),
             " (shape ", dimsToString(declared), "), got shape ", dimsToString(dims));
  KILN_CHECK(knownShape(dims), kInvalidArgument, "input '", name, "' got shape ", dimsToString(dims),
             ": dimensions must be >= 0");
  int64_t elements = checkedVolume(dims);
  KILN_CHECK(elements >= 0 && checkedByteSize(t->type(), dims) >= 0, kInvalidArgument, "size overflow: input '", name,
             "' got shape ", dimsToString(dims), ", whose size does not fit in 64 bits");
  KILN_CHECK(elements <= e.contents.info.maxTensorElements, kInvalidArgument, "input '", name, "' got shape ",
             dimsToString(dims), ": ", elements, " elements, over the plan's maxTensorElements of ",
             e.contents.info.maxTensorElements, " (BuilderConfig::maxTensorElements)");
  ShapeRange range = engine_->profileShape(name);
  for (size_t i = 0; i < dims.size(); ++i) {
    KILN_CHECK(declared[i] < 0 || dims[i] == declared[i], kInvalidArgument, "input '", name, "' must have shape ",
               dimsToString(declared), ", got ", dimsToString(dims), " (dimension ", i, ")");
    KILN_CHECK(dims[i] >= range.min[i] && dims[i] <= range.max[i], kInvalidArgument, "input '", name, "' shape ",
               dimsToString(dims), " is outside the optimization profile [min ", dimsToString(range.min), ", max ",
               dimsToString(range.max), "] (dimension ", i, ")");
  }
  Dims& current = impl_->inputShapes[impl_->inputPosition(t)];
  if (current != dims) {
    current = dims;
    impl_->dirty = true;
  }
}

Dims ExecutionContext::tensorShape(const std::string& name) const {
  BusyGuard guard(*impl_, "tensorShape");
  const EngineImpl& e = engine_->impl();
  const ir::Tensor* t = e.ioTensor(name);
  if (t->isInput) return impl_->inputShapes[impl_->inputPosition(t)];
  if (impl_->dirty) {
    try {
      impl_->reshape();
    } catch (const Error&) {
      return t->dims();  // shapes not settled yet (an input shape or value is missing)
    }
  }
  return impl_->descs[e.indexOf(t)].shape;
}

void ExecutionContext::setTensorAddress(const std::string& name, void* address) {
  BusyGuard guard(*impl_, "setTensorAddress");
  const EngineImpl& e = engine_->impl();
  int t = e.indexOf(e.ioTensor(name));
  if (impl_->bindings[t] != address && e.readsInputValues[t]) impl_->dirty = true;
  impl_->bindings[t] = address;
}

void* ExecutionContext::tensorAddress(const std::string& name) const {
  const EngineImpl& e = engine_->impl();
  const ir::Tensor* tensor = e.ioTensor(name);
  int t = e.indexOf(tensor);
  if (impl_->bindings[t]) return impl_->bindings[t];
  if (tensor->isOutput && tensor->kind != ValueKind::kTensor)
    return impl_->containerOutputs[t].elements ? &impl_->containerOutputs[t] : nullptr;
  if (tensor->isOutput && tensor->type() == DataType::kString)
    return const_cast<void*>(impl_->containerOutputs[t].data());
  if (tensor->isOutput && impl_->outputsOnHost && impl_->hostOutputs[t]) return impl_->hostOutputs[t]->pointer;
  if (tensor->isOutput && impl_->ownedOutputs[t]) return impl_->ownedOutputs[t]->pointer;
  return nullptr;
}

MemoryUsage ExecutionContext::memoryUsage() const {
  BusyGuard guard(*impl_, "memoryUsage");
  if (impl_->dirty) impl_->reshape();
  return {impl_->arenaBytes[0] + impl_->arenaBytes[1], impl_->naiveBytes[0] + impl_->naiveBytes[1]};
}

void ContextImpl::enqueue(void* stream) {
  outputsOnHost = false;
  if (dirty || valuesRead) {
    // Re-planning allocates and synchronizes: not possible while the stream is captured into a graph.
    KILN_CHECK(!engine.deviceBackend->isCapturing(stream), kUnsupported,
               valuesRead ? "cannot capture this engine into a graph: an input is read as shape values, so "
                            "every run re-plans on the host"
                          : "cannot capture enqueue into a graph right after a shape or binding change: "
                            "run enqueue once (outside the capture) first");
    reshape();
  }
  if (dataDependent) {
    runDataDependent();  // re-infers every shape on each run; descs now hold this run's shapes
    return;
  }
  run(stream);
}

void ExecutionContext::enqueue(void* stream) {
  BusyGuard guard(*impl_, "enqueue");
  RunScope run(*impl_);
  impl_->enqueue(stream);
}

void ExecutionContext::setProfiler(Profiler* profiler) { impl_->profiler = profiler; }

void ExecutionContext::cancel() { impl_->cancelRequested.store(true); }

void ExecutionContext::setTimeLimit(double milliseconds) {
  BusyGuard guard(*impl_, "setTimeLimit");
  KILN_CHECK(std::isfinite(milliseconds) && milliseconds >= 0, kInvalidArgument,
             "the time limit must be >= 0 ms (0: none), got ", milliseconds);
  impl_->timeLimitMs = milliseconds;
}

void ExecutionContext::execute() {
  BusyGuard guard(*impl_, "execute");
  RunScope run(*impl_);
  const EngineImpl& e = engine_->impl();
  if (e.primaryKind == kHostMemory) {
    impl_->enqueue(nullptr);
    return;
  }
  // A GPU engine with host buffers: stage through device memory. Unbound outputs are copied to
  // context-owned host memory, so tensorAddress() after execute() is always a host address.
  impl_->outputsOnHost = false;
  if (impl_->dirty || impl_->valuesRead) impl_->reshape(/*bindingsOnHost=*/true);
  if (impl_->dataDependent) {
    impl_->runDataDependent();  // host kernels on host buffers; outputs are host memory
    return;
  }
  const Backend& device = *e.deviceBackend;
  std::vector<std::pair<int, void*>> hostBindings;
  for (auto* t : e.network().inputs()) {
    int i = e.indexOf(t);
    size_t bytes = static_cast<size_t>(volume(impl_->descs[i].shape)) * dataTypeSize(impl_->descs[i].type);
    KILN_CHECK(impl_->bindings[i] != nullptr || bytes == 0, kInvalidArgument, "input '", t->name(),
               "' has no address: call setTensorAddress before running");
    auto& staged = impl_->stagedInputs[i];  // kept between runs: no device allocation per execute()
    if (!staged) staged = std::make_unique<Buffer>();
    staged->reserve(&device, bytes, concat("the device copy of input '", t->name(), "'"));
    if (bytes > 0) device.copyFromHost(staged->pointer, impl_->bindings[i], bytes, nullptr);
    hostBindings.push_back({i, impl_->bindings[i]});
    impl_->bindings[i] = staged->pointer;
  }
  std::vector<std::pair<int, void*>> outputs, unbound;
  for (auto* t : e.network().outputs()) {
    int i = e.indexOf(t);
    if (impl_->bindings[i]) {
      outputs.push_back({i, impl_->bindings[i]});
      impl_->bindings[i] = nullptr;  // runs into the context-owned device buffer
    } else {
      size_t bytes = static_cast<size_t>(volume(impl_->descs[i].shape)) * dataTypeSize(impl_->descs[i].type);
      if (!impl_->hostOutputs[i]) impl_->hostOutputs[i] = std::make_unique<Buffer>();
      impl_->hostOutputs[i]->reserve(e.cpuBackend.get(), bytes, concat("the host copy of output '", t->name(), "'"));
      unbound.push_back({i, impl_->hostOutputs[i]->pointer});
    }
  }
  try {
    impl_->run(nullptr);
    for (auto* list : {&outputs, &unbound}) {
      for (auto& [i, host] : *list) {
        size_t bytes = static_cast<size_t>(volume(impl_->descs[i].shape)) * dataTypeSize(impl_->descs[i].type);
        device.copyToHost(host, impl_->ownedOutputs[i]->pointer, bytes, nullptr);
      }
    }
    device.synchronize(nullptr);
    impl_->outputsOnHost = true;
  } catch (...) {
    for (auto& [i, host] : hostBindings) impl_->bindings[i] = host;
    for (auto& [i, host] : outputs) impl_->bindings[i] = host;
    throw;
  }
  for (auto& [i, host] : hostBindings) impl_->bindings[i] = host;
  for (auto& [i, host] : outputs) impl_->bindings[i] = host;
}

}  // namespace kiln
