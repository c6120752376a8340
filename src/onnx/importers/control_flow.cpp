// Control flow (If, Loop, Scan, SequenceMap: subgraphs imported as nested networks whose outer-scope
// reads become extra layer inputs) and the sequence / optional ops.
#include "onnx/importers/importers.h"
#include "onnx/tensor_proto.h"

namespace kiln::onnx_import {

namespace {

TensorDesc descOf(ITensor* t) { return {t->type(), t->dims(), ir::asTensor(t)->kind}; }

void append(std::vector<ITensor*>& inputs, const Subgraph& g) {
  inputs.insert(inputs.end(), g.captures.begin(), g.captures.end());
}

Dims withoutAxis(Dims dims, int64_t axis, const NodeView& n) {
  auto rank = static_cast<int64_t>(dims.size());
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) n.fail(ErrorCode::kInvalidModel, concat("axis ", axis, " is out of range for rank ", rank));
  dims.erase(dims.begin() + a);
  return dims;
}

}  // namespace

void importIf(ImporterContext& ctx) {
  Subgraph thenGraph = ctx.subgraph("then_branch");
  Subgraph elseGraph = ctx.subgraph("else_branch");
  std::vector<ITensor*> inputs{ctx.requireInput(0)};
  append(inputs, thenGraph);
  append(inputs, elseGraph);
  int numOutputs = ir::asNetwork(*thenGraph.network).numOutputs();
  ctx.setOutputs(ctx.addLayer(IfParams{thenGraph.network, elseGraph.network}, inputs, numOutputs));
}

void importLoop(ImporterContext& ctx) {
  int numCarried = ctx.numInputs() - 2;
  if (numCarried < 0) ctx.fail(ErrorCode::kInvalidModel, "needs the inputs M and cond (either may be empty)");
  std::vector<TensorDesc> hints{{DataType::kInt64, {}}, {DataType::kBool, {}}};
  std::vector<ITensor*> inputs{ctx.input(0), ctx.input(1)};
  for (int i = 0; i < numCarried; ++i) {
    inputs.push_back(ctx.requireInput(2 + i));
    hints.push_back(descOf(inputs.back()));
  }
  Subgraph body = ctx.subgraph("body", hints);
  append(inputs, body);
  int numOutputs = ir::asNetwork(*body.network).numOutputs() - 1;
  ctx.setOutputs(ctx.addLayer(LoopParams{body.network, numCarried}, inputs, numOutputs));
}

std::string checkControlFlow(const NodeView& n) {
  std::vector<const char*> graphs;
  if (n.opType() == "If") graphs = {"then_branch", "else_branch"};
  else graphs = {"body"};
  for (const char* name : graphs) {
    const onnx::AttributeProto* a = n.attr(name);
    if (!a || !a->has_g()) return concat("the graph attribute '", name, "' is required");
  }
  if (n.opType() == "Scan" && !n.hasAttr("num_scan_inputs")) return "attribute 'num_scan_inputs' is required";
  return "";
}

void importScan(ImporterContext& ctx) {
  ScanParams p;
  p.batched = ctx.opset() < 9;
  p.numScanInputs = ctx.attrInt("num_scan_inputs", 0);
  int first = p.batched ? 1 : 0;
  p.numStates = ctx.numInputs() - first - p.numScanInputs;
  if (p.numScanInputs < 1 || p.numStates < 0)
    ctx.fail(ErrorCode::kInvalidModel,
             concat("has ", ctx.numInputs(), " inputs but num_scan_inputs is ", p.numScanInputs));
  if (p.batched) {
    p.inputDirections = ctx.attrInts("directions");
  } else {
    p.inputAxes = ctx.attrInts("scan_input_axes");
    p.inputDirections = ctx.attrInts("scan_input_directions");
    p.outputAxes = ctx.attrInts("scan_output_axes");
    p.outputDirections = ctx.attrInts("scan_output_directions");
  }
  std::vector<ITensor*> inputs;
  if (p.batched) inputs.push_back(ctx.input(0));
  std::vector<TensorDesc> hints;
  for (int i = 0; i < p.numStates + p.numScanInputs; ++i) {
    ITensor* in = ctx.requireInput(first + i);
    inputs.push_back(in);
    TensorDesc d = descOf(in);
    bool scanned = i >= p.numStates;
    if (p.batched) {
      d.shape = withoutAxis(d.shape, 0, ctx);                  // the batch
      if (scanned) d.shape = withoutAxis(d.shape, 0, ctx);     // the sequence
    } else if (scanned) {
      size_t k = static_cast<size_t>(i - p.numStates);
      d.shape = withoutAxis(d.shape, k < p.inputAxes.size() ? p.inputAxes[k] : 0, ctx);
    }
    hints.push_back(d);
  }
  Subgraph body = ctx.subgraph("body", hints);
  p.body = body.network;
  append(inputs, body);
  ctx.setOutputs(ctx.addLayer(p, inputs, ir::asNetwork(*body.network).numOutputs()));
}

