// TopK along an axis: per slice a partial sort of (value, index) pairs; ties keep the smaller index
// first. Parallel over slices.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

template <class T>
void topk(const TopKParams& p, const TensorView& xv, const TensorView& vv, int64_t* idxOut, int64_t axis, int64_t k) {
  using CT = ComputeType<T>;
  const Dims& s = xv.shape;
  const int64_t n = s[axis], outer = detail::product(s, 0, axis), inner = detail::product(s, axis + 1, s.size());
  const T* x = xv.as<const T>();
  T* vals = vv.as<T>();
  const bool largest = p.largest;
  parallelFor(outer * inner, std::max<int64_t>(1, 1024 / std::max<int64_t>(n, 1)), [&](int64_t s0, int64_t s1) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::vector<CT> v(static_cast<size_t>(n));
    for (int64_t sl = s0; sl < s1; ++sl) {
      int64_t o = sl / inner, i = sl % inner;
      const T* xs = x + o * n * inner + i;
      for (int64_t j = 0; j < n; ++j) v[j] = static_cast<CT>(xs[j * inner]);
      std::iota(order.begin(), order.end(), int64_t(0));
      auto cmp = [&](int64_t a, int64_t b) {
        CT va = v[a], vb = v[b];
        if constexpr (std::is_floating_point_v<CT>) {
          bool na = std::isnan(va), nb = std::isnan(vb);  // NaN counts as the largest value
          if (na || nb) {
            if (na && nb) return a < b;
            return largest ? na : nb;
          }
        }
        if (va != vb) return largest ? va > vb : va < vb;
        return a < b;
      };
      if (k < n) std::partial_sort(order.begin(), order.begin() + k, order.end(), cmp);
      else std::sort(order.begin(), order.end(), cmp);
      for (int64_t j = 0; j < k; ++j) {
        int64_t out = (o * k + j) * inner + i;
        vals[out] = static_cast<T>(v[order[j]]);
        if (idxOut) idxOut[out] = order[j];
      }
    }
  });
}

}  // namespace

std::string supportsTopK(const ir::Layer& layer) {
  return checkTypesPerIndex(layer, {kNumeric, kIntegers}, {kNumeric, kSigned});  // k; values, indices
}

void runTopK(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<TopKParams>();
  KILN_CHECK(args.inputs.size() >= 1 && !args.outputs.empty(), kInvalidArgument, layer.describe(), ": TopK needs x");
  const TensorView& xv = args.inputs[0];
  const TensorView& vv = args.outputs[0];
  const int64_t rank = static_cast<int64_t>(xv.shape.size());
  KILN_CHECK(rank >= 1, kInvalidArgument, layer.describe(), ": TopK input must have rank >= 1");
  const int64_t axis = detail::normAxis(p.axis, rank, layer);
  int64_t k = vv.shape.size() == xv.shape.size() ? vv.shape[axis] : 0;
  if (const TensorView* kv = detail::optionalInput(args, 1)) {
    std::vector<int64_t> kk = detail::readInts(*kv, layer);
    KILN_CHECK(kk.size() == 1, kInvalidArgument, layer.describe(), ": k must have one value");
    k = kk[0];
  }
  KILN_CHECK(k >= 0 && k <= xv.shape[axis], kInvalidArgument, layer.describe(), ": k = ", k,
             " is out of range for axis size ", xv.shape[axis]);
  KILN_CHECK(vv.shape.size() == xv.shape.size() && vv.shape[axis] == k, kInvalidArgument, layer.describe(),
             ": TopK output shape mismatch");
  int64_t* idx = nullptr;
  if (args.outputs.size() > 1 && args.outputs[1].data) {
    KILN_CHECK(args.outputs[1].type == DataType::kInt64, kInvalidArgument, layer.describe(),
               ": TopK indices must be int64");
    idx = args.outputs[1].as<int64_t>();
  }
  if (vv.count() == 0) return;
  dispatchType<kNumeric>(xv.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    topk<T>(p, xv, vv, idx, axis, k);
  });
}

}  // namespace kiln::cpu
