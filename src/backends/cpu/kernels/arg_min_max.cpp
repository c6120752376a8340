// ArgMax / ArgMin along an axis (first or last occurrence), int64 output; parallel over outer slices,
// vectorized over the inner positions. NaN wins over every number for both (numpy: the first NaN's index;
// with select_last_index the last NaN's).
#include <algorithm>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

template <class T>
void argMinMax(const ArgMinMaxParams& p, const TensorView& xv, int64_t* out, int64_t axis) {
  using CT = ComputeType<T>;
  const Dims& s = xv.shape;
  const int64_t n = s[axis], outer = detail::product(s, 0, axis), inner = detail::product(s, axis + 1, s.size());
  const T* x = xv.as<const T>();
  const bool isMax = p.max, last = p.selectLastIndex;
  parallelFor(outer, 1, [&](int64_t o0, int64_t o1) {
    std::vector<CT> best(static_cast<size_t>(inner));
    for (int64_t o = o0; o < o1; ++o) {
      const T* xo = x + o * n * inner;
      int64_t* yo = out + o * inner;
      for (int64_t i = 0; i < inner; ++i) {
        best[i] = static_cast<CT>(xo[i]);
        yo[i] = 0;
      }
      for (int64_t j = 1; j < n; ++j) {
        const T* xr = xo + j * inner;
        for (int64_t i = 0; i < inner; ++i) {
          CT v = static_cast<CT>(xr[i]);
          const CT b = best[i];
          bool better = isMax ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
          if (detail::isNaN(b)) better = last && detail::isNaN(v);
          else if (detail::isNaN(v)) better = true;
          if (better) {
            best[i] = v;
            yo[i] = j;
          }
        }
      }
    }
  });
}

}  // namespace

std::string supportsArgMinMax(const ir::Layer& layer) {
  return checkTypesPerIndex(layer, {kNumeric}, {kSigned});
}

void runArgMinMax(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<ArgMinMaxParams>();
  KILN_CHECK(!args.inputs.empty() && !args.outputs.empty(), kInvalidArgument, layer.describe(), ": ArgMinMax needs x");
  const TensorView& xv = args.inputs[0];
  const TensorView& yv = args.outputs[0];
  KILN_CHECK(yv.type == DataType::kInt64, kInvalidArgument, layer.describe(), ": ArgMinMax output must be int64");
  const int64_t rank = static_cast<int64_t>(xv.shape.size());
  if (rank == 0) {
    if (yv.count() == 1) yv.as<int64_t>()[0] = 0;
    return;
  }
  const int64_t axis = detail::normAxis(p.axis, rank, layer);
  if (yv.count() == 0) return;
  KILN_CHECK(xv.shape[axis] > 0, kInvalidArgument, layer.describe(), ": ArgMinMax over an empty axis");
  dispatchType<kNumeric>(xv.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    argMinMax<T>(p, xv, yv.as<int64_t>(), axis);
  });
}

}  // namespace kiln::cpu
