// The CUDA backend: device memory and copies on streams, library handles, and tactics and kernels from the
// kernel table (kernel_table.cpp).
#include "backends/cuda/cuda_backend.h"

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/kernels/kernels.h"
#include "ir/shape_inference.h"

namespace kiln::cuda {

void throwCudaError(const char* call, cudaError_t status, const char* file, int line) {
  const char* base = std::strrchr(file, '/');
  fail(ErrorCode::kRuntimeError, concat("CUDA error: ", call, " failed with ", cudaGetErrorName(status), " (",
                                        cudaGetErrorString(status), ") at ", base ? base + 1 : file, ":", line));
}

#define KILN_CUBLAS_CHECK(call)                                                                        \
  do {                                                                                                 \
    cublasStatus_t s_ = (call);                                                                        \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                                   \
      fail(ErrorCode::kRuntimeError, concat("cuBLASLt error: ", #call, " failed with status ", static_cast<int>(s_))); \
  } while (0)
#define KILN_CUDNN_CHECK(call)                                                                         \
  do {                                                                                                 \
    cudnnStatus_t s_ = (call);                                                                         \
    if (s_ != CUDNN_STATUS_SUCCESS)                                                                    \
      fail(ErrorCode::kRuntimeError, concat("cuDNN error: ", #call, " failed with ", cudnnGetErrorString(s_))); \
  } while (0)

// ---- DeviceContext ----------------------------------------------------------------------------

DeviceContext::~DeviceContext() {
  // Handles are released best-effort: the process may be exiting with the driver already torn down.
  if (lt_) cublasLtDestroy(lt_);
  if (dnn_) cudnnDestroy(dnn_);
}

void DeviceContext::makeCurrent() const {
  int current = -1;
  KILN_CUDA_CHECK(cudaGetDevice(&current));
  if (current != device_) KILN_CUDA_CHECK(cudaSetDevice(device_));
}

cublasLtContext* DeviceContext::cublasLt() const {
  std::call_once(ltOnce_, [&] {
    makeCurrent();
    cublasLtHandle_t h = nullptr;
    KILN_CUBLAS_CHECK(cublasLtCreate(&h));
    lt_ = h;
  });
  return lt_;
}

cudnnContext* DeviceContext::cudnn() const {
  std::call_once(dnnOnce_, [&] {
    makeCurrent();
    cudnnHandle_t h = nullptr;
    KILN_CUDNN_CHECK(cudnnCreate(&h));
    dnn_ = h;
  });
  return dnn_;
}

// ---- helpers ----------------------------------------------------------------------------------

DeviceBuffer::DeviceBuffer(const void* host, size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  KILN_CUDA_CHECK(cudaMalloc(&ptr_, bytes));
  KILN_CUDA_CHECK(cudaMemcpy(ptr_, host, bytes, cudaMemcpyHostToDevice));
}
DeviceBuffer::~DeviceBuffer() {
  if (ptr_) cudaFree(ptr_);
}

bool inputIsConstant(const ir::Layer& layer, size_t index) {
  if (index >= layer.inputs.size() || !layer.inputs[index]) return false;
  const ir::Tensor* t = layer.inputs[index];
  return t->producerLayer && t->producerLayer->type() == LayerType::kConstant;
}

namespace {
bool isHostPointer(const void* p) {
  cudaPointerAttributes attrs{};
  cudaError_t st = cudaPointerGetAttributes(&attrs, p);
  if (st != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error
    return true;         // unknown to CUDA: plain host memory
  }
  return attrs.type == cudaMemoryTypeUnregistered || attrs.type == cudaMemoryTypeHost ||
         attrs.type == cudaMemoryTypeManaged;
}

template <class Out>
std::vector<Out> readHost(DataType type, const void* data, int64_t n, const ir::Layer& layer) {
  std::vector<Out> out(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) {
    switch (type) {
      case DataType::kInt64: out[i] = static_cast<Out>(static_cast<const int64_t*>(data)[i]); break;
      case DataType::kInt32: out[i] = static_cast<Out>(static_cast<const int32_t*>(data)[i]); break;
      case DataType::kFloat32: out[i] = static_cast<Out>(static_cast<const float*>(data)[i]); break;
      case DataType::kFloat64: out[i] = static_cast<Out>(static_cast<const double*>(data)[i]); break;
      case DataType::kFloat16: {
        uint16_t h = static_cast<const uint16_t*>(data)[i];
        // exact enough for scales: decode through float
        uint32_t sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
        float f;
        if (e == 0) f = std::ldexp(static_cast<float>(m), -24);
        else if (e == 31) f = m ? NAN : INFINITY;
        else f = std::ldexp(static_cast<float>(m | 0x400), static_cast<int>(e) - 25);
        out[i] = static_cast<Out>(sign ? -f : f);
        break;
      }
      case DataType::kInt8: out[i] = static_cast<Out>(static_cast<const int8_t*>(data)[i]); break;
      case DataType::kUInt8: out[i] = static_cast<Out>(static_cast<const uint8_t*>(data)[i]); break;
      case DataType::kInt16: out[i] = static_cast<Out>(static_cast<const int16_t*>(data)[i]); break;
      case DataType::kUInt32: out[i] = static_cast<Out>(static_cast<const uint32_t*>(data)[i]); break;
      case DataType::kUInt64: out[i] = static_cast<Out>(static_cast<const uint64_t*>(data)[i]); break;
      default:
        fail(ErrorCode::kUnsupported, concat(layer.describe(), ": cannot read ", dataTypeName(type), " values on the host"));
    }
  }
  return out;
}

template <class Out>
std::vector<Out> hostValues(const ir::Layer& layer, const KernelArgs& args, const Constants& constants, size_t index) {
  if (index < constants.size() && constants[index] && constants[index]->data())
    return readHost<Out>(constants[index]->type, constants[index]->data(), constants[index]->count(), layer);
  KILN_CHECK(index < args.inputs.size(), kInternal, layer.describe(), ": input ", index, " is missing");
  const TensorView& v = args.inputs[index];
  if (v.count() == 0) return {};
  KILN_CHECK(v.data != nullptr, kInvalidArgument, layer.describe(), ": input ", index, " is missing");
  KILN_CHECK(isHostPointer(v.data), kUnsupported, layer.describe(), ": the CUDA kernel needs input ", index,
             " on the host (a constant or a host-evaluated shape tensor), but it is in device memory");
  return readHost<Out>(v.type, v.data, v.count(), layer);
}
}  // namespace

std::vector<int64_t> shapeInputValues(const ir::Layer& layer, const KernelArgs& args, const Constants& constants,
                                      size_t index) {
  return hostValues<int64_t>(layer, args, constants, index);
}
std::vector<double> hostInputValuesAsDouble(const ir::Layer& layer, const KernelArgs& args,
                                            const Constants& constants, size_t index) {
  return hostValues<double>(layer, args, constants, index);
}

int coalesceDims(std::vector<int64_t>& dims, std::vector<std::vector<int64_t>*> strides) {
  // drop size-1 dims, then merge d into d+1 when stride[d] == stride[d+1] * dims[d+1] for every operand
  std::vector<int64_t> nd;
  std::vector<std::vector<int64_t>> ns(strides.size());
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 1) continue;
    if (!nd.empty()) {
      bool merge = true;
      for (size_t k = 0; k < strides.size(); ++k)
        if (ns[k].back() != (*strides[k])[d] * dims[d]) merge = false;
      if (merge) {
        nd.back() *= dims[d];
        for (size_t k = 0; k < strides.size(); ++k) ns[k].back() = (*strides[k])[d];
        continue;
      }
    }
    nd.push_back(dims[d]);
    for (size_t k = 0; k < strides.size(); ++k) ns[k].push_back((*strides[k])[d]);
  }
  dims = nd;
  for (size_t k = 0; k < strides.size(); ++k) *strides[k] = ns[k];
  return static_cast<int>(nd.size());
}

// ---- the backend ------------------------------------------------------------------------------

namespace {

// Two CUDA events around work on a stream.
class EventTimer final : public StreamTimer {
 public:
  explicit EventTimer(std::shared_ptr<DeviceContext> ctx) : ctx_(std::move(ctx)) {
    ctx_->makeCurrent();
    KILN_CUDA_CHECK(cudaEventCreate(&start_));
    KILN_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~EventTimer() override {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  void start(void* stream) override { KILN_CUDA_CHECK(cudaEventRecord(start_, static_cast<cudaStream_t>(stream))); }
  void stop(void* stream) override { KILN_CUDA_CHECK(cudaEventRecord(stop_, static_cast<cudaStream_t>(stream))); }
  double elapsedMs() const override {
    float ms = 0;
    KILN_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return ms;
  }

 private:
  std::shared_ptr<DeviceContext> ctx_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

// A CUDA graph of captured work with its own stream and events; replayMs() times one launch.
class GraphWork final : public RecordedWork {
 public:
  GraphWork(std::shared_ptr<DeviceContext> ctx, const std::function<void(void*)>& enqueue) : ctx_(std::move(ctx)) {
    ctx_->makeCurrent();
    KILN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    KILN_CUDA_CHECK(cudaEventCreate(&start_));
    KILN_CUDA_CHECK(cudaEventCreate(&stop_));
    KILN_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    try {
      enqueue(stream_);
    } catch (...) {
      cudaGraph_t broken = nullptr;
      cudaStreamEndCapture(stream_, &broken);
      if (broken) cudaGraphDestroy(broken);
      cudaGetLastError();
      throw;
    }
    KILN_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph_));
    KILN_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph_, 0));
  }
  ~GraphWork() override {
    if (exec_) cudaGraphExecDestroy(exec_);
    if (graph_) cudaGraphDestroy(graph_);
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
    cudaStreamDestroy(stream_);
  }
  double replayMs() override {
    ctx_->makeCurrent();
    KILN_CUDA_CHECK(cudaEventRecord(start_, stream_));
    KILN_CUDA_CHECK(cudaGraphLaunch(exec_, stream_));
    KILN_CUDA_CHECK(cudaEventRecord(stop_, stream_));
    KILN_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    KILN_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return ms;
  }

 private:
  std::shared_ptr<DeviceContext> ctx_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

// What tactic timings on `device` depend on: the device (name, compute capability, SM count, which a MIG
// slice changes) and the cuBLASLt and cuDNN versions, whose kernels and heuristics change between releases.
std::string timingSignature(int device) {
  cudaDeviceProp prop{};
  KILN_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return concat(prop.name, " sm_", prop.major, prop.minor, ", ", prop.multiProcessorCount, " SMs, cuBLASLt ",
                cublasLtGetVersion(), ", cuDNN ", cudnnGetVersion());
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(std::shared_ptr<DeviceContext> ctx)
      : ctx_(std::move(ctx)), signature_(timingSignature(ctx_->device())) {}
  std::string name() const override { return concat("cuda:", ctx_->device()); }
  // Kernels are compiled for one architecture (CMAKE_CUDA_ARCHITECTURES) and tactics are tuned per device.
  std::string target() const override { return concat("sm_", ctx_->computeCapability()); }
  std::string unsupportedReason(const ir::Layer& layer) const override { return cuda::unsupportedReason(layer); }
  // "NVIDIA H200 sm_90, 132 SMs, cuBLASLt 130100, cuDNN 91900"
  std::string deviceSignature() const override { return signature_; }
  std::vector<std::string> tactics(const ir::Layer& layer, int effort) const override {
    KILN_CHECK(effort >= 0 && effort <= kMaxBuilderEffort, kInvalidArgument, "builder effort ", effort,
               " is outside 0..", kMaxBuilderEffort);
    if (!cuda::unsupportedReason(layer).empty()) return {};
    ctx_->makeCurrent();  // the cuDNN algorithm variants ask cuDNN on the current device
    return kernelTable().tactics(layer, effort);
  }
  std::unique_ptr<Kernel> createKernel(const ir::Layer& layer, const Constants& constants,
                                       const std::string& tactic) const override {
    ctx_->makeCurrent();
    std::string why = cuda::unsupportedReason(layer);
    KILN_CHECK(why.empty(), kUnsupported, layer.describe(),
               tactic.empty() ? std::string() : concat(": tactic '", tactic, "' cannot run it"), ": ", why);
    auto [row, choice] = kernelTable().find(layer, tactic);
    return row->create(ctx_, layer, constants, choice);
  }
  bool isHostMemory() const override { return false; }
  void* allocate(size_t bytes) const override {
    ctx_->makeCurrent();
    void* p = nullptr;
    if (bytes == 0) return nullptr;
    cudaError_t st = cudaMalloc(&p, bytes);
    if (st != cudaSuccess) {
      cudaGetLastError();
      fail(ErrorCode::kRuntimeError, concat("cudaMalloc of ", bytes, " bytes on ", name(), " failed: ",
                                            cudaGetErrorString(st)));
    }
    return p;
  }
  void deallocate(void* pointer) const override {
    if (!pointer) return;
    ctx_->makeCurrent();
    KILN_CUDA_CHECK(cudaFree(pointer));
  }
  void copyFromHost(void* dst, const void* src, size_t bytes, void* stream) const override {
    if (bytes == 0) return;
    KILN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, static_cast<cudaStream_t>(stream)));
  }
  void copyToHost(void* dst, const void* src, size_t bytes, void* stream) const override {
    if (bytes == 0) return;
    KILN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(stream)));
  }
  void copy(void* dst, const void* src, size_t bytes, void* stream) const override {
    if (bytes == 0) return;
    KILN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream)));
  }
  bool isCapturing(void* stream) const override {
    if (!stream) return false;  // the legacy default stream cannot be captured
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    KILN_CUDA_CHECK(cudaStreamIsCapturing(static_cast<cudaStream_t>(stream), &status));
    return status != cudaStreamCaptureStatusNone;
  }
  void synchronize(void* stream) const override {
    ctx_->makeCurrent();
    if (stream) KILN_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
    else KILN_CUDA_CHECK(cudaDeviceSynchronize());
  }
  std::unique_ptr<StreamTimer> createTimer() const override { return std::make_unique<EventTimer>(ctx_); }
  std::unique_ptr<RecordedWork> record(const std::function<void(void* stream)>& enqueue) const override {
    return std::make_unique<GraphWork>(ctx_, enqueue);
  }

 private:
  std::shared_ptr<DeviceContext> ctx_;
  std::string signature_;
};

