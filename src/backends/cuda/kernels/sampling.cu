// GridSample and RoiAlign: one thread per output element, the sampling geometry computed in double
// with the CPU kernels' own functions (backends/sampling_geometry.h: the same taps and samples), the sampled
// values accumulated in float.
//   GridSample: 1-3 spatial dims; linear, nearest (half to even), cubic (a = -0.75); zeros, border and
//     reflection padding; align_corners. NaN coordinates (and infinite ones but with border padding) read 0.
//   RoiAlign: avg and max; half_pixel and output_half_pixel; sampling ratio 0 (adaptive). The GPU cannot
//     throw: a ROI with a non-finite coordinate or an out-of-range batch index yields 0 (the CPU kernel
//     rejects them).
#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"
#include "backends/sampling_geometry.h"

namespace kiln::cuda {
namespace {

// ---- GridSample -----------------------------------------------------------------------------------

constexpr int kMaxSpatial = 3;
using sampling::SampleAxis;
using sampling::Taps;

struct GridSampleShape {
  int k = 0;  // spatial dims
  int64_t channels = 0, inSpatial = 0, outSpatial = 0;
  SampleAxis axis[kMaxSpatial];  // input spatial dims (outermost first)
  int64_t stride[kMaxSpatial];
};

// x [N, C, D1..Dk], grid [N, O1..Ok, k] (innermost dim's coordinate first) -> y [N, C, O1..Ok].
template <class T, class G>
__global__ void gridSampleKernel(const T* __restrict__ x, const G* __restrict__ grid, T* __restrict__ y, int64_t n,
                                 GridSampleShape s, GridSampleMode mode, GridSamplePadding padding, bool alignCorners) {
  KILN_GRID_STRIDE(i, n) {
    const int64_t o = i % s.outSpatial, plane = i / s.outSpatial, batch = plane / s.channels;
    const G* g = grid + (batch * s.outSpatial + o) * s.k;
    Taps taps[kMaxSpatial];
    int combinations = 1;
    for (int d = 0; d < s.k; ++d) {
      const double normalized = static_cast<double>(toCompute(g[s.k - 1 - d]));
      taps[d] = sampling::tapsFor(normalized, s.axis[d], mode, padding, alignCorners);
      combinations *= taps[d].count;
    }
    const T* in = x + plane * s.inSpatial;
    float acc = 0.f;
    for (int c = 0; c < combinations; ++c) {  // the tensor product of the per-dim taps
      int rest = c;
      int64_t offset = 0;
      double weight = 1;
      bool padded = false;
      for (int d = s.k - 1; d >= 0; --d) {
        const int t = rest % taps[d].count;
        rest /= taps[d].count;
        padded |= taps[d].index[t] < 0;
        offset += taps[d].index[t] * s.stride[d];
        weight *= taps[d].weight[t];
      }
      if (!padded) acc += static_cast<float>(weight) * static_cast<float>(toCompute(in[offset]));
    }
    y[i] = fromCompute<T>(acc);
  }
}

class GridSampleKernel final : public NamedKernel {
 public:
  GridSampleKernel(std::string name, const ir::Layer& layer)
      : NamedKernel(std::move(name)), layer_(&layer),
        p_(layer.as<GridSampleParams>()) {}
  void execute(const KernelArgs& args) const override {
    const TensorView &x = args.inputs[0], &grid = args.inputs[1], &y = args.outputs[0];
    const int k = static_cast<int>(x.shape.size()) - 2;
    KILN_CHECK(k >= 1 && k <= kMaxSpatial && grid.shape.size() == x.shape.size() && grid.shape.back() == k &&
                   grid.shape[0] == x.shape[0],
               kInvalidArgument, layer_->describe(), ": input ", dimsToString(x.shape), " and grid ",
               dimsToString(grid.shape), " do not match");
    const int64_t n = y.count();
    if (n == 0) return;
    GridSampleShape s;
    s.k = k;
    s.channels = x.shape[1];
    s.inSpatial = prodDims(x.shape, 2, x.shape.size());
    s.outSpatial = prodDims(grid.shape, 1, grid.shape.size() - 1);
    KILN_CHECK(n == x.shape[0] * s.channels * s.outSpatial, kInvalidArgument, layer_->describe(), ": output ",
               dimsToString(y.shape), " does not match input ", dimsToString(x.shape), " and grid ",
               dimsToString(grid.shape));
    for (int d = k - 1; d >= 0; --d) {
      SampleAxis& a = s.axis[d];
      a.size = x.shape[2 + d];
      s.stride[d] = d + 1 < k ? s.stride[d + 1] * s.axis[d + 1].size : 1;
      a.lo = p_.alignCorners ? 0.0 : -0.5;
      a.hi = p_.alignCorners ? static_cast<double>(a.size) - 1 : static_cast<double>(a.size) - 0.5;
    }
    dispatchFloat(x.type, [&](auto xTag) {
      using T = typename decltype(xTag)::type;
      dispatchFloat(grid.type, [&](auto gridTag) {
        using G = typename decltype(gridTag)::type;
        gridSampleKernel<T, G><<<gridFor(n), 256, 0, streamOf(args)>>>(
            x.as<const T>(), grid.as<const G>(), y.as<T>(), n, s, p_.mode, p_.padding, p_.alignCorners);
      });
    });
    KILN_CUDA_CHECK_LAUNCH("grid_sample");
  }

