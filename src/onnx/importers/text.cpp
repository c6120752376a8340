// Text ops on string tensors: StringNormalizer.
#include "onnx/importers/importers.h"

namespace kiln::onnx_import {

void importStringNormalizer(ImporterContext& ctx) {
  StringNormalizerParams p;
  std::string action = ctx.attrString("case_change_action", "NONE");
  if (action == "LOWER") p.caseChange = StringCaseChange::kLower;
  else if (action == "UPPER") p.caseChange = StringCaseChange::kUpper;
  else if (action != "NONE")
    ctx.fail(ErrorCode::kInvalidModel, concat("case_change_action '", action, "' is not LOWER, UPPER or NONE"));
  p.caseSensitive = ctx.attrInt("is_case_sensitive", 0) != 0;
  if (const auto* a = ctx.attr("stopwords")) p.stopwords.assign(a->strings().begin(), a->strings().end());
  // 'locale' only matters beyond ASCII letters, which Kiln leaves unchanged.
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0)}));
}

}  // namespace kiln::onnx_import
