// CUDA side of `kiln bench` (see cuda_timing.h); compiled only with KILN_HAVE_CUDA.
#include "cuda_timing.h"

#include <cuda_runtime.h>

#include <vector>

#include "core/error.h"

namespace kiln::tools {

namespace {
void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();
  fail(ErrorCode::kRuntimeError, concat("kiln bench: ", what, " failed: ", cudaGetErrorName(status), " (",
                                        cudaGetErrorString(status), ")"));
}
}  // namespace

struct CudaTiming::Impl {
  int device = 0;
  cudaStream_t stream = nullptr;
  cudaEvent_t events[kNumMarks] = {};
  std::vector<void*> deviceBuffers, pinnedBuffers;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t graphExec = nullptr;

  void releaseGraph() {
    if (graphExec) cudaGraphExecDestroy(graphExec);
    if (graph) cudaGraphDestroy(graph);
    graphExec = nullptr;
    graph = nullptr;
  }
};

CudaTiming::CudaTiming(int device) : impl_(std::make_unique<Impl>()) {
  impl_->device = device;
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking), "cudaStreamCreate");
  for (auto& e : impl_->events) check(cudaEventCreate(&e), "cudaEventCreate");
}

CudaTiming::~CudaTiming() {
  // Best effort: the process may be exiting.
  if (impl_->stream) cudaStreamSynchronize(impl_->stream);
  impl_->releaseGraph();
  for (void* p : impl_->deviceBuffers) cudaFree(p);
  for (void* p : impl_->pinnedBuffers) cudaFreeHost(p);
  for (auto& e : impl_->events)
    if (e) cudaEventDestroy(e);
  if (impl_->stream) cudaStreamDestroy(impl_->stream);
}

std::string CudaTiming::deviceDescription() const {
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, impl_->device), "cudaGetDeviceProperties");
  return concat(prop.name, " (sm_", prop.major, prop.minor, ")");
}

void* CudaTiming::stream() const { return impl_->stream; }

void* CudaTiming::allocateDevice(size_t bytes) {
  void* p = nullptr;
  check(cudaMalloc(&p, bytes == 0 ? 1 : bytes), "cudaMalloc");
  impl_->deviceBuffers.push_back(p);
  return p;
}

void* CudaTiming::allocatePinned(size_t bytes) {
  void* p = nullptr;
  check(cudaMallocHost(&p, bytes == 0 ? 1 : bytes), "cudaMallocHost");
  impl_->pinnedBuffers.push_back(p);
  return p;
}

void CudaTiming::copyToDevice(void* dst, const void* src, size_t bytes) {
  if (bytes) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, impl_->stream), "host-to-device copy");
}

void CudaTiming::copyToHost(void* dst, const void* src, size_t bytes) {
  if (bytes) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, impl_->stream), "device-to-host copy");
}

void CudaTiming::mark(Mark mark) { check(cudaEventRecord(impl_->events[mark], impl_->stream), "cudaEventRecord"); }

void CudaTiming::synchronize() { check(cudaStreamSynchronize(impl_->stream), "cudaStreamSynchronize"); }

double CudaTiming::elapsedMs(Mark from, Mark to) const {
  float ms = 0.f;
  check(cudaEventElapsedTime(&ms, impl_->events[from], impl_->events[to]), "cudaEventElapsedTime");
  return ms;
}

void CudaTiming::captureGraph(const std::function<void()>& work) {
  impl_->releaseGraph();
  // Global mode: any unsafe call (allocation, synchronization) from any thread fails the capture.
  check(cudaStreamBeginCapture(impl_->stream, cudaStreamCaptureModeGlobal), "cudaStreamBeginCapture");
  try {
    work();
  } catch (const Error& e) {
    cudaGraph_t broken = nullptr;
    cudaStreamEndCapture(impl_->stream, &broken);
    if (broken) cudaGraphDestroy(broken);
    cudaGetLastError();
    fail(e.code(), concat("--use-cuda-graph: capturing enqueue into a CUDA graph failed: ", e.what()));
  }
  check(cudaStreamEndCapture(impl_->stream, &impl_->graph), "cudaStreamEndCapture (capturing enqueue)");
  check(cudaGraphInstantiate(&impl_->graphExec, impl_->graph, 0), "cudaGraphInstantiate");
}

bool CudaTiming::hasGraph() const { return impl_->graphExec != nullptr; }

void CudaTiming::launchGraph() {
  KILN_CHECK(impl_->graphExec != nullptr, kInternal, "launchGraph before captureGraph");
  check(cudaGraphLaunch(impl_->graphExec, impl_->stream), "cudaGraphLaunch");
}

}  // namespace kiln::tools
