// Control flow, sequences and optionals: ONNX import of If / Loop / Scan / sequence and optional ops
// (tiny models built with the protobuf classes), the plan round trip of nested networks, and runs on
// the CPU backend with numeric checks.
#include <gtest/gtest.h>

#include <onnx/onnx.pb.h>

#include "ir/network.h"
#include "kiln/kiln.h"
#include "onnx/tensor_proto.h"
#include "plan/plan_format.h"
#include "test_helpers.h"

using namespace kiln;
using kiln::onnx_import::tensorToProto;
using kiln::testing::floats;

namespace {

void setTensorType(onnx::ValueInfoProto* vi, int elem, const Dims& dims) {
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) {
    auto* dim = shape->add_dim();
    if (d >= 0) dim->set_dim_value(d);
    else dim->set_dim_param("n");
  }
}

struct GraphBuilder {
  onnx::GraphProto* g;
  void input(const std::string& name, int elem, const Dims& dims) {
    auto* vi = g->add_input();
    vi->set_name(name);
    setTensorType(vi, elem, dims);
  }
  void untypedInput(const std::string& name) { g->add_input()->set_name(name); }
  void output(const std::string& name) { g->add_output()->set_name(name); }
  void init(const std::string& name, const HostTensor& t) { tensorToProto(t, name, g->add_initializer()); }
  onnx::NodeProto& node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(g->node_size()));
    for (auto& s : in) n->add_input(s);
    for (auto& s : out) n->add_output(s);
    return *n;
  }
};

onnx::GraphProto* graphAttr(onnx::NodeProto& node, const std::string& name) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::GRAPH);
  a->mutable_g()->set_name(name);
  return a->mutable_g();
}

void intAttr(onnx::NodeProto& node, const std::string& name, int64_t v) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

struct Model {
  onnx::ModelProto model;
  explicit Model(int64_t opset) {
    model.set_ir_version(8);
    auto* o = model.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    model.mutable_graph()->set_name("test");
  }
  GraphBuilder graph() { return {model.mutable_graph()}; }
  std::unique_ptr<NetworkDefinition> import() const {
    Builder builder;
    auto network = builder.createNetwork();
    std::string bytes = model.SerializeAsString();
    OnnxParser(*network).parse(bytes.data(), bytes.size());
    return network;
  }
};

const ir::Layer* findLayer(NetworkDefinition& net, LayerType type) {
  for (auto& l : ir::asNetwork(net).layers())
    if (l->type() == type) return l.get();
  return nullptr;
}

std::vector<float> toFloats(const HostTensor& t) {
  return std::vector<float>(t.as<float>(), t.as<float>() + t.count());
}

HostTensor boolScalar(bool v) {
  uint8_t b = v;
  return Weights::copyOf(DataType::kBool, {}, &b);
}
HostTensor int64Scalar(int64_t v) { return Weights::copyOf(DataType::kInt64, {}, &v); }

// Runs an engine on host tensors; returns every output.
std::vector<HostTensor> run(const Engine& engine, const std::vector<std::pair<std::string, HostTensor>>& inputs) {
  auto context = engine.createExecutionContext();
  for (auto& [name, value] : inputs) {
    if (engine.tensorValueKind(name) == ValueKind::kTensor) {
      context->setInputShape(name, value.shape);
      context->setTensorAddress(name, const_cast<void*>(value.data()));
    } else {
      context->setTensorAddress(name, const_cast<HostTensor*>(&value));
    }
  }
  context->execute();
  std::vector<HostTensor> outputs;
  for (int i = 0; i < engine.numIOTensors(); ++i) {
    const std::string& name = engine.ioTensorName(i);
    if (engine.tensorIOMode(name) != TensorIOMode::kOutput) continue;
    if (engine.tensorValueKind(name) != ValueKind::kTensor) {
      outputs.push_back(*static_cast<const HostTensor*>(context->tensorAddress(name)));
      continue;
    }
    outputs.push_back(Weights::copyOf(engine.tensorDataType(name), context->tensorShape(name),
                                      context->tensorAddress(name)));
  }
  return outputs;
}

