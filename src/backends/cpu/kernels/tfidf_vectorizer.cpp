// TfIdfVectorizer: the pool's n-grams go into a sorted map (n-gram -> pool position); every row is scanned
// per skip distance and start position, growing the n-gram while some pool n-gram starts with it. Rows
// run in parallel. The work per row is bounded by the row, whatever the attributes: skip distances stop
// at the row length, n-gram lengths at the longest one in the pool. Inconsistent attributes are an
// invalid-model error.
#include <algorithm>
#include <map>
#include <vector>

#include "backends/cpu/kernels/compute_common.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsTfIdfVectorizer(const ir::Layer& layer) {
  return checkTypes(layer, kNumeric, kNumeric);
}

void runTfIdfVectorizer(const ir::Layer& layer, const KernelArgs& args) {
  const auto& p = layer.as<TfIdfVectorizerParams>();
  KILN_CHECK(!args.inputs.empty() && !args.outputs.empty(), kInvalidArgument, layer.describe(), ": needs an input");
  const TensorView& xv = args.inputs[0];
  const TensorView& yv = args.outputs[0];
  KILN_CHECK(p.minGramLength >= 1 && p.maxGramLength >= p.minGramLength && p.maxSkipCount >= 0, kInvalidModel,
             layer.describe(), ": invalid gram lengths ", p.minGramLength, " - ", p.maxGramLength, " / skip count ",
             p.maxSkipCount);
  // The pool's n-grams of length n start at ngramCounts[n - 1] and end where the next length starts.
  std::map<std::vector<int64_t>, int64_t> ngrams;  // n-gram -> output index
  const int64_t lengths = static_cast<int64_t>(p.ngramCounts.size()), poolSize = static_cast<int64_t>(p.pool.size());
  const int64_t indexCount = static_cast<int64_t>(p.ngramIndexes.size());
  int64_t ngramNumber = 0;
  for (int64_t n = 1; n <= lengths; ++n) {
    int64_t begin = p.ngramCounts[n - 1], end = n < lengths ? p.ngramCounts[n] : poolSize;
    KILN_CHECK(begin >= 0 && begin <= end && end <= poolSize && (end - begin) % n == 0, kInvalidModel,
               layer.describe(), ": ngram_counts ", dimsToString(p.ngramCounts), " do not split a pool of ",
               poolSize, " values into ", n, "-grams");
    KILN_CHECK(ngramNumber + (end - begin) / n <= indexCount, kInvalidModel, layer.describe(), ": ngram_indexes has ",
               indexCount, " entries, fewer than the pool's n-grams");
    for (int64_t i = begin; i < end; i += n, ++ngramNumber)
      ngrams[std::vector<int64_t>(p.pool.begin() + i, p.pool.begin() + i + n)] = ngramNumber;
  }
  KILN_CHECK(indexCount == ngramNumber, kInvalidModel, layer.describe(), ": ngram_indexes has ", indexCount,
             " entries for ", ngramNumber, " pool n-grams");
  const float* weights = p.weights.count() > 0 ? p.weights.as<float>() : nullptr;
  KILN_CHECK(!weights || (p.weights.type == DataType::kFloat32 && p.weights.count() == ngramNumber), kInvalidModel,
             layer.describe(), ": weights must be float32 with one value per n-gram (", ngramNumber, "), got ",
             p.weights.count());
  const int64_t outputSize = yv.shape.empty() ? 0 : yv.shape.back();
  for (int64_t k = 0; k < ngramNumber; ++k)
    KILN_CHECK(p.ngramIndexes[k] >= 0 && p.ngramIndexes[k] < outputSize, kInvalidModel, layer.describe(),
               ": ngram index ", p.ngramIndexes[k], " is outside the output of ", outputSize);
  const std::vector<int64_t> x = detail::readInts(xv, layer);
  const int64_t rows = xv.shape.size() == 2 ? xv.shape[0] : 1;
  const int64_t columns = xv.shape.empty() ? 0 : xv.shape.back();
  float* y = yv.as<float>();
  std::fill(y, y + yv.count(), 0.f);
  // No pool n-gram is longer than `lengths`; a skip distance of columns - 1 or more leaves no room for a
  // second item, so larger ones add nothing.
  const int64_t maxLength = std::min(p.maxGramLength, lengths);
  const int64_t maxDistance = 1 + std::min<int64_t>(p.maxSkipCount, std::max<int64_t>(columns - 2, 0));
  if (maxLength < p.minGramLength || columns == 0) return;
  parallelFor(rows, 1, [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> gram, counts(static_cast<size_t>(ngramNumber), 0), seen;
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t* row = x.data() + r * columns;
      // Unigrams have no skip; an n-gram of n >= 2 items takes every `distance`-th item.
      for (int64_t distance = 1; distance <= maxDistance; ++distance) {
        const int64_t minLength = std::max<int64_t>(p.minGramLength, distance > 1 ? 2 : 1);
        for (int64_t start = 0; start < columns; ++start) {
          gram.clear();
          for (int64_t n = 1; n <= maxLength && start + (n - 1) * distance < columns; ++n) {
            gram.push_back(row[start + (n - 1) * distance]);
            // The first pool n-gram not below `gram` starts with it if any does (lexicographic order):
            // if it does not, no longer n-gram from this start can match either.
            auto it = ngrams.lower_bound(gram);
            if (it == ngrams.end() || it->first.size() < gram.size() ||
                !std::equal(gram.begin(), gram.end(), it->first.begin()))
              break;
            if (n < minLength || it->first.size() != gram.size()) continue;
            if (counts[it->second]++ == 0) seen.push_back(it->second);
          }
        }
      }
      float* out = y + r * outputSize;
      std::sort(seen.begin(), seen.end());  // n-grams sharing an output index: the last one's value
      for (int64_t k : seen) {
        int64_t index = p.ngramIndexes[k];
        float weight = weights ? weights[k] : 1.f;
        switch (p.mode) {
          case TfIdfMode::kTF: out[index] = static_cast<float>(counts[k]); break;
          case TfIdfMode::kIDF: out[index] = weight; break;
          case TfIdfMode::kTFIDF: out[index] = static_cast<float>(counts[k]) * weight; break;
        }
        counts[k] = 0;
      }
      seen.clear();
    }
  });
}

}  // namespace kiln::cpu
