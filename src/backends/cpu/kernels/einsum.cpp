// Einsum (explicit/implicit output, ellipsis, diagonals, broadcasting): two-operand contractions
// without repeated or lone summed labels become permutes + batched GEMM; everything else a direct
// loop over the output positions (parallel) and summed labels. The equation is parsed by ir::parseEinsum
// (shared with the CUDA kernel).
#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/gemm.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"
#include "ir/einsum.h"

namespace kiln::cpu {
namespace {

constexpr int kMaxLabels = ir::EinsumLabels::kMaxLabels;

// Copies `src` viewed with per-dim strides `srcStr` into a contiguous tensor of `dims`.
template <class T>
void gatherStrided(const T* src, const std::vector<int64_t>& dims, const std::vector<int64_t>& srcStr, T* dst) {
  int64_t total = 1;
  for (int64_t d : dims) total *= d;
  if (total == 0) return;
  std::vector<int64_t> idx(dims.size(), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < total; ++i) {
    dst[i] = src[off];
    for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
      off += srcStr[d];
      if (++idx[d] < dims[d]) break;
      off -= srcStr[d] * dims[d];
      idx[d] = 0;
    }
  }
}

template <class CT>
bool tryGemm(const ir::EinsumLabels& p, const std::vector<TensorView>& ops, CT* out) {
  if (ops.size() != 2) return false;
  const auto& a = p.inputs[0];
  const auto& b = p.inputs[1];
  std::array<int, kMaxLabels> inA{}, inB{}, inO{};
  for (int id : a) ++inA[id];
  for (int id : b) ++inB[id];
  for (int id : p.output) ++inO[id];
  std::vector<int> batch, m, n, k;
  for (int id = 0; id < kMaxLabels; ++id) {
    if (inA[id] > 1 || inB[id] > 1 || inO[id] > 1) return false;
    if (!inA[id] && !inB[id]) continue;
    if (inA[id] && inB[id] && inO[id]) batch.push_back(id);
    else if (inA[id] && inO[id]) m.push_back(id);
    else if (inB[id] && inO[id]) n.push_back(id);
    else if (inA[id] && inB[id]) k.push_back(id);
    else return false;  // a summed label in one operand only
  }
  // No broadcasting of size-1 dims.
  for (size_t d = 0; d < a.size(); ++d)
    if (ops[0].shape[d] != p.size[a[d]]) return false;
  for (size_t d = 0; d < b.size(); ++d)
    if (ops[1].shape[d] != p.size[b[d]]) return false;
  auto sz = [&](const std::vector<int>& ls) {
    int64_t s = 1;
    for (int id : ls) s *= p.size[id];
    return s;
  };
  const int64_t B = sz(batch), M = sz(m), N = sz(n), K = sz(k);
  auto sa = ir::einsumLabelStrides(p, a, ops[0].shape), sb = ir::einsumLabelStrides(p, b, ops[1].shape);
  auto permuted = [&](const CT* src, const std::array<int64_t, kMaxLabels>& st, std::vector<int> order,
                      std::vector<CT>& buf) {
    std::vector<int64_t> dims, strides;
    for (int id : order) { dims.push_back(p.size[id]); strides.push_back(st[id]); }
    buf.resize(static_cast<size_t>(sz(order)));
    gatherStrided(src, dims, strides, buf.data());
  };
  std::vector<int> orderA = batch, orderB = batch, orderC = batch;
  orderA.insert(orderA.end(), m.begin(), m.end());
  orderA.insert(orderA.end(), k.begin(), k.end());
  orderB.insert(orderB.end(), k.begin(), k.end());
  orderB.insert(orderB.end(), n.begin(), n.end());
  orderC.insert(orderC.end(), m.begin(), m.end());
  orderC.insert(orderC.end(), n.begin(), n.end());
  std::vector<CT> bufA, bufB, bufC(static_cast<size_t>(B * M * N));
  permuted(ops[0].as<const CT>(), sa, orderA, bufA);
  permuted(ops[1].as<const CT>(), sb, orderB, bufB);
  for (int64_t t = 0; t < B; ++t) {
    if (K == 0) {
      std::fill(bufC.begin() + t * M * N, bufC.begin() + (t + 1) * M * N, CT(0));
      continue;
    }
    gemm(false, false, M, N, K, bufA.data() + t * M * K, K, bufB.data() + t * K * N, N, bufC.data() + t * M * N, N);
  }
  // bufC is [orderC]; the output is [p.output]: gather with C's strides per output label.
  std::array<int64_t, kMaxLabels> sc{};
  {
    int64_t s = 1;
    for (int i = static_cast<int>(orderC.size()) - 1; i >= 0; --i) {
      sc[orderC[i]] = s;
      s *= p.size[orderC[i]];
    }
  }
  std::vector<int64_t> dims, strides;
  for (int id : p.output) { dims.push_back(p.size[id]); strides.push_back(sc[id]); }
  gatherStrided(bufC.data(), dims, strides, out);
  return true;
}

template <class T>
void einsumDirect(const ir::EinsumLabels& p, const std::vector<TensorView>& ops, T* out, int64_t outCount) {
  using CT = std::conditional_t<detail::kIsHalf<T>, float, T>;
  const std::vector<int>& sumLabels = p.summed;
  const size_t nops = ops.size();
  std::vector<std::array<int64_t, kMaxLabels>> st(nops);
  std::vector<const T*> data(nops);
  for (size_t i = 0; i < nops; ++i) {
    st[i] = ir::einsumLabelStrides(p, p.inputs[i], ops[i].shape);
    data[i] = ops[i].as<const T>();
  }
  int64_t sumCount = 1;
  for (int id : sumLabels) sumCount *= p.size[id];
  const size_t no = p.output.size(), ns = sumLabels.size();
  parallelFor(outCount, std::max<int64_t>(1, 4096 / std::max<int64_t>(sumCount, 1)), [&](int64_t o0, int64_t o1) {
    std::vector<int64_t> base(nops), off(nops), sidx(ns);
    for (int64_t o = o0; o < o1; ++o) {
      int64_t rem = o;
      std::fill(base.begin(), base.end(), 0);
      for (int d = static_cast<int>(no) - 1; d >= 0; --d) {
        int id = p.output[d];
        int64_t v = rem % p.size[id];
        rem /= p.size[id];
        for (size_t i = 0; i < nops; ++i) base[i] += v * st[i][id];
      }
      CT acc = 0;
      if (sumCount > 0) {
        std::fill(sidx.begin(), sidx.end(), 0);
        off = base;
        for (int64_t s = 0; s < sumCount; ++s) {
          CT prod = 1;
          for (size_t i = 0; i < nops; ++i) prod *= static_cast<CT>(data[i][off[i]]);
          acc += prod;
          for (int d = static_cast<int>(ns) - 1; d >= 0; --d) {
            int id = sumLabels[d];
            for (size_t i = 0; i < nops; ++i) off[i] += st[i][id];
            if (++sidx[d] < p.size[id]) break;
            for (size_t i = 0; i < nops; ++i) off[i] -= st[i][id] * p.size[id];
            sidx[d] = 0;
          }
        }
      }
      out[o] = static_cast<T>(acc);
    }
  });
}

}  // namespace

