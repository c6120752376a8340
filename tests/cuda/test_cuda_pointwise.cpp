// cuda.pointwise.nvrtc: fused programs made by fuse_pointwise, run by the NVRTC-generated kernel, against
// the CPU reference (cpu.pointwise on the same layer) and, in float32/float16, against the per-layer CUDA
// kernels of the unfused network (which compute the same float math, so they agree to the last bit but
// for transcendental functions the compiler may inline differently). bfloat16, broadcast shapes and
// awkward sizes (1, 3, 1023, 2^20 + 5). Prints the NVRTC compile time of a kernel.
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <nvrtc.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <map>
#include <random>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/kernels/pointwise_nvrtc.h"
#include "backends/host_eval.h"
#include "builder/passes/passes.h"
#include "core/half.h"
#include "ir/network.h"

using namespace kiln;

namespace {

std::shared_ptr<Backend> gpu() {
  static std::shared_ptr<Backend> backend = cuda::cudaDeviceCount() > 0 ? cuda::makeCudaBackend(0) : nullptr;
  return backend;
}
#define REQUIRE_GPU() \
  if (!gpu()) GTEST_SKIP() << "no CUDA device"

HostTensor randomTensor(DataType type, const Dims& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-3.f, 3.f);
  const size_t n = static_cast<size_t>(volume(shape));
  switch (type) {
    case DataType::kFloat32: {
      std::vector<float> v(n);
      for (float& x : v) x = d(rng);
      return Weights::copyOf(type, shape, v.data());
    }
    case DataType::kInt64: {
      std::vector<int64_t> v(n);
      for (int64_t& x : v) x = rng() % 2;
      return Weights::copyOf(type, shape, v.data());
    }
    default: {
      std::vector<uint16_t> v(n);
      for (uint16_t& x : v) x = type == DataType::kFloat16 ? floatToHalf(d(rng)) : floatToBfloat16(d(rng));
      return Weights::copyOf(type, shape, v.data());
    }
  }
}

double at(const HostTensor& t, int64_t i) {
  switch (t.type) {
    case DataType::kFloat32: return t.as<float>()[i];
    case DataType::kFloat16: return halfToFloat(t.as<uint16_t>()[i]);
    default: return bfloat16ToFloat(t.as<uint16_t>()[i]);
  }
}

// Runs every layer of `net` with the CUDA kernels (preferred tactics), one after the other; returns the
// network's first output.
HostTensor runOnGpu(const ir::Network& net, const std::vector<HostTensor>& inputs) {
  Backend& b = *gpu();
  std::map<const ir::Tensor*, TensorView> views;
  std::vector<void*> allocations;
  auto allocate = [&](const ir::Tensor* t) {
    TensorView v;
    v.type = t->type();
    v.shape = t->dims();
    v.data = b.allocate(std::max<size_t>(static_cast<size_t>(volume(v.shape)) * dataTypeSize(v.type), 1));
    allocations.push_back(v.data);
    return v;
  };
  for (size_t i = 0; i < inputs.size(); ++i) {
    TensorView v = allocate(net.inputs()[i]);
    b.copyFromHost(v.data, inputs[i].data(), static_cast<size_t>(inputs[i].count()) * dataTypeSize(v.type), nullptr);
    views[net.inputs()[i]] = v;
  }
  for (auto& layer : net.layers()) {
    Constants constants;
    KernelArgs args;
    for (const ir::Tensor* in : layer->inputs) {
      const ir::Layer* producer = in->producerLayer;
      constants.push_back(producer && producer->type() == LayerType::kConstant
                              ? &producer->as<ConstantParams>().weights
                              : nullptr);
      args.inputs.push_back(views.at(in));
    }
    for (const ir::Tensor* out : layer->outputs) args.outputs.push_back(views[out] = allocate(out));
    auto kernel = b.createKernel(*layer, constants);
    EXPECT_EQ(kernel->workspaceSize(args), 0u) << layer->describe();
    kernel->execute(args);
  }
  b.synchronize(nullptr);
  const TensorView& out = views.at(net.outputs()[0]);
  std::vector<uint8_t> bytes(static_cast<size_t>(volume(out.shape)) * dataTypeSize(out.type));
  b.copyToHost(bytes.data(), out.data, bytes.size(), nullptr);
  b.synchronize(nullptr);
  for (void* p : allocations) b.deallocate(p);
  return Weights::copyOf(out.type, out.shape, bytes.data());
}

