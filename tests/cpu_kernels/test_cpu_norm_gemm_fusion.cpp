// The fused CPU kernels against their unfused layers on seeded random data with awkward shapes: the
// residual Layer/RMS normalization against Add -> Normalization (float32, float16, bfloat16; with and
// without the sum output), and MatMul with an epilogue activation against MatMul -> Activation for every
// MatMul tactic (the packed GEMM with constant or input weights, oneDNN's post-op when built in).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "backends/cpu/cpu_backend.h"
#include "backends/host_eval.h"
#include "core/half.h"
#include "ir/network.h"

namespace kiln::cpu {
namespace {

HostTensor randomTensor(DataType type, const Dims& shape, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  const int64_t n = volume(shape);
  std::vector<uint8_t> bytes(static_cast<size_t>(n) * dataTypeSize(type));
  for (int64_t i = 0; i < n; ++i) {
    float v = d(rng);
    if (type == DataType::kFloat32) std::memcpy(bytes.data() + 4 * i, &v, 4);
    else if (type == DataType::kFloat16) reinterpret_cast<uint16_t*>(bytes.data())[i] = floatToHalf(v);
    else reinterpret_cast<uint16_t*>(bytes.data())[i] = floatToBfloat16(v);
  }
  return Weights::copyOf(type, shape, bytes.data());
}

float valueAt(const HostTensor& t, int64_t i) {
  switch (t.type) {
    case DataType::kFloat16: return halfToFloat(t.as<uint16_t>()[i]);
    case DataType::kBFloat16: return bfloat16ToFloat(t.as<uint16_t>()[i]);
    default: return t.as<float>()[i];
  }
}

// Every element within atol + rtol * |want| (NaN only against NaN); reports the first few misses.
void expectNear(const HostTensor& got, const HostTensor& want, double atol, double rtol, const std::string& what) {
  ASSERT_EQ(got.shape, want.shape) << what;
  ASSERT_EQ(got.type, want.type) << what;
  int bad = 0;
  for (int64_t i = 0; i < want.count() && bad < 5; ++i) {
    const double g = valueAt(got, i), w = valueAt(want, i);
    if ((std::isnan(g) && std::isnan(w)) || std::fabs(g - w) <= atol + rtol * std::fabs(w)) continue;
    ++bad;
    ADD_FAILURE() << what << " element " << i << ": " << g << " vs " << w;
  }
}

// A layer of `params` over input tensors of the given types and shapes (nullptr entries: omitted inputs).
ir::Layer& addLayer(ir::Network& net, const LayerParams& params, const std::vector<const HostTensor*>& values,
                    int outputs = 1) {
  std::vector<ITensor*> inputs;
  for (const HostTensor* v : values)
    inputs.push_back(v ? net.addInput(net.uniqueName("in"), v->type, v->shape) : nullptr);
  net.addLayer(params, inputs, outputs, net.uniqueName("layer"));
  return *net.layers().back();
}

// ---- residual normalization ------------------------------------------------------------------------------

TEST(CpuNormGemmFusion, ResidualNormMatchesAddThenNorm) {
  const int64_t rowsList[] = {1, 3, 1000};
  const int64_t hiddenList[] = {1, 7, 768, 1023, 4096};
  uint32_t seed = 1;
  for (DataType type : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
    for (int64_t rows : rowsList) {
      for (int64_t hidden : hiddenList) {
        for (NormalizationType kind : {NormalizationType::kLayer, NormalizationType::kRMS}) {
          for (bool withBias : {true, false}) {
            if (kind == NormalizationType::kRMS && withBias) continue;
            SCOPED_TRACE(concat(dataTypeName(type), " rows ", rows, " hidden ", hidden,
                                kind == NormalizationType::kRMS ? " RMS" : " Layer", withBias ? " bias" : ""));
            HostTensor x = randomTensor(type, {rows, hidden}, seed++, -3.f, 3.f);
            HostTensor r = randomTensor(type, {rows, hidden}, seed++, -3.f, 3.f);
            HostTensor scale = randomTensor(type, {hidden}, seed++, 0.5f, 1.5f);
            HostTensor bias = randomTensor(type, {hidden}, seed++, -0.5f, 0.5f);
            NormalizationParams p;
            p.type = kind;
            p.axis = -1;
            // unfused: Add, then the normalization of the sum
            ir::Network net;
            ir::Layer& add = addLayer(net, ElementWiseParams{ElementWiseOp::kAdd}, {&x, &r});
            HostTensor sum = host::evaluateLayer(add, {&x, &r})[0];
            std::vector<const HostTensor*> normInputs = {&sum, &scale};
            if (withBias) normInputs.push_back(&bias);
            ir::Layer& norm = addLayer(net, p, normInputs);
            HostTensor y = host::evaluateLayer(norm, normInputs)[0];
            // fused, with and without the sum output: the same arithmetic, so the same bits
            p.addsResidual = true;
            std::vector<const HostTensor*> fusedInputs = {&x, &scale, withBias ? &bias : nullptr, &r};
            for (int outputs : {1, 2}) {
              ir::Layer& fused = addLayer(net, p, fusedInputs, outputs);
              std::vector<HostTensor> got = host::evaluateLayer(fused, fusedInputs);
              ASSERT_EQ(static_cast<int>(got.size()), outputs);
              expectNear(got[0], y, 0, 0, "y");
              if (outputs == 2) expectNear(got[1], sum, 0, 0, "sum");
            }
          }
        }
      }
    }
  }
}

TEST(CpuNormGemmFusion, ResidualNormRefusesAMismatchedResidual) {
  HostTensor x = randomTensor(DataType::kFloat32, {2, 8}, 1, -1.f, 1.f);
  HostTensor r = randomTensor(DataType::kFloat32, {1, 8}, 2, -1.f, 1.f);
  HostTensor scale = randomTensor(DataType::kFloat32, {8}, 3, -1.f, 1.f);
  NormalizationParams p;
  p.type = NormalizationType::kLayer;
  p.axis = -1;
  p.addsResidual = true;
  ir::Network net;
  // Shape inference refuses the broadcasting residual, naming the layer.
  std::vector<ITensor*> inputs = {net.addInput("x", DataType::kFloat32, x.shape),
                                  net.addInput("scale", DataType::kFloat32, scale.shape), nullptr,
                                  net.addInput("r", DataType::kFloat32, r.shape)};
  try {
    net.addLayer(p, inputs, 1, "fused_norm");
    FAIL() << "a [1, 8] residual for a [2, 8] x was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fused_norm"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("residual"), std::string::npos) << e.what();
  }
}

// ---- MatMul epilogue activations ---------------------------------------------------------------------------

ActivationParams activationOf(MatMulActivation a) {
  ActivationParams p;
  p.type = a == MatMulActivation::kRelu ? ActivationType::kRelu : ActivationType::kGelu;
  p.alpha = a == MatMulActivation::kGeluTanh ? 1.f : 0.f;
  return p;
}

TEST(CpuNormGemmFusion, MatMulActivationMatchesMatMulThenActivation) {
  auto backend = backendFor("cpu");
  struct Case {
    Dims a, b;
    bool transposeB;
  };
  const Case cases[] = {{{1, 7}, {7, 9}, false},         {{3, 7}, {9, 7}, true},       {{1000, 64}, {64, 33}, false},
                        {{2, 3, 768}, {768, 1023}, false}, {{1000, 1}, {1, 4096}, false}, {{3, 5, 16}, {3, 16, 7}, false}};
  uint32_t seed = 100;
  for (const Case& c : cases) {
    for (MatMulActivation activation : {MatMulActivation::kRelu, MatMulActivation::kGelu, MatMulActivation::kGeluTanh}) {
      for (bool withBias : {false, true}) {
        for (DataType type : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
          SCOPED_TRACE(concat(dimsToString(c.a), " x ", dimsToString(c.b), c.transposeB ? "^T" : "", " activation ",
                              static_cast<int>(activation), withBias ? " bias " : " ", dataTypeName(type)));
          const int64_t N = c.transposeB ? c.b[c.b.size() - 2] : c.b.back();
          HostTensor a = randomTensor(type, c.a, seed++, -1.f, 1.f);
          HostTensor b = randomTensor(type, c.b, seed++, -1.f, 1.f);
          HostTensor bias = randomTensor(type, {N}, seed++, -1.f, 1.f);
          std::vector<const HostTensor*> inputs = {&a, &b};
          if (withBias) inputs.push_back(&bias);
          MatrixMultiplyParams p;
          p.transposeB = c.transposeB;
          ir::Network net;
          HostTensor product = host::evaluateLayer(addLayer(net, p, inputs), inputs)[0];
          ir::Layer& act = addLayer(net, activationOf(activation), {&product});
          HostTensor want = host::evaluateLayer(act, {&product})[0];
          p.activation = activation;
          ir::Layer& fused = addLayer(net, p, inputs);
          // float32: tactics sum K products in other orders (oneDNN); 16-bit types: the unfused product is
          // rounded once more before the activation.
          const double tol = type == DataType::kFloat32 ? 2e-4 : (type == DataType::kFloat16 ? 4e-3 : 3e-2);
          for (const std::string& tactic : backend->tactics(fused, kMaxBuilderEffort)) {
            for (bool constantB : {false, true}) {
              SCOPED_TRACE(concat(tactic, constantB ? " constant b" : " b as an input"));
              Constants constants = {nullptr, constantB ? &b : nullptr};
              auto kernel = backend->createKernel(fused, constants, tactic);
              KernelArgs args;
              for (const HostTensor* in : inputs) {
                TensorView v;
                v.type = in->type;
                v.shape = in->shape;
                v.data = const_cast<void*>(static_cast<const void*>(in->data()));
                args.inputs.push_back(v);
              }
              HostTensor out = Weights::zeros(type, want.shape);
              TensorView y;
              y.type = type;
              y.shape = want.shape;
              y.data = const_cast<void*>(static_cast<const void*>(out.data()));
              args.outputs = {y};
              args.workspaceBytes = kernel->workspaceSize(args);
              std::vector<uint64_t> workspace(args.workspaceBytes / 8 + 1);
              args.workspace = workspace.data();
              kernel->execute(args);
              expectNear(out, want, tol, tol, tactic);
            }
          }
        }
      }
    }
  }
}

TEST(CpuNormGemmFusion, MatMulActivationNeedsFloatOperands) {
  ir::Network net;
  MatrixMultiplyParams p;
  p.activation = MatMulActivation::kRelu;
  std::vector<ITensor*> inputs = {net.addInput("a", DataType::kInt32, {2, 3}), net.addInput("b", DataType::kInt32, {3, 4})};
  EXPECT_THROW(net.addLayer(p, inputs, 1, "int_matmul"), Error);
}

}  // namespace
}  // namespace kiln::cpu
