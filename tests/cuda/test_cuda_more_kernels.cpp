// CUDA Einsum, Determinant, GridSample and RoiAlign kernels against the CPU reference
// (host::evaluateLayer): seeded random data, every mode and attribute, awkward shapes (odd, prime,
// size 1, batch, empty), fp32 and fp16. Skips when no GPU is present (but always compiles).
#include "cuda/cuda_kernel_check.h"

namespace kiln {
namespace {

using namespace cuda_test;

class CudaMoreTyped : public ::testing::TestWithParam<DataType> {};
INSTANTIATE_TEST_SUITE_P(Float, CudaMoreTyped, ::testing::Values(F32, F16), [](const auto& info) {
  return std::string(dataTypeName(info.param));
});

EinsumParams einsum(const std::string& equation) {
  EinsumParams p;
  p.equation = equation;
  return p;
}

// ---- Einsum ---------------------------------------------------------------------------------------

TEST_P(CudaMoreTyped, EinsumContractions) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32{1e-4, 1e-4}, f16{3e-2, 2e-2};
  auto run = [&](const std::string& eq, std::vector<In> ins) {
    SCOPED_TRACE(eq);
    check(einsum(eq), ins, 1, f32, f16);
  };
  // matrix products: explicit, implicit, transposed operands and output
  run("ij,jk->ik", {data(t, {7, 13}), data(t, {13, 5})});
  run("ij,jk", {data(t, {7, 13}), data(t, {13, 5})});
  run("ij,kj->ki", {data(t, {6, 11}), data(t, {3, 11})});
  run("ji,jk->ki", {data(t, {11, 6}), data(t, {11, 3})});
  run(" ij , jk -> ik ", {data(t, {2, 3}), data(t, {3, 4})});
  // batched, attention-like, ellipsis (missing and size-1 batch dims broadcast)
  run("bij,bjk->bik", {data(t, {3, 7, 11}), data(t, {3, 11, 9})});
  run("bhqd,bhkd->bhqk", {data(t, {2, 3, 5, 8}), data(t, {2, 3, 7, 8})});
  run("bhqk,bhkd->bqhd", {data(t, {2, 3, 5, 7}), data(t, {2, 3, 7, 4})});
  run("...ij,...jk->...ik", {data(t, {2, 3, 4, 5}), data(t, {5, 6})});
  run("...ij,...jk->...ik", {data(t, {2, 1, 4, 5}), data(t, {3, 5, 6})});
  run("...ij,...jk", {data(t, {2, 3, 4}), data(t, {2, 4, 5})});
  run("bij,bjk->bik", {data(t, {1, 4, 3}), data(t, {5, 3, 2})});  // size-1 label broadcast
  // three and four operands, outer products, dot products
  run("ij,jk,kl->il", {data(t, {3, 4}), data(t, {4, 5}), data(t, {5, 2})});
  run("ab,bc,cd,de->ae", {data(t, {2, 3}), data(t, {3, 4}), data(t, {4, 3}), data(t, {3, 5})});
  run("i,j->ij", {data(t, {7}), data(t, {5})});
  run("i,j,k->kji", {data(t, {3}), data(t, {4}), data(t, {5})});
  run("i,i->", {data(t, {37}), data(t, {37})});
  run(",i->i", {data(t, {}), data(t, {7})});
  run("ij,jk->i", {data(t, {5, 6}), data(t, {6, 7})});  // k summed in one operand only
  // long sums over few outputs (a warp per output) and over many outputs (a thread per output)
  run("i,i->", {data(t, {1000}), data(t, {1000})});
  run("bij,bjk->bik", {data(t, {2, 5, 97}), data(t, {2, 97, 3})});
  run("ij,jk->ik", {data(t, {67, 131}), data(t, {131, 71})});
  run("ij,jk->ik", {data(t, {257, 70}), data(t, {70, 300})});
  run("ij,jk->ik", {data(t, {300, 40}), data(t, {40, 257})});
}

TEST_P(CudaMoreTyped, EinsumLayoutsDiagonalsAndReductions) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32{1e-4, 1e-4}, f16{3e-2, 2e-2};
  auto run = [&](const std::string& eq, std::vector<In> ins) {
    SCOPED_TRACE(eq);
    check(einsum(eq), ins, 1, f32, f16);
  };
  run("ij->ji", {data(t, {7, 13})});
  run("abc->cab", {data(t, {3, 5, 7})});
  run("a...b->b...a", {data(t, {2, 3, 4, 5})});
  run("abcdefgh->hgfedcba", {data(t, {2, 1, 3, 2, 1, 2, 3, 2})});
  run("ii->i", {data(t, {9, 9})});
  run("ii->", {data(t, {9, 9})});
  run("ii", {data(t, {9, 9})});
  run("iij->ji", {data(t, {4, 4, 5})});
  run("bii->bi", {data(t, {3, 6, 6})});
  run("iii->i", {data(t, {5, 5, 5})});
  run("ij->i", {data(t, {13, 17})});
  run("ij->j", {data(t, {13, 17})});
  run("ij->", {data(t, {37, 53})});
  run("...i->...", {data(t, {3, 4, 7})});
  run("ij,ij->ij", {data(t, {5, 7}), data(t, {5, 7})});
  run("ij,ij->ij", {data(t, {5, 7}), data(t, {1, 7})});
  run("ij,ij->", {data(t, {5, 7}), data(t, {5, 7})});
  run("ij,j->ij", {data(t, {5, 7}), data(t, {7})});
  run("Ab,bC", {data(t, {3, 4}), data(t, {4, 5})});  // implicit: uppercase first
  run("ba", {data(t, {3, 4})});                      // implicit: alphabetical, a transpose
  // empty outputs, empty sums (zeros), empty operands
  run("ij,jk->ik", {data(t, {0, 5}), data(t, {5, 3})});
  run("ij,jk->ik", {data(t, {4, 0}), data(t, {0, 3})});
  run("i->", {data(t, {0})});
  run("bij->bj", {data(t, {0, 3, 4})});
}

