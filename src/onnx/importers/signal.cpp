// Signal processing: DFT, STFT, HannWindow, HammingWindow, BlackmanWindow, MelWeightMatrix.
#include "onnx/importers/importers.h"
#include "onnx/tensor_proto.h"

namespace kiln::onnx_import {

namespace {

DataType outputDataType(const NodeView& n) {
  return fromOnnxType(static_cast<int32_t>(n.attrInt("output_datatype", 1)), n.where() + " output_datatype");
}

}  // namespace

void importDFT(ImporterContext& ctx) {
  DFTParams p;
  p.inverse = ctx.attrInt("inverse", 0) != 0;
  p.onesided = ctx.attrInt("onesided", 0) != 0;
  if (ctx.opset() < 20) {
    p.axis = ctx.attrInt("axis", 1);
  } else {
    p.axis = -2;
    if (ctx.hasInput(2)) {
      auto axis = ctx.constantInts(2);
      if (!axis || axis->size() != 1) ctx.fail(ErrorCode::kUnsupported, "axis must be a constant scalar");
      p.axis = (*axis)[0];
    }
  }
  if (p.inverse && p.onesided) ctx.fail(ErrorCode::kInvalidModel, "onesided is not allowed with inverse");
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0), ctx.input(1)}));
}

void importSTFT(ImporterContext& ctx) {
  STFTParams p;
  p.onesided = ctx.attrInt("onesided", 1) != 0;
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0), ctx.requireInput(1), ctx.input(2), ctx.input(3)}));
}

void importWindow(ImporterContext& ctx) {
  WindowParams p;
  const std::string& op = ctx.opType();
  p.type = op == "HannWindow" ? WindowType::kHann : op == "HammingWindow" ? WindowType::kHamming : WindowType::kBlackman;
  p.periodic = ctx.attrInt("periodic", 1) != 0;
  p.outputType = outputDataType(ctx);
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0)}));
}

void importMelWeightMatrix(ImporterContext& ctx) {
  MelWeightMatrixParams p;
  p.outputType = outputDataType(ctx);
  std::vector<ITensor*> in;
  for (int i = 0; i < 5; ++i) in.push_back(ctx.requireInput(i));
  ctx.setOutput(0, ctx.add(p, in));
}

std::string checkOutputDataType(const NodeView& n) {
  try {
    outputDataType(n);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void importTfIdfVectorizer(ImporterContext& ctx) {
  TfIdfVectorizerParams p;
  std::string mode = ctx.attrString("mode", "");
  if (mode == "TF") p.mode = TfIdfMode::kTF;
  else if (mode == "IDF") p.mode = TfIdfMode::kIDF;
  else if (mode == "TFIDF") p.mode = TfIdfMode::kTFIDF;
  else ctx.fail(ErrorCode::kInvalidModel, concat("mode '", mode, "' is not one of TF, IDF, TFIDF"));
  p.minGramLength = ctx.attrInt("min_gram_length", 1);
  p.maxGramLength = ctx.attrInt("max_gram_length", 1);
  p.maxSkipCount = ctx.attrInt("max_skip_count", 0);
  p.ngramCounts = ctx.attrInts("ngram_counts");
  p.ngramIndexes = ctx.attrInts("ngram_indexes");
  p.pool = ctx.attrInts("pool_int64s");
  if (p.minGramLength < 1 || p.maxGramLength < p.minGramLength || p.maxSkipCount < 0)
    ctx.fail(ErrorCode::kInvalidModel, concat("invalid min_gram_length ", p.minGramLength, " / max_gram_length ",
                                              p.maxGramLength, " / max_skip_count ", p.maxSkipCount));
  if (p.ngramIndexes.empty()) ctx.fail(ErrorCode::kInvalidModel, "ngram_indexes must not be empty");
  std::vector<float> weights = ctx.attrFloats("weights");  // none: every n-gram weighs 1
  p.weights = HostTensor::copyOf(DataType::kFloat32, {static_cast<int64_t>(weights.size())}, weights.data());
  ctx.setOutput(0, ctx.add(p, {ctx.requireInput(0)}));
}

std::string checkTfIdfVectorizer(const NodeView& n) {
  if (n.hasAttr("pool_strings")) return "string pools (pool_strings) are not supported; only pool_int64s";
  return "";
}

}  // namespace kiln::onnx_import
