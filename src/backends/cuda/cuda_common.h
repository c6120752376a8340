// Internal helpers of the CUDA backend (never included by the core): status checks, the per-backend
// context with library handles, small by-value shape structs for kernel arguments, launch helpers.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/error.h"

// Forward declarations of the library handle types (their headers stay in the .cpp files that use them).
struct cublasLtContext;
struct cudnnContext;

namespace kiln::cuda {

[[noreturn]] void throwCudaError(const char* call, cudaError_t status, const char* file, int line);

}  // namespace kiln::cuda

// Checks a cudaError_t; throws kiln::Error(kRuntimeError) naming the call and the CUDA error string.
#define KILN_CUDA_CHECK(call)                                                             \
  do {                                                                                    \
    cudaError_t kiln_status_ = (call);                                                    \
    if (kiln_status_ != cudaSuccess) ::kiln::cuda::throwCudaError(#call, kiln_status_, __FILE__, __LINE__); \
  } while (0)
// After a kernel launch.
#define KILN_CUDA_CHECK_LAUNCH(what) KILN_CUDA_CHECK(cudaGetLastError())

namespace kiln::cuda {

constexpr int kMaxRank = 8;

// Small arrays passed to kernels by value.
struct Int64Array {
  int64_t v[kMaxRank];
};
struct StridedShape {
  int rank = 0;
  int64_t dims[kMaxRank];
  int64_t strides[kMaxRank];
};

// Shared state of one CUDA device (deviceContextFor): its lazily created library handles (thread-safe).
class DeviceContext {
 public:
  DeviceContext(int device, int computeCapability) : device_(device), computeCapability_(computeCapability) {}
  ~DeviceContext();
  int device() const { return device_; }
  int computeCapability() const { return computeCapability_; }
  cublasLtContext* cublasLt() const;
  cudnnContext* cudnn() const;
  // Makes this context's device current on the calling thread.
  void makeCurrent() const;
  // cuDNN handles bind one stream at a time: hold this around cudnnSetStream + the call.
  std::mutex& cudnnMutex() const { return dnnMutex_; }

 private:
  int device_;
  int computeCapability_;
  mutable std::once_flag ltOnce_, dnnOnce_;
  mutable cublasLtContext* lt_ = nullptr;
  mutable cudnnContext* dnn_ = nullptr;
  mutable std::mutex dnnMutex_;
};

// The DeviceContext of CUDA device `device`: one per device in the process, shared by every CUDA backend on
// it (and by what asks cuDNN or cuBLASLt outside a kernel, like the cuDNN algorithm variants).
std::shared_ptr<DeviceContext> deviceContextFor(int device);

using Constants = std::vector<const HostTensor*>;

inline cudaStream_t streamOf(const KernelArgs& args) { return static_cast<cudaStream_t>(args.stream); }
inline bool present(const KernelArgs& args, size_t i) {
  return i < args.inputs.size() && args.inputs[i].data != nullptr;
}
inline int64_t prodDims(const Dims& d, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end && i < d.size(); ++i) n *= d[i];
  return n;
}
inline int64_t normAxis(int64_t axis, int64_t rank, const ir::Layer& layer) {
  int64_t a = axis < 0 ? axis + rank : axis;
  KILN_CHECK(a >= 0 && a < std::max<int64_t>(rank, 1), kInvalidArgument, layer.describe(), ": axis ", axis,
             " is out of range for rank ", rank);
  return a;
}

// Integer values of a shape input (Reshape's shape, Slice's starts, Pad's pads, ...): from the constant
// given at createKernel when there was one, else from the view when it points to host memory (the
// runtime evaluates shape tensors on the host). Throws kUnsupported when the values live on the device.
std::vector<int64_t> shapeInputValues(const ir::Layer& layer, const KernelArgs& args, const Constants& constants,
                                      size_t index);
// Float values of a small host-evaluated input (Resize scales/roi, Range start/delta).
std::vector<double> hostInputValuesAsDouble(const ir::Layer& layer, const KernelArgs& args,
                                            const Constants& constants, size_t index);
// True when input `index` comes from a Constant layer (known at build time).
bool inputIsConstant(const ir::Layer& layer, size_t index);

// Device copy of host weights, owned by a kernel (uploaded once at createKernel).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const void* host, size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Grid size for `n` elements with `block` threads (capped; kernels use grid-stride loops).
inline unsigned gridFor(int64_t n, int block = 256) {
  int64_t g = (n + block - 1) / block;
  if (g < 1) g = 1;
  if (g > (1 << 20)) g = 1 << 20;
  return static_cast<unsigned>(g);
}

// Collapses adjacent dims that are contiguous in every stride set; returns the new rank.
// dims/strides arrays are modified in place (strides[k][d] for operand k).
int coalesceDims(std::vector<int64_t>& dims, std::vector<std::vector<int64_t>*> strides);

// A kernel with a fixed name, and a plain execute function.
class NamedKernel : public Kernel {
 public:
  explicit NamedKernel(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }

 protected:
  std::string name_;
};

// Device-side helpers launched from other kernels' host code (defined in data_movement.cu).
// out[iter] = in[inOffset + sum(c_d * inStrides_d)], iterating over `dims` with output strides.
void launchStridedCopy(const void* in, void* out, size_t elemSize, const std::vector<int64_t>& dims,
                       const std::vector<int64_t>& inStrides, const std::vector<int64_t>& outStrides,
                       int64_t inOffset, int64_t outOffset, cudaStream_t stream);
// Constant zero padding (any element size): out has dims in+padsBegin+padsEnd (pads >= 0).
void launchZeroPad(const void* in, void* out, size_t elemSize, const Dims& inDims, const Dims& padsBegin,
                   const Dims& outDims, cudaStream_t stream);
// In place, channel axis 1: y[n, c, rest] = clamp(y + bias[c], lo, hi); bias may be null (clamp only).
// type: float32 or float16.
void launchChannelBiasClamp(void* y, const void* bias, DataType type, int64_t n, int64_t c, int64_t inner, float lo,
                            float hi, cudaStream_t stream);
// Converts n elements between any two non-string types (elementwise.cu; a copy when the types match).
void launchCast(const void* x, DataType from, void* y, DataType to, int64_t n, cudaStream_t stream);

}  // namespace kiln::cuda
