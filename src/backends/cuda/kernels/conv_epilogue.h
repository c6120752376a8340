// The convolution epilogue as one pointwise kernel (conv_epilogue.cu), for what cuDNN's fused
// cudnnConvolutionBiasActivationForward does not cover (activations other than ReLU, clamps, no bias).
#pragma once

#include "backends/cuda/cuda_common.h"

namespace kiln::cuda {

// In place over y (count = n * c * inner elements, float32 or float16):
// y = clamp(act(y + bias[channel] + z), lo, hi), channel = (i / inner) % c: inner is the spatial size for
// NC[D]HW and 1 for channels-last. bias and z may be null. NaN passes through the clamp.
void launchConvEpilogue(void* y, const void* bias, const void* z, DataType type, int64_t n, int64_t c, int64_t inner,
                        ConvActivation activation, float lo, float hi, cudaStream_t stream);

}  // namespace kiln::cuda