// If: then = x + 1, else = x * 3; both read the outer x.
Model ifModel() {
  Model m(13);
  GraphBuilder g = m.graph();
  g.input("cond", onnx::TensorProto::BOOL, {});
  g.input("x", onnx::TensorProto::FLOAT, {3});
  g.init("one", floats({1}, {1.f}));
  g.init("three", floats({1}, {3.f}));
  auto& node = g.node("If", {"cond"}, {"y"});
  GraphBuilder thenG{graphAttr(node, "then_branch")};
  thenG.node("Add", {"x", "one"}, {"t"});
  thenG.output("t");
  GraphBuilder elseG{graphAttr(node, "else_branch")};
  elseG.node("Mul", {"x", "three"}, {"e"});
  elseG.output("e");
  g.output("y");
  return m;
}

// Loop: acc = acc + x per iteration (x from the outer scope), scan output: acc after each iteration.
Model loopModel() {
  Model m(13);
  GraphBuilder g = m.graph();
  g.input("trips", onnx::TensorProto::INT64, {});
  g.input("acc0", onnx::TensorProto::FLOAT, {2});
  g.input("x", onnx::TensorProto::FLOAT, {2});
  auto& node = g.node("Loop", {"trips", "", "acc0"}, {"acc", "history"});
  GraphBuilder body{graphAttr(node, "body")};
  body.input("i", onnx::TensorProto::INT64, {});
  body.input("c", onnx::TensorProto::BOOL, {});
  body.untypedInput("a");
  body.node("Add", {"a", "x"}, {"a2"});
  body.node("Identity", {"c"}, {"c2"});
  body.node("Identity", {"a2"}, {"scan"});
  body.output("c2");
  body.output("a2");
  body.output("scan");
  g.output("acc");
  g.output("history");
  return m;
}

// Scan (opset 9): running sum over the rows of x [T, 2]; scan output: the running sums.
Model scanModel(bool reverse) {
  Model m(11);
  GraphBuilder g = m.graph();
  g.input("init", onnx::TensorProto::FLOAT, {2});
  g.input("x", onnx::TensorProto::FLOAT, {-1, 2});
  auto& node = g.node("Scan", {"init", "x"}, {"sum", "sums"});
  intAttr(node, "num_scan_inputs", 1);
  if (reverse) {
    auto* a = node.add_attribute();
    a->set_name("scan_input_directions");
    a->set_type(onnx::AttributeProto::INTS);
    a->add_ints(1);
  }
  GraphBuilder body{graphAttr(node, "body")};
  body.input("s", onnx::TensorProto::FLOAT, {2});
  body.input("row", onnx::TensorProto::FLOAT, {2});
  body.node("Add", {"s", "row"}, {"s2"});
  body.node("Identity", {"s2"}, {"out"});
  body.output("s2");
  body.output("out");
  g.output("sum");
  g.output("sums");
  return m;
}

}  // namespace

TEST(ControlFlowImport, IfCapturesOuterTensorsAsInputs) {
  auto net = ifModel().import();
  const ir::Layer* layer = findLayer(*net, LayerType::kIf);
  ASSERT_NE(layer, nullptr);
  const auto& p = layer->as<IfParams>();
  // cond, then the then-branch's capture (x, one), then the else-branch's (x, three).
  ASSERT_EQ(layer->inputs.size(), 5u);
  EXPECT_EQ(layer->inputs[1]->name(), "x");
  EXPECT_EQ(ir::asNetwork(*p.thenBranch).numInputs(), 2);
  EXPECT_EQ(ir::asNetwork(*p.elseBranch).numLayers(), 1);
  EXPECT_EQ(layer->outputs[0]->dims(), (Dims{3}));
  EXPECT_EQ(layer->outputs[0]->type(), DataType::kFloat32);
}

