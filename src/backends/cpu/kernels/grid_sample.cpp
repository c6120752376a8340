// GridSample: per output location, the grid coordinates are denormalized, clamped or reflected into the
// input as the ONNX reference does (backends/sampling_geometry.h, shared with the CUDA kernel), then the output is the sum over the tensor product of per-dim taps
// (1 nearest, 2 linear, 4 cubic) whose out-of-range indices the padding mode resolves. 1 to 3 spatial dims.
#include <cmath>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"
#include "backends/sampling_geometry.h"

namespace kiln::cpu {
namespace {

using sampling::SampleAxis;
using sampling::Taps;

std::vector<double> readDoubles(const TensorView& v, const ir::Layer& layer) {
  std::vector<double> out(static_cast<size_t>(v.count()));
  dispatchType<kFloats>(v.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = v.as<const T>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(static_cast<ComputeType<T>>(p[i]));
  });
  return out;
}

}  // namespace

std::string supportsGridSample(const ir::Layer& layer) {
  return checkTypes(layer, kFloats, kFloats);
}

void runGridSample(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 2);
  const auto& p = layer.as<GridSampleParams>();
  const TensorView &x = args.inputs[0], &gridView = args.inputs[1], &y = args.outputs[0];
  const int k = static_cast<int>(x.shape.size()) - 2;
  KILN_CHECK(k >= 1 && k <= 3 && gridView.shape.size() == x.shape.size() && gridView.shape.back() == k &&
                 gridView.shape[0] == x.shape[0],
             kInvalidArgument, layer.describe(), ": input ", dimsToString(x.shape), " and grid ",
             dimsToString(gridView.shape), " do not match");
  if (y.count() == 0) return;
  const int64_t batch = x.shape[0], channels = x.shape[1];
  const int64_t inSpatial = prodDims(x.shape, 2, x.shape.size());
  const int64_t outSpatial = prodDims(gridView.shape, 1, gridView.shape.size() - 1);
  checkCount(layer, y, batch * channels * outSpatial, "output");
  std::vector<SampleAxis> axes(k);
  Dims spatialStrides(k, 1);
  for (int d = k - 1; d >= 0; --d) {
    SampleAxis& a = axes[d];
    a.size = x.shape[2 + d];
    a.lo = p.alignCorners ? 0.0 : -0.5;
    a.hi = p.alignCorners ? static_cast<double>(a.size) - 1 : static_cast<double>(a.size) - 0.5;
    if (d + 1 < k) spatialStrides[d] = spatialStrides[d + 1] * x.shape[3 + d];
  }
  const std::vector<double> grid = readDoubles(gridView, layer);
  dispatchType<kFloats>(x.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = x.as<const T>();
    T* out = y.as<T>();
    parallelFor(batch * outSpatial, 64, [&](int64_t begin, int64_t end) {
      std::vector<std::pair<int64_t, double>> terms, next;  // (spatial offset, weight)
      for (int64_t pos = begin; pos < end; ++pos) {
        const int64_t n = pos / outSpatial, o = pos % outSpatial;
        const double* g = grid.data() + pos * k;
        terms.assign(1, {0, 1.0});
        for (int d = 0; d < k; ++d) {
          Taps taps = sampling::tapsFor(g[k - 1 - d], axes[d], p.mode, p.padding, p.alignCorners);  // the grid lists the innermost dim first
          next.clear();
          for (const auto& [offset, weight] : terms)
            for (int t = 0; t < taps.count; ++t)
              if (taps.index[t] >= 0) next.emplace_back(offset + taps.index[t] * spatialStrides[d], weight * taps.weight[t]);
          terms.swap(next);
        }
        for (int64_t c = 0; c < channels; ++c) {
          const T* plane = in + (n * channels + c) * inSpatial;
          double sum = 0;
          for (const auto& [offset, weight] : terms)
            sum += weight * static_cast<double>(static_cast<ComputeType<T>>(plane[offset]));
          out[(n * channels + c) * outSpatial + o] = static_cast<T>(static_cast<ComputeType<T>>(sum));
        }
      }
    });
  });
}

}  // namespace kiln::cpu
