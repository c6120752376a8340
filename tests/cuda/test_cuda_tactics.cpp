// The CUDA kernel table and its tactics: row names, the reasons of the layer types without a kernel, the
// candidates by builder effort, kernels created by tactic name, and the cuBLASLt heuristic-rank and cuDNN
// algorithm tactics against the CPU reference on awkward shapes. The CudaKernelTable tests need no GPU;
// the others skip without one.
#include <set>

#include "backends/cuda/kernels/cublaslt_gemm.h"
#include "backends/cuda/kernels/kernels.h"
#include "cuda/cuda_kernel_check.h"

namespace kiln {
namespace {

using namespace cuda_test;

// A layer reading network inputs of the given types and dims (-1: dynamic).
ir::Layer* addLayer(ir::Network& net, const LayerParams& params, const std::vector<std::pair<DataType, Dims>>& inputs,
                    int numOutputs = 1) {
  std::vector<ITensor*> tensors;
  for (const auto& [type, dims] : inputs)
    tensors.push_back(net.addInput(concat("in", tensors.size(), "_", net.numLayers()), type, dims));
  return static_cast<ir::Layer*>(net.addLayer(params, tensors, numOutputs));
}

ConvolutionParams conv3x3() {
  ConvolutionParams p;
  p.padsBegin = {1, 1};
  p.padsEnd = {1, 1};
  return p;
}

const std::vector<std::string> kForwardAlgorithms = {"implicit_gemm", "implicit_precomp_gemm", "gemm", "direct",
                                                     "fft", "fft_tiling", "winograd", "winograd_nonfused"};
const std::vector<std::string> kBackwardDataAlgorithms = {"algo0", "algo1", "fft", "fft_tiling", "winograd",
                                                          "winograd_nonfused"};

// ---- the table (no GPU) -------------------------------------------------------------------------------

TEST(CudaKernelTable, RowTacticsAreUniqueAndNamedCuda) {
  std::set<std::string> seen;
  for (const auto& row : cuda::kernelTable().rows()) {
    std::string tactic = row.tactic;
    EXPECT_EQ(tactic.rfind("cuda.", 0), 0u) << tactic;
    EXPECT_TRUE(seen.insert(tactic).second) << "two rows named " << tactic;
    EXPECT_NE(row.supports, nullptr) << tactic;
    EXPECT_NE(row.create, nullptr) << tactic;
  }
}

// Every layer type has kernel rows or a stated reason for having none, never both.
TEST(CudaKernelTable, EveryLayerTypeHasRowsOrAReason) {
  for (int i = 0; i < static_cast<int>(LayerType::kCount); ++i) {
    auto type = static_cast<LayerType>(i);
    bool rows = false;
    for (const auto& row : cuda::kernelTable().rows()) rows = rows || row.type == type;
    const char* reason = cuda::noKernelReason(type);
    EXPECT_NE(rows, reason != nullptr) << layerTypeName(type);
  }
}

TEST(CudaKernelTable, ReasonsOfLayersWithoutAKernel) {
  ir::Network net;
  EXPECT_EQ(cuda::unsupportedReason(*addLayer(net, NonZeroParams{}, {{F32, {3, 4}}})),
            "NonZero has a data-dependent output shape");
  EXPECT_EQ(cuda::unsupportedReason(*addLayer(net, UniqueParams{}, {{F32, {6}}}, 4)),
            "Unique has data-dependent output shapes");
  // the checks every kernel needs come first: rank, then sequences and optionals
  EXPECT_EQ(cuda::unsupportedReason(*addLayer(net, ActivationParams{}, {{F32, Dims(9, 2)}})), "rank above 8");
  ir::Layer* identity = addLayer(net, IdentityParams{}, {{F32, {2}}});
  identity->inputs[0]->kind = ValueKind::kSequence;
  EXPECT_EQ(cuda::unsupportedReason(*identity), "sequences and optionals live on the host");
  // a row's own reason
  EXPECT_EQ(cuda::unsupportedReason(*addLayer(net, SoftmaxParams{}, {{I32, {2, 3}}})),
            "no CUDA kernel for int32 (supported: float32, float16)");
}

TEST(CudaKernelTable, PreferredTacticWithoutVariantsAtEffortZero) {
  ir::Network net;
  ir::Layer* softmax = addLayer(net, SoftmaxParams{}, {{F32, {4, 7}}});
  ir::Layer* matmul = addLayer(net, MatrixMultiplyParams{}, {{F16, {-1, 64}}, {F16, {64, 32}}});
  ir::Layer* conv = addLayer(net, conv3x3(), {{F32, {-1, 3, 9, 9}}, {F32, {8, 3, 3, 3}}});
  EXPECT_EQ(cuda::kernelTable().tactics(*softmax, 0), std::vector<std::string>{"cuda.softmax.row"});
  EXPECT_EQ(cuda::kernelTable().tactics(*matmul, 0), std::vector<std::string>{"cuda.gemm.cublaslt"});
  EXPECT_EQ(cuda::kernelTable().tactics(*conv, 0), std::vector<std::string>{"cuda.conv.cudnn"});
  // the other layer types keep one row at every effort
  EXPECT_EQ(cuda::kernelTable().tactics(*softmax, kMaxBuilderEffort), std::vector<std::string>{"cuda.softmax.row"});
}

TEST(CudaKernelTable, CublasLtVariantsDoubleWithEffort) {
  ir::Network net;
  ir::Layer* matmul = addLayer(net, MatrixMultiplyParams{}, {{F32, {5, 7}}, {F32, {7, 3}}});
  for (int effort = 1; effort <= kMaxBuilderEffort; ++effort) {
    std::vector<std::string> variants = cuda::cublasLtHeuristicVariants(*matmul, effort);
    if (effort < cuda::kFirstCublasLtVariantEffort) {
      EXPECT_TRUE(variants.empty()) << "effort " << effort;
      continue;
    }
    ASSERT_EQ(variants.size(), size_t(1) << effort) << "effort " << effort;
    for (size_t k = 0; k < variants.size(); ++k) EXPECT_EQ(variants[k], concat("heur", k + 1));
  }
  EXPECT_EQ(cuda::cublasLtHeuristicRank(*matmul, TacticChoice{"cuda.gemm.cublaslt", ""}), 0);
  EXPECT_EQ(cuda::cublasLtHeuristicRank(*matmul, TacticChoice{"cuda.gemm.cublaslt.heur7", "heur7"}), 7);
  EXPECT_EQ(cuda::cublasLtHeuristicRank(*matmul, TacticChoice{"cuda.gemm.cublaslt.heur32", "heur32"}), 32);
  for (const char* bad : {"heur0", "heur33", "heur07", "heur", "heurx", "algo3", "heur1x"})
    EXPECT_THROW(cuda::cublasLtHeuristicRank(*matmul, TacticChoice{concat("cuda.gemm.cublaslt.", bad), bad}), Error)
        << bad;
}

// With a dynamic build-time dim the cuDNN variants are the fixed order, capped by effort (asks no device).
TEST(CudaKernelTable, CudnnVariantsOfADynamicShape) {
  ir::Network net;
  ir::Layer* conv = addLayer(net, conv3x3(), {{F32, {-1, 3, 9, 9}}, {F32, {8, 3, 3, 3}}});
  DeconvolutionParams dp;
  dp.strides = {2, 2};
  ir::Layer* deconv = addLayer(net, dp, {{F16, {-1, 4, 5, 6}}, {F16, {4, 3, 3, 3}}});
  const size_t expected[] = {0, 2, 3, 4, 8, 8};
  for (int effort = 1; effort <= kMaxBuilderEffort; ++effort) {
    std::vector<std::string> forward = cuda::convolutionAlgorithmVariants(*conv, effort);
    EXPECT_EQ(forward.size(), expected[effort]) << "effort " << effort;
    for (const std::string& name : forward)
      EXPECT_NE(std::find(kForwardAlgorithms.begin(), kForwardAlgorithms.end(), name), kForwardAlgorithms.end()) << name;
    std::vector<std::string> backward = cuda::deconvolutionAlgorithmVariants(*deconv, effort);
    EXPECT_EQ(backward.size(), std::min<size_t>(expected[effort], kBackwardDataAlgorithms.size())) << "effort " << effort;
    for (const std::string& name : backward)
      EXPECT_NE(std::find(kBackwardDataAlgorithms.begin(), kBackwardDataAlgorithms.end(), name),
                kBackwardDataAlgorithms.end())
          << name;
  }
  EXPECT_EQ(cuda::kernelTable().tactics(*conv, 3),
            (std::vector<std::string>{"cuda.conv.cudnn", "cuda.conv.cudnn.implicit_precomp_gemm",
                                      "cuda.conv.cudnn.implicit_gemm", "cuda.conv.cudnn.winograd_nonfused",
                                      "cuda.conv.cudnn.fft_tiling"}));
  std::vector<std::string> all = cuda::convolutionAlgorithmVariants(*conv, kMaxBuilderEffort);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()),
            std::set<std::string>(kForwardAlgorithms.begin(), kForwardAlgorithms.end()));
}

