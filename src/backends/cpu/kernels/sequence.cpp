// Sequence and optional operations on host values. Elements are immutable and shared between the
// sequences that hold them, so inserting or erasing copies only the list, never tensor data.
#include <algorithm>
#include <cstring>

#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "core/error.h"
#include "ir/shape_inference.h"

namespace kiln::cpu {

namespace {

const HostTensor& requireKind(const std::vector<const HostTensor*>& inputs, size_t i, ValueKind kind,
                              const ir::Layer& layer) {
  KILN_CHECK(i < inputs.size() && inputs[i] != nullptr, kInvalidArgument, layer.describe(), ": input ", i,
             " is missing");
  KILN_CHECK(inputs[i]->kind == kind, kInvalidArgument, layer.describe(), ": input ", i, " must be a ",
             valueKindName(kind), ", got a ", valueKindName(inputs[i]->kind));
  return *inputs[i];
}

// A position in [0, size] (inserting) or [0, size) (reading); negative positions count from the end.
size_t position(const HostTensor& value, size_t size, bool inserting, const ir::Layer& layer) {
  std::vector<int64_t> v = ir::readIntegers(value);
  KILN_CHECK(v.size() == 1, kInvalidArgument, layer.describe(), ": the position must be one integer, got shape ",
             dimsToString(value.shape));
  auto n = static_cast<int64_t>(size);
  int64_t p = v[0] < 0 ? v[0] + n : v[0];
  int64_t limit = inserting ? n : n - 1;
  KILN_CHECK(p >= 0 && p <= limit, kInvalidArgument, layer.describe(), ": position ", v[0],
             " is out of range for a sequence of ", size, " elements");
  return static_cast<size_t>(p);
}

// SplitToSequence: parts of `x` along `axis`.
std::vector<HostTensor> splitToSequence(const ir::Layer& layer, const SequenceParams& p, const HostTensor& x,
                                        const HostTensor* split) {
  int64_t axis = ir::normalizeAxis(p.axis, static_cast<int64_t>(x.shape.size()), layer);
  AxisSplit s = splitAt(x.shape, axis, x.type);
  std::vector<int64_t> sizes;
  if (!split) {
    sizes.assign(static_cast<size_t>(s.length), 1);
  } else {
    std::vector<int64_t> values = ir::readIntegers(*split);
    if (split->shape.empty()) {
      KILN_CHECK(values.size() == 1 && values[0] > 0, kInvalidArgument, layer.describe(),
                 ": a scalar split must be positive");
      for (int64_t at = 0; at < s.length; at += values[0]) sizes.push_back(std::min(values[0], s.length - at));
    } else {
      int64_t total = 0;
      for (int64_t v : values) {
        KILN_CHECK(v >= 0, kInvalidArgument, layer.describe(), ": split sizes must not be negative");
        total += v;
      }
      KILN_CHECK(total == s.length, kInvalidArgument, layer.describe(), ": split sizes sum to ", total,
                 " but axis ", axis, " of ", dimsToString(x.shape), " has ", s.length);
      sizes = values;
    }
  }
  bool squeeze = !split && !p.keepDims;
  std::vector<HostTensor> parts;
  auto* src = static_cast<const uint8_t*>(x.data());
  int64_t begin = 0;
  for (int64_t size : sizes) {
    Dims shape = x.shape;
    if (squeeze) shape.erase(shape.begin() + axis);
    else shape[axis] = size;
    HostTensor part = Weights::zeros(x.type, shape);
    auto* dst = const_cast<uint8_t*>(part.bytes->data());
    size_t chunk = static_cast<size_t>(size * s.innerBytes);
    for (int64_t o = 0; o < s.outer; ++o)
      copyValues(dst + o * chunk, src + (o * s.length + begin) * s.innerBytes, chunk, x.type);
    parts.push_back(std::move(part));
    begin += size;
  }
  return parts;
}

// ConcatFromSequence: the elements joined along `axis`, or stacked on a new one.
HostTensor concatFromSequence(const ir::Layer& layer, const SequenceParams& p, const HostTensor& seq) {
  const std::vector<HostTensor>& elements = *seq.elements;
  KILN_CHECK(!elements.empty(), kInvalidArgument, layer.describe(), ": cannot concatenate an empty sequence");
  Dims first = elements[0].shape;
  auto rank = static_cast<int64_t>(first.size());
  int64_t axis = ir::normalizeAxis(p.axis, rank + (p.newAxis ? 1 : 0), layer);
  // With a new axis each element is a slice of length 1 along it.
  auto asSlice = [&](const Dims& shape) {
    Dims d = shape;
    if (p.newAxis) d.insert(d.begin() + axis, 1);
    return d;
  };
  Dims outShape = asSlice(first);
  outShape[axis] = 0;
  for (size_t i = 0; i < elements.size(); ++i) {
    Dims d = asSlice(elements[i].shape);
    bool compatible = elements[i].type == seq.type && d.size() == outShape.size();
    for (size_t k = 0; compatible && k < d.size(); ++k)
      compatible = static_cast<int64_t>(k) == axis || d[k] == outShape[k];
    KILN_CHECK(compatible, kInvalidArgument, layer.describe(), ": element ", i, " (", dataTypeName(elements[i].type),
               " ", dimsToString(elements[i].shape), ") does not fit element 0 (", dataTypeName(elements[0].type), " ",
               dimsToString(first), ") along axis ", axis);
    outShape[axis] += d[axis];
  }
  HostTensor out = Weights::zeros(seq.type, outShape);
  AxisSplit whole = splitAt(outShape, axis, seq.type);
  auto* dst = const_cast<uint8_t*>(out.bytes->data());
  int64_t begin = 0;
  for (const HostTensor& e : elements) {
    int64_t length = asSlice(e.shape)[axis];
    size_t chunk = static_cast<size_t>(length * whole.innerBytes);
    auto* src = static_cast<const uint8_t*>(e.data());
    for (int64_t o = 0; o < whole.outer; ++o)
      copyValues(dst + (o * whole.length + begin) * whole.innerBytes, src + o * chunk, chunk, seq.type);
    begin += length;
  }
  return out;
}

}  // namespace

std::string supportsContainers(const ir::Layer&) { return {}; }

KILN_CPU_HOST_KERNEL(Sequence) {
  const auto& p = layer.as<SequenceParams>();
  switch (p.op) {
    case SequenceOp::kConstruct: {
      std::vector<HostTensor> elements;
      for (size_t i = 0; i < inputs.size(); ++i) {
        const HostTensor& t = requireKind(inputs, i, ValueKind::kTensor, layer);
        KILN_CHECK(t.type == inputs[0]->type, kInvalidArgument, layer.describe(), ": input ", i, " is ",
                   dataTypeName(t.type), " but input 0 is ", dataTypeName(inputs[0]->type));
        elements.push_back(t);
      }
      KILN_CHECK(!elements.empty(), kInvalidArgument, layer.describe(), ": needs at least one tensor");
      DataType type = elements[0].type;
      return {Weights::container(ValueKind::kSequence, type, std::move(elements))};
    }
    case SequenceOp::kEmpty: return {Weights::container(ValueKind::kSequence, p.elementType, {})};
    case SequenceOp::kInsert: {
      const HostTensor& seq = requireKind(inputs, 0, ValueKind::kSequence, layer);
      const HostTensor& t = requireKind(inputs, 1, ValueKind::kTensor, layer);
      KILN_CHECK(t.type == seq.type, kInvalidArgument, layer.describe(), ": cannot insert a ", dataTypeName(t.type),
                 " tensor into a sequence of ", dataTypeName(seq.type));
      std::vector<HostTensor> elements = *seq.elements;
      size_t at = inputs.size() > 2 && inputs[2] ? position(*inputs[2], elements.size(), true, layer) : elements.size();
      elements.insert(elements.begin() + static_cast<std::ptrdiff_t>(at), t);
      return {Weights::container(ValueKind::kSequence, seq.type, std::move(elements))};
    }
    case SequenceOp::kAt: {
      const HostTensor& seq = requireKind(inputs, 0, ValueKind::kSequence, layer);
      const HostTensor& at = requireKind(inputs, 1, ValueKind::kTensor, layer);
      return {(*seq.elements)[position(at, seq.elements->size(), false, layer)]};
    }
    case SequenceOp::kErase: {
      const HostTensor& seq = requireKind(inputs, 0, ValueKind::kSequence, layer);
      KILN_CHECK(!seq.elements->empty(), kInvalidArgument, layer.describe(), ": cannot erase from an empty sequence");
      std::vector<HostTensor> elements = *seq.elements;
      size_t at = inputs.size() > 1 && inputs[1] ? position(*inputs[1], elements.size(), false, layer)
                                                 : elements.size() - 1;
      elements.erase(elements.begin() + static_cast<std::ptrdiff_t>(at));
      return {Weights::container(ValueKind::kSequence, seq.type, std::move(elements))};
    }
    case SequenceOp::kLength: {
      const HostTensor& seq = requireKind(inputs, 0, ValueKind::kSequence, layer);
      auto n = static_cast<int64_t>(seq.elements->size());
      return {Weights::copyOf(DataType::kInt64, {}, &n)};
    }
    case SequenceOp::kSplit: {
      const HostTensor& x = requireKind(inputs, 0, ValueKind::kTensor, layer);
      const HostTensor* split = inputs.size() > 1 ? inputs[1] : nullptr;
      return {Weights::container(ValueKind::kSequence, x.type, splitToSequence(layer, p, x, split))};
    }
    case SequenceOp::kConcat:
      return {concatFromSequence(layer, p, requireKind(inputs, 0, ValueKind::kSequence, layer))};
  }
  fail(ErrorCode::kInternal, concat(layer.describe(), ": unknown sequence op"));
}

KILN_CPU_HOST_KERNEL(Optional) {
  const auto& p = layer.as<OptionalParams>();
  const HostTensor* in = inputs.empty() ? nullptr : inputs[0];
  bool isOptional = in && (in->kind == ValueKind::kOptionalTensor || in->kind == ValueKind::kOptionalSequence);
  switch (p.op) {
    case OptionalOp::kConstruct: {
      if (!in) {
        ValueKind kind =
            p.elementKind == ValueKind::kSequence ? ValueKind::kOptionalSequence : ValueKind::kOptionalTensor;
        return {Weights::container(kind, p.elementType, {})};
      }
      KILN_CHECK(!isOptional, kInvalidArgument, layer.describe(), ": an optional cannot hold an optional");
      ValueKind kind = in->kind == ValueKind::kSequence ? ValueKind::kOptionalSequence : ValueKind::kOptionalTensor;
      return {Weights::container(kind, in->type, {*in})};
    }
    case OptionalOp::kGetElement: {
      KILN_CHECK(in != nullptr, kInvalidArgument, layer.describe(), ": input 0 is missing");
      if (!isOptional) return {*in};  // opset 18: a tensor or sequence passes through
      KILN_CHECK(!in->elements->empty(), kInvalidArgument, layer.describe(), ": the optional input has no value");
      return {(*in->elements)[0]};
    }
    case OptionalOp::kHasElement: {
      bool has = in != nullptr && (!isOptional || !in->elements->empty());
      uint8_t b = has ? 1 : 0;
      return {Weights::copyOf(DataType::kBool, {}, &b)};
    }
  }
  fail(ErrorCode::kInternal, concat(layer.describe(), ": unknown optional op"));
}

}  // namespace kiln::cpu