void checkDevice(int device) {
  int count = 0;
  cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess) {
    cudaGetLastError();
    fail(ErrorCode::kRuntimeError, concat("no CUDA device is available: ", cudaGetErrorString(st)));
  }
  if (count == 0) fail(ErrorCode::kRuntimeError, "no CUDA device is available: the driver reports 0 devices");
  KILN_CHECK(device >= 0 && device < count, kRuntimeError, "no CUDA device is available: device index ", device,
             " is out of range (", count, " device", count == 1 ? "" : "s", " found)");
}

}  // namespace

int cudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

int cudaComputeCapability(int device) {
  checkDevice(device);
  int major = 0, minor = 0;
  KILN_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  KILN_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  return major * 10 + minor;
}

std::string cudaDeviceDescription(int device) {
  checkDevice(device);
  cudaDeviceProp prop{};
  KILN_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return concat(prop.name, " (sm_", prop.major, prop.minor, ", ", prop.totalGlobalMem >> 30, " GiB, ",
                prop.multiProcessorCount, " SMs)");
}

bool kernelImageAvailable();  // kernels/softmax.cu

std::shared_ptr<DeviceContext> deviceContextFor(int device) {
  static std::mutex mutex;
  static std::map<int, std::shared_ptr<DeviceContext>> contexts;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = contexts.find(device);
  if (found != contexts.end()) return found->second;
  // cudaComputeCapability throws for a device that is not there
  auto ctx = std::make_shared<DeviceContext>(device, cudaComputeCapability(device));
  contexts.emplace(device, ctx);
  return ctx;
}

std::shared_ptr<Backend> makeCudaBackend(int deviceIndex) {
  checkDevice(deviceIndex);
  std::shared_ptr<DeviceContext> ctx = deviceContextFor(deviceIndex);
  int capability = ctx->computeCapability();
  ctx->makeCurrent();
  KILN_CHECK(kernelImageAvailable(), kRuntimeError, "this Kiln's CUDA kernels were not compiled for sm_", capability,
             " (device ", deviceIndex, ": ", cudaDeviceDescription(deviceIndex),
             "); rebuild Kiln with -DCMAKE_CUDA_ARCHITECTURES=", capability);
  return std::make_shared<CudaBackend>(std::move(ctx));
}

}  // namespace kiln::cuda
