// The fused residual normalization and the GEMM epilogue activations on CUDA against the CPU reference:
// Layer (with and without bias) and RMS normalization of x + r, with and without the sum output, and the
// plain LayerNorm, on awkward row counts and hidden sizes (warp-per-row vector and scalar kernels, the
// block kernel above 1024) in float32, float16 and bfloat16; MatMul with ReLU / tanh GELU epilogues, with
// and without a bias, and the exact GELU refused.
#include "core/error.h"
#include "cuda/cuda_kernel_check.h"

using namespace kiln;
using namespace kiln::cuda_test;

namespace {

const int64_t kRows[] = {1, 3, 1000};
const int64_t kHidden[] = {1, 7, 768, 1023, 4096};

// float16/bfloat16: the sum is rounded identically on both sides; y differs by fp32-vs-double statistics
// and one rounding of the output.
const Tol kTol32{1e-4, 1e-4};
const Tol kTol16{1e-2, 1e-2};
const Tol kTolBf16{4e-2, 2e-2};

NormalizationParams residualNorm(NormalizationType type) {
  NormalizationParams p;
  p.type = type;
  p.axis = -1;
  p.epsilon = 1e-5f;
  p.addsResidual = true;
  return p;
}

}  // namespace

TEST(CudaNormGemmFusion, ResidualNormOnAwkwardShapes) {
  REQUIRE_GPU();
  for (DataType type : {F32, F16, BF16}) {
    const Tol tol16 = type == BF16 ? kTolBf16 : kTol16;
    for (int64_t rows : kRows) {
      for (int64_t hidden : kHidden) {
        for (NormalizationType norm : {NormalizationType::kLayer, NormalizationType::kRMS}) {
          for (bool withBias : {true, false}) {
            if (norm == NormalizationType::kRMS && withBias) continue;
            for (int outputs : {1, 2}) {
              SCOPED_TRACE(concat(dataTypeName(type), " rows ", rows, " hidden ", hidden,
                                  norm == NormalizationType::kRMS ? " RMS" : " Layer", withBias ? " bias" : "",
                                  " outputs ", outputs));
              std::vector<In> ins = {data(type, {rows, hidden}), cdata(type, {hidden}, 0.5, 1.5),
                                     withBias ? cdata(type, {hidden}, -0.5, 0.5) : none(),
                                     data(type, {rows, hidden})};
              check(residualNorm(norm), ins, outputs, kTol32, tol16);
            }
          }
        }
      }
    }
  }
}

TEST(CudaNormGemmFusion, ResidualNormOverSeveralDims) {
  REQUIRE_GPU();
  // axis 1 of [2, 3, 5, 8]: rows of 120 elements, a [3, 5, 8] scale and bias.
  NormalizationParams p = residualNorm(NormalizationType::kLayer);
  p.axis = 1;
  for (DataType type : {F32, F16}) {
    SCOPED_TRACE(dataTypeName(type));
    check(p, {data(type, {2, 3, 5, 8}), cdata(type, {3, 5, 8}, 0.5, 1.5), cdata(type, {3, 5, 8}),
              data(type, {2, 3, 5, 8})},
          2, kTol32, kTol16);
  }
}

TEST(CudaNormGemmFusion, LayerNormOnAwkwardShapes) {
  REQUIRE_GPU();
  for (DataType type : {F32, F16, BF16}) {
    const Tol tol16 = type == BF16 ? kTolBf16 : kTol16;
    for (int64_t rows : kRows) {
      for (int64_t hidden : kHidden) {
        for (NormalizationType norm : {NormalizationType::kLayer, NormalizationType::kRMS}) {
          SCOPED_TRACE(concat(dataTypeName(type), " rows ", rows, " hidden ", hidden,
                              norm == NormalizationType::kRMS ? " RMS" : " Layer"));
          NormalizationParams p;
          p.type = norm;
          p.axis = -1;
          std::vector<In> ins = {data(type, {rows, hidden}), cdata(type, {hidden}, 0.5, 1.5)};
          if (norm == NormalizationType::kLayer) ins.push_back(cdata(type, {hidden}, -0.5, 0.5));
          check(p, ins, 1, kTol32, tol16);
        }
      }
    }
  }
}

TEST(CudaNormGemmFusion, MatMulEpilogueActivations) {
  REQUIRE_GPU();
  struct Shape {
    Dims a, b;
    bool transposeB;
  };
  const Shape shapes[] = {
      {{3, 5, 7}, {7, 9}, false},       // odd dims: 4-byte alignment
      {{1, 64}, {64, 128}, false},      // one row
      {{2, 33, 64}, {96, 64}, true},    // transposed weights, a tail of rows
      {{4, 16, 48}, {4, 48, 40}, false} // a batch of both operands
  };
  for (DataType type : {F32, F16}) {
    for (const Shape& s : shapes) {
      for (MatMulActivation activation : {MatMulActivation::kRelu, MatMulActivation::kGeluTanh}) {
        for (bool withBias : {false, true}) {
          SCOPED_TRACE(concat(dataTypeName(type), " ", dimsToString(s.a), " x ", dimsToString(s.b), " activation ",
                              static_cast<int>(activation), withBias ? " bias" : ""));
          MatrixMultiplyParams p;
          p.transposeB = s.transposeB;
          p.activation = activation;
          const int64_t N = s.transposeB ? s.b[s.b.size() - 2] : s.b.back();
          std::vector<In> ins = {data(type, s.a, -1, 1), cdata(type, s.b, -0.5, 0.5)};
          if (withBias) ins.push_back(cdata(type, {N}));
          check(p, ins, 1, Tol{2e-4, 2e-4}, Tol{2e-2, 2e-2});
        }
      }
    }
  }
}

TEST(CudaNormGemmFusion, ExactGeluEpilogueIsRefused) {
  REQUIRE_GPU();
  ir::Network net;
  MatrixMultiplyParams p;
  p.activation = MatMulActivation::kGelu;
  ITensor* a = net.addInput("a", F16, {4, 8});
  ITensor* b = net.addInput("b", F16, {8, 16});
  auto* layer = static_cast<ir::Layer*>(net.addLayer(p, {a, b}, 1, "gemm_gelu"));
  EXPECT_NE(gpu()->unsupportedReason(*layer).find("erf"), std::string::npos) << gpu()->unsupportedReason(*layer);
  p.activation = MatMulActivation::kGeluTanh;
  layer->mutableParams() = p;
  EXPECT_EQ(gpu()->unsupportedReason(*layer), "");
}
