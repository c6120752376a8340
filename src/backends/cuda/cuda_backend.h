// The CUDA backend: device memory, streams, cuBLASLt/cuDNN handles and one kernel table.
// This header includes no CUDA header, so the runtime can use it where KILN_HAVE_CUDA is defined.
#pragma once

#include <memory>
#include <string>

#include "backends/backend.h"

namespace kiln::cuda {

// The backend for device `deviceIndex` ("cuda:N"). Throws kiln::Error (kRuntimeError) with
// "no CUDA device is available: ..." when there is no driver, no device, or the index is out of range.
std::shared_ptr<Backend> makeCudaBackend(int deviceIndex = 0);

// Number of CUDA devices (0 when there is no driver or no device; never throws).
int cudaDeviceCount();
// Compute capability of `device` as major * 10 + minor (90 for the H200); throws kiln::Error when unavailable.
int cudaComputeCapability(int device);
// "NVIDIA H200 (sm_90, 139 GiB)"; throws kiln::Error when unavailable.
std::string cudaDeviceDescription(int device);

// Why the CUDA backend cannot run `layer` (empty when it can): the checks every CUDA kernel needs (tensors,
// rank), the layer types without a kernel, then the kernel rows (kernel_table.cpp). Needs no device.
std::string unsupportedReason(const ir::Layer& layer);

}  // namespace kiln::cuda

namespace kiln {
// Same as kiln::cuda::makeCudaBackend (the name used in the design brief).
inline std::shared_ptr<Backend> makeCudaBackend(int deviceIndex) { return cuda::makeCudaBackend(deviceIndex); }
}  // namespace kiln