TEST(ControlFlowImport, LoopInfersCarriedAndScanOutputs) {
  auto net = loopModel().import();
  const ir::Layer* layer = findLayer(*net, LayerType::kLoop);
  ASSERT_NE(layer, nullptr);
  EXPECT_EQ(layer->as<LoopParams>().numCarried, 1);
  ASSERT_EQ(layer->inputs.size(), 4u);  // trips, (no cond), acc0, captured x
  EXPECT_EQ(layer->inputs[1], nullptr);
  EXPECT_EQ(layer->outputs[0]->dims(), (Dims{2}));
  EXPECT_EQ(layer->outputs[1]->dims(), (Dims{-1, 2}));  // one row per iteration
}

TEST(ControlFlowImport, ScanTakesSlicesOfItsScanInputs) {
  auto net = scanModel(false).import();
  const ir::Layer* layer = findLayer(*net, LayerType::kScan);
  ASSERT_NE(layer, nullptr);
  EXPECT_EQ(layer->as<ScanParams>().numStates, 1);
  EXPECT_EQ(layer->as<ScanParams>().numScanInputs, 1);
  EXPECT_EQ(layer->outputs[1]->dims(), (Dims{-1, 2}));
}

TEST(ControlFlowImport, UnknownOpInsideABodyIsReported) {
  Model m = ifModel();
  auto* node = m.model.mutable_graph()->mutable_node(0);
  node->mutable_attribute(0)->mutable_g()->mutable_node(0)->set_op_type("NoSuchOp");
  try {
    m.import();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("NoSuchOp"), std::string::npos);
  }
}

TEST(ControlFlowRuntime, IfRunsTheChosenBranch) {
  auto net = ifModel().import();
  auto engine = kiln::testing::buildEngine(*net);
  HostTensor x = floats({3}, {1.f, 2.f, -4.f});
  EXPECT_EQ(toFloats(run(*engine, {{"cond", boolScalar(true)}, {"x", x}})[0]), (std::vector<float>{2.f, 3.f, -3.f}));
  EXPECT_EQ(toFloats(run(*engine, {{"cond", boolScalar(false)}, {"x", x}})[0]),
            (std::vector<float>{3.f, 6.f, -12.f}));
}

TEST(ControlFlowRuntime, LoopCarriesValuesAndStacksScanOutputs) {
  auto net = loopModel().import();
  auto engine = kiln::testing::buildEngine(*net);
  HostTensor acc0 = floats({2}, {1.f, 10.f}), x = floats({2}, {0.5f, -2.f});
  auto outs = run(*engine, {{"trips", int64Scalar(3)}, {"acc0", acc0}, {"x", x}});
  EXPECT_EQ(toFloats(outs[0]), (std::vector<float>{2.5f, 4.f}));
  EXPECT_EQ(outs[1].shape, (Dims{3, 2}));
  EXPECT_EQ(toFloats(outs[1]), (std::vector<float>{1.5f, 8.f, 2.f, 6.f, 2.5f, 4.f}));
  // Zero iterations: the carried value passes through, the scan output is empty.
  outs = run(*engine, {{"trips", int64Scalar(0)}, {"acc0", acc0}, {"x", x}});
  EXPECT_EQ(toFloats(outs[0]), (std::vector<float>{1.f, 10.f}));
  EXPECT_EQ(outs[1].shape, (Dims{0, 2}));
}

TEST(ControlFlowRuntime, ScanForwardAndReverse) {
  HostTensor init = floats({2}, {0.f, 1.f}), x = floats({3, 2}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f});
  BuilderConfig config;
  config.profile.setDimensions("x", {1, 2}, {3, 2}, {8, 2});
  auto forward = kiln::testing::buildEngine(*scanModel(false).import(), config);
  auto outs = run(*forward, {{"init", init}, {"x", x}});
  EXPECT_EQ(toFloats(outs[0]), (std::vector<float>{9.f, 13.f}));
  EXPECT_EQ(toFloats(outs[1]), (std::vector<float>{1.f, 3.f, 4.f, 7.f, 9.f, 13.f}));
  auto reverse = kiln::testing::buildEngine(*scanModel(true).import(), config);
  outs = run(*reverse, {{"init", init}, {"x", x}});
  EXPECT_EQ(toFloats(outs[0]), (std::vector<float>{9.f, 13.f}));
  EXPECT_EQ(toFloats(outs[1]), (std::vector<float>{5.f, 7.f, 8.f, 11.f, 9.f, 13.f}));
}