 private:
  const ir::Layer* layer_;
  GridSampleParams p_;
};

// ---- RoiAlign ---------------------------------------------------------------------------------------

struct RoiAlignShape {
  int64_t batch = 0, channels = 0, height = 0, width = 0, outH = 0, outW = 0, samplingRatio = 0;
  float spatialScale = 1.f;
  bool halfPixel = true, max = false;
};

// x [N, C, H, W], rois [R, 4] (x1, y1, x2, y2), batch indices [R] -> y [R, C, outH, outW].
template <class T, class R>
__global__ void roiAlignKernel(const T* __restrict__ x, const R* __restrict__ rois, const void* __restrict__ batchIndices,
                               bool indices64, T* __restrict__ y, int64_t n, RoiAlignShape s) {
  KILN_GRID_STRIDE(i, n) {
    const int64_t pw = i % s.outW, ph = i / s.outW % s.outH, c = i / (s.outW * s.outH) % s.channels;
    const int64_t r = i / (s.outW * s.outH * s.channels);
    const int64_t b = loadIndex(batchIndices, r, indices64);
    float roi[4];
    bool valid = b >= 0 && b < s.batch;
    for (int j = 0; j < 4; ++j) {
      roi[j] = static_cast<float>(toCompute(rois[r * 4 + j]));
      valid &= isfinite(roi[j]);
    }
    if (!valid) {
      y[i] = fromCompute<T>(0.f);
      continue;
    }
    // The ROI in input pixels: float products, then double, as the CPU kernel.
    const double offset = s.halfPixel ? 0.5 : 0.0;
    const double startW = static_cast<double>(roi[0] * s.spatialScale) - offset;
    const double startH = static_cast<double>(roi[1] * s.spatialScale) - offset;
    double roiW = static_cast<double>(roi[2] * s.spatialScale) - offset - startW;
    double roiH = static_cast<double>(roi[3] * s.spatialScale) - offset - startH;
    if (!s.halfPixel) {  // output_half_pixel: force ROIs to be at least 1x1
      roiW = roiW < 1.0 ? 1.0 : roiW;
      roiH = roiH < 1.0 ? 1.0 : roiH;
    }
    const double binH = roiH / static_cast<double>(s.outH), binW = roiW / static_cast<double>(s.outW);
    const int64_t gridH = s.samplingRatio > 0 ? s.samplingRatio : static_cast<int64_t>(ceil(binH));
    const int64_t gridW = s.samplingRatio > 0 ? s.samplingRatio : static_cast<int64_t>(ceil(binW));
    const int64_t count = gridH * gridW > 1 ? gridH * gridW : 1;
    // The bin's origin; the products are rounded (not fused) as on the CPU so the samples land identically.
    const double originH = startH + sampling::roundedProduct(static_cast<double>(ph), binH);
    const double originW = startW + sampling::roundedProduct(static_cast<double>(pw), binW);
    const T* plane = x + (b * s.channels + c) * s.height * s.width;
    float value = 0.f;
    for (int64_t iy = 0; iy < gridH; ++iy) {
      const double sy = originH + (static_cast<double>(iy) + 0.5) * binH / static_cast<double>(gridH);
      for (int64_t ix = 0; ix < gridW; ++ix) {
        const double sx = originW + (static_cast<double>(ix) + 0.5) * binW / static_cast<double>(gridW);
        const sampling::BilinearSample smp = sampling::bilinearSample(sy, sx, s.height, s.width);
        if (!s.max) {
          for (int j = 0; j < 4; ++j)
            value += static_cast<float>(smp.weight[j]) * static_cast<float>(toCompute(plane[smp.offset[j]]));
        } else {
          float best = static_cast<float>(smp.weight[0]) * static_cast<float>(toCompute(plane[smp.offset[0]]));
          for (int j = 1; j < 4; ++j) {
            const float v = static_cast<float>(smp.weight[j]) * static_cast<float>(toCompute(plane[smp.offset[j]]));
            best = best < v ? v : best;  // std::max: a NaN candidate is skipped
          }
          value = (iy == 0 && ix == 0) || value < best ? best : value;
        }
      }
    }
    if (!s.max) value /= static_cast<float>(count);
    y[i] = fromCompute<T>(value);
  }
}

class RoiAlignKernel final : public NamedKernel {
 public:
  RoiAlignKernel(std::string name, const ir::Layer& layer)
      : NamedKernel(std::move(name)), layer_(&layer),
        p_(layer.as<RoiAlignParams>()) {}
  void execute(const KernelArgs& args) const override {
    const TensorView &x = args.inputs[0], &rois = args.inputs[1], &indices = args.inputs[2], &y = args.outputs[0];
    KILN_CHECK(x.shape.size() == 4 && rois.shape.size() == 2 && rois.shape[1] == 4 &&
                   indices.count() == rois.shape[0],
               kInvalidArgument, layer_->describe(), ": input ", dimsToString(x.shape), ", rois ",
               dimsToString(rois.shape), " and batch indices ", dimsToString(indices.shape),
               " must be NCHW, [R, 4] and [R]");
    RoiAlignShape s;
    s.batch = x.shape[0];
    s.channels = x.shape[1];
    s.height = x.shape[2];
    s.width = x.shape[3];
    s.outH = p_.outputHeight;
    s.outW = p_.outputWidth;
    s.samplingRatio = p_.samplingRatio;
    s.spatialScale = p_.spatialScale;
    s.halfPixel = p_.halfPixel;
    s.max = p_.mode == RoiAlignMode::kMax;
    const int64_t n = y.count();
    KILN_CHECK(n == rois.shape[0] * s.channels * s.outH * s.outW, kInvalidArgument, layer_->describe(),
               ": output ", dimsToString(y.shape), " does not match");
    if (n == 0) return;
    KILN_CHECK(s.height > 0 && s.width > 0, kInvalidArgument, layer_->describe(), ": input ",
               dimsToString(x.shape), " is empty");
    KILN_CHECK(indices.type == DataType::kInt32 || indices.type == DataType::kInt64, kUnsupported,
               layer_->describe(), ": batch indices must be int32 or int64");
    const bool indices64 = indices.type == DataType::kInt64;
    dispatchFloat(x.type, [&](auto xTag) {
      using T = typename decltype(xTag)::type;
      dispatchFloat(rois.type, [&](auto roiTag) {
        using R = typename decltype(roiTag)::type;
        roiAlignKernel<T, R><<<gridFor(n), 256, 0, streamOf(args)>>>(x.as<const T>(), rois.as<const R>(),
                                                                     indices.data, indices64, y.as<T>(), n, s);
      });
    });
    KILN_CUDA_CHECK_LAUNCH("roi_align");
  }

 private:
  const ir::Layer* layer_;
  RoiAlignParams p_;
};

}  // namespace

std::string supportsGridSample(const ir::Layer& layer) {
  DataType t = inType(layer, 0);
  if (!isFloat(t)) return typeReason(t, "float32, float16");
  return isFloat(inType(layer, 1)) ? "" : typeReason(inType(layer, 1), "float32, float16 grids");
}
std::unique_ptr<Kernel> createGridSample(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                         const Constants&, const TacticChoice& tactic) {
  return std::make_unique<GridSampleKernel>(tactic.name, layer);
}

std::string supportsRoiAlign(const ir::Layer& layer) {
  DataType t = inType(layer, 0);
  if (!isFloat(t)) return typeReason(t, "float32, float16");
  if (!isFloat(inType(layer, 1))) return typeReason(inType(layer, 1), "float32, float16 rois");
  return isIndex(inType(layer, 2)) ? "" : typeReason(inType(layer, 2), "int32, int64 batch indices");
}
std::unique_ptr<Kernel> createRoiAlign(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer, const Constants&,
                                       const TacticChoice& tactic) {
  return std::make_unique<RoiAlignKernel>(tactic.name, layer);
}

}  // namespace kiln::cuda
