// OneHot: out[outer, d, inner] = indices[outer, inner] == d ? on : off (negative indices add depth).
#include "backends/cpu/kernels/convert.h"
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

std::vector<int64_t> readAsInts(const TensorView& v, const ir::Layer& layer) {
  std::vector<int64_t> out(static_cast<size_t>(v.count()));
  dispatchType<kNumeric>(v.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (size_t i = 0; i < out.size(); ++i) out[i] = convertValue<int64_t>(v.as<const T>()[i]);
  });
  return out;
}

}  // namespace

std::string supportsOneHot(const ir::Layer& layer) {
  return checkTypesPerIndex(layer, {kNumeric, kNumeric, kBytes}, {kBytes});  // indices, depth, values
}

void runOneHot(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 3);
  const TensorView& indices = args.inputs[0];
  const TensorView& values = args.inputs[2];
  const TensorView& out = args.outputs[0];
  checkSameType(layer, values, out);
  KILN_CHECK(values.count() == 2, kInvalidArgument, layer.describe(), ": values must hold [off, on]");
  KILN_CHECK(args.inputs[1].count() == 1, kInvalidArgument, layer.describe(), ": depth must be a scalar");
  const int64_t depth = readAsInts(args.inputs[1], layer)[0];
  KILN_CHECK(depth >= 0, kInvalidArgument, layer.describe(), ": depth ", depth, " is negative");
  const int64_t outRank = static_cast<int64_t>(indices.shape.size()) + 1;
  const int64_t axis = normAxis(layer.as<OneHotParams>().axis, outRank, layer);
  const int64_t outer = prodDims(indices.shape, 0, axis), inner = prodDims(indices.shape, axis, indices.shape.size());
  checkCount(layer, out, outer * depth * inner, "output");
  std::vector<int64_t> idx = readAsInts(indices, layer);
  dispatchBytes(out.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T off = values.as<const T>()[0], on = values.as<const T>()[1];
    T* o = out.as<T>();
    std::fill(o, o + out.count(), off);
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t v = idx[a * inner + i];
        if (v < 0) v += depth;
        if (v >= 0 && v < depth) o[(a * depth + v) * inner + i] = on;
      }
  });
}

}  // namespace kiln::cpu
