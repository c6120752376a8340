// Padding (constant/reflect/edge/wrap): per-axis maps from output to input index (-1: the constant),
// then a row loop over the output; negative pads crop.
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsPadding(const ir::Layer& layer) {
  return checkTypes(layer, kBytes, kBytes);  // input 2, the constant value, is data
}

void runPadding(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 2);
  const PadMode mode = layer.as<PaddingParams>().mode;
  const TensorView& in = args.inputs[0];
  const TensorView& out = args.outputs[0];
  checkSameType(layer, in, out);
  const int64_t rank = static_cast<int64_t>(in.shape.size());
  std::vector<int64_t> pads = readInts(args.inputs[1], layer);
  std::vector<int64_t> axes;
  if (present(args, 3)) {
    axes = readInts(args.inputs[3], layer);
    for (int64_t& a : axes) a = normAxis(a, rank, layer);
  } else {
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
  }
  const int64_t na = static_cast<int64_t>(axes.size());
  KILN_CHECK(static_cast<int64_t>(pads.size()) == 2 * na, kInvalidArgument, layer.describe(), ": pads has ",
             pads.size(), " values for ", na, " axes");
  Dims begin(rank, 0), end(rank, 0);
  for (int64_t i = 0; i < na; ++i) {
    begin[axes[i]] = pads[i];
    end[axes[i]] = pads[na + i];
  }
  Dims shape(rank);
  for (int64_t d = 0; d < rank; ++d) {
    shape[d] = in.shape[d] + begin[d] + end[d];
    KILN_CHECK(shape[d] >= 0, kInvalidArgument, layer.describe(), ": pads crop more than dim ", d, " holds");
  }
  KILN_CHECK(shape == out.shape, kInternal, layer.describe(), ": output shape ", dimsToString(out.shape),
             ", expected ", dimsToString(shape));
  if (out.count() == 0) return;
  // Index maps.
  std::vector<std::vector<int64_t>> maps(rank);
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t n = in.shape[d];
    maps[d].resize(shape[d]);
    for (int64_t o = 0; o < shape[d]; ++o) {
      int64_t i = o - begin[d];
      if (i < 0 || i >= n) {
        if (mode == PadMode::kConstant) {
          i = -1;
        } else {
          KILN_CHECK(n > 0, kInvalidArgument, layer.describe(), ": cannot pad an empty dim in this mode");
          if (mode == PadMode::kEdge) {
            i = std::clamp<int64_t>(i, 0, n - 1);
          } else if (mode == PadMode::kWrap) {
            i = ((i % n) + n) % n;
          } else {  // reflect, without repeating the edge
            if (n == 1) {
              i = 0;
            } else {
              int64_t period = 2 * (n - 1);
              i = ((i % period) + period) % period;
              if (i >= n) i = period - i;
            }
          }
        }
      }
      maps[d][o] = i;
    }
  }
  uint64_t fillBits = 0;
  const size_t es = elementSize(in.type, layer);
  if (mode == PadMode::kConstant && present(args, 2) && args.inputs[2].count() > 0) {
    checkSameType(layer, args.inputs[2], in);
    std::memcpy(&fillBits, args.inputs[2].data, es);
  }
  Dims inStrides = stridesOf(in.shape);
  dispatchBytes(in.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T fill;
    std::memcpy(&fill, &fillBits, sizeof(T));
    const T* src = in.as<const T>();
    T* dst = out.as<T>();
    if (rank == 0) {
      dst[0] = src[0];
      return;
    }
    const int64_t inner = shape[rank - 1];
    const int64_t rows = out.count() / inner;
    const std::vector<int64_t>& last = maps[rank - 1];
    parallelFor(rows, std::max<int64_t>(1, kPointwiseGrain / inner), [&](int64_t rb, int64_t re) {
      std::vector<int64_t> idx(rank, 0);
      int64_t rem = rb;
      for (int64_t d = rank - 2; d >= 0; --d) {
        idx[d] = rem % shape[d];
        rem /= shape[d];
      }
      for (int64_t r = rb; r < re; ++r) {
        T* o = dst + r * inner;
        int64_t off = 0;
        bool constantRow = false;
        for (int64_t d = 0; d < rank - 1; ++d) {
          int64_t m = maps[d][idx[d]];
          if (m < 0) { constantRow = true; break; }
          off += m * inStrides[d];
        }
        if (constantRow) {
          std::fill(o, o + inner, fill);
        } else {
          const T* s = src + off;
          for (int64_t j = 0; j < inner; ++j) o[j] = last[j] < 0 ? fill : s[last[j]];
        }
        for (int64_t d = rank - 2; d >= 0; --d) {
          if (++idx[d] < shape[d]) break;
          idx[d] = 0;
        }
      }
    });
  });
}

}  // namespace kiln::cpu
