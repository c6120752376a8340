// The CPU kernel table and its tactics: every layer type has a row, tactic names are unique "cpu." names,
// effort 0 gives the preferred tactic alone, unknown tactics are refused by name; and each alternative
// tactic (oneDNN convolution and MatMul, the GEMM convolution on depthwise layers) against the preferred
// kernel on seeded random data with awkward shapes, all created by tactic name through the backend. The
// oneDNN tests are skipped when oneDNN is not built in.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <thread>

#include "backends/cpu/cpu_backend.h"
#include "backends/host_eval.h"
#include "cpu_kernels/kernel_test_buffers.h"
#include "ir/network.h"

namespace kiln::cpu {
namespace {

bool oneDnnBuiltIn() { return backendFor("cpu")->deviceSignature().find("no oneDNN") == std::string::npos; }

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Runs `kernel` with the workspace it asks for (64-byte aligned).
void executeWithWorkspace(const Kernel& kernel, KernelArgs args) {
  args.workspaceBytes = kernel.workspaceSize(args);
  std::vector<uint64_t> storage((args.workspaceBytes + 7) / 8 + 8);
  args.workspace = storage.data() + (8 - reinterpret_cast<uintptr_t>(storage.data()) % 64 / 8) % 8;
  kernel.execute(args);
}

void expectClose(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 2e-4f * std::max(1.f, std::abs(want[i]))) << what << " at " << i;
}

// ---- the table -----------------------------------------------------------------------------------------

TEST(CpuKernelTable, EveryLayerTypeHasARow) {
  std::vector<int> rows(static_cast<size_t>(LayerType::kCount), 0);
  for (const auto& row : kernelTable().rows()) ++rows.at(static_cast<size_t>(row.type));
  for (size_t t = 0; t < rows.size(); ++t)
    EXPECT_GE(rows[t], 1) << layerTypeName(static_cast<LayerType>(t)) << " has no CPU kernel row";
}

TEST(CpuKernelTable, TacticNamesAreUniqueAndStartWithCpu) {
  std::set<std::string> names;
  for (const auto& row : kernelTable().rows()) {
    std::string name = row.tactic;
    EXPECT_EQ(name.rfind("cpu.", 0), 0u) << name;
    EXPECT_TRUE(names.insert(name).second) << name << " names two rows";
    EXPECT_TRUE(row.supports != nullptr && row.create != nullptr) << name;
  }
}

// x [n, c, h, w] conv with weights [m, c / groups, k, k] (and a bias), tensors only (no values).
ir::Layer& addConv(ir::Network& net, const Dims& x, const Dims& w, const ConvolutionParams& p, bool bias = true,
                   DataType type = DataType::kFloat32) {
  std::vector<ITensor*> inputs = {net.addInput(net.uniqueName("x"), type, x), net.addInput(net.uniqueName("w"), type, w)};
  if (bias) inputs.push_back(net.addInput(net.uniqueName("b"), type, {w[0]}));
  net.addLayer(p, inputs, 1, net.uniqueName("conv"));
  return *net.layers().back();
}

TEST(CpuKernelTable, EffortZeroGivesThePreferredTacticAlone) {
  auto backend = backendFor("cpu");
  ir::Network net;
  ITensor* a = net.addInput("a", DataType::kFloat32, {2, 3});
  net.addLayer(ElementWiseParams{ElementWiseOp::kAdd}, {a, a}, 1, "add");
  const ir::Layer& add = *net.layers().back();
  EXPECT_EQ(backend->tactics(add, 0), std::vector<std::string>{"cpu.elementwise"});
  EXPECT_EQ(backend->tactics(add, kMaxBuilderEffort), std::vector<std::string>{"cpu.elementwise"});

  ConvolutionParams p;
  p.padsBegin = p.padsEnd = {1, 1};
  const ir::Layer& conv = addConv(net, {1, 8, 9, 9}, {4, 8, 3, 3}, p);
  EXPECT_EQ(backend->tactics(conv, 0), std::vector<std::string>{"cpu.conv.gemm_packed"});
  EXPECT_EQ(contains(backend->tactics(conv, 3), "cpu.conv.onednn"), oneDnnBuiltIn());
  p.groups = 8;
  const ir::Layer& depthwise = addConv(net, {1, 8, 9, 9}, {8, 1, 3, 3}, p);
  EXPECT_EQ(backend->tactics(depthwise, 0), std::vector<std::string>{"cpu.conv.direct_depthwise"});
  std::vector<std::string> all = backend->tactics(depthwise, kMaxBuilderEffort);
  ASSERT_GE(all.size(), 2u);
  EXPECT_EQ(all[1], "cpu.conv.gemm_packed");
  EXPECT_EQ(contains(all, "cpu.conv.onednn"), oneDnnBuiltIn());

  ITensor* m = net.addInput("m", DataType::kFloat32, {5, 7});
  ITensor* k = net.addInput("k", DataType::kFloat32, {7, 3});
  net.addLayer(MatrixMultiplyParams{}, {m, k}, 1, "mm");
  const ir::Layer& mm = *net.layers().back();
  EXPECT_EQ(backend->tactics(mm, 0), std::vector<std::string>{"cpu.gemm.packed"});
  EXPECT_EQ(contains(backend->tactics(mm, 3), "cpu.gemm.onednn"), oneDnnBuiltIn());
}

TEST(CpuKernelTable, KernelsAreCreatedByTacticNameAndUnknownNamesRefused) {
  auto backend = backendFor("cpu");
  ir::Network net;
  ConvolutionParams p;
  const ir::Layer& conv = addConv(net, {1, 8, 9, 9}, {4, 8, 3, 3}, p);
  EXPECT_EQ(backend->createKernel(conv, {})->name(), "cpu.conv.gemm_packed");
  EXPECT_EQ(backend->createKernel(conv, {}, "cpu.conv.gemm_packed")->name(), "cpu.conv.gemm_packed");
  auto expectRefused = [&](const std::string& tactic, const std::string& message) {
    try {
      backend->createKernel(conv, {}, tactic);
      ADD_FAILURE() << tactic << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  expectRefused("cpu.conv.winograd", "cpu.conv.winograd");
  expectRefused("cpu.gemm.packed", "cpu.gemm.packed");                   // another layer type's tactic
  expectRefused("cpu.conv.direct_depthwise", "not a depthwise convolution");  // a row that cannot run it
  if (oneDnnBuiltIn()) EXPECT_EQ(backend->createKernel(conv, {}, "cpu.conv.onednn")->name(), "cpu.conv.onednn");
}

TEST(CpuKernelTable, ShapeInputsTakeIntegersUnlessTheKernelReadsOtherValues) {
  ir::Network net;
  auto* f = net.addTensor("f", DataType::kFloat32, {4});
  auto* i = net.addTensor("i", DataType::kInt64, {1});
  auto* fs = net.addTensor("fs", DataType::kFloat32, {1});
  auto* out = net.addTensor("o", DataType::kFloat32, {-1});
  auto layerOf = [&](LayerParams params, std::vector<ir::Tensor*> inputs) {
    ir::Layer l("l", std::move(params));
    l.inputs = std::move(inputs);
    l.outputs = {out};
    return l;
  };
  EXPECT_EQ(host::unsupportedReason(layerOf(SliceParams{}, {f, i, i})), "");
  EXPECT_NE(host::unsupportedReason(layerOf(SliceParams{}, {f, fs, i})).find("float32 input 1"), std::string::npos);
  EXPECT_NE(host::unsupportedReason(layerOf(GatherParams{}, {f, fs})).find("input 1"), std::string::npos);
  EXPECT_EQ(host::unsupportedReason(layerOf(RangeParams{}, {fs, fs, fs})), "");       // float ranges
  EXPECT_EQ(host::unsupportedReason(layerOf(ResizeParams{}, {f, nullptr, fs})), "");  // float scales
}

TEST(CpuKernelTable, HostValueLayersRunOnlyThroughHostEvaluation) {
  auto backend = backendFor("cpu");
  ir::Layer ifLayer("if", IfParams{});
  EXPECT_EQ(backend->unsupportedReason(ifLayer), "");
  EXPECT_EQ(backend->tactics(ifLayer, 0), std::vector<std::string>{"cpu.host.if"});
  auto kernel = backend->createKernel(ifLayer, {});
  try {
    kernel->execute(KernelArgs{});
    ADD_FAILURE() << "a host-value kernel ran on tensor views";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
  }
}

TEST(CpuBackend, DeviceSignatureNamesCpuIsaOneDnnAndThreads) {
  std::string signature = backendFor("cpu")->deviceSignature();
  EXPECT_NE(signature.find(concat(numThreads(), " threads")), std::string::npos) << signature;
  bool isa = signature.find("avx512") != std::string::npos || signature.find("avx2") != std::string::npos ||
             signature.find("portable") != std::string::npos;
  EXPECT_TRUE(isa) << signature;
  EXPECT_NE(signature.find("oneDNN"), std::string::npos) << signature;
}

// ---- convolution tactics against the preferred kernel --------------------------------------------------

struct ConvCase {
  Dims x, w;
  ConvolutionParams params;
  bool bias = true;
};

ConvolutionParams convParams(Dims strides, Dims dilations, Dims padsBegin, Dims padsEnd, int64_t groups = 1,
                             PaddingMode mode = PaddingMode::kExplicit, float outputMin = -INFINITY,
                             float outputMax = INFINITY) {
  ConvolutionParams p;
  p.strides = std::move(strides);
  p.dilations = std::move(dilations);
  p.padsBegin = std::move(padsBegin);
  p.padsEnd = std::move(padsEnd);
  p.groups = groups;
  p.paddingMode = mode;
  p.outputMin = outputMin;
  p.outputMax = outputMax;
  return p;
}

std::vector<ConvCase> awkwardConvolutions() {
  return {
      {{2, 5, 13, 11}, {7, 5, 3, 3}, convParams({2, 1}, {1, 2}, {1, 0}, {0, 2}, 1, PaddingMode::kExplicit, -0.3f, 0.4f)},
      {{3, 6, 9, 10}, {9, 2, 3, 2}, convParams({1, 2}, {}, {2, 1}, {0, 1}, 3, PaddingMode::kExplicit, 0.f)},  // relu
      {{1, 8, 7, 7}, {8, 1, 3, 3}, convParams({}, {2, 2}, {2, 2}, {2, 2}, 8)},                                // depthwise
      {{2, 6, 11, 5}, {12, 1, 5, 3}, convParams({2, 1}, {}, {2, 1}, {1, 1}, 6), false},  // channel multiplier 2
      {{2, 16, 5, 6}, {24, 16, 1, 1}, convParams({}, {}, {}, {})},                                           // pointwise
      {{1, 16, 9, 7}, {10, 16, 1, 1}, convParams({2, 2}, {}, {}, {}), false},                                // strided 1x1
      {{1, 3, 17}, {4, 3, 5}, convParams({3}, {}, {2}, {1})},                                                // 1-D
      {{2, 2, 5, 6, 7}, {3, 2, 3, 2, 3}, convParams({1, 2, 1}, {1, 1, 2}, {1, 0, 1}, {1, 1, 0})},           // 3-D
      {{1, 4, 9, 8}, {6, 4, 4, 3}, convParams({2, 2}, {}, {}, {}, 1, PaddingMode::kSameUpper)},
      {{1, 4, 9, 8}, {6, 4, 3, 3}, convParams({2, 3}, {}, {}, {}, 1, PaddingMode::kSameLower, -1.f, 1.f)},
      {{1, 3, 8, 8}, {5, 3, 3, 3}, convParams({}, {}, {}, {}, 1, PaddingMode::kValid)},
      {{2, 64, 14, 14}, {67, 64, 3, 3}, convParams({}, {}, {1, 1}, {1, 1})},
  };
}

struct ConvValues {
  std::vector<float> x, w, b;
  HostTensor weights, bias;
};

ConvValues convValues(const Dims& x, const Dims& w, uint32_t seed) {
  ConvValues v;
  v.x = randomFloats(static_cast<size_t>(volume(x)), seed, -1.f, 1.f);
  v.w = randomFloats(static_cast<size_t>(volume(w)), seed + 1, -1.f, 1.f);
  v.b = randomFloats(static_cast<size_t>(w[0]), seed + 2, -1.f, 1.f);
  v.weights = Weights::copyOf(DataType::kFloat32, w, v.w.data());
  v.bias = Weights::copyOf(DataType::kFloat32, {w[0]}, v.b.data());
  return v;
}

// Runs `kernel` on x of shape `xs` (its batch may differ from the layer's) and returns y.
std::vector<float> runConv(const Kernel& kernel, const ConvCase& c, const Dims& xs, const Dims& ys,
                           ConvValues& v) {
  Buf x = f32(xs, std::vector<float>(v.x.begin(), v.x.begin() + volume(xs)));
  Buf w = f32(c.w, v.w), b = f32({c.w[0]}, v.b), y = outBuf(DataType::kFloat32, ys);
  executeWithWorkspace(kernel, argsOf({&x, &w, c.bias ? &b : nullptr}, {&y}));
  return y.get<float>();
}

// `tactic` against `reference` on every case that `tactic` supports, with and without constant weights,
// and at a second batch size on the same kernel.
void compareConvolutionTactics(const std::string& tactic, const std::string& reference, bool depthwiseOnly) {
  auto backend = backendFor("cpu");
  uint32_t seed = 500;
  int compared = 0;
  for (const ConvCase& c : awkwardConvolutions()) {
    SCOPED_TRACE(concat("x ", dimsToString(c.x), " w ", dimsToString(c.w), " groups ", c.params.groups));
    ir::Network net;
    const ir::Layer& layer = addConv(net, c.x, c.w, c.params, c.bias);
    std::vector<std::string> tactics = backend->tactics(layer, kMaxBuilderEffort);
    bool depthwise = c.w[1] == 1 && c.w[0] == c.params.groups;
    if (depthwiseOnly && !depthwise) continue;
    ASSERT_TRUE(contains(tactics, tactic) && contains(tactics, reference));
    const Dims& ys = layer.outputs[0]->dims();
    Dims xs2 = c.x, ys2 = ys;  // two more images in the batch: another shape on the same kernels
    xs2[0] = ys2[0] = c.x[0] + 2;
    ConvValues v = convValues(xs2, c.w, seed += 3);
    for (bool constant : {false, true}) {
      SCOPED_TRACE(constant ? "constant weights" : "weights as an input");
      Constants constants;
      if (constant) constants = {nullptr, &v.weights, c.bias ? &v.bias : nullptr};
      auto candidate = backend->createKernel(layer, constants, tactic);
      auto preferred = backend->createKernel(layer, constants, reference);
      EXPECT_EQ(candidate->name(), tactic);
      expectClose(runConv(*candidate, c, c.x, ys, v), runConv(*preferred, c, c.x, ys, v), tactic);
      expectClose(runConv(*candidate, c, xs2, ys2, v), runConv(*preferred, c, xs2, ys2, v), tactic + ", batch + 2");
      ++compared;
    }
  }
  EXPECT_GT(compared, 0);
}

TEST(CpuTactics, GemmConvolutionMatchesDirectOnDepthwiseLayers) {
  compareConvolutionTactics("cpu.conv.gemm_packed", "cpu.conv.direct_depthwise", /*depthwiseOnly=*/true);
}

TEST(CpuTactics, OneDnnConvolutionMatchesThePreferredKernel) {
  if (!oneDnnBuiltIn()) GTEST_SKIP() << "oneDNN is not built in (KILN_HAVE_DNNL unset)";
  compareConvolutionTactics("cpu.conv.onednn", "cpu.conv.gemm_packed", /*depthwiseOnly=*/false);
}

TEST(CpuTactics, OneDnnConvolutionKernelIsSharedByThreads) {
  if (!oneDnnBuiltIn()) GTEST_SKIP() << "oneDNN is not built in (KILN_HAVE_DNNL unset)";
  auto backend = backendFor("cpu");
  ConvCase c = awkwardConvolutions()[1];
  ir::Network net;
  const ir::Layer& layer = addConv(net, c.x, c.w, c.params, c.bias);
  const Dims& ys = layer.outputs[0]->dims();
  ConvValues v = convValues({c.x[0] + 3, c.x[1], c.x[2], c.x[3]}, c.w, 77);
  Constants constants = {nullptr, &v.weights, &v.bias};
  auto shared = backend->createKernel(layer, constants, "cpu.conv.onednn");
  auto reference = backend->createKernel(layer, constants, "cpu.conv.gemm_packed");
  // Each thread runs its own batch size (its own cached primitive) several times on the one kernel.
  std::vector<std::vector<float>> got(4), want(4);
  std::vector<Dims> xs(4), yss(4);
  for (int t = 0; t < 4; ++t) {
    xs[t] = c.x;
    yss[t] = ys;
    xs[t][0] = yss[t][0] = 1 + t;
    want[t] = runConv(*reference, c, xs[t], yss[t], v);
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int run = 0; run < 5; ++run) {
        std::vector<float> y = runConv(*shared, c, xs[t], yss[t], v);
        for (size_t i = 0; i < y.size(); ++i)
          if (std::abs(y[i] - want[t][i]) > 2e-4f * std::max(1.f, std::abs(want[t][i]))) ++mismatches[t];
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(CpuTactics, OneDnnRowsRefuseWhatTheyCannotRun) {
  if (!oneDnnBuiltIn()) GTEST_SKIP() << "oneDNN is not built in (KILN_HAVE_DNNL unset)";
  auto backend = backendFor("cpu");
  ir::Network net;
  const ir::Layer& half = addConv(net, {1, 4, 6, 6}, {4, 4, 3, 3}, ConvolutionParams{}, true, DataType::kFloat16);
  EXPECT_FALSE(contains(backend->tactics(half, kMaxBuilderEffort), "cpu.conv.onednn"));
  EXPECT_TRUE(contains(backend->tactics(half, kMaxBuilderEffort), "cpu.conv.gemm_packed"));
  ITensor* a = net.addInput("a", DataType::kFloat32, {5, 7});
  ITensor* b3 = net.addInput("b3", DataType::kFloat32, {2, 7, 3});
  ITensor* b2 = net.addInput("b2", DataType::kFloat32, {5, 3});
  net.addLayer(MatrixMultiplyParams{}, {a, b3}, 1, "batched_b");
  EXPECT_FALSE(contains(backend->tactics(*net.layers().back(), kMaxBuilderEffort), "cpu.gemm.onednn"));
  net.addLayer(MatrixMultiplyParams{true, false}, {a, b2}, 1, "transposed_a");
  EXPECT_FALSE(contains(backend->tactics(*net.layers().back(), kMaxBuilderEffort), "cpu.gemm.onednn"));
  EXPECT_EQ(backend->unsupportedReason(*net.layers().back()), "");  // cpu.gemm.packed runs it
}

// ---- MatMul tactics ------------------------------------------------------------------------------------

TEST(CpuTactics, OneDnnMatMulMatchesThePreferredKernel) {
  if (!oneDnnBuiltIn()) GTEST_SKIP() << "oneDNN is not built in (KILN_HAVE_DNNL unset)";
  auto backend = backendFor("cpu");
  struct Case { Dims a, b; bool transposeB, bias; };
  std::vector<Case> cases = {{{2, 3, 7, 19}, {19, 45}, false, true}, {{1, 33}, {17, 33}, true, false},
                             {{19}, {19, 3}, false, true},         {{5, 130}, {130, 67}, false, false},
                             {{3, 1, 64}, {31, 64}, true, true},   {{0, 8}, {8, 5}, false, true}};
  uint32_t seed = 900;
  for (const Case& c : cases) {
    SCOPED_TRACE(concat(dimsToString(c.a), " x ", dimsToString(c.b), c.transposeB ? " transposed" : ""));
    const int64_t n = c.transposeB ? c.b[0] : c.b[1];
    ir::Network net;
    std::vector<ITensor*> inputs = {net.addInput("a", DataType::kFloat32, c.a), net.addInput("b", DataType::kFloat32, c.b)};
    if (c.bias) inputs.push_back(net.addInput("bias", DataType::kFloat32, {n}));
    net.addLayer(MatrixMultiplyParams{false, c.transposeB}, inputs, 1, "mm");
    const ir::Layer& layer = *net.layers().back();
    const Dims& ys = layer.outputs[0]->dims();
    Buf a = f32(c.a, randomFloats(static_cast<size_t>(volume(c.a)), seed++, -1.f, 1.f));
    Buf b = f32(c.b, randomFloats(static_cast<size_t>(volume(c.b)), seed++, -1.f, 1.f));
    Buf bias = f32({n}, randomFloats(static_cast<size_t>(n), seed++, -1.f, 1.f));
    HostTensor weights = Weights::copyOf(DataType::kFloat32, c.b, b.bytes.data());
    for (bool constant : {false, true}) {
      SCOPED_TRACE(constant ? "constant b" : "b as an input");
      Constants constants;
      if (constant) constants = {nullptr, &weights};
      Buf y1 = outBuf(DataType::kFloat32, ys), y2 = outBuf(DataType::kFloat32, ys);
      executeWithWorkspace(*backend->createKernel(layer, constants, "cpu.gemm.onednn"),
                           argsOf({&a, &b, c.bias ? &bias : nullptr}, {&y1}));
      executeWithWorkspace(*backend->createKernel(layer, constants, "cpu.gemm.packed"),
                           argsOf({&a, &b, c.bias ? &bias : nullptr}, {&y2}));
      expectClose(y1.get<float>(), y2.get<float>(), "cpu.gemm.onednn");
    }
  }
}

}  // namespace
}  // namespace kiln::cpu
