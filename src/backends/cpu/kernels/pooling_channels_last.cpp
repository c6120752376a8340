// Channels-last pooling (N[D]HWC, one output): the channels-first pooling kernel between two transposes,
// the reference form of the layout (not tuned: device backends run channels-last chains).
#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/cpu/kernels/channels_last.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"

namespace kiln::cpu {
namespace {

// [outer, a, b] -> [outer, b, a] for elements of `elementSize` bytes.
void swapInnerAxes(const uint8_t* in, uint8_t* out, size_t elementSize, int64_t outer, int64_t a, int64_t b) {
  parallelFor(outer * b, std::max<int64_t>(1, kPointwiseGrain / std::max<int64_t>(a, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {  // out[o, j, :] = in[o, :, j]
      const int64_t o = row / b, j = row % b;
      for (int64_t i = 0; i < a; ++i)
        std::memcpy(out + static_cast<size_t>(row * a + i) * elementSize,
                    in + static_cast<size_t>((o * a + i) * b + j) * elementSize, elementSize);
    }
  });
}

}  // namespace

std::string supportsPoolingChannelsFirst(const ir::Layer& layer) {
  if (layer.as<PoolingParams>().channelsLast) return "channels-last pooling runs in cpu.pooling.channels_last";
  return supportsPooling(layer);
}

std::string supportsPoolingChannelsLast(const ir::Layer& layer) {
  if (!layer.as<PoolingParams>().channelsLast) return "channels-first pooling runs in cpu.pooling";
  if (layer.outputs.size() != 1) return "channels-last max pooling has no indices output";
  return supportsPooling(layer);
}

void runPoolingChannelsLast(const ir::Layer& layer, const KernelArgs& args) {
  KILN_CHECK(args.inputs.size() == 1 && args.outputs.size() == 1, kInvalidArgument, layer.describe(),
             ": channels-last pooling takes x and gives y");
  const TensorView& x = args.inputs[0];
  const TensorView& y = args.outputs[0];
  KILN_CHECK(x.shape.size() >= 3 && y.shape.size() == x.shape.size() && x.shape[0] == y.shape[0] &&
                 x.shape.back() == y.shape.back(),
             kInvalidArgument, layer.describe(), ": channels-last pooling expects N[D]HWC input and output, got ",
             dimsToString(x.shape), " and ", dimsToString(y.shape));
  if (y.count() == 0) return;
  const size_t size = dataTypeSize(x.type);
  const int64_t n = x.shape[0], channels = x.shape.back();
  const int64_t inSpatial = x.count() / (n * channels), outSpatial = y.count() / (n * channels);
  std::vector<uint8_t> xFirst(x.bytes()), yFirst(y.bytes());
  swapInnerAxes(static_cast<const uint8_t*>(x.data), xFirst.data(), size, n, inSpatial, channels);
  KernelArgs first = args;
  first.inputs[0].data = xFirst.data();
  first.inputs[0].shape = {n, channels};
  first.inputs[0].shape.insert(first.inputs[0].shape.end(), x.shape.begin() + 1, x.shape.end() - 1);
  first.outputs[0].data = yFirst.data();
  first.outputs[0].shape = {n, channels};
  first.outputs[0].shape.insert(first.outputs[0].shape.end(), y.shape.begin() + 1, y.shape.end() - 1);
  runPooling(layer, first);  // reads the window from the params, the shapes from the views
  swapInnerAxes(yFirst.data(), static_cast<uint8_t*>(y.data), size, n, channels, outSpatial);
}

}  // namespace kiln::cpu
