// Shape rules of the text layers: TfIdfVectorizer, StringNormalizer.
#include "ir/layers/shape_rules.h"

#include <algorithm>

namespace kiln::ir::shape_rules {

Outputs inferTfIdfVectorizer(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  const auto& p = c.layer.as<TfIdfVectorizerParams>();
  expectIndexType(c, 0, "input");
  const Dims& x = c.shape(0);
  SHAPE_CHECK(c, x.size() == 1 || x.size() == 2, "input must be [C] or [N, C], got ", dimsToString(x));
  SHAPE_CHECK(c, !p.ngramIndexes.empty(), "ngram_indexes must not be empty");
  int64_t outputSize = *std::max_element(p.ngramIndexes.begin(), p.ngramIndexes.end()) + 1;
  if (x.size() == 1) return one(DataType::kFloat32, {outputSize});
  return one(DataType::kFloat32, {x[0], outputSize});
}

Outputs inferStringNormalizer(const ShapeInferenceContext& c) {
  expectInputs(c, 1, 1);
  SHAPE_CHECK(c, c.type(0) == DataType::kString, "input must be a string tensor, got ", dataTypeName(c.type(0)));
  const Dims& x = c.shape(0);
  SHAPE_CHECK(c, x.size() == 1 || (x.size() == 2 && (!known(x[0]) || x[0] == 1)), "input must be [C] or [1, C], got ",
              dimsToString(x));
  if (x.size() == 1) return one(DataType::kString, {-1});
  return one(DataType::kString, {1, -1});
}

}  // namespace kiln::ir::shape_rules
