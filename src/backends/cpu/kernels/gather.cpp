// Gather (default with batch dims, Elements, ND): index arithmetic over contiguous blocks; negative
// indices count from the end, out-of-range indices are an error.
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {
namespace {

[[noreturn]] void badIndex(const ir::Layer& layer, int64_t index, int64_t dim) {
  fail(ErrorCode::kInvalidArgument,
       concat(layer.describe(), ": index ", index, " is out of range for a dimension of size ", dim));
}

inline int64_t fixIndex(int64_t i, int64_t dim, const ir::Layer& layer) {
  if (i < 0) i += dim;
  if (i < 0 || i >= dim) badIndex(layer, i < 0 ? i - dim : i, dim);
  return i;
}

void gatherDefault(const ir::Layer& layer, const KernelArgs& args, int64_t axis, int64_t batchDims) {
  const TensorView& data = args.inputs[0];
  const TensorView& out = args.outputs[0];
  const Dims& ds = data.shape;
  const int64_t rank = static_cast<int64_t>(ds.size());
  std::vector<int64_t> idx = readInts(args.inputs[1], layer);
  const Dims& is = args.inputs[1].shape;
  KILN_CHECK(batchDims >= 0 && batchDims <= axis && batchDims <= static_cast<int64_t>(is.size()), kInvalidArgument,
             layer.describe(), ": invalid batch dims ", batchDims);
  for (int64_t d = 0; d < batchDims; ++d)
    KILN_CHECK(is[d] == ds[d], kInvalidArgument, layer.describe(), ": batch dims of data and indices differ");
  const int64_t batch = prodDims(ds, 0, batchDims), outer = prodDims(ds, batchDims, axis), axisDim = ds[axis];
  const int64_t inner = prodDims(ds, axis + 1, rank), perBatch = prodDims(is, batchDims, is.size());
  checkCount(layer, out, batch * outer * perBatch * inner, "output");
  for (int64_t& i : idx) i = fixIndex(i, axisDim, layer);
  const size_t es = elementSize(data.type, layer), block = static_cast<size_t>(inner) * es;
  const auto* src = static_cast<const uint8_t*>(data.data);
  auto* dst = static_cast<uint8_t*>(out.data);
  if (block == 0) return;
  parallelFor(batch * outer, std::max<int64_t>(1, kPointwiseGrain / std::max<int64_t>(1, perBatch * inner)),
              [&](int64_t b0, int64_t e0) {
                for (int64_t bo = b0; bo < e0; ++bo) {
                  int64_t bt = bo / outer;
                  for (int64_t j = 0; j < perBatch; ++j)
                    std::memcpy(dst + (bo * perBatch + j) * block, src + (bo * axisDim + idx[bt * perBatch + j]) * block,
                                block);
                }
              });
}

void gatherElements(const ir::Layer& layer, const KernelArgs& args, int64_t axis) {
  const TensorView& data = args.inputs[0];
  const TensorView& out = args.outputs[0];
  const Dims& is = args.inputs[1].shape;
  const int64_t rank = static_cast<int64_t>(data.shape.size());
  KILN_CHECK(static_cast<int64_t>(is.size()) == rank, kInvalidArgument, layer.describe(),
             ": data and indices must have the same rank");
  std::vector<int64_t> idx = readInts(args.inputs[1], layer);
  checkCount(layer, out, static_cast<int64_t>(idx.size()), "output");
  Dims ds = stridesOf(data.shape);
  dispatchBytes(data.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = data.as<const T>();
    T* dst = out.as<T>();
    const int64_t n = static_cast<int64_t>(idx.size());
    std::vector<int64_t> pos(rank, 0);
    for (int64_t i = 0; i < n; ++i) {
      int64_t off = 0;
      for (int64_t d = 0; d < rank; ++d)
        off += (d == axis ? fixIndex(idx[i], data.shape[d], layer) : pos[d]) * ds[d];
      dst[i] = src[off];
      for (int64_t d = rank - 1; d >= 0; --d) {
        if (++pos[d] < is[d]) break;
        pos[d] = 0;
      }
    }
  });
}

void gatherND(const ir::Layer& layer, const KernelArgs& args, int64_t batchDims) {
  const TensorView& data = args.inputs[0];
  const TensorView& out = args.outputs[0];
  const Dims& ds = data.shape;
  const Dims& is = args.inputs[1].shape;
  KILN_CHECK(!is.empty(), kInvalidArgument, layer.describe(), ": GatherND indices need rank >= 1");
  const int64_t k = is.back(), b = batchDims, rank = static_cast<int64_t>(ds.size());
  KILN_CHECK(b >= 0 && b < static_cast<int64_t>(is.size()) && b + k <= rank, kInvalidArgument, layer.describe(),
             ": invalid GatherND shapes data ", dimsToString(ds), " indices ", dimsToString(is));
  for (int64_t d = 0; d < b; ++d)
    KILN_CHECK(is[d] == ds[d], kInvalidArgument, layer.describe(), ": batch dims of data and indices differ");
  std::vector<int64_t> idx = readInts(args.inputs[1], layer);
  const int64_t batch = prodDims(ds, 0, b), tuples = prodDims(is, b, is.size() - 1);
  const int64_t slice = prodDims(ds, b + k, rank), batchStride = prodDims(ds, b, rank);
  checkCount(layer, out, batch * tuples * slice, "output");
  Dims strides = stridesOf(ds);
  const size_t es = elementSize(data.type, layer), block = static_cast<size_t>(slice) * es;
  const auto* src = static_cast<const uint8_t*>(data.data);
  auto* dst = static_cast<uint8_t*>(out.data);
  if (block == 0) return;
  for (int64_t bt = 0; bt < batch; ++bt)
    for (int64_t t = 0; t < tuples; ++t) {
      const int64_t* tuple = idx.data() + (bt * tuples + t) * k;
      int64_t off = bt * batchStride;
      for (int64_t j = 0; j < k; ++j) off += fixIndex(tuple[j], ds[b + j], layer) * strides[b + j];
      std::memcpy(dst + (bt * tuples + t) * block, src + off * static_cast<int64_t>(es), block);
    }
}

}  // namespace

std::string supportsGather(const ir::Layer& layer) {
  return checkTypesPerIndex(layer, {kBytes, kIntegers}, {kBytes});  // input 1: indices
}

void runGather(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 2);
  const auto& p = layer.as<GatherParams>();
  checkSameType(layer, args.inputs[0], args.outputs[0]);
  const int64_t rank = static_cast<int64_t>(args.inputs[0].shape.size());
  switch (p.mode) {
    case GatherMode::kDefault: {
      KILN_CHECK(rank >= 1, kInvalidArgument, layer.describe(), ": Gather needs data of rank >= 1");
      gatherDefault(layer, args, normAxis(p.axis, rank, layer), p.batchDims);
      break;
    }
    case GatherMode::kElements:
      KILN_CHECK(rank >= 1, kInvalidArgument, layer.describe(), ": GatherElements needs data of rank >= 1");
      gatherElements(layer, args, normAxis(p.axis, rank, layer));
      break;
    case GatherMode::kND: gatherND(layer, args, p.batchDims); break;
  }
}

}  // namespace kiln::cpu
