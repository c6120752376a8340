// Run-time reliability of an ExecutionContext: the one-thread guard, cancel() and setTimeLimit() (a Loop
// that would run for ever), and the plan's limits (maxTensorElements, memoryLimit) on sizes known only at
// run time (shape values, NonZero counts, setInputShape). Small ONNX models built with the protobuf classes.
#include <gtest/gtest.h>

#include <onnx/onnx.pb.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "cli.h"

#include "kiln/kiln.h"
#include "onnx/tensor_proto.h"
#include "plan/plan_format.h"
#include "test_helpers.h"

using namespace kiln;
using kiln::testing::floats;
using kiln::testing::int64s;

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

struct Graph {
  onnx::GraphProto* g;
  void input(const std::string& name, int elem, const Dims& dims) {
    auto* vi = g->add_input();
    vi->set_name(name);
    setTensorType(vi, elem, dims);
  }
  void untypedInput(const std::string& name) { g->add_input()->set_name(name); }
  void output(const std::string& name) { g->add_output()->set_name(name); }
  void init(const std::string& name, const HostTensor& t) { onnx_import::tensorToProto(t, name, g->add_initializer()); }
  onnx::NodeProto& node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(g->node_size()));
    for (auto& s : in) n->add_input(s);
    for (auto& s : out) n->add_output(s);
    return *n;
  }
};

struct Model {
  onnx::ModelProto model;
  Model() {
    model.set_ir_version(8);
    auto* o = model.add_opset_import();
    o->set_domain("");
    o->set_version(13);
    model.mutable_graph()->set_name("test");
  }
  Graph graph() { return {model.mutable_graph()}; }
  std::unique_ptr<NetworkDefinition> import() const {
    auto network = Builder().createNetwork();
    std::string bytes = model.SerializeAsString();
    OnnxParser(*network).parse(bytes.data(), bytes.size());
    return network;
  }
};

HostTensor int64Scalar(int64_t v) { return Weights::copyOf(DataType::kInt64, {}, &v); }

// acc = acc0 + trips * x, by a Loop adding x once per iteration; with `history`, a scan output stacks acc
// after each iteration (else no memory grows).
Model loopModel(bool history = false) {
  Model m;
  Graph g = m.graph();
  g.input("trips", onnx::TensorProto::INT64, {});
  g.input("acc0", onnx::TensorProto::FLOAT, {2});
  g.input("x", onnx::TensorProto::FLOAT, {2});
  auto& node = g.node("Loop", {"trips", "", "acc0"}, history ? std::vector<std::string>{"acc", "history"}
                                                              : std::vector<std::string>{"acc"});
  auto* attr = node.add_attribute();
  attr->set_name("body");
  attr->set_type(onnx::AttributeProto::GRAPH);
  attr->mutable_g()->set_name("body");
  Graph body{attr->mutable_g()};
  body.input("i", onnx::TensorProto::INT64, {});
  body.input("c", onnx::TensorProto::BOOL, {});
  body.untypedInput("a");
  body.node("Add", {"a", "x"}, {"a2"});
  body.node("Identity", {"c"}, {"c2"});
  body.output("c2");
  body.output("a2");
  g.output("acc");
  if (history) {
    body.node("Identity", {"a2"}, {"scan"});
    body.output("scan");
    g.output("history");
  }
  return m;
}

std::shared_ptr<Engine> loopEngine() { return kiln::testing::buildEngine(*loopModel().import()); }

// Inputs bound to a context for loopEngine; they must outlive the runs.
struct LoopInputs {
  HostTensor trips, acc0 = floats({2}, {1.f, 10.f}), x = floats({2}, {0.5f, -2.f});
  LoopInputs(ExecutionContext& context, int64_t tripCount) : trips(int64Scalar(tripCount)) {
    context.setTensorAddress("trips", const_cast<void*>(trips.data()));
    context.setTensorAddress("acc0", const_cast<void*>(acc0.data()));
    context.setTensorAddress("x", const_cast<void*>(x.data()));
  }
};

// The Loop's result after execute() (computed on the host: the output stays unbound).
std::vector<float> accOf(const ExecutionContext& context) {
  const auto* acc = static_cast<const float*>(context.tensorAddress("acc"));
  return {acc[0], acc[1]};
}

// The error a call throws; fails the test when it throws none.
Error errorOf(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected a kiln::Error";
  return Error(ErrorCode::kInternal, "no error");
}

constexpr int64_t kForever = int64_t{1} << 60;  // iterations no test waits for

}  // namespace

