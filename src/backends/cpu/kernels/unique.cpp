// Unique: the slices along the axis (single elements without one) are stably sorted lexicographically,
// runs of equal slices become the unique values (first occurrence = the run's first index), ordered by
// value when sorted, else by first occurrence; NaNs count as one value after all numbers (numpy
// equal_nan). O(n log n) slice comparisons.
#include <cmath>
#include <numeric>
#include <type_traits>

#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

// The input seen as [outer, n, inner]: n slices of outer * inner elements each.
struct SliceLayout {
  int64_t outer = 1, n = 0, inner = 1;
};

SliceLayout layoutOf(const ir::Layer& layer, const Dims& shape) {
  const auto& p = layer.as<UniqueParams>();
  SliceLayout l;
  if (!p.hasAxis) {
    l.n = volume(shape);
    return l;
  }
  int64_t rank = static_cast<int64_t>(shape.size());
  int64_t axis = normAxis(p.axis, rank, layer);
  l.outer = prodDims(shape, 0, axis);
  l.n = shape[axis];
  l.inner = prodDims(shape, axis + 1, shape.size());
  return l;
}

// Groups of equal slices in output order: each group's slice indices, ascending.
std::vector<std::vector<int64_t>> groupSlices(const ir::Layer& layer, const TensorView& x) {
  const SliceLayout l = layoutOf(layer, x.shape);
  std::vector<int64_t> order(static_cast<size_t>(l.n));
  std::iota(order.begin(), order.end(), 0);
  std::vector<std::vector<int64_t>> groups;
  dispatchType(x.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* data = x.as<const T>();
    // -1, 0, 1 as slice a is less than, equal to, greater than slice b.
    auto compare = [&](int64_t a, int64_t b) {
      for (int64_t o = 0; o < l.outer; ++o)
        for (int64_t i = 0; i < l.inner; ++i) {
          auto va = static_cast<ComputeType<T>>(data[(o * l.n + a) * l.inner + i]);
          auto vb = static_cast<ComputeType<T>>(data[(o * l.n + b) * l.inner + i]);
          if constexpr (std::is_floating_point_v<ComputeType<T>>) {  // NaNs are equal and after numbers
            if (std::isnan(va) || std::isnan(vb)) {
              if (std::isnan(va) && std::isnan(vb)) continue;
              return std::isnan(va) ? 1 : -1;
            }
          }
          if (va < vb) return -1;
          if (vb < va) return 1;
        }
      return 0;
    };
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return compare(a, b) < 0; });
    for (size_t k = 0; k < order.size(); ++k) {
      if (k == 0 || compare(order[k - 1], order[k]) != 0) groups.emplace_back();
      groups.back().push_back(order[k]);
    }
  });
  for (auto& g : groups) std::sort(g.begin(), g.end());
  if (!layer.as<UniqueParams>().sorted)
    std::sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a[0] < b[0]; });
  return groups;
}

}  // namespace

int64_t countUnique(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1, 0);
  return static_cast<int64_t>(groupSlices(layer, args.inputs[0]).size());
}

std::string supportsUnique(const ir::Layer& layer) {
  return checkTypesPerIndex(layer, {kAll}, {kAll, kSigned});  // outputs 1-3: indices and counts
}

void runUnique(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1, 4);
  const TensorView& x = args.inputs[0];
  const std::vector<std::vector<int64_t>> groups = groupSlices(layer, x);
  const SliceLayout l = layoutOf(layer, x.shape);
  const auto unique = static_cast<int64_t>(groups.size());
  const TensorView &y = args.outputs[0], &indices = args.outputs[1], &inverse = args.outputs[2],
                   &counts = args.outputs[3];
  checkCount(layer, y, l.outer * unique * l.inner, "output y");
  checkCount(layer, indices, unique, "output indices");
  checkCount(layer, inverse, l.n, "output inverse_indices");
  checkCount(layer, counts, unique, "output counts");
  for (const TensorView* v : {&indices, &inverse, &counts})
    KILN_CHECK(v->type == DataType::kInt64, kInternal, layer.describe(), ": index outputs must be int64");
  dispatchBytes(x.type, layer, [&](auto tag) {
    using E = typename decltype(tag)::type;
    const E* in = x.as<const E>();
    E* out = y.as<E>();
    for (int64_t o = 0; o < l.outer; ++o)
      for (int64_t g = 0; g < unique; ++g)
        std::memcpy(out + (o * unique + g) * l.inner, in + (o * l.n + groups[g][0]) * l.inner,
                    static_cast<size_t>(l.inner) * sizeof(E));
  });
  for (int64_t g = 0; g < unique; ++g) {
    indices.as<int64_t>()[g] = groups[g][0];
    counts.as<int64_t>()[g] = static_cast<int64_t>(groups[g].size());
    for (int64_t member : groups[g]) inverse.as<int64_t>()[member] = g;
  }
}

}  // namespace kiln::cpu