TEST(CudaMore, EinsumIntegers) {
  REQUIRE_GPU();
  Tol exact{0, 0};
  check(einsum("ij,jk->ik"), {data(I32, {5, 7}, -5, 5), data(I32, {7, 3}, -5, 5)}, 1, exact, exact);
  check(einsum("bij,bjk->bik"), {data(I64, {3, 4, 9}, -9, 9), data(I64, {3, 9, 2}, -9, 9)}, 1, exact, exact);
  check(einsum("ij->"), {data(I32, {37, 53}, -5, 5)}, 1, exact, exact);
  check(einsum("ij,jk->ik"), {data(I64, {3, 200}, -5, 5), data(I64, {200, 4}, -5, 5)}, 1, exact, exact);
  check(einsum("ii->i"), {data(I64, {6, 6}, -50, 50)}, 1, exact, exact);
  check(einsum("ij,ij->ji"), {data(I32, {4, 5}, -9, 9), data(I32, {1, 5}, -9, 9)}, 1, exact, exact);
  check(einsum("i,i->"), {data(I32, {0}), data(I32, {0})}, 1, exact, exact);
}

TEST(CudaMore, EinsumLimitsAreReported) {
  ir::Network net;
  auto layerFor = [&](const std::string& eq, std::vector<Dims> shapes, DataType type = F32) {
    std::vector<ITensor*> ins;
    for (size_t i = 0; i < shapes.size(); ++i)
      ins.push_back(net.addInput("x" + std::to_string(net.inputs().size()), type, shapes[i]));
    return static_cast<ir::Layer*>(net.addLayer(einsum(eq), ins));
  };
  EXPECT_EQ(cuda::unsupportedReason(*layerFor("ij,jk->ik", {{3, 4}, {4, 5}})), "");
  EXPECT_EQ(cuda::unsupportedReason(*layerFor("...ij,...jk->...ik", {{-1, 3, 4}, {4, 5}})), "");
  EXPECT_EQ(cuda::unsupportedReason(*layerFor("ij->", {{3, 4}}, I64)), "");
  EXPECT_NE(cuda::unsupportedReason(*layerFor("a,a,a,a,a,a,a,a,a->a", std::vector<Dims>(9, Dims{2}))), "");
  EXPECT_NE(cuda::unsupportedReason(*layerFor("abcdef,ghijkl,mnopqr->", std::vector<Dims>(3, Dims(6, 1)))), "");
  EXPECT_NE(cuda::unsupportedReason(*layerFor("ij->ji", {{3, 4}}, DataType::kFloat64)), "");
}

// ---- Determinant ----------------------------------------------------------------------------------

