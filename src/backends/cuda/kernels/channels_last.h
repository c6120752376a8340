// The CUDA rows for layers the builder's choose_channels_last pass flags channels-last (NHWC): the cuDNN
// convolution row that runs them (conv_cudnn.cpp) and the NHWC pooling kernel (pooling_nhwc.cu), and the
// channels-first pooling row's supports() without them.
#pragma once

#include <memory>
#include <string>

#include "backends/cuda/cuda_common.h"
#include "backends/kernel_table.h"

namespace kiln::cuda {

std::string supportsConvolutionChannelsLast(const ir::Layer& layer);

std::string supportsPoolingChannelsFirst(const ir::Layer& layer);
std::string supportsPoolingChannelsLast(const ir::Layer& layer);
std::unique_ptr<Kernel> createPoolingChannelsLast(const std::shared_ptr<DeviceContext>& ctx, const ir::Layer& layer,
                                                  const Constants& constants, const TacticChoice& tactic);

}  // namespace kiln::cuda
