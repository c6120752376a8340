// CPU rows for layers the builder's choose_channels_last pass flags channels-last (NHWC): pooling as the
// channels-first kernel between transposes (pooling_channels_last.cpp), and the channels-first row's
// supports() without them. Channels-last convolutions run in the convolution rows (convolution.cpp).
#pragma once

#include <string>

#include "backends/cpu/cpu_backend.h"

namespace kiln::cpu {

std::string supportsPoolingChannelsFirst(const ir::Layer& layer);
std::string supportsPoolingChannelsLast(const ir::Layer& layer);
void runPoolingChannelsLast(const ir::Layer& layer, const KernelArgs& args);

}  // namespace kiln::cpu
