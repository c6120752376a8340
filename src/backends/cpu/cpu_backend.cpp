// The CPU backend: host memory (64-byte aligned), memcpy copies, and the kernels and tactics of its
// kernel table; CpuKernel::evaluate runs a kernel on host values (host::evaluateLayer).
#include "backends/cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>

#include "backends/cpu/kernels/gemm.h"
#include "core/checked_math.h"
#include "core/error.h"
#include "ir/shape_inference.h"

namespace kiln::cpu {

std::vector<HostTensor> CpuKernel::evaluate(const std::vector<const HostTensor*>& inputs) const {
  const ir::Layer& layer = layer_;
  for (size_t i = 0; i < inputs.size(); ++i)
    KILN_CHECK(!inputs[i] || inputs[i]->kind == ValueKind::kTensor,
               kInvalidArgument, layer.describe(), ": input ", i, " is a ", valueKindName(inputs[i]->kind),
               "; this layer takes tensors");
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
    int64_t n = dataDependentCount(args);
    for (TensorDesc& d : outDescs)
      for (int64_t& dim : d.shape)
        if (dim < 0) dim = n;
  }
  std::vector<HostTensor> outputs;
  for (size_t i = 0; i < outDescs.size(); ++i) {
    const TensorDesc& d = outDescs[i];
    KILN_CHECK(volume(d.shape) >= 0, kInternal, layer.describe(), ": output ", i, " has an unknown shape ",
               dimsToString(d.shape), " after inference with all input values");
    try {
      outputs.push_back(Weights::zeros(d.type, d.shape));
    } catch (const std::bad_alloc&) {
      fail(ErrorCode::kRuntimeError, concat(layer.describe(), ": cannot allocate ", checkedByteSize(d.type, d.shape),
                                            " bytes for output ", i, " of shape ", dimsToString(d.shape)));
    }
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
  args.workspaceBytes = workspaceSize(args);
  std::unique_ptr<void, void (*)(void*)> workspace(
      args.workspaceBytes > 0 ? std::aligned_alloc(64, (args.workspaceBytes + 63) / 64 * 64) : nullptr, std::free);
  KILN_CHECK(args.workspaceBytes == 0 || workspace, kRuntimeError, layer.describe(), ": cannot allocate ",
             args.workspaceBytes, " bytes of workspace");
  args.workspace = workspace.get();
  execute(args);
  return outputs;
}


int64_t CpuKernel::dataDependentCount(const KernelArgs&) const {
  fail(ErrorCode::kInternal, concat(layer_.describe(), ": no data-dependent shape"));
}

namespace {

// The "model name" of /proc/cpuinfo.
std::string cpuModelName() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    size_t begin = line.find_first_not_of(" \t", colon + 1);
    return begin == std::string::npos ? std::string() : line.substr(begin);
  }
  return "unknown CPU";
}

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  std::string deviceSignature() const override {
#if KILN_HAVE_DNNL
    const char* onednn = "oneDNN";
#else
    const char* onednn = "no oneDNN";
#endif
    static const std::string model = cpuModelName();
    return concat(model, ", ", gemmInstructionSet(), ", ", onednn, ", ", numThreads(), " threads");
  }
  std::string unsupportedReason(const ir::Layer& layer) const override {
    return kernelTable().unsupportedReason(layer);
  }
  std::vector<std::string> tactics(const ir::Layer& layer, int effort) const override {
    return kernelTable().tactics(layer, effort);
  }
  std::unique_ptr<Kernel> createKernel(const ir::Layer& layer, const Constants& constants,
                                       const std::string& tactic) const override {
    auto [row, choice] = kernelTable().find(layer, tactic);
    return row->create(layer, constants, choice);
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

std::shared_ptr<Backend> makeCpuBackend() {
  static std::shared_ptr<Backend> backend = std::make_shared<CpuBackend>();
  return backend;
}

}  // namespace kiln::cpu
