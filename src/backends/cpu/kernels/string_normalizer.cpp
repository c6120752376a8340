// StringNormalizer: drops stopwords, then lowers or uppers ASCII letters, of a string tensor [C] or [1, C].
#include <algorithm>
#include <cctype>
#include <string>
#include <unordered_set>
#include <vector>

#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

namespace {

std::string asciiLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string asciiUpper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// The input elements that are not stopwords, in order.
std::vector<const std::string*> keptStrings(const ir::Layer& layer, const TensorView& in) {
  const auto& p = layer.as<StringNormalizerParams>();
  KILN_CHECK(in.type == DataType::kString, kInvalidArgument, layer.describe(), ": input must be string, got ",
             dataTypeName(in.type));
  std::unordered_set<std::string> stopwords;
  for (const std::string& w : p.stopwords) stopwords.insert(p.caseSensitive ? w : asciiLower(w));
  const auto* values = in.as<const std::string>();
  std::vector<const std::string*> kept;
  for (int64_t i = 0; i < in.count(); ++i) {
    bool stop = stopwords.count(p.caseSensitive ? values[i] : asciiLower(values[i])) > 0;
    if (!stop) kept.push_back(&values[i]);
  }
  return kept;
}

}  // namespace

// The output's data-dependent dim: the kept elements, or 1 (one "") when all are dropped.
int64_t countNormalizedStrings(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1, 0);
  return std::max<int64_t>(1, static_cast<int64_t>(keptStrings(layer, args.inputs[0]).size()));
}

std::string supportsStringNormalizer(const ir::Layer& layer) {
  return checkTypes(layer, kStrings, kStrings);
}

void runStringNormalizer(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 1);
  const auto& p = layer.as<StringNormalizerParams>();
  const TensorView& out = args.outputs[0];
  KILN_CHECK(out.type == DataType::kString, kInternal, layer.describe(), ": output must be string");
  std::vector<const std::string*> kept = keptStrings(layer, args.inputs[0]);
  auto* dst = out.as<std::string>();
  if (kept.empty()) {
    checkCount(layer, out, 1, "output");
    dst[0].clear();
    return;
  }
  checkCount(layer, out, static_cast<int64_t>(kept.size()), "output");
  for (size_t i = 0; i < kept.size(); ++i) {
    switch (p.caseChange) {
      case StringCaseChange::kNone: dst[i] = *kept[i]; break;
      case StringCaseChange::kLower: dst[i] = asciiLower(*kept[i]); break;
      case StringCaseChange::kUpper: dst[i] = asciiUpper(*kept[i]); break;
    }
  }
}

}  // namespace kiln::cpu
