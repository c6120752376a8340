// Random sampling: RandomUniform, RandomNormal, RandomUniformLike, RandomNormalLike, Bernoulli, Multinomial.
#include "onnx/importers/importers.h"
#include "onnx/tensor_proto.h"

namespace kiln::onnx_import {

void importRandom(ImporterContext& ctx) {
  RandomParams p;
  const std::string& op = ctx.opType();
  p.hasSeed = ctx.hasAttr("seed");
  p.seed = ctx.attrFloat("seed", 0.f);
  ITensor* x = nullptr;
  if (op == "RandomUniform" || op == "RandomNormal") {
    p.shape = ctx.attrInts("shape");
    if (!ctx.hasAttr("shape")) ctx.fail(ErrorCode::kInvalidModel, "the shape attribute is required");
  } else {
    x = ctx.requireInput(0);
  }
  // dtype: the output type; the *Like ops and Bernoulli default to the input's type, Multinomial to int32.
  DataType defaultType = x && op != "Multinomial" ? x->type() : op == "Multinomial" ? DataType::kInt32
                                                                                     : DataType::kFloat32;
  p.outputType = ctx.hasAttr("dtype") ? fromOnnxType(static_cast<int32_t>(ctx.attrInt("dtype", 1)), ctx.where() + " dtype")
                                      : defaultType;
  if (op == "RandomUniform" || op == "RandomUniformLike") {
    p.distribution = RandomDistribution::kUniform;
    p.a = ctx.attrFloat("low", 0.f);
    p.b = ctx.attrFloat("high", 1.f);
  } else if (op == "RandomNormal" || op == "RandomNormalLike") {
    p.distribution = RandomDistribution::kNormal;
    p.a = ctx.attrFloat("mean", 0.f);
    p.b = ctx.attrFloat("scale", 1.f);
  } else if (op == "Bernoulli") {
    p.distribution = RandomDistribution::kBernoulli;
  } else {
    p.distribution = RandomDistribution::kMultinomial;
    p.sampleSize = ctx.attrInt("sample_size", 1);
  }
  ctx.setOutput(0, ctx.add(p, x ? std::vector<ITensor*>{x} : std::vector<ITensor*>{}));
}

}  // namespace kiln::onnx_import