std::string supportsEinsum(const ir::Layer& layer) {
  return checkTypes(layer, kNumeric, kNumeric);
}

void runEinsum(const ir::Layer& layer, const KernelArgs& args) {
  const auto& params = layer.as<EinsumParams>();
  KILN_CHECK(!args.inputs.empty() && !args.outputs.empty(), kInvalidArgument, layer.describe(),
             ": einsum needs operands");
  const TensorView& yv = args.outputs[0];
  DataType type = args.inputs[0].type;
  for (const auto& in : args.inputs)
    KILN_CHECK(in.type == type, kInvalidArgument, layer.describe(), ": einsum operand types differ");
  std::vector<Dims> shapes;
  for (const auto& in : args.inputs) shapes.push_back(in.shape);
  ir::EinsumLabels p = ir::parseEinsum(layer, params.equation, shapes);
  int64_t outCount = 1;
  for (int id : p.output) outCount *= p.size[id];
  KILN_CHECK(outCount == yv.count(), kInvalidArgument, layer.describe(), ": einsum output shape ",
             dimsToString(yv.shape), " does not match the equation");
  if (outCount == 0) return;
  if (type == DataType::kFloat32 && tryGemm<float>(p, args.inputs, yv.as<float>())) return;
  if (type == DataType::kFloat64 && tryGemm<double>(p, args.inputs, yv.as<double>())) return;
  dispatchType<kNumeric>(type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    einsumDirect<T>(p, args.inputs, yv.as<T>(), outCount);
  });
}

}  // namespace kiln::cpu