// ---- the backend's tactics (GPU) ----------------------------------------------------------------------

TEST(CudaTactics, DeviceSignatureNamesTheDeviceAndLibraries) {
  REQUIRE_GPU();
  std::string signature = gpu()->deviceSignature();
  std::cout << "device signature: " << signature << "\n";
  for (const char* part : {"sm_", " SMs", "cuBLASLt ", "cuDNN "})
    EXPECT_NE(signature.find(part), std::string::npos) << signature;
}

TEST(CudaTactics, EffortZeroIsOneTactic) {
  REQUIRE_GPU();
  ir::Network net;
  RecurrentParams lstm;
  lstm.hiddenSize = 4;
  for (ir::Layer* layer : {addLayer(net, MatrixMultiplyParams{}, {{F16, {33, 65}}, {F16, {65, 17}}}),
                           addLayer(net, conv3x3(), {{F32, {2, 3, 9, 9}}, {F32, {8, 3, 3, 3}}}),
                           addLayer(net, conv3x3(), {{F32, {-1, 3, 9, 9}}, {F32, {8, 3, 3, 3}}}),
                           addLayer(net, SoftmaxParams{}, {{F32, {4, 7}}}),
                           addLayer(net, lstm, {{F32, {3, 2, 5}}, {F32, {1, 16, 5}}, {F32, {1, 16, 4}}}, 3)}) {
    std::vector<std::string> tactics = gpu()->tactics(*layer, 0);
    EXPECT_EQ(tactics.size(), 1u) << layer->describe();
  }
  // none for a layer the backend cannot run
  EXPECT_TRUE(gpu()->tactics(*addLayer(net, NonZeroParams{}, {{F32, {3}}}), 3).empty());
  EXPECT_THROW(gpu()->tactics(*addLayer(net, SoftmaxParams{}, {{F32, {4}}}), kMaxBuilderEffort + 1), Error);
}