TEST(ControlFlowRuntime, SequenceAndOptionalOps) {
  Model m(15);
  GraphBuilder g = m.graph();
  g.input("a", onnx::TensorProto::FLOAT, {2});
  g.input("b", onnx::TensorProto::FLOAT, {3});
  g.init("zero", int64Scalar(0));
  g.init("minus1", int64Scalar(-1));
  g.node("SequenceConstruct", {"a", "b"}, {"s"});
  g.node("SequenceInsert", {"s", "b", "zero"}, {"s2"});   // b, a, b
  g.node("SequenceErase", {"s2", "minus1"}, {"s3"});      // b, a
  g.node("SequenceAt", {"s3", "minus1"}, {"last"});       // a
  g.node("SequenceLength", {"s3"}, {"n"});
  g.node("Optional", {"s3"}, {"o"});
  g.node("OptionalHasElement", {"o"}, {"has"});
  g.node("OptionalGetElement", {"o"}, {"back"});
  for (auto* name : {"last", "n", "has", "back"}) g.output(name);
  auto net = m.import();
  auto engine = kiln::testing::buildEngine(*net);
  EXPECT_EQ(engine->tensorValueKind("back"), ValueKind::kSequence);
  HostTensor a = floats({2}, {1.f, 2.f}), b = floats({3}, {7.f, 8.f, 9.f});
  auto outs = run(*engine, {{"a", a}, {"b", b}});
  EXPECT_EQ(toFloats(outs[0]), (std::vector<float>{1.f, 2.f}));
  EXPECT_EQ(outs[1].as<int64_t>()[0], 2);
  EXPECT_EQ(outs[2].as<uint8_t>()[0], 1);
  ASSERT_EQ(outs[3].kind, ValueKind::kSequence);
  ASSERT_EQ(outs[3].elements->size(), 2u);
  EXPECT_EQ(toFloats((*outs[3].elements)[0]), (std::vector<float>{7.f, 8.f, 9.f}));
}

TEST(ControlFlowRuntime, SequenceInputsAndOutputsAreBoundAsWeights) {
  Model m(17);
  GraphBuilder g = m.graph();
  onnx::ValueInfoProto element;
  setTensorType(&element, onnx::TensorProto::FLOAT, {-1});
  auto* vi = g.g->add_input();
  vi->set_name("seq");
  vi->mutable_type()->mutable_sequence_type()->mutable_elem_type()->CopyFrom(element.type());
  g.input("x", onnx::TensorProto::FLOAT, {-1});
  auto& node = g.node("SequenceMap", {"seq", "x"}, {"sums"});
  GraphBuilder body{graphAttr(node, "body")};
  body.input("e", onnx::TensorProto::FLOAT, {-1});
  body.input("v", onnx::TensorProto::FLOAT, {-1});
  body.node("Add", {"e", "v"}, {"r"});
  body.output("r");
  g.output("sums");
  BuilderConfig config;
  config.profile.setDimensions("x", {1}, {2}, {8});
  auto engine = kiln::testing::buildEngine(*m.import(), config);
  ASSERT_EQ(engine->tensorValueKind("seq"), ValueKind::kSequence);
  HostTensor seq = Weights::container(ValueKind::kSequence, DataType::kFloat32,
                                      {floats({2}, {1.f, 2.f}), floats({2}, {3.f, 4.f}), floats({2}, {5.f, 6.f})});
  auto outs = run(*engine, {{"seq", seq}, {"x", floats({2}, {10.f, 20.f})}});
  ASSERT_EQ(outs[0].elements->size(), 3u);
  EXPECT_EQ(toFloats((*outs[0].elements)[2]), (std::vector<float>{15.f, 26.f}));
}

