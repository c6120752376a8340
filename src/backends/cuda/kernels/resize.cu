// Resize (nearest and N-linear, every ONNX coordinate transform, axes, aspect policies): one thread
// per output element; separable linear interpolation over the dims whose weight is non-zero.
#include <cmath>

#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/kernels/supports.h"

namespace kiln::cuda {
namespace {

struct ResizeShape {
  int rank;
  int64_t in[kMaxRank], out[kMaxRank];
  float scale[kMaxRank], roiStart[kMaxRank], roiEnd[kMaxRank];
};

__device__ __forceinline__ float sourceCoord(ResizeCoordinateTransform t, float x, float scale, int64_t in, int64_t out,
                                             float r0, float r1) {
  switch (t) {
    case ResizeCoordinateTransform::kHalfPixel: return (x + 0.5f) / scale - 0.5f;
    case ResizeCoordinateTransform::kPytorchHalfPixel: return out > 1 ? (x + 0.5f) / scale - 0.5f : 0.f;
    case ResizeCoordinateTransform::kAlignCorners: {
      // As the ONNX reference (and the CPU kernel): divide by the unrounded resized length in * scale,
      // which differs from out when scales (not sizes) are given.
      float resized = scale * static_cast<float>(in);
      return fabsf(resized - 1.f) < 1e-6f ? 0.f : x * static_cast<float>(in - 1) / (resized - 1.f);
    }
    case ResizeCoordinateTransform::kAsymmetric: return x / scale;
    case ResizeCoordinateTransform::kTfCropAndResize:
      return out > 1 ? r0 * (in - 1) + x * (r1 - r0) * (in - 1) / static_cast<float>(out - 1)
                     : 0.5f * (r0 + r1) * (in - 1);
    case ResizeCoordinateTransform::kHalfPixelSymmetric: {
      float outF = scale * in;
      float adj = static_cast<float>(out) / outF;
      float center = in / 2.f;
      float offset = center * (1.f - adj);
      return offset + (x + 0.5f) / scale - 0.5f;
    }
    case ResizeCoordinateTransform::kTfHalfPixelForNn: return (x + 0.5f) / scale;
  }
  return x;
}

__device__ __forceinline__ int64_t nearestIndex(ResizeNearestRounding r, float x, float scale) {
  switch (r) {
    case ResizeNearestRounding::kRoundPreferFloor:
      return (x == floorf(x) + 0.5f) ? static_cast<int64_t>(floorf(x)) : static_cast<int64_t>(roundf(x));
    case ResizeNearestRounding::kRoundPreferCeil:
      return (x == floorf(x) + 0.5f) ? static_cast<int64_t>(ceilf(x)) : static_cast<int64_t>(roundf(x));
    case ResizeNearestRounding::kFloor: return static_cast<int64_t>(floorf(x));
    case ResizeNearestRounding::kCeil: return static_cast<int64_t>(ceilf(x));
  }
  return 0;
}

template <class T>
__global__ void resizeKernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, ResizeShape s, ResizeMode mode,
                             ResizeCoordinateTransform ct, ResizeNearestRounding nr, float extrapolation) {
  KILN_GRID_STRIDE(i, n) {
    int64_t r = i;
    int64_t lo[kMaxRank], hi[kMaxRank];
    float w[kMaxRank];
    bool outside = false;
    for (int d = s.rank - 1; d >= 0; --d) {
      int64_t c = r % s.out[d];
      r /= s.out[d];
      float src = (s.in[d] == s.out[d] && s.scale[d] == 1.f && ct != ResizeCoordinateTransform::kTfCropAndResize)
                      ? static_cast<float>(c)
                      : sourceCoord(ct, static_cast<float>(c), s.scale[d], s.in[d], s.out[d], s.roiStart[d], s.roiEnd[d]);
      if (ct == ResizeCoordinateTransform::kTfCropAndResize && (src < 0.f || src > static_cast<float>(s.in[d] - 1)))
        outside = true;
      if (mode == ResizeMode::kNearest) {
        int64_t k = nearestIndex(nr, src, s.scale[d]);
        k = k < 0 ? 0 : (k >= s.in[d] ? s.in[d] - 1 : k);
        lo[d] = hi[d] = k;
        w[d] = 0.f;
      } else {
        src = fminf(fmaxf(src, 0.f), static_cast<float>(s.in[d] - 1));
        int64_t k = static_cast<int64_t>(floorf(src));
        lo[d] = k;
        hi[d] = k + 1 < s.in[d] ? k + 1 : k;
        w[d] = src - static_cast<float>(k);
      }
    }
    if (outside) {
      y[i] = fromCompute<T>(extrapolation);
      continue;
    }
    // corners over the dims with a fractional weight
    int active[kMaxRank];
    int na = 0;
    for (int d = 0; d < s.rank; ++d)
      if (w[d] != 0.f && hi[d] != lo[d]) active[na++] = d;
    float acc = 0.f;
    for (int mask = 0; mask < (1 << na); ++mask) {
      float weight = 1.f;
      int64_t off = 0, stride = 1;
      for (int d = s.rank - 1; d >= 0; --d) {
        int64_t c = lo[d];
        for (int a = 0; a < na; ++a)
          if (active[a] == d) {
            bool up = (mask >> a) & 1;
            c = up ? hi[d] : lo[d];
            weight *= up ? w[d] : 1.f - w[d];
          }
        off += c * stride;
        stride *= s.in[d];
      }
      acc += weight * static_cast<float>(toCompute(x[off]));
    }
    y[i] = fromCompute<T>(acc);
  }
}

class ResizeKernel final : public NamedKernel {
 public:
  ResizeKernel(std::string name, const ir::Layer& layer, Constants constants)
      : NamedKernel(std::move(name)), layer_(&layer),
        p_(layer.as<ResizeParams>()), constants_(std::move(constants)) {}
  void execute(const KernelArgs& args) const override {
    const TensorView& x = args.inputs[0];
    const TensorView& y = args.outputs[0];
    int64_t n = y.count();
    if (n == 0) return;
    int64_t rank = static_cast<int64_t>(x.shape.size());
    KILN_CHECK(rank <= kMaxRank, kUnsupported, layer_->describe(), ": rank > 8");
    std::vector<int64_t> axes;
    for (auto a : p_.axes) axes.push_back(normAxis(a, rank, *layer_));
    if (axes.empty())
      for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    auto has = [&](size_t i) {
      return i < layer_->inputs.size() && layer_->inputs[i] &&
             (present(args, i) || (i < constants_.size() && constants_[i]));
    };
    std::vector<double> scales, roi;
    if (has(2)) scales = hostInputValuesAsDouble(*layer_, args, constants_, 2);
    if (has(1)) roi = hostInputValuesAsDouble(*layer_, args, constants_, 1);
    ResizeShape s{};
    s.rank = static_cast<int>(rank);
    for (int d = 0; d < rank; ++d) {
      s.in[d] = x.shape[d];
      s.out[d] = y.shape[d];
      s.scale[d] = x.shape[d] ? static_cast<float>(y.shape[d]) / static_cast<float>(x.shape[d]) : 1.f;
      s.roiStart[d] = 0.f;
      s.roiEnd[d] = 1.f;
    }
    if (!scales.empty()) {
      for (size_t i = 0; i < axes.size() && i < scales.size(); ++i) s.scale[axes[i]] = static_cast<float>(scales[i]);
    } else if (p_.aspectPolicy != ResizeAspectPolicy::kStretch && has(3)) {
      auto sizes = shapeInputValues(*layer_, args, constants_, 3);
      double common = p_.aspectPolicy == ResizeAspectPolicy::kNotLarger ? 1e300 : 0.0;
      for (size_t i = 0; i < axes.size() && i < sizes.size(); ++i) {
        double r = static_cast<double>(sizes[i]) / static_cast<double>(x.shape[axes[i]]);
        common = p_.aspectPolicy == ResizeAspectPolicy::kNotLarger ? std::min(common, r) : std::max(common, r);
      }
      for (auto a : axes) s.scale[a] = static_cast<float>(common);
    }
    if (roi.size() == 2 * axes.size()) {
      for (size_t i = 0; i < axes.size(); ++i) {
        s.roiStart[axes[i]] = static_cast<float>(roi[i]);
        s.roiEnd[axes[i]] = static_cast<float>(roi[axes.size() + i]);
      }
    }
    dispatchFloat(x.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      resizeKernel<T><<<gridFor(n), 256, 0, streamOf(args)>>>(x.as<const T>(), y.as<T>(), n, s, p_.mode,
                                                              p_.coordinateTransform, p_.nearestRounding,
                                                              p_.extrapolationValue);
    });
    KILN_CUDA_CHECK_LAUNCH("resize");
  }

 private:
  const ir::Layer* layer_;
  ResizeParams p_;
  Constants constants_;
};

}  // namespace

std::string supportsResize(const ir::Layer& layer) {
  const auto& p = layer.as<ResizeParams>();
  DataType t = inType(layer, 0);
  if (!isFloat(t)) return typeReason(t, "float32, float16");
  if (p.mode == ResizeMode::kCubic) return "cubic resize";
  if (p.antialias) return "antialiased resize";
  return "";
}
std::unique_ptr<Kernel> createResize(const std::shared_ptr<DeviceContext>&, const ir::Layer& layer,
                                     const Constants& constants, const TacticChoice& tactic) {
  return std::make_unique<ResizeKernel>(tactic.name, layer, constants);
}

}  // namespace kiln::cuda
