// If, Loop, Scan and SequenceMap on host values: each runs its subnetworks with host::evaluateNetwork (the
// CPU kernels, layer by layer), so bodies may change shapes from one iteration to the next. Every iteration
// checks the run's cancellation and time limit, and a Loop's scan outputs are held to the run's
// maxTensorElements as they grow (backends/run_control.h).
#include <algorithm>
#include <cstring>

#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/host_eval.h"
#include "backends/run_control.h"
#include "backends/cpu/kernels/kernels.h"
#include "core/checked_math.h"
#include "core/error.h"
#include "ir/shape_inference.h"

namespace kiln::cpu {

namespace {

const ir::Network& networkOf(const Subnetwork& net, const ir::Layer& layer) {
  KILN_CHECK(net != nullptr, kInvalidModel, layer.describe(), ": missing subnetwork");
  return ir::asNetwork(*net);
}

const HostTensor& require(const std::vector<const HostTensor*>& inputs, size_t i, const ir::Layer& layer) {
  KILN_CHECK(i < inputs.size() && inputs[i] != nullptr, kInvalidArgument, layer.describe(), ": input ", i,
             " is missing");
  return *inputs[i];
}

void expectTensor(const HostTensor& value, const ir::Layer& layer, const char* what) {
  KILN_CHECK(value.kind == ValueKind::kTensor, kInvalidArgument, layer.describe(), ": ", what,
             " must be a tensor, got a ", valueKindName(value.kind));
}

bool readCondition(const HostTensor& value, const ir::Layer& layer, const char* what) {
  expectTensor(value, layer, what);
  KILN_CHECK(value.type == DataType::kBool && value.count() == 1, kInvalidArgument, layer.describe(), ": ", what,
             " must be one bool, got ", dataTypeName(value.type), " ", dimsToString(value.shape));
  return value.as<uint8_t>()[0] != 0;
}

int64_t readScalarInt(const HostTensor& value, const ir::Layer& layer, const char* what) {
  expectTensor(value, layer, what);
  std::vector<int64_t> v = ir::readIntegers(value);
  KILN_CHECK(v.size() == 1, kInvalidArgument, layer.describe(), ": ", what, " must be one integer, got shape ",
             dimsToString(value.shape));
  return v[0];
}

HostTensor boolScalar(bool v) {
  uint8_t b = v ? 1 : 0;
  return Weights::copyOf(DataType::kBool, {}, &b);
}

HostTensor int64Scalar(int64_t v) { return Weights::copyOf(DataType::kInt64, {}, &v); }

// Slice `index` of `t` along `axis`, that axis removed.
HostTensor sliceAt(const HostTensor& t, int64_t axis, int64_t index) {
  AxisSplit s = splitAt(t.shape, axis, t.type);
  Dims shape = t.shape;
  shape.erase(shape.begin() + axis);
  HostTensor out = Weights::zeros(t.type, shape);
  auto* dst = const_cast<uint8_t*>(out.bytes->data());
  auto* src = static_cast<const uint8_t*>(t.data());
  for (int64_t o = 0; o < s.outer; ++o)
    copyValues(dst + o * s.innerBytes, src + (o * s.length + index) * s.innerBytes, static_cast<size_t>(s.innerBytes),
               t.type);
  return out;
}

// Stacks equally shaped tensors along a new `axis`; `empty` describes the element when there are none.
HostTensor stack(const std::vector<HostTensor>& parts, int64_t axis, const TensorDesc& empty, const ir::Layer& layer,
                 const char* what) {
  if (parts.empty()) {
    Dims shape = empty.shape;
    for (auto& d : shape) d = std::max<int64_t>(d, 0);
    shape.insert(shape.begin() + std::min<int64_t>(axis, static_cast<int64_t>(shape.size())), 0);
    return Weights::zeros(empty.type, shape);
  }
  const HostTensor& first = parts[0];
  for (size_t i = 0; i < parts.size(); ++i) {
    expectTensor(parts[i], layer, what);
    KILN_CHECK(parts[i].type == first.type && parts[i].shape == first.shape, kInvalidArgument, layer.describe(), ": ",
               what, " is ", dataTypeName(parts[i].type), " ", dimsToString(parts[i].shape), " in iteration ", i,
               " but ", dataTypeName(first.type), " ", dimsToString(first.shape), " in iteration 0");
  }
  KILN_CHECK(axis >= 0 && axis <= static_cast<int64_t>(first.shape.size()), kInvalidModel, layer.describe(), ": ",
             what, " axis ", axis, " is out of range for rank ", first.shape.size() + 1);
  Dims shape = first.shape;
  shape.insert(shape.begin() + axis, static_cast<int64_t>(parts.size()));
  HostTensor out = Weights::zeros(first.type, shape);
  AxisSplit s = splitAt(shape, axis, first.type);
  auto* dst = const_cast<uint8_t*>(out.bytes->data());
  for (int64_t i = 0; i < s.length; ++i) {
    auto* src = static_cast<const uint8_t*>(parts[i].data());
    for (int64_t o = 0; o < s.outer; ++o)
      copyValues(dst + (o * s.length + i) * s.innerBytes, src + o * s.innerBytes, static_cast<size_t>(s.innerBytes),
                 first.type);
  }
  return out;
}

TensorDesc descOf(const ir::Tensor& t) { return {t.type(), t.dims(), t.kind}; }

// One (unbatched) scan: states and scan inputs as given, captures appended to every body run.
std::vector<HostTensor> scanOnce(const ir::Layer& layer, const ScanParams& p, const ir::Network& body,
                                 std::vector<HostTensor> states, const std::vector<const HostTensor*>& scanInputs,
                                 const std::vector<const HostTensor*>& captures) {
  auto axisOf = [&](const Dims& axes, size_t i, int64_t rank) {
    int64_t a = i < axes.size() ? axes[i] : 0;
    return ir::normalizeAxis(a, rank, layer);
  };
  auto reversed = [&](const Dims& directions, size_t i) { return i < directions.size() && directions[i] == 1; };
  int64_t length = -1;
  std::vector<int64_t> inputAxes;
  for (size_t i = 0; i < scanInputs.size(); ++i) {
    expectTensor(*scanInputs[i], layer, "a scan input");
    int64_t axis = axisOf(p.inputAxes, i, static_cast<int64_t>(scanInputs[i]->shape.size()));
    inputAxes.push_back(axis);
    int64_t n = scanInputs[i]->shape[axis];
    KILN_CHECK(length < 0 || n == length, kInvalidArgument, layer.describe(), ": scan input ", i, " has ", n,
               " steps along axis ", axis, " but scan input 0 has ", length);
    length = n;
  }
  size_t numScanOutputs = body.outputs().size() - static_cast<size_t>(p.numStates);
  std::vector<std::vector<HostTensor>> scanParts(numScanOutputs);
  for (int64_t step = 0; step < length; ++step) {
    host::checkRunControl();
    std::vector<HostTensor> slices;
    slices.reserve(scanInputs.size());
    for (size_t i = 0; i < scanInputs.size(); ++i)
      slices.push_back(
          sliceAt(*scanInputs[i], inputAxes[i], reversed(p.inputDirections, i) ? length - 1 - step : step));
    std::vector<const HostTensor*> bodyInputs;
    for (auto& s : states) bodyInputs.push_back(&s);
    for (auto& s : slices) bodyInputs.push_back(&s);
    bodyInputs.insert(bodyInputs.end(), captures.begin(), captures.end());
    std::vector<HostTensor> outs = host::evaluateNetwork(body, bodyInputs, layer);
    for (int64_t i = 0; i < p.numStates; ++i) states[i] = std::move(outs[i]);
    for (size_t k = 0; k < numScanOutputs; ++k) scanParts[k].push_back(std::move(outs[p.numStates + k]));
  }
  std::vector<HostTensor> results = std::move(states);
  for (size_t k = 0; k < numScanOutputs; ++k) {
    if (reversed(p.outputDirections, k)) std::reverse(scanParts[k].begin(), scanParts[k].end());
    TensorDesc element = descOf(*body.outputs()[p.numStates + k]);
    int64_t rank = scanParts[k].empty() ? static_cast<int64_t>(element.shape.size())
                                         : static_cast<int64_t>(scanParts[k][0].shape.size());
    int64_t axis = axisOf(p.outputAxes, k, rank + 1);
    results.push_back(stack(scanParts[k], axis, element, layer, "a scan output"));
  }
  return results;
}

}  // namespace

std::string supportsControlFlow(const ir::Layer&) { return {}; }

KILN_CPU_HOST_KERNEL(If) {
  const auto& p = layer.as<IfParams>();
  const ir::Network& thenNet = networkOf(p.thenBranch, layer);
  const ir::Network& elseNet = networkOf(p.elseBranch, layer);
  bool cond = readCondition(require(inputs, 0, layer), layer, "cond");
  size_t thenCount = thenNet.inputs().size();
  KILN_CHECK(inputs.size() == 1 + thenCount + elseNet.inputs().size(), kInvalidArgument, layer.describe(), ": got ",
             inputs.size(), " inputs");
  std::vector<const HostTensor*> captures;
  if (cond) captures.assign(inputs.begin() + 1, inputs.begin() + 1 + static_cast<std::ptrdiff_t>(thenCount));
  else captures.assign(inputs.begin() + 1 + static_cast<std::ptrdiff_t>(thenCount), inputs.end());
  return host::evaluateNetwork(cond ? thenNet : elseNet, captures, layer);
}

KILN_CPU_HOST_KERNEL(Loop) {
  const auto& p = layer.as<LoopParams>();
  const ir::Network& body = networkOf(p.body, layer);
  KILN_CHECK(inputs.size() >= 2 + static_cast<size_t>(p.numCarried) && inputs.size() == body.inputs().size(),
             kInvalidArgument, layer.describe(), ": got ", inputs.size(), " inputs");
  bool hasTripCount = inputs[0] != nullptr, hasCond = inputs[1] != nullptr;
  int64_t tripCount = hasTripCount ? readScalarInt(*inputs[0], layer, "the trip count") : 0;
  bool cond = hasCond ? readCondition(*inputs[1], layer, "cond") : true;
  // ONNX: with neither a trip count nor a condition the loop never ends.
  KILN_CHECK(hasTripCount || hasCond, kUnsupported, layer.describe(),
             ": a Loop with neither a trip count nor a condition never ends");
  std::vector<HostTensor> carried;
  for (int64_t i = 0; i < p.numCarried; ++i) carried.push_back(require(inputs, 2 + i, layer));
  std::vector<const HostTensor*> captures(inputs.begin() + 2 + p.numCarried, inputs.end());
  size_t numScanOutputs = body.outputs().size() - 1 - static_cast<size_t>(p.numCarried);
  std::vector<std::vector<HostTensor>> scanParts(numScanOutputs);
  for (int64_t iteration = 0; (!hasTripCount || iteration < tripCount) && cond; ++iteration) {
    host::checkRunControl();
    HostTensor iterValue = int64Scalar(iteration), condValue = boolScalar(cond);
    std::vector<const HostTensor*> bodyInputs{&iterValue, &condValue};
    for (auto& c : carried) bodyInputs.push_back(&c);
    bodyInputs.insert(bodyInputs.end(), captures.begin(), captures.end());
    std::vector<HostTensor> outs = host::evaluateNetwork(body, bodyInputs, layer);
    cond = readCondition(outs[0], layer, "the body's cond output");
    for (int64_t i = 0; i < p.numCarried; ++i) carried[i] = std::move(outs[1 + i]);
    for (size_t k = 0; k < numScanOutputs; ++k) {
      scanParts[k].push_back(std::move(outs[1 + p.numCarried + k]));
      // The stacked output grows with every iteration: stop at the limit rather than when memory runs out.
      int64_t limit = host::runTensorElementLimit();
      if (limit == 0) continue;
      int64_t elements = mulOrThrow(static_cast<int64_t>(scanParts[k].size()), scanParts[k].back().count(),
                                    concat(layer.describe(), ": scan output ", k));
      KILN_CHECK(elements <= limit, kInvalidArgument, layer.describe(), ": scan output ", k, " ('",
                 layer.outputs[p.numCarried + k]->name(), "') holds ", elements, " elements after ", iteration + 1,
                 " iterations, over the plan's maxTensorElements of ", limit, " (BuilderConfig::maxTensorElements)");
    }
  }
  std::vector<HostTensor> results = std::move(carried);
  for (size_t k = 0; k < numScanOutputs; ++k)
    results.push_back(
        stack(scanParts[k], 0, descOf(*body.outputs()[1 + p.numCarried + k]), layer, "a scan output of the body"));
  return results;
}

KILN_CPU_HOST_KERNEL(Scan) {
  const auto& p = layer.as<ScanParams>();
  const ir::Network& body = networkOf(p.body, layer);
  size_t first = p.batched ? 1 : 0;
  size_t numStates = static_cast<size_t>(p.numStates), numScan = static_cast<size_t>(p.numScanInputs);
  KILN_CHECK(inputs.size() >= first + numStates + numScan, kInvalidArgument, layer.describe(), ": got ",
             inputs.size(), " inputs");
  std::vector<const HostTensor*> captures(inputs.begin() + static_cast<std::ptrdiff_t>(first + numStates + numScan),
                                          inputs.end());
  if (!p.batched) {
    std::vector<HostTensor> states;
    for (size_t i = 0; i < numStates; ++i) states.push_back(require(inputs, i, layer));
    std::vector<const HostTensor*> scanInputs(inputs.begin() + static_cast<std::ptrdiff_t>(numStates),
                                              inputs.begin() + static_cast<std::ptrdiff_t>(numStates + numScan));
    for (size_t i = 0; i < numScan; ++i) require(inputs, numStates + i, layer);
    return scanOnce(layer, p, body, std::move(states), scanInputs, captures);
  }
  // Opset 8: axis 0 of every state and scan input is a batch; each batch entry is scanned on its own.
  const HostTensor& firstScan = require(inputs, first + numStates, layer);
  KILN_CHECK(firstScan.shape.size() >= 2, kInvalidArgument, layer.describe(),
             ": batched scan inputs need [batch, sequence, ...], got ", dimsToString(firstScan.shape));
  int64_t batch = firstScan.shape[0], length = firstScan.shape[1];
  if (inputs[0]) {
    for (int64_t n : ir::readIntegers(*inputs[0]))
      KILN_CHECK(n == length, kUnsupported, layer.describe(), ": sequence_lens shorter than the scan inputs (", n,
                 " < ", length, ") are not supported");
  }
  ScanParams unbatched = p;
  unbatched.batched = false;
  std::vector<std::vector<HostTensor>> perBatch;
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<HostTensor> states, scanSlices;
    for (size_t i = 0; i < numStates; ++i) {
      const HostTensor& s = require(inputs, first + i, layer);
      KILN_CHECK(!s.shape.empty() && s.shape[0] == batch, kInvalidArgument, layer.describe(), ": state ", i,
                 " must have the batch size ", batch, " as its first dim, got ", dimsToString(s.shape));
      states.push_back(sliceAt(s, 0, b));
    }
    for (size_t i = 0; i < numScan; ++i) {
      const HostTensor& s = require(inputs, first + numStates + i, layer);
      KILN_CHECK(!s.shape.empty() && s.shape[0] == batch, kInvalidArgument, layer.describe(), ": scan input ", i,
                 " must have the batch size ", batch, " as its first dim, got ", dimsToString(s.shape));
      scanSlices.push_back(sliceAt(s, 0, b));
    }
    std::vector<const HostTensor*> scanInputs;
    for (auto& s : scanSlices) scanInputs.push_back(&s);
    perBatch.push_back(scanOnce(layer, unbatched, body, std::move(states), scanInputs, captures));
  }
  std::vector<HostTensor> results;
  size_t numOutputs = body.outputs().size();
  for (size_t o = 0; o < numOutputs; ++o) {
    std::vector<HostTensor> parts;
    for (auto& r : perBatch) parts.push_back(r[o]);
    results.push_back(stack(parts, 0, descOf(*layer.outputs[o]), layer, "a scan result"));
  }
  return results;
}