TEST(CudaTactics, MatrixMultiplyAtDefaultEffort) {
  REQUIRE_GPU();
  ir::Network net;
  ir::Layer* matmul = addLayer(net, MatrixMultiplyParams{}, {{F16, {-1, 64}}, {F16, {64, 32}}});
  EXPECT_EQ(gpu()->tactics(*matmul, 3), std::vector<std::string>{"cuda.gemm.cublaslt"});
  std::vector<std::string> expected = {"cuda.gemm.cublaslt"};
  for (int k = 1; k <= 16; ++k) expected.push_back(concat("cuda.gemm.cublaslt.heur", k));
  EXPECT_EQ(gpu()->tactics(*matmul, 4), expected);
  EXPECT_EQ(gpu()->tactics(*matmul, kMaxBuilderEffort).size(), 33u);
}

// A static convolution's variants are the algorithms cuDNN can run for its shape, distinct, without the
// heuristic's own choice; each creates a kernel of that name.
TEST(CudaTactics, ConvolutionVariantsOfAStaticShape) {
  REQUIRE_GPU();
  ir::Network net;
  for (DataType t : {F32, F16}) {
    ir::Layer* conv = addLayer(net, conv3x3(), {{t, {2, 16, 14, 14}}, {t, {32, 16, 3, 3}}});
    std::vector<std::string> all = gpu()->tactics(*conv, kMaxBuilderEffort);
    ASSERT_FALSE(all.empty());
    EXPECT_EQ(all[0], "cuda.conv.cudnn");
    std::cout << dataTypeName(t) << " 3x3 convolution tactics:";
    for (const std::string& tactic : all) std::cout << " " << tactic;
    std::cout << "\n";
    EXPECT_GE(all.size(), 2u) << "cuDNN lists one runnable algorithm only for a plain 3x3 convolution";
    EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), all.size());
    for (size_t i = 1; i < all.size(); ++i) {
      EXPECT_EQ(all[i].rfind("cuda.conv.cudnn.", 0), 0u) << all[i];
      EXPECT_EQ(gpu()->createKernel(*conv, {}, all[i])->name(), all[i]);
    }
    std::vector<std::string> effort1 = gpu()->tactics(*conv, 1);
    EXPECT_LE(effort1.size(), 3u);
    EXPECT_EQ(effort1, std::vector<std::string>(all.begin(), all.begin() + effort1.size()));
  }
}