TEST(RuntimeCancel, CancelFromAnotherThreadStopsALoop) {
  auto engine = loopEngine();
  auto context = engine->createExecutionContext();
  LoopInputs inputs(*context, kForever);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    context->cancel();
  });
  Error e = errorOf([&] { context->execute(); });
  canceller.join();
  EXPECT_EQ(e.code(), ErrorCode::kCancelled);
  EXPECT_NE(std::string(e.what()).find("run cancelled"), std::string::npos) << e.what();

  // The request was consumed: a normal run afterwards gives the right result.
  LoopInputs three(*context, 3);
  context->execute();
  EXPECT_EQ(accOf(*context), (std::vector<float>{2.5f, 4.f}));
}

TEST(RuntimeCancel, TimeLimitStopsALoop) {
  auto engine = loopEngine();
  auto context = engine->createExecutionContext();
  LoopInputs inputs(*context, kForever);
  context->setTimeLimit(100);
  Error e = errorOf([&] { context->execute(); });
  EXPECT_EQ(e.code(), ErrorCode::kCancelled);
  EXPECT_NE(std::string(e.what()).find("time limit of 100 ms"), std::string::npos) << e.what();

  // A short run under a limit it cannot reach even on a loaded machine, then without one.
  context->setTimeLimit(30000);
  LoopInputs three(*context, 3);
  context->execute();
  EXPECT_EQ(accOf(*context), (std::vector<float>{2.5f, 4.f}));
  context->setTimeLimit(0);
  LoopInputs four(*context, 4);
  context->execute();
  EXPECT_EQ(accOf(*context), (std::vector<float>{3.f, 2.f}));

  EXPECT_EQ(errorOf([&] { context->setTimeLimit(-1); }).code(), ErrorCode::kInvalidArgument);
}

TEST(RuntimeCancel, CancelBeforeARunStopsTheNextRunOnly) {
  auto engine = loopEngine();
  auto context = engine->createExecutionContext();
  LoopInputs inputs(*context, 3);
  context->cancel();
  EXPECT_EQ(errorOf([&] { context->execute(); }).code(), ErrorCode::kCancelled);
  context->execute();
  EXPECT_EQ(accOf(*context), (std::vector<float>{2.5f, 4.f}));
}

// Thread A runs a Loop that ends only when cancelled; thread B calls setInputShape until the guard refuses it
// (certain: A's run does not end before B cancels it), then cancels A. A time limit ends A's run should
// the guard never fire, so the test cannot hang.
TEST(RuntimeGuard, SecondThreadDuringARunIsRefused) {
  auto engine = loopEngine();
  auto context = engine->createExecutionContext();
  LoopInputs inputs(*context, kForever);
  context->setTimeLimit(60000);
  std::atomic<bool> runEnded{false};
  std::string guardMessage;
  ErrorCode guardCode = ErrorCode::kInternal;
  std::thread other([&] {
    while (!runEnded.load()) {
      try {
        context->setInputShape("x", {2});
      } catch (const Error& e) {
        guardMessage = e.what();
        guardCode = e.code();
        context->cancel();
        return;
      }
      std::this_thread::yield();
    }
  });
  Error e = errorOf([&] { context->execute(); });
  runEnded = true;
  other.join();
  EXPECT_EQ(guardCode, ErrorCode::kInvalidArgument);
  EXPECT_NE(guardMessage.find("is used by two threads at once"), std::string::npos) << guardMessage;
  EXPECT_NE(guardMessage.find("setInputShape"), std::string::npos) << guardMessage;
  EXPECT_EQ(e.code(), ErrorCode::kCancelled);
  EXPECT_NE(std::string(e.what()).find("run cancelled"), std::string::npos) << e.what();

  // The context is usable again from any one thread.
  context->setTimeLimit(0);
  LoopInputs three(*context, 3);
  context->execute();
  EXPECT_EQ(accOf(*context), (std::vector<float>{2.5f, 4.f}));
}

// z = Relu(Expand(1.0, shape)): the shapes come from the values of input `shape`; y is an activation.
std::shared_ptr<Engine> expandEngine(const BuilderConfig& config) {
  Model m;
  Graph g = m.graph();
  g.input("shape", onnx::TensorProto::INT64, {2});
  g.init("one", floats({}, {1.f}));
  g.node("Expand", {"one", "shape"}, {"y"});
  g.node("Relu", {"y"}, {"z"});
  g.output("z");
  return kiln::testing::buildEngine(*m.import(), config);
}