TEST_P(CudaMoreTyped, Determinant) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32{1e-5, 1e-4}, f16{2e-2, 2e-2};
  DeterminantParams p;
  for (Dims shape : {Dims{1, 1}, Dims{2, 2}, Dims{3, 3}, Dims{5, 4, 4}, Dims{2, 3, 7, 7}, Dims{8, 8}, Dims{9, 9},
                     Dims{2, 13, 13}, Dims{1000, 3, 3}, Dims{3, 1, 2, 2}}) {
    SCOPED_TRACE(dimsToString(shape));
    check(p, {data(t, shape, -1, 1)}, 1, f32, f16);
  }
  if (t == F32) check(p, {data(t, {3, 40, 40}, -1, 1)}, 1, f32, f16);  // (overflows float16)
  // exact values: singular (dependent rows, zero column), identity, a permutation (sign), diagonal
  std::vector<double> m = {1, 2, 3, 2, 4, 6, 0, 1, 1,   // rows 0 and 1 dependent
                           0, 2, 3, 0, 4, 5, 0, 1, 1,   // zero first column
                           1, 0, 0, 0, 1, 0, 0, 0, 1,   // identity
                           0, 1, 0, 0, 0, 1, 1, 0, 0,   // cyclic permutation: +1
                           0, 1, 0, 1, 0, 0, 0, 0, 1,   // swap: -1
                           2, 0, 0, 0, -3, 0, 0, 0, 0.5};
  check(p, {In{t, {6, 3, 3}, true, m}}, 1, {0, 0}, {0, 0});
  // empty: no matrices; 0x0 matrices (determinant 1)
  check(p, {data(t, {0, 3, 3})}, 1, f32, f16);
  check(p, {data(t, {4, 0, 0})}, 1, f32, f16);
}

// ---- GridSample -----------------------------------------------------------------------------------

TEST_P(CudaMoreTyped, GridSampleEveryModeAndPadding) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32{3e-5, 1e-4}, f16{2e-2, 2e-2};
  for (auto mode : {GridSampleMode::kLinear, GridSampleMode::kNearest, GridSampleMode::kCubic})
    for (auto padding : {GridSamplePadding::kZeros, GridSamplePadding::kBorder, GridSamplePadding::kReflection})
      for (bool align : {false, true}) {
        GridSampleParams p;
        p.mode = mode;
        p.padding = padding;
        p.alignCorners = align;
        SCOPED_TRACE(testing::Message() << "mode " << static_cast<int>(mode) << " padding "
                                        << static_cast<int>(padding) << " align " << align);
        // 2-D (grid partly outside), 1-D, 3-D, far outside (several reflection folds), size-1 dims
        check(p, {data(t, {2, 3, 5, 7}), data(t, {2, 4, 6, 2}, -1.3, 1.3)}, 1, f32, f16);
        check(p, {data(t, {1, 2, 7}), data(t, {1, 11, 1}, -1.5, 1.5)}, 1, f32, f16);
        check(p, {data(t, {2, 2, 3, 4, 5}), data(t, {2, 3, 2, 4, 3}, -1.2, 1.2)}, 1, f32, f16);
        check(p, {data(t, {1, 3, 4, 4}), data(t, {1, 5, 3, 2}, -7, 7)}, 1, f32, f16);
        check(p, {data(t, {3, 2, 1, 5}), data(t, {3, 2, 3, 2}, -1.5, 1.5)}, 1, f32, f16);
        check(p, {data(t, {1, 1, 1, 1, 1}), data(t, {1, 2, 2, 2, 3}, -1.5, 1.5)}, 1, f32, f16);
      }
}

TEST_P(CudaMoreTyped, GridSampleExactCoordinatesAndEmpty) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32{3e-5, 1e-4}, f16{2e-2, 2e-2};
  // Grid points on pixel centers, corners, half-pixel ties (nearest rounds half to even) and bounds.
  std::vector<double> g;
  for (double v : {-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, -1.25, 1.25, 3.0})
    for (double u : {-1.0, -0.375, 0.0, 0.125, 1.0, 1.5})
      g.insert(g.end(), {u, v});
  for (auto mode : {GridSampleMode::kLinear, GridSampleMode::kNearest, GridSampleMode::kCubic})
    for (auto padding : {GridSamplePadding::kZeros, GridSamplePadding::kBorder, GridSamplePadding::kReflection})
      for (bool align : {false, true}) {
        GridSampleParams p;
        p.mode = mode;
        p.padding = padding;
        p.alignCorners = align;
        check(p, {data(t, {1, 2, 4, 8}), In{t, {1, 12, 6, 2}, true, g}}, 1, f32, f16);
      }
  GridSampleParams p;
  check(p, {data(t, {0, 3, 4, 4}), data(t, {0, 2, 2, 2})}, 1, f32, f16);
  check(p, {data(t, {2, 0, 4, 4}), data(t, {2, 2, 2, 2})}, 1, f32, f16);
  check(p, {data(t, {2, 3, 4, 4}), data(t, {2, 0, 2, 2})}, 1, f32, f16);
}

