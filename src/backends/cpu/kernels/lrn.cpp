// LRN across channels (ONNX): y = x / (bias + alpha / size * sum of x^2 over the channel window)^beta;
// a sliding window sum per (n, spatial) column, parallel over the batch and spatial positions.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

template <class CT>
void lrn(const LRNParams& p, const CT* x, CT* y, int64_t N, int64_t C, int64_t spatial) {
  const int64_t before = (p.size - 1) / 2, after = p.size - 1 - before;  // floor / ceil of (size-1)/2
  const double alphaOver = static_cast<double>(p.alpha) / static_cast<double>(p.size);
  const int64_t block = 256;
  const int64_t blocksPerImage = (spatial + block - 1) / block;
  parallelFor(N * blocksPerImage, 1, [&](int64_t t0, int64_t t1) {
    std::vector<double> sq(static_cast<size_t>(C * block));
    for (int64_t t = t0; t < t1; ++t) {
      int64_t n = t / blocksPerImage, s0 = (t % blocksPerImage) * block, len = std::min(block, spatial - s0);
      const CT* xn = x + n * C * spatial + s0;
      CT* yn = y + n * C * spatial + s0;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < len; ++i) {
          double v = xn[c * spatial + i];
          sq[c * block + i] = v * v;
        }
      for (int64_t c = 0; c < C; ++c) {
        int64_t lo = std::max<int64_t>(0, c - before), hi = std::min<int64_t>(C - 1, c + after);
        for (int64_t i = 0; i < len; ++i) {
          double sum = 0;
          for (int64_t cc = lo; cc <= hi; ++cc) sum += sq[cc * block + i];
          double den = std::pow(static_cast<double>(p.bias) + alphaOver * sum, static_cast<double>(p.beta));
          yn[c * spatial + i] = static_cast<CT>(xn[c * spatial + i] / den);
        }
      }
    }
  });
}

}  // namespace

std::string supportsLRN(const ir::Layer& layer) {
  return checkTypes(layer, kFloats, kFloats);
}

void runLRN(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<LRNParams>();
  KILN_CHECK(!args.inputs.empty() && !args.outputs.empty(), kInvalidArgument, layer.describe(), ": LRN needs x");
  KILN_CHECK(p.size >= 1, kInvalidArgument, layer.describe(), ": LRN size must be positive");
  const TensorView& xv = args.inputs[0];
  KILN_CHECK(xv.shape.size() >= 2, kInvalidArgument, layer.describe(), ": LRN expects NC... input");
  if (xv.count() == 0) return;
  const int64_t N = xv.shape[0], C = xv.shape[1], spatial = detail::product(xv.shape, 2, xv.shape.size());
  switch (xv.type) {
    case DataType::kFloat32: lrn<float>(p, xv.as<const float>(), args.outputs[0].as<float>(), N, C, spatial); break;
    case DataType::kFloat64: lrn<double>(p, xv.as<const double>(), args.outputs[0].as<double>(), N, C, spatial); break;
    case DataType::kFloat16:
    case DataType::kBFloat16:
      detail::runInFloat(args, {0}, {0}, [&](const KernelArgs& fa) {
        lrn<float>(p, fa.inputs[0].as<const float>(), fa.outputs[0].as<float>(), N, C, spatial);
      });
      break;
    default: unsupportedType(xv.type, layer);
  }
}

}  // namespace kiln::cpu