HostTensor runOnCpu(const ir::Network& net, const std::vector<HostTensor>& inputs) {
  std::map<const ir::Tensor*, HostTensor> values;
  for (size_t i = 0; i < inputs.size(); ++i) values[net.inputs()[i]] = inputs[i];
  for (auto& layer : net.layers()) {
    std::vector<const HostTensor*> ins;
    for (auto* in : layer->inputs) ins.push_back(&values.at(in));
    auto outs = host::evaluateLayer(*layer, ins);
    for (size_t i = 0; i < outs.size(); ++i) values[layer->outputs[i]] = outs[i];
  }
  return values.at(net.outputs()[0]);
}

void expectClose(const HostTensor& got, const HostTensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.type, want.type) << what;
  ASSERT_EQ(got.shape, want.shape) << what;
  int bad = 0;
  for (int64_t i = 0; i < want.count() && bad < 5; ++i) {
    double a = at(got, i), b = at(want, i);
    if ((std::isnan(a) && std::isnan(b)) || a == b || std::fabs(a - b) <= tol * (1 + std::fabs(b))) continue;
    ++bad;
    ADD_FAILURE() << what << " element " << i << ": got " << a << ", want " << b;
  }
}

using Make = std::function<ITensor*(ir::Network&, const std::vector<ITensor*>&)>;

// Builds the chain, fuses it into one Pointwise layer and checks the NVRTC kernel: against the CPU
// kernel of the fused layer (within `cpuTol`: the CPU's erf and exp differ from CUDA's in the last bits,
// which half rounding may amplify to one half ulp), and against the unfused per-layer CUDA kernels
// (within `gpuTol`) when `compareUnfused`.
void checkChain(const std::vector<std::pair<DataType, Dims>>& inputs, const Make& make, const std::string& what,
                double cpuTol, double gpuTol, bool compareUnfused) {
  ir::Network net;
  std::vector<ITensor*> tensors;
  std::vector<HostTensor> values;
  for (size_t i = 0; i < inputs.size(); ++i) {
    tensors.push_back(net.addInput("in" + std::to_string(i), inputs[i].first, inputs[i].second));
    values.push_back(randomTensor(inputs[i].first, inputs[i].second, static_cast<uint32_t>(11 * i + 5)));
  }
  net.markOutput(make(net, tensors));
  HostTensor unfused;
  if (compareUnfused) unfused = runOnGpu(net, values);
  std::vector<std::string> log;
  passes::PassContext context{net, log, gpu().get()};
  ASSERT_TRUE(passes::fusePointwise(context)) << what;
  net.inferShapes();
  ASSERT_EQ(net.layers().back()->type(), LayerType::kPointwise) << what;
  ASSERT_EQ(gpu()->tactics(*net.layers().back(), 0), std::vector<std::string>{"cuda.pointwise.nvrtc"});
  HostTensor fused = runOnGpu(net, values);
  expectClose(fused, runOnCpu(net, values), cpuTol, what + " (vs cpu.pointwise)");
  if (compareUnfused) expectClose(fused, unfused, gpuTol, what + " (vs the unfused CUDA kernels)");
}

ITensor* scalar(ir::Network& net, float v) { return net.addConstant(Weights::copyOf(DataType::kFloat32, {}, &v)); }

ITensor* cast(ir::Network& net, ITensor* x, DataType to) {
  CastParams p;
  p.to = to;
  return net.addLayer(p, {x})->output(0);
}

// A transformer-like chain: (a * b - c) -> GELU -> + 0.25, in the inputs' type.
ITensor* geluChain(ir::Network& net, const std::vector<ITensor*>& in) {
  ITensor* s = net.addElementWise(net.addElementWise(in[0], in[1], ElementWiseOp::kMul), in[2], ElementWiseOp::kSub);
  s = net.addActivation(s, ActivationType::kGelu);
  ITensor* quarter = scalar(net, 0.25f);
  if (in[0]->type() != DataType::kFloat32) quarter = cast(net, quarter, in[0]->type());
  return net.addElementWise(s, quarter, ElementWiseOp::kAdd);
}

}  // namespace

