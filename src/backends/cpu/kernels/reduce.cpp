// Reduce ops: adjacent reduced/kept dims are merged, then the input is walked in order with an output
// accumulator per kept position (contiguous inner loops); parallel over the outermost kept dim.
// LogSumExp subtracts the per-output max first.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

// Merged view: dims with a flag "reduced".
struct Plan {
  std::vector<int64_t> dims;
  std::vector<bool> reduced;
  int64_t outCount = 1;
};

Plan makePlan(const Dims& shape, const std::vector<bool>& isReduced) {
  Plan p;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;  // size-1 dims do not matter
    if (!p.dims.empty() && p.reduced.back() == isReduced[i]) {
      p.dims.back() *= shape[i];
    } else {
      p.dims.push_back(shape[i]);
      p.reduced.push_back(isReduced[i]);
    }
  }
  for (size_t i = 0; i < p.dims.size(); ++i)
    if (!p.reduced[i]) p.outCount *= p.dims[i];
  return p;
}

// Walks dims [level, end) of the merged plan; calls leaf(inOffset, outOffset, n, reducedInner) on the last dim.
// For the last dim: if reduced, the n inputs all map to one output; else input i maps to output i.
template <class Leaf>
void walk(const Plan& p, size_t level, int64_t inOff, int64_t outOff, const std::vector<int64_t>& inStr,
          const std::vector<int64_t>& outStr, Leaf& leaf) {
  if (level + 1 == p.dims.size()) {
    leaf(inOff, outOff, p.dims[level], static_cast<bool>(p.reduced[level]));
    return;
  }
  for (int64_t i = 0; i < p.dims[level]; ++i)
    walk(p, level + 1, inOff + i * inStr[level], outOff + i * outStr[level], inStr, outStr, leaf);
}

