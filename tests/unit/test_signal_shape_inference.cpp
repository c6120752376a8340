// Shape and type inference of the signal, text and random layers (DFT, STFT, Window, MelWeightMatrix,
// TfIdfVectorizer, Random), with known and unknown shape-input values.
#include <gtest/gtest.h>

#include <vector>

#include "ir/network.h"
#include "ir/shape_inference.h"

namespace kiln {
namespace {

Weights int64Scalar(int64_t v) { return Weights::copyOf(DataType::kInt64, {}, &v); }

std::vector<TensorDesc> infer(const LayerParams& params, const std::vector<const TensorDesc*>& inputs,
                              const ir::InputValues& values = {}) {
  ir::Layer layer("l", params);
  return ir::inferOutputs(layer, inputs, values);
}

TEST(SignalShapeInference, Dft) {
  TensorDesc x{DataType::kFloat32, {2, 10, 3, 1}}, n{DataType::kInt64, {}};
  DFTParams p;
  p.axis = 1;
  EXPECT_EQ(infer(p, {&x})[0].shape, (Dims{2, 10, 3, 2}));
  Weights twelve = int64Scalar(12);
  EXPECT_EQ(infer(p, {&x, &n}, {nullptr, &twelve})[0].shape, (Dims{2, 12, 3, 2}));
  EXPECT_EQ(infer(p, {&x, &n})[0].shape, (Dims{2, -1, 3, 2}));  // dft_length not known yet
  p.onesided = true;
  EXPECT_EQ(infer(p, {&x, &n}, {nullptr, &twelve})[0].shape, (Dims{2, 7, 3, 2}));
  p.axis = -2;  // counts from the back, the complex dim included
  EXPECT_EQ(infer(p, {&x})[0].shape, (Dims{2, 10, 2, 2}));
  p.axis = 3;  // the complex dim is not a signal axis
  EXPECT_THROW(infer(p, {&x}), Error);
  TensorDesc bad{DataType::kFloat32, {2, 10, 3}};
  p.axis = 1;
  EXPECT_THROW(infer(p, {&bad}), Error);
  TensorDesc ints{DataType::kInt32, {2, 10, 1}};
  EXPECT_THROW(infer(p, {&ints}), Error);
}

TEST(SignalShapeInference, Stft) {
  TensorDesc signal{DataType::kFloat32, {3, 128, 1}}, scalar{DataType::kInt64, {}}, window{DataType::kFloat32, {16}};
  Weights step = int64Scalar(8), length = int64Scalar(16);
  STFTParams p;
  EXPECT_EQ(infer(p, {&signal, &scalar, &window}, {nullptr, &step})[0].shape, (Dims{3, 15, 9, 2}));
  EXPECT_EQ(infer(p, {&signal, &scalar, nullptr, &scalar}, {nullptr, &step, nullptr, &length})[0].shape,
            (Dims{3, 15, 9, 2}));
  p.onesided = false;
  EXPECT_EQ(infer(p, {&signal, &scalar, &window})[0].shape, (Dims{3, -1, 16, 2}));  // step unknown
  Weights other = int64Scalar(12);
  EXPECT_THROW(infer(p, {&signal, &scalar, &window, &scalar}, {nullptr, &step, nullptr, &other}), Error);
  EXPECT_THROW(infer(p, {&signal, &scalar}, {nullptr, &step}), Error);  // no frame length at all
}

TEST(SignalShapeInference, WindowAndMel) {
  TensorDesc size{DataType::kInt32, {}};
  int32_t ten = 10;
  Weights tenValue = Weights::copyOf(DataType::kInt32, {}, &ten);
  WindowParams w;
  w.outputType = DataType::kFloat16;
  auto out = infer(w, {&size}, {&tenValue});
  EXPECT_EQ(out[0].shape, (Dims{10}));
  EXPECT_EQ(out[0].type, DataType::kFloat16);
  EXPECT_EQ(infer(w, {&size})[0].shape, (Dims{-1}));
  TensorDesc floatSize{DataType::kFloat32, {}};
  EXPECT_THROW(infer(w, {&floatSize}), Error);

  TensorDesc i{DataType::kInt64, {}}, f{DataType::kFloat32, {}};
  Weights bins = int64Scalar(8), length = int64Scalar(17);
  EXPECT_EQ(infer(MelWeightMatrixParams{}, {&i, &i, &i, &f, &f}, {&bins, &length})[0].shape, (Dims{9, 8}));
  EXPECT_EQ(infer(MelWeightMatrixParams{}, {&i, &i, &i, &f, &f})[0].shape, (Dims{-1, -1}));
  ir::Layer mel("m", MelWeightMatrixParams{});
  EXPECT_TRUE(ir::isShapeInput(mel, 1));
  EXPECT_FALSE(ir::isShapeInput(mel, 2));
}

TEST(SignalShapeInference, TfIdfVectorizerAndRandom) {
  TfIdfVectorizerParams t;
  t.ngramIndexes = {0, 4, 2};
  TensorDesc row{DataType::kInt32, {12}}, batch{DataType::kInt64, {3, 5}}, cube{DataType::kInt64, {1, 2, 3}};
  EXPECT_EQ(infer(t, {&row})[0].shape, (Dims{5}));
  EXPECT_EQ(infer(t, {&batch})[0].shape, (Dims{3, 5}));
  EXPECT_EQ(infer(t, {&batch})[0].type, DataType::kFloat32);
  EXPECT_THROW(infer(t, {&cube}), Error);

  RandomParams r;
  r.shape = {4, 5};
  r.outputType = DataType::kFloat64;
  EXPECT_EQ(infer(r, {})[0].shape, (Dims{4, 5}));
  TensorDesc like{DataType::kFloat32, {2, -1}};
  EXPECT_EQ(infer(r, {&like})[0].shape, (Dims{2, -1}));
  r.distribution = RandomDistribution::kMultinomial;
  r.outputType = DataType::kInt32;
  r.sampleSize = 7;
  TensorDesc logits{DataType::kFloat32, {3, 10}};
  EXPECT_EQ(infer(r, {&logits})[0].shape, (Dims{3, 7}));
  r.outputType = DataType::kFloat32;
  EXPECT_THROW(infer(r, {&logits}), Error);
  r.distribution = RandomDistribution::kBernoulli;
  TensorDesc intProbabilities{DataType::kInt32, {3}};
  EXPECT_THROW(infer(r, {&intProbabilities}), Error);
}

}  // namespace
}  // namespace kiln