KILN_CPU_HOST_KERNEL(SequenceMap) {
  const auto& p = layer.as<SequenceMapParams>();
  const ir::Network& body = networkOf(p.body, layer);
  KILN_CHECK(inputs.size() == body.inputs().size() && inputs.size() >= static_cast<size_t>(p.numMapped),
             kInvalidArgument, layer.describe(), ": got ", inputs.size(), " inputs");
  const HostTensor& first = require(inputs, 0, layer);
  KILN_CHECK(first.kind == ValueKind::kSequence, kInvalidArgument, layer.describe(), ": input 0 must be a sequence");
  size_t length = first.elements->size();
  for (int64_t i = 0; i < p.numMapped; ++i) {
    const HostTensor& in = require(inputs, static_cast<size_t>(i), layer);
    KILN_CHECK(in.kind != ValueKind::kSequence || in.elements->size() == length, kInvalidArgument, layer.describe(),
               ": sequence input ", i, " has ", in.kind == ValueKind::kSequence ? in.elements->size() : 0,
               " elements but input 0 has ", length);
  }
  std::vector<std::vector<HostTensor>> sequences(body.outputs().size());
  for (size_t e = 0; e < length; ++e) {
    host::checkRunControl();
    std::vector<const HostTensor*> bodyInputs;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const HostTensor* in = inputs[i];
      bool mapped = static_cast<int64_t>(i) < p.numMapped && in->kind == ValueKind::kSequence;
      bodyInputs.push_back(mapped ? &(*in->elements)[e] : in);
    }
    std::vector<HostTensor> outs = host::evaluateNetwork(body, bodyInputs, layer);
    for (size_t o = 0; o < outs.size(); ++o) sequences[o].push_back(std::move(outs[o]));
  }
  std::vector<HostTensor> results;
  for (size_t o = 0; o < sequences.size(); ++o)
    results.push_back(Weights::container(ValueKind::kSequence, body.outputs()[o]->type(), std::move(sequences[o])));
  return results;
}

}  // namespace kiln::cpu