TEST(CudaPointwise, GeneratedSourceIsDeterministicAndCompilesForSm90) {
  // Needs NVRTC only, no device: the program of the GELU chain in float16.
  ir::Network net;
  std::vector<ITensor*> in;
  for (int i = 0; i < 3; ++i) in.push_back(net.addInput("in" + std::to_string(i), DataType::kFloat16, {4, 8}));
  net.markOutput(geluChain(net, in));
  std::vector<std::string> log;
  passes::PassContext context{net, log};
  ASSERT_TRUE(passes::fusePointwise(context));
  const ir::Layer& layer = *net.layers().back();
  ASSERT_EQ(layer.type(), LayerType::kPointwise);
  std::string source = cuda::pointwiseSource(layer.as<PointwiseParams>(), layer.numInputs());
  EXPECT_EQ(source, cuda::pointwiseSource(layer.as<PointwiseParams>(), layer.numInputs()));
  EXPECT_NE(source.find("kiln_pointwise_vec4_u32"), std::string::npos);
  auto start = std::chrono::steady_clock::now();
  nvrtcProgram program = nullptr;
  ASSERT_EQ(nvrtcCreateProgram(&program, source.c_str(), "pointwise.cu", 0, nullptr, nullptr), NVRTC_SUCCESS);
  const char* options[] = {"--gpu-architecture=sm_90", "--std=c++17"};
  nvrtcResult status = nvrtcCompileProgram(program, 2, options);
  size_t logSize = 0;
  nvrtcGetProgramLogSize(program, &logSize);
  std::string compileLog(logSize, '\0');
  nvrtcGetProgramLog(program, compileLog.data());
  EXPECT_EQ(status, NVRTC_SUCCESS) << compileLog << "\n" << source;
  size_t cubinSize = 0;
  if (status == NVRTC_SUCCESS) {
    EXPECT_EQ(nvrtcGetCUBINSize(program, &cubinSize), NVRTC_SUCCESS);
  }
  EXPECT_GT(cubinSize, 0u);
  nvrtcDestroyProgram(&program);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ pointwise ] NVRTC compile of a float16 GELU chain for sm_90: " << ms << " ms, "
            << source.size() << " bytes of source, " << cubinSize << " bytes of CUBIN\n";
}

TEST(CudaPointwise, GeluChainMatchesInEveryFloatTypeAndShape) {
  REQUIRE_GPU();
  const std::vector<std::vector<Dims>> shapes = {
      {{1}, {1}, {1}},
      {{3}, {3}, {1}},
      {{1023}, {1}, {1023}},
      {{(1 << 20) + 5}, {(1 << 20) + 5}, {1}},
      {{2, 3, 1024, 17}, {17}, {2, 1, 1024, 1}},  // row and general broadcasts
      {{4, 6, 8, 8}, {1, 6, 1, 1}, {8}},          // channel broadcast (NCHW bias), vector path
      {{4, 1, 9, 1}, {1, 6, 1, 11}, {6, 9, 1}},   // both sides broadcast
  };
  for (DataType type : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16})
    for (const auto& s : shapes) {
      std::string what = std::string(dataTypeName(type)) + " " + dimsToString(s[0]) + dimsToString(s[1]) +
                         dimsToString(s[2]);
      double cpuTol = type == DataType::kFloat32 ? 1e-5 : (type == DataType::kFloat16 ? 2e-3 : 1.6e-2);
      checkChain({{type, s[0]}, {type, s[1]}, {type, s[2]}}, geluChain, what, cpuTol, 1e-6,
                 type != DataType::kBFloat16);
    }
}

TEST(CudaPointwise, AttentionMaskChainFromInt64) {
  REQUIRE_GPU();
  for (DataType type : {DataType::kFloat32, DataType::kFloat16}) {
    checkChain({{type, {2, 4, 7, 7}}, {DataType::kInt64, {2, 1, 1, 7}}},
               [&](ir::Network& net, const std::vector<ITensor*>& in) {
                 ITensor* m = cast(net, in[1], DataType::kFloat32);
                 m = net.addElementWise(scalar(net, 1.f), m, ElementWiseOp::kSub);
                 m = net.addElementWise(m, scalar(net, -10000.f), ElementWiseOp::kMul);
                 if (type != DataType::kFloat32) m = cast(net, m, type);
                 return net.addElementWise(in[0], m, ElementWiseOp::kAdd);
               },
               std::string("mask ") + dataTypeName(type), 0, 0, true);
  }
}