template <class T>
void reduce(const ir::Layer& layer, ReduceOp op, const TensorView& xv, const TensorView& yv,
            const std::vector<bool>& isReduced) {
  using CT = ComputeType<T>;
  // Accumulator: float types in their compute type; integers in 64-bit.
  using Acc = std::conditional_t<std::is_floating_point_v<CT>, CT,
                                 std::conditional_t<std::is_signed_v<CT>, int64_t, uint64_t>>;
  const T* x = xv.as<const T>();
  T* y = yv.as<T>();
  Plan plan = makePlan(xv.shape, isReduced);
  const int64_t outCount = yv.count();
  KILN_CHECK(outCount == plan.outCount || xv.count() == 0, kInvalidArgument, layer.describe(),
             ": output shape does not match the reduction");
  int64_t reducedCount = 1;
  for (size_t i = 0; i < xv.shape.size(); ++i)
    if (isReduced[i]) reducedCount *= xv.shape[i];

  std::vector<Acc> acc(static_cast<size_t>(outCount));
  std::vector<Acc> shift;  // LogSumExp: per-output max
  const bool isMax = op == ReduceOp::kMax, isMin = op == ReduceOp::kMin;
  Acc init = 0;
  if (op == ReduceOp::kProd) init = 1;
  if (isMax) init = std::numeric_limits<Acc>::has_infinity ? -std::numeric_limits<Acc>::infinity()
                                                            : std::numeric_limits<Acc>::lowest();
  if (isMin) init = std::numeric_limits<Acc>::has_infinity ? std::numeric_limits<Acc>::infinity()
                                                            : std::numeric_limits<Acc>::max();
  if (isMax || isMin) {
    // Integer max/min: the identity in the output type.
    if constexpr (!std::is_floating_point_v<CT>) init = isMax ? Acc(std::numeric_limits<CT>::lowest()) : Acc(std::numeric_limits<CT>::max());
  }

  // Strides of the merged dims.
  const size_t nd = plan.dims.size();
  std::vector<int64_t> inStr(nd, 1), outStr(nd, 0);
  {
    int64_t si = 1, so = 1;
    for (int i = static_cast<int>(nd) - 1; i >= 0; --i) {
      inStr[i] = si;
      si *= plan.dims[i];
      if (!plan.reduced[i]) {
        outStr[i] = so;
        so *= plan.dims[i];
      }
    }
  }

  auto pass = [&](std::vector<Acc>& a, Acc start, auto&& f) {
    std::fill(a.begin(), a.end(), start);
    if (xv.count() == 0) return;
    if (nd == 0) {  // every dim is 1
      a[0] = f(a[0], static_cast<Acc>(static_cast<CT>(x[0])), 0);
      return;
    }
    auto leaf = [&](int64_t inOff, int64_t outOff, int64_t n, bool red) {
      const T* __restrict src = x + inOff;
      if (red) {
        Acc s = a[outOff];
        for (int64_t i = 0; i < n; ++i) s = f(s, static_cast<Acc>(static_cast<CT>(src[i])), outOff);
        a[outOff] = s;
      } else {
        Acc* __restrict dst = a.data() + outOff;
        for (int64_t i = 0; i < n; ++i) dst[i] = f(dst[i], static_cast<Acc>(static_cast<CT>(src[i])), outOff + i);
      }
    };
    if (!plan.reduced[0] && nd > 1) {
      // Outermost dim kept: its slices write disjoint outputs.
      parallelFor(plan.dims[0], 1, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) walk(plan, 1, i * inStr[0], i * outStr[0], inStr, outStr, leaf);
      });
    } else if (nd == 1 && !plan.reduced[0]) {
      leaf(0, 0, plan.dims[0], false);
    } else {
      walk(plan, 0, 0, 0, inStr, outStr, leaf);
    }
  };

  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kMean:
    case ReduceOp::kLogSum:
      pass(acc, 0, [](Acc s, Acc v, int64_t) { return s + v; });
      break;
    case ReduceOp::kProd: pass(acc, 1, [](Acc s, Acc v, int64_t) { return s * v; }); break;
    case ReduceOp::kMax: pass(acc, init, [](Acc s, Acc v, int64_t) { return v > s || v != v ? v : s; }); break;
    case ReduceOp::kMin: pass(acc, init, [](Acc s, Acc v, int64_t) { return v < s || v != v ? v : s; }); break;
    case ReduceOp::kL1:
      pass(acc, 0, [](Acc s, Acc v, int64_t) { return s + (v < Acc(0) ? Acc(0) - v : v); });
      break;
    case ReduceOp::kL2:
    case ReduceOp::kSumSquare:
      pass(acc, 0, [](Acc s, Acc v, int64_t) { return s + v * v; });
      break;
    case ReduceOp::kLogSumExp: {
      shift.resize(acc.size());
      Acc lowest = std::numeric_limits<Acc>::has_infinity ? -std::numeric_limits<Acc>::infinity()
                                                           : std::numeric_limits<Acc>::lowest();
      pass(shift, lowest, [](Acc s, Acc v, int64_t) { return v > s ? v : s; });
      for (auto& s : shift)
        if (!std::isfinite(static_cast<double>(s))) s = 0;
      const Acc* sh = shift.data();
      pass(acc, 0, [sh](Acc s, Acc v, int64_t o) {
        return static_cast<Acc>(s + static_cast<Acc>(std::exp(static_cast<double>(v - sh[o]))));
      });
      break;
    }
  }
  for (int64_t o = 0; o < outCount; ++o) {
    Acc v = acc[o];
    CT r;
    switch (op) {
      case ReduceOp::kMean:
        r = reducedCount > 0 ? static_cast<CT>(v / static_cast<Acc>(reducedCount))
                             : static_cast<CT>(std::numeric_limits<double>::quiet_NaN());
        break;
      case ReduceOp::kL2: r = static_cast<CT>(std::sqrt(static_cast<double>(v))); break;
      case ReduceOp::kLogSum: r = static_cast<CT>(std::log(static_cast<double>(v))); break;
      case ReduceOp::kLogSumExp:
        r = static_cast<CT>(std::log(static_cast<double>(v)) + static_cast<double>(shift[o]));
        break;
      default: r = static_cast<CT>(v); break;
    }
    y[o] = static_cast<T>(r);
  }
}

}  // namespace

std::string supportsReduce(const ir::Layer& layer) {
  return checkTypes(layer, kNumeric, kNumeric);
}

void runReduce(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<ReduceParams>();
  KILN_CHECK(!args.inputs.empty() && !args.outputs.empty(), kInvalidArgument, layer.describe(), ": reduce needs x");
  const TensorView& xv = args.inputs[0];
  const TensorView& yv = args.outputs[0];
  const int64_t rank = static_cast<int64_t>(xv.shape.size());
  std::vector<int64_t> axes = p.axes;
  if (const TensorView* a = detail::optionalInput(args, 1)) axes = detail::readInts(*a, layer);
  std::vector<bool> isReduced(xv.shape.size(), false);
  if (axes.empty()) {
    if (p.noopWithEmptyAxes) {
      KILN_CHECK(yv.count() == xv.count(), kInvalidArgument, layer.describe(), ": output shape mismatch");
      if (xv.bytes() > 0 && xv.data != yv.data) std::memcpy(yv.data, xv.data, xv.bytes());
      return;
    }
    std::fill(isReduced.begin(), isReduced.end(), true);
  } else {
    for (int64_t a : axes) isReduced[detail::normAxis(a, rank, layer)] = true;
  }
  if (yv.count() == 0) return;
  dispatchType<kNumeric>(xv.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    reduce<T>(layer, p.op, xv, yv, isReduced);
  });
}

}  // namespace kiln::cpu