TEST(CudaTactics, UnknownTacticsAreErrors) {
  REQUIRE_GPU();
  ir::Network net;
  ir::Layer* matmul = addLayer(net, MatrixMultiplyParams{}, {{F32, {5, 7}}, {F32, {7, 3}}});
  ir::Layer* conv = addLayer(net, conv3x3(), {{F32, {1, 3, 9, 9}}, {F32, {8, 3, 3, 3}}});
  ir::Layer* int8conv = addLayer(net, conv3x3(), {{DataType::kInt8, {1, 3, 9, 9}}, {DataType::kInt8, {8, 3, 3, 3}}});
  for (auto [layer, tactic] : std::vector<std::pair<ir::Layer*, const char*>>{
           {matmul, "cuda.gemm.cublaslt.heur33"},
           {matmul, "cuda.gemm.cublaslt.fast"},
           {matmul, "cuda.gemm.other"},
           {matmul, "cuda.conv.cudnn"},
           {conv, "cuda.conv.cudnn.algo1"},
           {conv, "cuda.conv.cudnn_heuristic"},
           {int8conv, "cuda.conv.cudnn"}}) {
    try {
      gpu()->createKernel(*layer, {}, tactic);
      ADD_FAILURE() << tactic << " created a kernel";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << e.what();
      EXPECT_NE(std::string(e.what()).find(tactic), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(layer->name()), std::string::npos) << e.what();
    }
  }
}

// ---- tactics against the CPU reference (GPU) ----------------------------------------------------------

class CudaTacticTyped : public ::testing::TestWithParam<DataType> {};
INSTANTIATE_TEST_SUITE_P(Float, CudaTacticTyped, ::testing::Values(F32, F16), [](const auto& info) {
  return std::string(dataTypeName(info.param));
});

// Each cuBLASLt rank on the shapes of every MatrixMultiply path (one folded GEMM, strided batch, broadcast
// loop, transposes, bias epilogue); heur32 is past the heuristic's list for most of them (its last algorithm).
TEST_P(CudaTacticTyped, MatrixMultiplyHeuristicRanks) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32{1e-4, 1e-4}, f16{6e-2, 2e-2};
  MatrixMultiplyParams p, tb, ta;
  tb.transposeB = true;
  ta.transposeA = true;
  for (const char* rank : {"heur1", "heur2", "heur5", "heur32"}) {
    std::string tactic = concat("cuda.gemm.cublaslt.", rank);
    SCOPED_TRACE(tactic);
    checkTactic(tactic, p, {data(t, {7, 13}), data(t, {13, 5})}, 1, f32, f16);
    checkTactic(tactic, p, {data(t, {3, 37, 67}), cdata(t, {67, 129})}, 1, f32, f16);
    checkTactic(tactic, p, {data(t, {3, 7, 11}), cdata(t, {3, 11, 9}), cdata(t, {9})}, 1, f32, f16);
    checkTactic(tactic, p, {data(t, {2, 1, 5, 6}), data(t, {3, 6, 4})}, 1, f32, f16);
    checkTactic(tactic, tb, {data(t, {2, 9, 17}), data(t, {2, 5, 17}), cdata(t, {5})}, 1, f32, f16);
    checkTactic(tactic, ta, {data(t, {17, 9}), data(t, {17, 5})}, 1, f32, f16);
    checkTactic(tactic, p, {data(t, {130, 257}), cdata(t, {257, 96})}, 1, f32, f16);
  }
}