TEST(RuntimeLimits, ShapeFromValuesOverMaxTensorElements) {
  BuilderConfig config;
  config.maxTensorElements = 1000;
  auto engine = expandEngine(config);
  auto context = engine->createExecutionContext();
  HostTensor shape = int64s({2}, {10, 200});
  context->setTensorAddress("shape", const_cast<void*>(shape.data()));
  Error e = errorOf([&] { context->execute(); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  std::string message = e.what();
  EXPECT_NE(message.find("'y'"), std::string::npos) << message;
  EXPECT_NE(message.find("[10,200]"), std::string::npos) << message;
  EXPECT_NE(message.find("maxTensorElements of 1000"), std::string::npos) << message;

  // Within the limit it runs; a product that overflows is refused.
  HostTensor small = int64s({2}, {10, 50});
  context->setTensorAddress("shape", const_cast<void*>(small.data()));
  context->execute();
  EXPECT_EQ(context->tensorShape("z"), (Dims{10, 50}));
  EXPECT_EQ(static_cast<const float*>(context->tensorAddress("z"))[499], 1.f);
  HostTensor huge = int64s({2}, {int64_t{1} << 40, int64_t{1} << 40});
  context->setTensorAddress("shape", const_cast<void*>(huge.data()));
  EXPECT_EQ(errorOf([&] { context->execute(); }).code(), ErrorCode::kInvalidArgument);
}

TEST(RuntimeLimits, ShapeFromValuesOverMemoryLimit) {
  // The builder cannot check memoryLimit on shapes that come from values (it refuses the limit then): a
  // plan carrying one is made by rewriting the limit in a plan.
  std::vector<uint8_t> built = expandEngine({})->serialize();
  plan::PlanContents contents = plan::readPlan(built.data(), built.size());
  contents.info.memoryLimit = 4096;
  std::vector<uint8_t> bytes = plan::writePlan(*contents.network, contents.info);
  auto engine = Runtime().deserializeEngine(bytes.data(), bytes.size());
  auto context = engine->createExecutionContext();
  HostTensor shape = int64s({2}, {100, 100});  // 40,000 bytes
  context->setTensorAddress("shape", const_cast<void*>(shape.data()));
  Error e = errorOf([&] { context->execute(); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(e.what()).find("memoryLimit of 4096 bytes"), std::string::npos) << e.what();
  HostTensor small = int64s({2}, {10, 10});
  context->setTensorAddress("shape", const_cast<void*>(small.data()));
  context->execute();
  EXPECT_EQ(context->tensorShape("z"), (Dims{10, 10}));
}

// idx = NonZero(x) [1, n]; tiled = Tile(idx, [1, 100]) [1, 100 n]: sizes known only when x's values are.
std::shared_ptr<Engine> nonZeroEngine(const BuilderConfig& base) {
  Model m;
  Graph g = m.graph();
  g.input("x", onnx::TensorProto::FLOAT, {-1});
  g.init("repeats", int64s({2}, {1, 100}));
  g.node("NonZero", {"x"}, {"idx"});
  g.node("Tile", {"idx", "repeats"}, {"tiled"});
  g.output("idx");
  g.output("tiled");
  BuilderConfig config = base;
  config.profile.setDimensions("x", {1}, {8}, {1000});
  return kiln::testing::buildEngine(*m.import(), config);
}

TEST(RuntimeLimits, DataDependentShapeOverMaxTensorElements) {
  BuilderConfig config;
  config.maxTensorElements = 10000;
  auto engine = nonZeroEngine(config);
  auto context = engine->createExecutionContext();
  std::vector<float> x(1000, 1.f);  // 1000 nonzeros: tiled would hold 100,000 elements
  context->setInputShape("x", {1000});
  context->setTensorAddress("x", x.data());
  Error e = errorOf([&] { context->execute(); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  std::string message = e.what();
  EXPECT_NE(message.find("'tiled'"), std::string::npos) << message;
  EXPECT_NE(message.find("Tile"), std::string::npos) << message;
  EXPECT_NE(message.find("[1,100000]"), std::string::npos) << message;

  std::fill(x.begin(), x.end(), 0.f);
  x[3] = x[7] = 2.f;
  context->execute();
  EXPECT_EQ(context->tensorShape("tiled"), (Dims{1, 200}));
  const auto* idx = static_cast<const int64_t*>(context->tensorAddress("idx"));
  EXPECT_EQ(idx[0], 3);
  EXPECT_EQ(idx[1], 7);
}

TEST(RuntimeLimits, DataDependentShapeOverMemoryLimit) {
  BuilderConfig config;
  config.memoryLimit = 64 * 1024;
  auto engine = nonZeroEngine(config);
  auto context = engine->createExecutionContext();
  std::vector<float> x(1000, 1.f);  // idx 8,000 bytes, tiled 800,000 bytes
  context->setInputShape("x", {1000});
  context->setTensorAddress("x", x.data());
  Error e = errorOf([&] { context->execute(); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(e.what()).find("'tiled'"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("memoryLimit of 65536 bytes"), std::string::npos) << e.what();
  std::fill(x.begin(), x.end(), 0.f);
  x[0] = 1.f;
  context->execute();
  EXPECT_EQ(context->tensorShape("tiled"), (Dims{1, 100}));
}

TEST(RuntimeLimits, LoopScanOutputStopsAtMaxTensorElements) {
  BuilderConfig config;
  config.maxTensorElements = 1000;
  auto engine = kiln::testing::buildEngine(*loopModel(/*history=*/true).import(), config);
  auto context = engine->createExecutionContext();
  LoopInputs inputs(*context, kForever);
  Error e = errorOf([&] { context->execute(); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  std::string message = e.what();
  EXPECT_NE(message.find("scan output 0 ('history') holds 1002 elements after 501 iterations"), std::string::npos)
      << message;
  LoopInputs three(*context, 3);
  context->execute();
  EXPECT_EQ(context->tensorShape("history"), (Dims{3, 2}));
}

TEST(RuntimeLimits, SetInputShapeOverflowAndNegativeDims) {
  Model m;
  Graph g = m.graph();
  g.input("x", onnx::TensorProto::FLOAT, {-1, -1});
  g.node("Relu", {"x"}, {"y"});
  g.output("y");
  BuilderConfig config;
  config.profile.setDimensions("x", {1, 1}, {2, 2}, {4, 4});
  auto engine = kiln::testing::buildEngine(*m.import(), config);
  auto context = engine->createExecutionContext();
  Error e = errorOf([&] { context->setInputShape("x", {int64_t{1} << 40, int64_t{1} << 40}); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(e.what()).find("size overflow: input 'x'"), std::string::npos) << e.what();
  e = errorOf([&] { context->setInputShape("x", {-3, 2}); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(e.what()).find("input 'x'"), std::string::npos) << e.what();
  context->setInputShape("x", {2, 3});
  EXPECT_EQ(context->tensorShape("x"), (Dims{2, 3}));
}

TEST(RuntimeLimits, PlanRecordsTheLimits) {
  BuilderConfig config;
  config.memoryLimit = 12345;
  config.maxTensorElements = 5678;
  auto engine = nonZeroEngine(config);
  std::vector<uint8_t> bytes = engine->serialize();
  plan::PlanContents contents = plan::readPlan(bytes.data(), bytes.size());
  EXPECT_EQ(contents.info.memoryLimit, 12345);
  EXPECT_EQ(contents.info.maxTensorElements, 5678);

  // Limits out of range: refused by the reader (a crafted plan) and by the builder.
  contents.info.maxTensorElements = 0;
  std::vector<uint8_t> crafted = plan::writePlan(*contents.network, contents.info);
  Error e = errorOf([&] { plan::readPlan(crafted.data(), crafted.size()); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidPlan);
  EXPECT_NE(std::string(e.what()).find("maxTensorElements 0"), std::string::npos) << e.what();
  config.maxTensorElements = -1;
  EXPECT_EQ(errorOf([&] { nonZeroEngine(config); }).code(), ErrorCode::kInvalidArgument);
}

TEST(RuntimeCancel, CliRunTimeout) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("kiln_cli_timeout_" + std::to_string(::getpid()));
  fs::create_directories(dir / "inputs");
  {
    std::ofstream model(dir / "loop.onnx", std::ios::binary);
    model << loopModel().model.SerializeAsString();
  }
  onnx_import::writeTensorFile((dir / "inputs" / "input_0.pb").string(), "trips", int64Scalar(kForever));
  onnx_import::writeTensorFile((dir / "inputs" / "input_1.pb").string(), "acc0", floats({2}, {1.f, 10.f}));
  onnx_import::writeTensorFile((dir / "inputs" / "input_2.pb").string(), "x", floats({2}, {0.5f, -2.f}));
  std::ostringstream out, err;
  int code = tools::runCli({"run", "--onnx=" + (dir / "loop.onnx").string(),
                            "--load-inputs=" + (dir / "inputs").string(), "--timeout=100", "--builder-effort=0"},
                           out, err);
  EXPECT_EQ(code, 1);
  EXPECT_NE(err.str().find("cancelled: run stopped after its time limit of 100 ms"), std::string::npos) << err.str();
  // A short loop within the limit runs.
  onnx_import::writeTensorFile((dir / "inputs" / "input_0.pb").string(), "trips", int64Scalar(3));
  std::ostringstream out2, err2;
  EXPECT_EQ(tools::runCli({"run", "--onnx=" + (dir / "loop.onnx").string(),
                           "--load-inputs=" + (dir / "inputs").string(), "--timeout=100000", "--builder-effort=0"},
                          out2, err2),
            0)
      << err2.str();
  EXPECT_EQ(tools::runCli({"run", "--onnx=" + (dir / "loop.onnx").string(),
                           "--load-inputs=" + (dir / "inputs").string(), "--timeout=0"},
                          out2, err2),
            1);
  EXPECT_NE(err2.str().find("--timeout must be"), std::string::npos) << err2.str();
  fs::remove_all(dir);
}
