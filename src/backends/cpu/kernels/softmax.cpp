// Softmax / LogSoftmax / Hardmax along one axis (or the flattened tail with coerce2d): max-subtracted,
// rows parallel over the outer dims; a strided axis is processed for all inner positions at once.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/softmax_math.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

template <class CT>
inline CT expT(CT x) {
  if constexpr (std::is_same_v<CT, float>) return detail::fastExp(x);
  else return std::exp(x);
}

// rows of length n, contiguous.
template <class CT>
void rowSoftmax(SoftmaxType type, const CT* __restrict x, CT* __restrict y, int64_t n) {
  if (n == 0) return;
  CT mx = detail::rowMax(x, n);  // skips NaN; a NaN still reaches every output through the sum
  if (type == SoftmaxType::kHardmax) {
    int64_t arg = 0;
    for (int64_t i = 0; i < n; ++i)
      if (x[i] == mx) { arg = i; break; }
    for (int64_t i = 0; i < n; ++i) y[i] = CT(0);
    y[arg] = CT(1);
    return;
  }
  if (std::isinf(mx) && mx < 0) mx = 0;  // all -inf
  CT sum = 0;
  if (type == SoftmaxType::kSoftmax) {
    for (int64_t i = 0; i < n; ++i) y[i] = expT<CT>(x[i] - mx);
    sum = detail::rowSum(y, n);
    CT inv = CT(1) / sum;
    for (int64_t i = 0; i < n; ++i) y[i] *= inv;
  } else {
    for (int64_t i = 0; i < n; ++i) sum += expT<CT>(x[i] - mx);
    CT lse = mx + std::log(sum);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] - lse;
  }
}

template <class CT>
void softmaxCompute(SoftmaxType type, const CT* x, CT* y, int64_t outer, int64_t n, int64_t inner) {
  if (inner == 1) {
    parallelFor(outer, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) rowSoftmax(type, x + r * n, y + r * n, n);
    });
    return;
  }
  parallelFor(outer, 1, [&](int64_t o0, int64_t o1) {
    std::vector<CT> mx(static_cast<size_t>(inner)), sum(static_cast<size_t>(inner));
    std::vector<int64_t> arg(static_cast<size_t>(inner));
    for (int64_t o = o0; o < o1; ++o) {
      const CT* xo = x + o * n * inner;
      CT* yo = y + o * n * inner;
      for (int64_t j = 0; j < inner; ++j) { mx[j] = xo[j]; arg[j] = 0; }
      for (int64_t i = 1; i < n; ++i)
        for (int64_t j = 0; j < inner; ++j)
          if (xo[i * inner + j] > mx[j]) { mx[j] = xo[i * inner + j]; arg[j] = i; }
      if (type == SoftmaxType::kHardmax) {
        std::fill(yo, yo + n * inner, CT(0));
        for (int64_t j = 0; j < inner; ++j) yo[arg[j] * inner + j] = CT(1);
        continue;
      }
      for (int64_t j = 0; j < inner; ++j) {
        if (std::isinf(mx[j]) && mx[j] < 0) mx[j] = 0;
        sum[j] = 0;
      }
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < inner; ++j) {
          CT e = expT<CT>(xo[i * inner + j] - mx[j]);
          sum[j] += e;
          if (type == SoftmaxType::kSoftmax) yo[i * inner + j] = e;
        }
      if (type == SoftmaxType::kSoftmax) {
        for (int64_t j = 0; j < inner; ++j) sum[j] = CT(1) / sum[j];
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < inner; ++j) yo[i * inner + j] *= sum[j];
      } else {
        for (int64_t j = 0; j < inner; ++j) sum[j] = mx[j] + std::log(sum[j]);
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < inner; ++j) yo[i * inner + j] = xo[i * inner + j] - sum[j];
      }
    }
  });
}

}  // namespace

std::string supportsSoftmax(const ir::Layer& layer) {
  return checkTypes(layer, kFloats, kFloats);
}

void runSoftmax(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<SoftmaxParams>();
  KILN_CHECK(!args.inputs.empty() && !args.outputs.empty(), kInvalidArgument, layer.describe(), ": softmax needs x");
  const TensorView& xv = args.inputs[0];
  const Dims& s = xv.shape;
  const int64_t rank = static_cast<int64_t>(s.size());
  if (xv.count() == 0) return;
  int64_t axis = rank == 0 ? 0 : detail::normAxis(p.axis, rank, layer);
  int64_t outer = detail::product(s, 0, axis), n, inner;
  if (p.coerce2d) {
    n = detail::product(s, axis, s.size());
    inner = 1;
  } else {
    n = rank == 0 ? 1 : s[axis];
    inner = detail::product(s, axis + 1, s.size());
  }
  auto run = [&](const KernelArgs& a, auto tag) {
    using T = typename decltype(tag)::type;
    softmaxCompute<T>(p.type, a.inputs[0].as<const T>(), a.outputs[0].as<T>(), outer, n, inner);
  };
  switch (xv.type) {
    case DataType::kFloat32: run(args, TypeTag<float>{}); break;
    case DataType::kFloat64: run(args, TypeTag<double>{}); break;
    case DataType::kFloat16:
    case DataType::kBFloat16:
      detail::runInFloat(args, {0}, {0}, [&](const KernelArgs& fa) { run(fa, TypeTag<float>{}); });
      break;
    default: unsupportedType(xv.type, layer);
  }
}

}  // namespace kiln::cpu