TEST(CudaPointwise, EveryOpMatchesTheUnfusedKernels) {
  REQUIRE_GPU();
  for (DataType type : {DataType::kFloat32, DataType::kFloat16}) {
    const double cpuTol = type == DataType::kFloat32 ? 1e-4 : 4e-3;
    for (ElementWiseOp op : {ElementWiseOp::kAdd, ElementWiseOp::kSub, ElementWiseOp::kMul, ElementWiseOp::kDiv,
                             ElementWiseOp::kPow, ElementWiseOp::kMax, ElementWiseOp::kMin, ElementWiseOp::kMod,
                             ElementWiseOp::kFMod, ElementWiseOp::kPRelu})
      checkChain({{type, {5, 33}}, {type, {33}}},
                 [&](ir::Network& net, const std::vector<ITensor*>& in) {
                   return net.addUnary(net.addElementWise(in[0], in[1], op), UnaryOp::kNeg);
                 },
                 std::string(elementWiseOpName(op)) + " " + dataTypeName(type), cpuTol, 1e-6, true);
    for (UnaryOp op : {UnaryOp::kAbs, UnaryOp::kExp, UnaryOp::kSqrt, UnaryOp::kReciprocal, UnaryOp::kFloor,
                       UnaryOp::kRound, UnaryOp::kSin, UnaryOp::kAtan, UnaryOp::kCosh, UnaryOp::kErf, UnaryOp::kSign})
      checkChain({{type, {77}}},
                 [&](ir::Network& net, const std::vector<ITensor*>& in) {
                   return net.addUnary(net.addUnary(in[0], op), UnaryOp::kNeg);
                 },
                 std::string(unaryOpName(op)) + " " + dataTypeName(type), cpuTol, 1e-6, true);
    for (ActivationType t : {ActivationType::kRelu, ActivationType::kSigmoid, ActivationType::kTanh,
                             ActivationType::kLeakyRelu, ActivationType::kElu, ActivationType::kSelu,
                             ActivationType::kClip, ActivationType::kHardSigmoid, ActivationType::kHardSwish,
                             ActivationType::kSoftplus, ActivationType::kSoftsign, ActivationType::kThresholdedRelu,
                             ActivationType::kGelu, ActivationType::kMish, ActivationType::kCelu})
      checkChain({{type, {77}}},
                 [&](ir::Network& net, const std::vector<ITensor*>& in) {
                   return net.addUnary(net.addActivation(in[0], t, 0.7f, 1.5f), UnaryOp::kNeg);
                 },
                 std::string(activationTypeName(t)) + " " + dataTypeName(type), cpuTol, 1e-6, true);
  }
}

TEST(CudaPointwise, ReportsCompileTimeAndCachesIdenticalPrograms) {
  REQUIRE_GPU();
  ir::Network net;
  std::vector<ITensor*> in;
  for (int i = 0; i < 3; ++i) in.push_back(net.addInput("in" + std::to_string(i), DataType::kFloat16, {8, 16}));
  // Constants no other test uses, so this process has not compiled the program yet.
  ITensor* s = net.addElementWise(in[0], in[1], ElementWiseOp::kMul);
  s = net.addElementWise(s, cast(net, scalar(net, 0.123f), DataType::kFloat16), ElementWiseOp::kMul);
  s = cast(net, s, DataType::kFloat32);
  s = net.addActivation(s, ActivationType::kGelu);
  s = cast(net, s, DataType::kFloat16);
  net.markOutput(net.addElementWise(s, in[2], ElementWiseOp::kAdd));
  std::vector<std::string> log;
  passes::PassContext context{net, log, gpu().get()};
  ASSERT_TRUE(passes::fusePointwise(context));
  const ir::Layer& layer = *net.layers().back();
  Constants none(layer.inputs.size(), nullptr);
  auto t0 = std::chrono::steady_clock::now();
  auto first = gpu()->createKernel(layer, none);
  auto t1 = std::chrono::steady_clock::now();
  auto second = gpu()->createKernel(layer, none);
  auto t2 = std::chrono::steady_clock::now();
  EXPECT_EQ(first->name(), "cuda.pointwise.nvrtc");
  std::cout << "[ pointwise ] first kernel creation (NVRTC compile + module load): "
            << std::chrono::duration<double, std::milli>(t1 - t0).count()
            << " ms; the same program again (cached CUBIN): "
            << std::chrono::duration<double, std::milli>(t2 - t1).count() << " ms\n";
}