TEST(ControlFlowPlan, NestedNetworksRoundTrip) {
  auto net = loopModel().import();
  Builder builder;
  std::vector<uint8_t> plan = builder.buildSerializedNetwork(*net, {});
  plan::PlanContents contents = plan::readPlan(plan.data(), plan.size());
  const ir::Layer* loop = nullptr;
  for (auto& l : contents.network->layers())
    if (l->type() == LayerType::kLoop) loop = l.get();
  ASSERT_NE(loop, nullptr);
  const ir::Network& body = ir::asNetwork(*loop->as<LoopParams>().body);
  EXPECT_EQ(body.numInputs(), 4);  // i, c, a, captured x
  EXPECT_EQ(body.numOutputs(), 3);
  EXPECT_EQ(body.inputs()[1]->type(), DataType::kBool);
  // Writing what was read gives the same bytes.
  EXPECT_EQ(plan::writePlan(*contents.network, contents.info), plan);
}

TEST(ControlFlowPlan, SequenceKindsRoundTrip) {
  Model m(11);
  GraphBuilder g = m.graph();
  g.input("a", onnx::TensorProto::FLOAT, {2});
  g.node("SequenceConstruct", {"a", "a"}, {"s"});
  g.node("SequenceLength", {"s"}, {"n"});
  g.output("s");
  g.output("n");
  auto net = m.import();
  std::vector<uint8_t> plan = Builder().buildSerializedNetwork(*net, {});
  plan::PlanContents contents = plan::readPlan(plan.data(), plan.size());
  EXPECT_EQ(contents.network->outputs()[0]->kind, ValueKind::kSequence);
  EXPECT_EQ(contents.network->outputs()[1]->kind, ValueKind::kTensor);
}

TEST(ControlFlowShapes, SequenceAndOptionalDescs) {
  ir::Network net;
  ITensor* a = net.addInput("a", DataType::kFloat32, {2, 3});
  ITensor* b = net.addInput("b", DataType::kFloat32, {4, 3});
  ITensor* seq = net.addLayer(SequenceParams{SequenceOp::kConstruct}, {a, b}, 1)->output(0);
  EXPECT_EQ(ir::asTensor(seq)->kind, ValueKind::kSequence);
  EXPECT_EQ(seq->dims(), (Dims{-1, 3}));  // the element dims that differ are unknown
  ITensor* at = net.addLayer(SequenceParams{SequenceOp::kAt}, {seq, net.addConstant(kiln::testing::int64s({}, {0}))}, 1)
                    ->output(0);
  EXPECT_EQ(ir::asTensor(at)->kind, ValueKind::kTensor);
  EXPECT_EQ(at->dims(), (Dims{-1, 3}));
  ITensor* length = net.addLayer(SequenceParams{SequenceOp::kLength}, {seq}, 1)->output(0);
  EXPECT_EQ(length->type(), DataType::kInt64);
  EXPECT_EQ(length->dims(), Dims{});
  ITensor* opt = net.addLayer(OptionalParams{OptionalOp::kConstruct}, {seq}, 1)->output(0);
  EXPECT_EQ(ir::asTensor(opt)->kind, ValueKind::kOptionalSequence);
  ITensor* back = net.addLayer(OptionalParams{OptionalOp::kGetElement}, {opt}, 1)->output(0);
  EXPECT_EQ(ir::asTensor(back)->kind, ValueKind::kSequence);
  OptionalParams emptyOfInts{OptionalOp::kConstruct, DataType::kInt32, ValueKind::kTensor};
  ITensor* none = net.addLayer(emptyOfInts, {}, 1)->output(0);
  EXPECT_EQ(ir::asTensor(none)->kind, ValueKind::kOptionalTensor);
  EXPECT_EQ(none->type(), DataType::kInt32);
  // Tensor layers refuse sequences; sequence layers refuse tensors and mismatched element types.
  EXPECT_THROW(net.addElementWise(seq, seq, ElementWiseOp::kAdd), Error);
  EXPECT_THROW(net.addLayer(SequenceParams{SequenceOp::kLength}, {a}, 1), Error);
  ITensor* ints = net.addInput("i", DataType::kInt32, {3});
  EXPECT_THROW(net.addLayer(SequenceParams{SequenceOp::kInsert}, {seq, ints}, 1), Error);
  EXPECT_THROW(net.addLayer(SequenceParams{SequenceOp::kConstruct}, {a, ints}, 1), Error);
}
