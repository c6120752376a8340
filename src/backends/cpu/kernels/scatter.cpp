// Scatter (Elements, ND): copies data to the output, then writes updates in index order with the
// reduction (none, add, mul, max, min). Negative indices count from the end; out of range is an error.
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

inline int64_t fixIndex(int64_t i, int64_t dim, const ir::Layer& layer) {
  int64_t orig = i;
  if (i < 0) i += dim;
  KILN_CHECK(i >= 0 && i < dim, kInvalidArgument, layer.describe(), ": index ", orig,
             " is out of range for a dimension of size ", dim);
  return i;
}

template <class T>
inline void apply(T& dst, T v, ScatterReduction r) {
  using C = ComputeType<T>;
  if constexpr (std::is_same_v<T, bool>) {
    switch (r) {
      case ScatterReduction::kNone: dst = v; break;
      case ScatterReduction::kAdd: case ScatterReduction::kMax: dst = dst || v; break;
      case ScatterReduction::kMul: case ScatterReduction::kMin: dst = dst && v; break;
    }
  } else {
    C a = static_cast<C>(dst), b = static_cast<C>(v);
    switch (r) {
      case ScatterReduction::kNone: dst = v; break;
      case ScatterReduction::kAdd: dst = T(static_cast<C>(a + b)); break;
      case ScatterReduction::kMul: dst = T(static_cast<C>(a * b)); break;
      case ScatterReduction::kMax: dst = T(a < b ? b : a); break;
      case ScatterReduction::kMin: dst = T(b < a ? b : a); break;
    }
  }
}

}  // namespace

std::string supportsScatter(const ir::Layer& layer) {
  unsigned data = layer.as<ScatterParams>().reduction == ScatterReduction::kNone ? kAll : kNumeric;
  return checkTypesPerIndex(layer, {data, kIntegers, data}, {data});  // input 1: indices
}

void runScatter(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 3);
  const auto& p = layer.as<ScatterParams>();
  const TensorView& data = args.inputs[0];
  const TensorView& upd = args.inputs[2];
  const TensorView& out = args.outputs[0];
  checkSameType(layer, data, out);
  checkSameType(layer, data, upd);
  copyBytes(layer, out, data);
  std::vector<int64_t> idx = readInts(args.inputs[1], layer);
  const Dims& ds = data.shape;
  const Dims& is = args.inputs[1].shape;
  const int64_t rank = static_cast<int64_t>(ds.size());
  Dims strides = stridesOf(ds);
  dispatchType(data.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* dst = out.as<T>();
    const T* u = upd.as<const T>();
    if (p.mode == ScatterMode::kElements) {
      KILN_CHECK(rank >= 1 && static_cast<int64_t>(is.size()) == rank && upd.shape == is, kInvalidArgument,
                 layer.describe(), ": ScatterElements needs indices and updates of the same shape and data's rank");
      const int64_t axis = normAxis(p.axis, rank, layer);
      const int64_t n = static_cast<int64_t>(idx.size());
      std::vector<int64_t> pos(rank, 0);
      for (int64_t i = 0; i < n; ++i) {
        int64_t off = 0;
        for (int64_t d = 0; d < rank; ++d) {
          int64_t c = d == axis ? fixIndex(idx[i], ds[d], layer) : pos[d];
          KILN_CHECK(c < ds[d], kInvalidArgument, layer.describe(), ": indices shape exceeds data");
          off += c * strides[d];
        }
        apply(dst[off], u[i], p.reduction);
        for (int64_t d = rank - 1; d >= 0; --d) {
          if (++pos[d] < is[d]) break;
          pos[d] = 0;
        }
      }
    } else {
      KILN_CHECK(!is.empty(), kInvalidArgument, layer.describe(), ": ScatterND indices need rank >= 1");
      const int64_t k = is.back();
      KILN_CHECK(k <= rank, kInvalidArgument, layer.describe(), ": index tuples longer than data rank");
      const int64_t tuples = prodDims(is, 0, is.size() - 1), slice = prodDims(ds, k, rank);
      checkCount(layer, upd, tuples * slice, "updates");
      for (int64_t t = 0; t < tuples; ++t) {
        int64_t off = 0;
        for (int64_t j = 0; j < k; ++j) off += fixIndex(idx[t * k + j], ds[j], layer) * strides[j];
        for (int64_t s = 0; s < slice; ++s) apply(dst[off + s], u[t * slice + s], p.reduction);
      }
    }
  });
}

}  // namespace kiln::cpu
