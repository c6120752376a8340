// Shape rules of control flow (If, Loop, Scan, SequenceMap), Sequence and Optional layers.
//
// These layers always run on the host, where each output is inferred from the actual values; what is
// inferred here is the static description (dims -1 where iterations or branches may differ).
#include "ir/layers/shape_rules.h"

namespace kiln::ir::shape_rules {

namespace {

const Network& subnetwork(const ShapeInferenceContext& c, const Subnetwork& net, const char* what) {
  SHAPE_CHECK(c, net != nullptr, "has no ", what, " subnetwork");
  return asNetwork(*net);
}

TensorDesc descOf(const Tensor& t) { return {t.type(), t.dims(), t.kind}; }

// The desc both a and b fit: dims that differ (or ranks that differ) become unknown.
TensorDesc mergeDescs(TensorDesc a, const TensorDesc& b) {
  if (a.shape.size() != b.shape.size()) {
    a.shape.assign(a.shape.size(), -1);
    return a;
  }
  for (size_t i = 0; i < a.shape.size(); ++i)
    if (a.shape[i] != b.shape[i]) a.shape[i] = -1;
  return a;
}

void expectSubnetworkInputs(const ShapeInferenceContext& c, const Network& net, int count, const char* what) {
  SHAPE_CHECK(c, net.numInputs() == count, "the ", what, " subnetwork has ", net.numInputs(), " inputs, expected ",
              count);
}

}  // namespace

Outputs inferIf(const ShapeInferenceContext& c) {
  const auto& p = c.layer.as<IfParams>();
  const Network& thenNet = subnetwork(c, p.thenBranch, "then");
  const Network& elseNet = subnetwork(c, p.elseBranch, "else");
  SHAPE_CHECK(c, c.has(0) && c.type(0) == DataType::kBool && volume(c.shape(0)) <= 1, "cond must be one bool, got ",
              dataTypeName(c.in(0).type), " ", dimsToString(c.shape(0)));
  expectInputs(c, 1 + thenNet.numInputs() + elseNet.numInputs(), 1 + thenNet.numInputs() + elseNet.numInputs());
  SHAPE_CHECK(c, thenNet.numOutputs() == elseNet.numOutputs(), "the then branch has ", thenNet.numOutputs(),
              " outputs but the else branch ", elseNet.numOutputs());
  Outputs outs;
  for (int i = 0; i < thenNet.numOutputs(); ++i) {
    TensorDesc a = descOf(*thenNet.outputs()[i]), b = descOf(*elseNet.outputs()[i]);
    SHAPE_CHECK(c, a.type == b.type && a.kind == b.kind, "output ", i, " is ", valueKindName(a.kind), " ",
                dataTypeName(a.type), " in the then branch but ", valueKindName(b.kind), " ", dataTypeName(b.type),
                " in the else branch");
    outs.push_back(mergeDescs(a, b));
  }
  return outs;
}

Outputs inferLoop(const ShapeInferenceContext& c) {
  const auto& p = c.layer.as<LoopParams>();
  const Network& body = subnetwork(c, p.body, "body");
  SHAPE_CHECK(c, p.numCarried >= 0 && c.count() >= 2 + p.numCarried, "has ", c.count(), " inputs for ", p.numCarried,
              " loop-carried values");
  expectSubnetworkInputs(c, body, c.count(), "body");
  SHAPE_CHECK(c, body.numOutputs() >= 1 + p.numCarried, "the body has ", body.numOutputs(),
              " outputs, expected at least ", 1 + p.numCarried);
  if (c.has(0)) SHAPE_CHECK(c, volume(c.shape(0)) <= 1, "the trip count must be a scalar");
  if (c.has(1)) SHAPE_CHECK(c, c.type(1) == DataType::kBool, "cond must be bool");
  Outputs outs;
  // A carried value is what the body returns (its kind may differ from the initial value's: an optional
  // sequence that the body turns into a sequence).
  for (int i = 0; i < p.numCarried; ++i) outs.push_back(mergeDescs(descOf(*body.outputs()[1 + i]), c.in(2 + i)));
  for (int i = 1 + static_cast<int>(p.numCarried); i < body.numOutputs(); ++i) {
    TensorDesc d = descOf(*body.outputs()[i]);
    SHAPE_CHECK(c, d.kind == ValueKind::kTensor, "scan output ", i, " of the body must be a tensor");
    d.shape.insert(d.shape.begin(), -1);  // the number of iterations
    outs.push_back(d);
  }
  return outs;
}

Outputs inferScan(const ShapeInferenceContext& c) {
  const auto& p = c.layer.as<ScanParams>();
  const Network& body = subnetwork(c, p.body, "body");
  int first = p.batched ? 1 : 0;
  SHAPE_CHECK(c, p.numStates >= 0 && p.numScanInputs >= 1 && c.count() >= first + p.numStates + p.numScanInputs,
              "has ", c.count(), " inputs for ", p.numStates, " states and ", p.numScanInputs, " scan inputs");
  expectSubnetworkInputs(c, body, c.count() - first, "body");
  SHAPE_CHECK(c, body.numOutputs() >= p.numStates, "the body has fewer outputs than states");
  // The scan length from the first scan input.
  const Dims& scanned = c.shape(first + static_cast<int>(p.numStates));
  int64_t axis0 = p.inputAxes.empty() ? 0 : p.inputAxes[0];
  int64_t length = -1;
  if (p.batched) length = scanned.size() >= 2 ? scanned[1] : -1;
  else if (!scanned.empty()) length = scanned[normalizeAxis(axis0, rankOf(scanned), c.layer)];
  Outputs outs;
  for (int i = 0; i < p.numStates; ++i) outs.push_back(mergeDescs(c.in(first + i), descOf(*body.outputs()[i])));
  for (int i = static_cast<int>(p.numStates); i < body.numOutputs(); ++i) {
    TensorDesc d = descOf(*body.outputs()[i]);
    size_t k = static_cast<size_t>(i - p.numStates);
    int64_t axis = k < p.outputAxes.size() ? p.outputAxes[k] : 0;
    axis = normalizeAxis(axis, rankOf(d.shape) + 1, c.layer);
    d.shape.insert(d.shape.begin() + axis, length);
    if (p.batched) d.shape.insert(d.shape.begin(), c.has(first) ? c.shape(first)[0] : -1);
    outs.push_back(d);
  }
  return outs;
}

Outputs inferSequence(const ShapeInferenceContext& c) {
  const auto& p = c.layer.as<SequenceParams>();
  auto expectSequence = [&](int i) {
    SHAPE_CHECK(c, c.has(i) && c.in(i).kind == ValueKind::kSequence, "input ", i, " must be a sequence");
  };
  auto expectPosition = [&](int i) {
    if (c.has(i))
      SHAPE_CHECK(c, isIntegerType(c.type(i)) && volume(c.shape(i)) <= 1,
                  "the position must be an integer scalar, got ", dataTypeName(c.type(i)), " ",
                  dimsToString(c.shape(i)));
  };
  switch (p.op) {
    case SequenceOp::kConstruct: {
      SHAPE_CHECK(c, c.count() >= 1, "SequenceConstruct needs at least one tensor");
      TensorDesc d = c.in(0);
      for (int i = 0; i < c.count(); ++i) {
        SHAPE_CHECK(c, c.in(i).kind == ValueKind::kTensor && c.type(i) == d.type, "input ", i, " must be a ",
                    dataTypeName(d.type), " tensor like input 0");
        d = mergeDescs(d, c.in(i));
      }
      d.kind = ValueKind::kSequence;
      return {d};
    }
    case SequenceOp::kEmpty: expectInputs(c, 0, 0); return {TensorDesc{p.elementType, {}, ValueKind::kSequence}};
    case SequenceOp::kInsert: {
      expectInputs(c, 2, 3);
      expectSequence(0);
      expectPosition(2);
      SHAPE_CHECK(c, c.in(1).kind == ValueKind::kTensor && c.type(1) == c.type(0), "cannot insert a ",
                  dataTypeName(c.type(1)), " tensor into a sequence of ", dataTypeName(c.type(0)));
      TensorDesc d = c.in(1);  // an empty sequence's element shape is not known: the tensor's describes it
      d.kind = ValueKind::kSequence;
      return {d};
    }
    case SequenceOp::kAt: {
      expectInputs(c, 2, 2);
      expectSequence(0);
      expectPosition(1);
      TensorDesc d = c.in(0);
      d.kind = ValueKind::kTensor;
      return {d};
    }
    case SequenceOp::kErase: expectInputs(c, 1, 2); expectSequence(0); expectPosition(1); return {c.in(0)};
    case SequenceOp::kLength: expectInputs(c, 1, 1); expectSequence(0); return one(DataType::kInt64, {});
    case SequenceOp::kSplit: {
      expectInputs(c, 1, 2);
      SHAPE_CHECK(c, c.in(0).kind == ValueKind::kTensor, "input 0 must be a tensor");
      if (c.has(1))
        SHAPE_CHECK(c, isIntegerType(c.type(1)) && c.rank(1) <= 1, "split must be an integer scalar or 1-D, got ",
                    dataTypeName(c.type(1)), " ", dimsToString(c.shape(1)));
      TensorDesc d = c.in(0);
      int64_t axis = normalizeAxis(p.axis, rankOf(d.shape), c.layer);
      if (!c.has(1) && !p.keepDims) d.shape.erase(d.shape.begin() + axis);
      else d.shape[axis] = c.has(1) ? -1 : 1;
      d.kind = ValueKind::kSequence;
      return {d};
    }
    case SequenceOp::kConcat: {
      expectInputs(c, 1, 1);
      expectSequence(0);
      TensorDesc d = c.in(0);
      d.kind = ValueKind::kTensor;
      if (d.shape.empty() && !p.newAxis) return {d};  // element rank not known (an empty sequence's)
      int64_t axis = normalizeAxis(p.axis, rankOf(d.shape) + (p.newAxis ? 1 : 0), c.layer);
      if (p.newAxis) d.shape.insert(d.shape.begin() + axis, -1);
      else d.shape[axis] = -1;
      return {d};
    }
  }
  fail(ErrorCode::kInternal, concat(c.layer.describe(), ": unknown sequence op"));
}

Outputs inferOptional(const ShapeInferenceContext& c) {
  const auto& p = c.layer.as<OptionalParams>();
  switch (p.op) {
    case OptionalOp::kConstruct: {
      expectInputs(c, 0, 1);
      if (!c.has(0))
        return {TensorDesc{p.elementType, {},
                           p.elementKind == ValueKind::kSequence ? ValueKind::kOptionalSequence
                                                                 : ValueKind::kOptionalTensor}};
      TensorDesc d = c.in(0);
      SHAPE_CHECK(c, d.kind == ValueKind::kTensor || d.kind == ValueKind::kSequence,
                  "an optional holds a tensor or a sequence, got ", valueKindName(d.kind));
      d.kind = d.kind == ValueKind::kSequence ? ValueKind::kOptionalSequence : ValueKind::kOptionalTensor;
      return {d};
    }
    case OptionalOp::kGetElement: {
      expectInputs(c, 1, 1);
      TensorDesc d = c.in(0);
      if (d.kind == ValueKind::kOptionalTensor) d.kind = ValueKind::kTensor;
      else if (d.kind == ValueKind::kOptionalSequence) d.kind = ValueKind::kSequence;
      return {d};
    }
    case OptionalOp::kHasElement: expectInputs(c, 0, 1); return one(DataType::kBool, {});
  }
  fail(ErrorCode::kInternal, concat(c.layer.describe(), ": unknown optional op"));
}

Outputs inferSequenceMap(const ShapeInferenceContext& c) {
  const auto& p = c.layer.as<SequenceMapParams>();
  const Network& body = subnetwork(c, p.body, "body");
  SHAPE_CHECK(c, p.numMapped >= 1 && c.count() >= p.numMapped, "has ", c.count(), " inputs for ", p.numMapped,
              " mapped inputs");
  SHAPE_CHECK(c, c.in(0).kind == ValueKind::kSequence, "input 0 must be a sequence");
  expectSubnetworkInputs(c, body, c.count(), "body");
  Outputs outs;
  for (auto* out : body.outputs()) {
    TensorDesc d = descOf(*out);
    SHAPE_CHECK(c, d.kind == ValueKind::kTensor, "the body's output '", out->name(), "' must be a tensor");
    d.kind = ValueKind::kSequence;
    outs.push_back(d);
  }
  return outs;
}

}  // namespace kiln::ir::shape_rules