void importSequenceMap(ImporterContext& ctx) {
  std::vector<ITensor*> inputs;
  std::vector<TensorDesc> hints;
  for (int i = 0; i < ctx.numInputs(); ++i) {
    inputs.push_back(ctx.requireInput(i));
    TensorDesc d = descOf(inputs.back());
    if (d.kind == ValueKind::kSequence) d.kind = ValueKind::kTensor;  // the body sees one element
    hints.push_back(d);
  }
  Subgraph body = ctx.subgraph("body", hints);
  append(inputs, body);
  SequenceMapParams p{body.network, ctx.numInputs()};
  ctx.setOutputs(ctx.addLayer(p, inputs, ir::asNetwork(*body.network).numOutputs()));
}

std::string checkConcatFromSequence(const NodeView& n) {
  return n.hasAttr("axis") ? "" : "attribute 'axis' is required";
}

void importSequence(ImporterContext& ctx) {
  const std::string& op = ctx.opType();
  SequenceParams p;
  std::vector<ITensor*> inputs;
  for (int i = 0; i < ctx.numInputs(); ++i) inputs.push_back(ctx.input(i));
  if (op == "SequenceConstruct") p.op = SequenceOp::kConstruct;
  else if (op == "SequenceEmpty") {
    p.op = SequenceOp::kEmpty;
    p.elementType = fromOnnxType(static_cast<int32_t>(ctx.attrInt("dtype", 1)), "attribute 'dtype'");
  } else if (op == "SequenceInsert") p.op = SequenceOp::kInsert;
  else if (op == "SequenceAt") p.op = SequenceOp::kAt;
  else if (op == "SequenceErase") p.op = SequenceOp::kErase;
  else if (op == "SequenceLength") p.op = SequenceOp::kLength;
  else if (op == "SplitToSequence") {
    p.op = SequenceOp::kSplit;
    p.axis = ctx.attrInt("axis", 0);
    p.keepDims = ctx.attrInt("keepdims", 1) != 0;
  } else {
    p.op = SequenceOp::kConcat;
    p.axis = ctx.attrInt("axis", 0);
    p.newAxis = ctx.attrInt("new_axis", 0) != 0;
  }
  ctx.setOutput(0, ctx.add(p, inputs));
}

void importOptional(ImporterContext& ctx) {
  const std::string& op = ctx.opType();
  OptionalParams p;
  std::vector<ITensor*> inputs;
  if (ctx.hasInput(0)) inputs.push_back(ctx.input(0));
  if (op == "Optional") {
    p.op = OptionalOp::kConstruct;
    if (inputs.empty()) {
      const onnx::AttributeProto* type = ctx.attr("type");
      if (!type || !type->has_tp())
        ctx.fail(ErrorCode::kInvalidModel, "an Optional without input needs the attribute 'type'");
      TensorDesc d = descFromType(type->tp(), "attribute 'type'");
      p.elementType = d.type;
      p.elementKind = d.kind == ValueKind::kSequence ? ValueKind::kSequence : ValueKind::kTensor;
    }
  } else if (op == "OptionalGetElement") {
    if (inputs.empty()) ctx.fail(ErrorCode::kInvalidModel, "input 0 is required");
    p.op = OptionalOp::kGetElement;
  } else {
    p.op = OptionalOp::kHasElement;
  }
  ctx.setOutput(0, ctx.add(p, inputs));
}

}  // namespace kiln::onnx_import
