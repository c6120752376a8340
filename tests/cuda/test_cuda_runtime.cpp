// End-to-end GPU engines through the public API: execute() with host buffers (bound and unbound
// outputs), enqueue() with device buffers, and networks with data-dependent shapes, each compared
// with the same network on the CPU backend.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <random>

#include "backends/cuda/cuda_backend.h"
#include "kiln/kiln.h"
#include "unit/test_helpers.h"

namespace kiln {
namespace {

using testing::buildEngine;

bool haveGpu() { return cuda::cudaDeviceCount() > 0; }
#define REQUIRE_GPU() \
  if (!haveGpu()) GTEST_SKIP() << "no CUDA device"

std::vector<float> randomFloats(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// y = relu(x @ W + b) with x: [batch, 5] (dynamic batch), W: [5, 7].
std::unique_ptr<NetworkDefinition> denseNetwork() {
  auto net = Builder().createNetwork();
  ITensor* x = net->addInput("x", DataType::kFloat32, {-1, 5}, {"batch"});
  ITensor* w = net->addConstant(testing::floats({5, 7}, randomFloats(35, 1)));
  ITensor* b = net->addConstant(testing::floats({1, 7}, randomFloats(7, 2)));
  ITensor* y = net->addActivation(
      net->addElementWise(net->addMatrixMultiply(x, false, w, false), b, ElementWiseOp::kAdd), ActivationType::kRelu);
  y->setName("y");
  net->markOutput(y);
  return net;
}

BuilderConfig configFor(const std::string& device) {
  BuilderConfig config;
  config.device = device;
  config.profile.setDimensions("x", {1, 5}, {3, 5}, {8, 5});
  return config;
}

std::vector<float> runOnHost(const Engine& engine, const std::vector<float>& x, int64_t batch, bool bindOutput) {
  auto context = engine.createExecutionContext();
  context->setInputShape("x", {batch, 5});
  context->setTensorAddress("x", const_cast<float*>(x.data()));
  std::vector<float> y(static_cast<size_t>(batch) * 7, -12345.f);
  context->setTensorAddress("y", bindOutput ? y.data() : nullptr);
  context->execute();
  if (!bindOutput) {
    const float* out = static_cast<const float*>(context->tensorAddress("y"));  // host memory after execute()
    y.assign(out, out + y.size());
  }
  return y;
}

void expectNear(const std::vector<float>& a, const std::vector<float>& b, float tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << "element " << i;
}

TEST(CudaRuntime, ExecuteWithHostBuffersBoundAndUnbound) {
  REQUIRE_GPU();
  auto cpuNet = denseNetwork(), gpuNet = denseNetwork();
  auto cpu = buildEngine(*cpuNet, configFor("cpu"));
  auto gpu = buildEngine(*gpuNet, configFor("cuda"));
  std::vector<float> x = randomFloats(4 * 5, 3);
  std::vector<float> expected = runOnHost(*cpu, x, 4, true);
  expectNear(runOnHost(*gpu, x, 4, true), expected, 1e-4f);
  expectNear(runOnHost(*gpu, x, 4, false), expected, 1e-4f);
}

TEST(CudaRuntime, EnqueueWithDeviceBuffers) {
  REQUIRE_GPU();
  auto cpuNet = denseNetwork(), gpuNet = denseNetwork();
  auto cpu = buildEngine(*cpuNet, configFor("cpu"));
  auto gpu = buildEngine(*gpuNet, configFor("cuda"));
  const int64_t batch = 7;
  std::vector<float> x = randomFloats(batch * 5, 4);
  std::vector<float> expected = runOnHost(*cpu, x, batch, true);

  float *dx = nullptr, *dy = nullptr;
  ASSERT_EQ(cudaMalloc(&dx, x.size() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&dy, expected.size() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dx, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  auto context = gpu->createExecutionContext();
  context->setInputShape("x", {batch, 5});
  context->setTensorAddress("x", dx);
  context->setTensorAddress("y", dy);
  context->enqueue(stream);
  std::vector<float> y(expected.size());
  ASSERT_EQ(cudaMemcpyAsync(y.data(), dy, y.size() * sizeof(float), cudaMemcpyDeviceToHost, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  expectNear(y, expected, 1e-4f);
  cudaStreamDestroy(stream);
  cudaFree(dx);
  cudaFree(dy);
}

TEST(CudaRuntime, DataDependentShapesRunOnTheHostThroughExecute) {
  REQUIRE_GPU();
  // indices = NonZero(relu(x)) for x: [2, 3]
  auto net = Builder().createNetwork();
  ITensor* x = net->addInput("x", DataType::kFloat32, {2, 3});
  ITensor* r = net->addActivation(x, ActivationType::kRelu);
  ITensor* indices = net->addLayer(NonZeroParams{}, {r})->output(0);
  indices->setName("indices");
  net->markOutput(indices);
  BuilderConfig config;
  config.device = "cuda";
  auto engine = buildEngine(*net, config);
  std::vector<float> values = {0.f, 2.f, -1.f, 3.f, 0.f, 5.f};
  auto context = engine->createExecutionContext();
  context->setTensorAddress("x", values.data());
  context->setTensorAddress("indices", nullptr);
  context->execute();
  EXPECT_EQ(context->tensorShape("indices"), (Dims{2, 3}));
  const int64_t* got = static_cast<const int64_t*>(context->tensorAddress("indices"));
  std::vector<int64_t> expected = {0, 1, 1, 1, 0, 2};  // rows, then columns of (0,1) (1,0) (1,2)
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(got[i], expected[i]) << "element " << i;
}

}  // namespace
}  // namespace kiln
