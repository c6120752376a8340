// The public shape-inference entry points. The rule of each layer type lives in ir/layers/<family>.cpp;
// the layer table (ir/layer_table.h) says which rule, which inputs are shape inputs, and the type's traits.
#include "ir/shape_inference.h"

#include <algorithm>

#include "core/checked_math.h"
#include "core/error.h"
#include "ir/layer_table.h"
#include "ir/layers/shape_rules.h"

namespace kiln::ir {

using shape_rules::isIntegerType;
using shape_rules::known;

std::vector<TensorDesc> inferOutputs(const Layer& layer, const std::vector<const TensorDesc*>& inputs,
                                     const InputValues& values) {
  const LayerTypeInfo& info = layerInfo(layer.type());
  ShapeInferenceContext c{layer, inputs, values};
  if (!info.has(kAcceptsContainers))
    for (int i = 0; i < c.count(); ++i)
      KILN_CHECK(!c.has(i) || c.in(i).kind == ValueKind::kTensor, kUnsupported, layer.describe(), ": input ", i,
                 " is a ", valueKindName(c.in(i).kind), "; this layer takes tensors");
  std::vector<TensorDesc> outs;
  try {
    outs = info.inferOutputs(c);
  } catch (const Error& e) {
    // Shared helpers (size overflow, readIntegers) do not know the layer: the user must see which one, and
    // the input shapes the failing arithmetic came from.
    std::string where = layer.describe();
    if (std::string(e.what()).find(where) != std::string::npos) throw;
    std::string shapes;
    for (int i = 0; i < c.count(); ++i)
      shapes += concat(i ? ", " : "", c.has(i) ? dimsToString(c.shape(i)) : std::string("(none)"));
    throw Error(e.code(), concat(where, ": ", e.what(), " (input shapes ", shapes, ")"));
  }
  // Dims that fit in int64 one by one may not together (Reshape/Expand/ConstantOfShape shape values). The
  // product of the non-zero dims must fit too: [0, 2^40, 2^40] holds nothing, but kernels multiply its dims.
  for (size_t i = 0; i < outs.size(); ++i) {
    const TensorDesc& d = outs[i];
    if (d.kind != ValueKind::kTensor || !std::all_of(d.shape.begin(), d.shape.end(), known)) continue;
    Dims nonZero = d.shape;
    std::replace(nonZero.begin(), nonZero.end(), int64_t{0}, int64_t{1});
    KILN_CHECK(checkedByteSize(d.type, nonZero) >= 0, kInvalidArgument, layer.describe(), ": size overflow: output ",
               i, " of shape ", dimsToString(d.shape), " and type ", dataTypeName(d.type),
               ": the product of its dims does not fit in 64 bits");
  }
  return outs;
}

bool isShapeInput(const Layer& layer, int index) { return layerInfo(layer.type()).isShapeInput(index); }

bool runsOnHostValues(const Layer& layer) {
  if (layerInfo(layer.type()).has(kRunsOnHostValues)) return true;
  for (auto* t : layer.inputs)
    if (t && t->kind != ValueKind::kTensor) return true;
  for (auto* t : layer.outputs)
    if (t->kind != ValueKind::kTensor) return true;
  return false;
}

bool producesRunTimeValues(const Layer& layer) {
  return layerInfo(layer.type()).has(kProducesRunTimeValues) || runsOnHostValues(layer);
}

bool hasDataDependentShape(const Layer& layer) {
  return layerInfo(layer.type()).has(kDataDependentShape) || runsOnHostValues(layer);
}

int64_t normalizeAxis(int64_t axis, int64_t rank, const Layer& layer) {
  KILN_CHECK(axis >= -rank && axis < rank, kInvalidModel, layer.describe(), ": axis ", axis,
             " is out of range for rank ", rank, " (valid: [", -rank, ", ", rank - 1, "])");
  return axis < 0 ? axis + rank : axis;
}

Dims broadcastShapes(const Dims& a, const Dims& b, const Layer& layer) {
  size_t rank = std::max(a.size(), b.size());
  Dims out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t x = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t y = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (x == y || y == 1) out[i] = x;          // includes -1 vs 1 -> -1
    else if (x == 1) out[i] = y;
    else if (!known(x)) out[i] = y;            // -1 vs d (d != 1) -> d
    else if (!known(y)) out[i] = x;
    else fail(ErrorCode::kInvalidModel, concat(layer.describe(), ": shapes ", dimsToString(a), " and ",
                                               dimsToString(b), " cannot be broadcast"));
  }
  return out;
}

std::vector<int64_t> readIntegers(const HostTensor& value) {
  int64_t n = value.count();
  KILN_CHECK(n >= 0, kInvalidModel, "integer tensor has an unknown shape ", dimsToString(value.shape));
  KILN_CHECK(isIntegerType(value.type), kInvalidModel, "expected an integer tensor, got ", dataTypeName(value.type),
             " ", dimsToString(value.shape));
  KILN_CHECK(n == 0 || (value.bytes && value.bytes->size() >= static_cast<size_t>(n) * dataTypeSize(value.type)),
             kInvalidModel, "integer tensor of shape ", dimsToString(value.shape), " has too few bytes");
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (value.type) {
      case DataType::kInt8: out[i] = value.as<int8_t>()[i]; break;
      case DataType::kUInt8: out[i] = value.as<uint8_t>()[i]; break;
      case DataType::kInt16: out[i] = value.as<int16_t>()[i]; break;
      case DataType::kUInt16: out[i] = value.as<uint16_t>()[i]; break;
      case DataType::kInt32: out[i] = value.as<int32_t>()[i]; break;
      case DataType::kUInt32: out[i] = value.as<uint32_t>()[i]; break;
      case DataType::kInt64: out[i] = value.as<int64_t>()[i]; break;
      case DataType::kUInt64: out[i] = static_cast<int64_t>(value.as<uint64_t>()[i]); break;
      default: break;
    }
  }
  return out;
}

}  // namespace kiln::ir