// The fixed cuDNN algorithms' fp32 tolerance: FFT and Winograd transforms round differently from direct sums.
const Tol kTransformed32{5e-4, 5e-4};

// Every fixed forward algorithm on shapes that suit some algorithms and not others (3x3 stride 1 for Winograd,
// 1x1, strided with asymmetric pads, grouped and dilated, 1-D, 3-D): where cuDNN cannot run the algorithm the
// kernel falls back to the heuristic choice, so each must match the reference.
TEST_P(CudaTacticTyped, ConvolutionEveryCudnnAlgorithm) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32 = kTransformed32, f16{5e-2, 3e-2};
  ConvolutionParams same3 = conv3x3(), pointwise, strided, grouped, conv1d, conv3d;
  same3.outputMin = 0.f;  // with the fused ReLU clamp
  strided.strides = {2, 2};
  strided.padsBegin = {0, 1};
  strided.padsEnd = {1, 0};
  grouped.groups = 3;
  grouped.dilations = {2, 2};
  grouped.padsBegin = {2, 2};
  grouped.padsEnd = {2, 2};
  conv1d.padsBegin = {2};
  conv1d.padsEnd = {2};
  conv3d.padsBegin = {1, 0, 1};
  conv3d.padsEnd = {1, 0, 1};
  for (const std::string& algorithm : kForwardAlgorithms) {
    std::string tactic = "cuda.conv.cudnn." + algorithm;
    SCOPED_TRACE(tactic);
    checkTactic(tactic, same3, {data(t, {2, 5, 13, 11}), cdata(t, {7, 5, 3, 3}), cdata(t, {7})}, 1, f32, f16);
    checkTactic(tactic, same3, {data(t, {1, 16, 17, 17}), cdata(t, {24, 16, 3, 3}), cdata(t, {24})}, 1, f32, f16);
    checkTactic(tactic, pointwise, {data(t, {3, 9, 7, 5}), cdata(t, {6, 9, 1, 1})}, 1, f32, f16);
    checkTactic(tactic, strided, {data(t, {1, 3, 15, 10}), cdata(t, {4, 3, 3, 3}), cdata(t, {4})}, 1, f32, f16);
    checkTactic(tactic, grouped, {data(t, {2, 6, 9, 9}), cdata(t, {9, 2, 3, 3})}, 1, f32, f16);
    checkTactic(tactic, conv1d, {data(t, {2, 4, 31}), cdata(t, {5, 4, 5}), cdata(t, {5})}, 1, f32, f16);
    checkTactic(tactic, conv3d, {data(t, {1, 2, 5, 6, 7}), cdata(t, {3, 2, 3, 3, 3})}, 1, f32, f16);
  }
}

TEST_P(CudaTacticTyped, DeconvolutionEveryCudnnAlgorithm) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32 = kTransformed32, f16{5e-2, 3e-2};
  DeconvolutionParams up, grouped, unit;
  up.strides = {2, 2};
  up.padsBegin = {1, 1};
  up.padsEnd = {1, 1};
  up.outputPadding = {1, 1};
  grouped.groups = 2;
  grouped.strides = {3, 1};
  unit.padsBegin = {1, 1};
  unit.padsEnd = {1, 1};
  for (const std::string& algorithm : kBackwardDataAlgorithms) {
    std::string tactic = "cuda.deconv.cudnn." + algorithm;
    SCOPED_TRACE(tactic);
    checkTactic(tactic, up, {data(t, {1, 4, 5, 6}), cdata(t, {4, 3, 3, 3}), cdata(t, {3})}, 1, f32, f16);
    checkTactic(tactic, grouped, {data(t, {2, 4, 3, 5}), cdata(t, {4, 1, 2, 3})}, 1, f32, f16);
    checkTactic(tactic, unit, {data(t, {2, 8, 11, 13}), cdata(t, {8, 6, 3, 3})}, 1, f32, f16);
  }
}

}  // namespace
}  // namespace kiln
