// RoiAlign: each output bin averages (or maxes) bilinear samples on a regular grid inside the bin, as
// ONNX Runtime and the ONNX reference do: samples beyond one pixel outside the input read 0, others are
// clamped to the border (backends/sampling_geometry.h, shared with the CUDA kernel); max mode takes the max
// of the weighted corner values of each sample.
#include <cmath>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"
#include "backends/sampling_geometry.h"

namespace kiln::cpu {

using sampling::bilinearSample;

std::string supportsRoiAlign(const ir::Layer& layer) {
  return checkTypesPerIndex(layer, {kFloats, kFloats, kIntegers}, {kFloats});  // input 2: batch indices
}

void runRoiAlign(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 3);
  const auto& p = layer.as<RoiAlignParams>();
  const TensorView &x = args.inputs[0], &roisView = args.inputs[1], &y = args.outputs[0];
  KILN_CHECK(x.shape.size() == 4 && roisView.shape.size() == 2 && roisView.shape[1] == 4 &&
                 args.inputs[2].count() == roisView.shape[0],
             kInvalidArgument, layer.describe(), ": input ", dimsToString(x.shape), ", rois ",
             dimsToString(roisView.shape), " and batch indices ", dimsToString(args.inputs[2].shape),
             " must be NCHW, [R, 4] and [R]");
  const int64_t batch = x.shape[0], channels = x.shape[1], height = x.shape[2], width = x.shape[3];
  const int64_t numRois = roisView.shape[0], outH = p.outputHeight, outW = p.outputWidth;
  checkCount(layer, y, numRois * channels * outH * outW, "output");
  if (y.count() == 0) return;
  KILN_CHECK(height > 0 && width > 0, kInvalidArgument, layer.describe(), ": input ", dimsToString(x.shape),
             " is empty");
  const std::vector<float> rois = detail::readFloats(roisView, layer);
  const std::vector<int64_t> batchIndices = readInts(args.inputs[2], layer);
  for (float v : rois)
    KILN_CHECK(std::isfinite(v), kInvalidArgument, layer.describe(), ": rois hold a non-finite coordinate ", v);
  for (int64_t r = 0; r < numRois; ++r)
    KILN_CHECK(batchIndices[r] >= 0 && batchIndices[r] < batch, kInvalidArgument, layer.describe(),
               ": batch index ", batchIndices[r], " of roi ", r, " is out of range for input ", dimsToString(x.shape));
  const double offset = p.halfPixel ? 0.5 : 0.0;
  dispatchType<kFloats>(x.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = x.as<const T>();
    T* out = y.as<T>();
    parallelFor(numRois, 1, [&](int64_t begin, int64_t end) {
      std::vector<sampling::BilinearSample> samples;
      for (int64_t r = begin; r < end; ++r) {
        const float* roi = &rois[r * 4];
        double startW = roi[0] * p.spatialScale - offset, startH = roi[1] * p.spatialScale - offset;
        double roiW = roi[2] * p.spatialScale - offset - startW, roiH = roi[3] * p.spatialScale - offset - startH;
        if (!p.halfPixel) {  // output_half_pixel: force ROIs to be at least 1x1
          roiW = std::max(roiW, 1.0);
          roiH = std::max(roiH, 1.0);
        }
        const double binH = roiH / static_cast<double>(outH), binW = roiW / static_cast<double>(outW);
        const auto gridH = p.samplingRatio > 0 ? p.samplingRatio : static_cast<int64_t>(std::ceil(roiH / outH));
        const auto gridW = p.samplingRatio > 0 ? p.samplingRatio : static_cast<int64_t>(std::ceil(roiW / outW));
        const double count = static_cast<double>(std::max<int64_t>(gridH * gridW, 1));
        // Samples of every bin, bin-major; shared by all channels.
        samples.clear();
        for (int64_t ph = 0; ph < outH; ++ph)
          for (int64_t pw = 0; pw < outW; ++pw)
            for (int64_t iy = 0; iy < gridH; ++iy)
              for (int64_t ix = 0; ix < gridW; ++ix) {
                double sy = startH + ph * binH + (iy + 0.5) * binH / static_cast<double>(gridH);
                double sx = startW + pw * binW + (ix + 0.5) * binW / static_cast<double>(gridW);
                samples.push_back(bilinearSample(sy, sx, height, width));
              }
        // (a ROI reversed in both dims has negative sample counts: no samples, though gridH * gridW > 0)
        const int64_t perBin = std::max<int64_t>(gridH, 0) * std::max<int64_t>(gridW, 0);
        for (int64_t c = 0; c < channels; ++c) {
          const T* plane = in + (batchIndices[r] * channels + c) * height * width;
          T* o = out + (r * channels + c) * outH * outW;
          for (int64_t bin = 0; bin < outH * outW; ++bin) {
            double value = 0;
            for (int64_t i = 0; i < perBin; ++i) {
              const sampling::BilinearSample& s = samples[bin * perBin + i];
              if (p.mode == RoiAlignMode::kAverage) {
                for (int j = 0; j < 4; ++j)
                  value += s.weight[j] * static_cast<double>(static_cast<ComputeType<T>>(plane[s.offset[j]]));
              } else {
                double best = s.weight[0] * static_cast<double>(static_cast<ComputeType<T>>(plane[s.offset[0]]));
                for (int j = 1; j < 4; ++j)
                  best = std::max(best, s.weight[j] * static_cast<double>(static_cast<ComputeType<T>>(plane[s.offset[j]])));
                value = i == 0 ? best : std::max(value, best);
              }
            }
            if (p.mode == RoiAlignMode::kAverage) value /= count;
            o[bin] = static_cast<T>(static_cast<ComputeType<T>>(value));
          }
        }
      }
    });
  });
}

}  // namespace kiln::cpu
