// CumSum along an axis (exclusive / reverse): a running sum per inner position, parallel over outer
// slices.
#include <algorithm>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

template <class T>
void cumsum(const CumSumParams& p, const TensorView& xv, const TensorView& yv, int64_t axis) {
  using CT = ComputeType<T>;
  const Dims& s = xv.shape;
  const int64_t n = s[axis], outer = detail::product(s, 0, axis), inner = detail::product(s, axis + 1, s.size());
  const T* x = xv.as<const T>();
  T* y = yv.as<T>();
  parallelFor(outer, 1, [&](int64_t o0, int64_t o1) {
    std::vector<CT> acc(static_cast<size_t>(inner));
    for (int64_t o = o0; o < o1; ++o) {
      std::fill(acc.begin(), acc.end(), CT(0));
      for (int64_t step = 0; step < n; ++step) {
        int64_t j = p.reverse ? n - 1 - step : step;
        const T* xr = x + (o * n + j) * inner;
        T* yr = y + (o * n + j) * inner;
        for (int64_t i = 0; i < inner; ++i) {
          CT v = static_cast<CT>(xr[i]);
          if (p.exclusive) {
            yr[i] = static_cast<T>(acc[i]);
            acc[i] = static_cast<CT>(acc[i] + v);
          } else {
            acc[i] = static_cast<CT>(acc[i] + v);
            yr[i] = static_cast<T>(acc[i]);
          }
        }
      }
    }
  });
}

}  // namespace

std::string supportsCumSum(const ir::Layer& layer) {
  return checkTypes(layer, kNumeric, kNumeric);
}

void runCumSum(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<CumSumParams>();
  KILN_CHECK(args.inputs.size() >= 2 && !args.outputs.empty(), kInvalidArgument, layer.describe(),
             ": CumSum needs x and axis");
  const TensorView& xv = args.inputs[0];
  const TensorView& yv = args.outputs[0];
  std::vector<int64_t> a = detail::readInts(args.inputs[1], layer);
  KILN_CHECK(a.size() == 1, kInvalidArgument, layer.describe(), ": CumSum axis must be a scalar");
  const int64_t rank = static_cast<int64_t>(xv.shape.size());
  if (rank == 0) {
    if (xv.count() == 1)
      dispatchType<kNumeric>(xv.type, layer, [&](auto tag) {
        using T = typename decltype(tag)::type;
        yv.as<T>()[0] = p.exclusive ? static_cast<T>(ComputeType<T>(0)) : xv.as<const T>()[0];
      });
    return;
  }
  const int64_t axis = detail::normAxis(a[0], rank, layer);
  if (xv.count() == 0) return;
  dispatchType<kNumeric>(xv.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cumsum<T>(p, xv, yv, axis);
  });
}

}  // namespace kiln::cpu