TEST(CudaMore, GridSampleMixedGridType) {
  REQUIRE_GPU();
  GridSampleParams p;
  p.mode = GridSampleMode::kCubic;
  p.padding = GridSamplePadding::kReflection;
  check(p, {data(F32, {2, 3, 6, 5}), data(F16, {2, 4, 3, 2}, -1.2, 1.2)}, 1, {3e-5, 1e-4}, {3e-5, 1e-4});
  check(p, {data(F16, {2, 3, 6, 5}), data(F32, {2, 4, 3, 2}, -1.2, 1.2)});
}

// ---- RoiAlign -------------------------------------------------------------------------------------

TEST_P(CudaMoreTyped, RoiAlignEveryMode) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32{2e-5, 1e-4}, f16{2e-2, 2e-2};
  // (x1, y1, x2, y2) on a 10 x 12 (H x W) input: inside, the whole image, partly and fully outside,
  // reversed, tiny, with samples exactly on the bounds y = -1 and y = H (half_pixel, scale 1, 3x3
  // samples of one pixel per bin), huge.
  std::vector<double> rois = {1, 1, 6, 5,      0, 0, 11, 9,    -3, -2, 4, 3,     13, 11, 20, 16,
                              7, 8, 2, 3,      4.2, 3.3, 4.4, 3.5, 0, -1, 12, 8, 0, 2, 12, 11,
                              -20, -20, 40, 40};
  const int64_t r = static_cast<int64_t>(rois.size() / 4);
  std::vector<double> batch;
  for (int64_t i = 0; i < r; ++i) batch.push_back(static_cast<double>(i % 2));
  for (auto mode : {RoiAlignMode::kAverage, RoiAlignMode::kMax})
    for (bool halfPixel : {true, false})
      for (int64_t ratio : {0, 1, 3})
        for (float scale : {1.f, 0.5f}) {
          RoiAlignParams p;
          p.mode = mode;
          p.halfPixel = halfPixel;
          p.samplingRatio = ratio;
          p.spatialScale = scale;
          p.outputHeight = 3;
          p.outputWidth = 4;
          SCOPED_TRACE(testing::Message() << "max " << (mode == RoiAlignMode::kMax) << " halfPixel " << halfPixel
                                          << " ratio " << ratio << " scale " << scale);
          check(p, {data(t, {2, 3, 10, 12}), In{t, {r, 4}, true, rois}, ints(batch)}, 1, f32, f16);
          p.outputHeight = 1;
          p.outputWidth = 1;
          check(p, {data(t, {2, 3, 10, 12}), In{t, {r, 4}, true, rois}, ints(batch, I32)}, 1, f32, f16);
          p.outputHeight = 7;
          p.outputWidth = 5;
          // random ROIs and batch indices, an odd number of channels
          check(p, {data(t, {3, 5, 9, 13}), data(t, {11, 4}, -2, 14), data(I64, {11}, 0, 3)}, 1, f32, f16);
        }
}

TEST_P(CudaMoreTyped, RoiAlignShapes) {
  REQUIRE_GPU();
  DataType t = GetParam();
  Tol f32{2e-5, 1e-4}, f16{2e-2, 2e-2};
  RoiAlignParams p;
  p.outputHeight = 2;
  p.outputWidth = 3;
  // a 1x1 input, a single row, many ROIs on one image, no ROIs, no channels
  check(p, {data(t, {1, 2, 1, 1}), data(t, {5, 4}, -1, 2), data(I64, {5}, 0, 1)}, 1, f32, f16);
  check(p, {data(t, {1, 3, 1, 17}), data(t, {6, 4}, -1, 18), data(I32, {6}, 0, 1)}, 1, f32, f16);
  check(p, {data(t, {1, 4, 31, 29}), data(t, {101, 4}, 0, 30), data(I64, {101}, 0, 1)}, 1, f32, f16);
  check(p, {data(t, {2, 3, 8, 8}), data(t, {0, 4}), data(I64, {0})}, 1, f32, f16);
  check(p, {data(t, {2, 0, 8, 8}), data(t, {3, 4}, 0, 8), data(I64, {3}, 0, 2)}, 1, f32, f16);
}

TEST(CudaMore, RoiAlignMixedRoiType) {
  REQUIRE_GPU();
  RoiAlignParams p;
  p.outputHeight = 3;
  p.outputWidth = 2;
  p.mode = RoiAlignMode::kMax;
  check(p, {data(F32, {2, 3, 9, 7}), data(F16, {5, 4}, -1, 9), data(I64, {5}, 0, 2)}, 1, {2e-5, 1e-4},
        {2e-5, 1e-4});
  check(p, {data(F16, {2, 3, 9, 7}), data(F32, {5, 4}, -1, 9), data(I32, {5}, 0, 2)});
}

}  // namespace
}  // namespace kiln
