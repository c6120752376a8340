// Recurrent ops: RNN, GRU, LSTM -> one Recurrent layer (activations resolved per direction, alpha/beta
// consumed in order by the functions that take them, as ONNX Runtime does).
#include <algorithm>
#include <cctype>
#include <optional>

#include "onnx/importers/importers.h"

namespace kiln::onnx_import {
namespace {

RecurrentCell cellOf(const NodeView& n) {
  if (n.opType() == "RNN") return RecurrentCell::kRNN;
  if (n.opType() == "GRU") return RecurrentCell::kGRU;
  return RecurrentCell::kLSTM;
}

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::optional<RecurrentDirection> directionOf(const std::string& name) {
  if (name == "forward") return RecurrentDirection::kForward;
  if (name == "reverse") return RecurrentDirection::kReverse;
  if (name == "bidirectional") return RecurrentDirection::kBidirectional;
  return std::nullopt;
}

// An ONNX activation name with its default alpha and beta and how many of them it takes.
struct ActivationInfo {
  const char* name;
  RecurrentActivation type;
  int numParams;  // 0: none, 1: alpha, 2: alpha and beta
  float alpha, beta;
};
const ActivationInfo kActivations[] = {
    {"relu", RecurrentActivation::kRelu, 0, 0.f, 0.f},
    {"tanh", RecurrentActivation::kTanh, 0, 0.f, 0.f},
    {"sigmoid", RecurrentActivation::kSigmoid, 0, 0.f, 0.f},
    {"affine", RecurrentActivation::kAffine, 2, 1.f, 0.f},
    {"leakyrelu", RecurrentActivation::kLeakyRelu, 1, 0.01f, 0.f},
    {"thresholdedrelu", RecurrentActivation::kThresholdedRelu, 1, 1.f, 0.f},
    {"scaledtanh", RecurrentActivation::kScaledTanh, 2, 1.f, 1.f},
    {"hardsigmoid", RecurrentActivation::kHardSigmoid, 2, 0.2f, 0.5f},
    {"elu", RecurrentActivation::kElu, 1, 1.f, 0.f},
    {"softsign", RecurrentActivation::kSoftsign, 0, 0.f, 0.f},
    {"softplus", RecurrentActivation::kSoftplus, 0, 0.f, 0.f},
};

const ActivationInfo* activationInfo(const std::string& name) {
  std::string key = lower(name);
  for (const ActivationInfo& a : kActivations)
    if (key == a.name) return &a;
  return nullptr;
}

}  // namespace

std::string checkRecurrent(const NodeView& n) {
  std::string direction = n.attrString("direction", "forward");
  if (!directionOf(direction)) return concat("unknown direction '", direction, "'");
  if (const auto* a = n.attr("activations"))
    for (const std::string& name : a->strings())
      if (!activationInfo(name)) return concat("unknown activation '", name, "'");
  int64_t layout = n.attrInt("layout", 0);
  if (layout != 0 && layout != 1) return concat("layout must be 0 or 1, got ", layout);
  return "";
}

void importRecurrent(ImporterContext& ctx) {
  RecurrentParams p;
  p.cell = cellOf(ctx);
  const bool lstm = p.cell == RecurrentCell::kLSTM;
  std::string direction = ctx.attrString("direction", "forward");
  auto dir = directionOf(direction);
  if (!dir) ctx.fail(ErrorCode::kInvalidModel, concat("unknown direction '", direction, "'"));
  p.direction = *dir;
  const int64_t dirs = p.direction == RecurrentDirection::kBidirectional ? 2 : 1;
  ITensor* r = ctx.requireInput(2);
  p.hiddenSize = ctx.attrInt("hidden_size", r->dims().size() == 3 ? r->dims()[2] : -1);
  if (p.hiddenSize <= 0)
    ctx.fail(ErrorCode::kInvalidModel, concat("hidden_size must be positive (or known from r ",
                                              dimsToString(r->dims()), "), got ", p.hiddenSize));
  if (ctx.hasAttr("clip")) {
    p.clip = ctx.attrFloat("clip", 0.f);
    if (!(p.clip > 0.f)) ctx.fail(ErrorCode::kInvalidModel, concat("clip must be positive, got ", p.clip));
  }
  p.linearBeforeReset = p.cell == RecurrentCell::kGRU && ctx.attrInt("linear_before_reset", 0) != 0;
  p.inputForget = lstm && ctx.attrInt("input_forget", 0) != 0;
  p.batchFirst = ctx.attrInt("layout", 0) == 1;

  if (ctx.hasAttr("activations")) {
    const auto& names = ctx.attr("activations")->strings();
    const int64_t perDirection = recurrentActivationCount(p.cell);
    const int64_t given = names.size();
    if (given != perDirection && given != perDirection * dirs)
      ctx.fail(ErrorCode::kInvalidModel, concat("expects ", perDirection, " activations per direction (", direction,
                                                "), got ", given));
    std::vector<float> alphas = ctx.attrFloats("activation_alpha"), betas = ctx.attrFloats("activation_beta");
    size_t nextAlpha = 0, nextBeta = 0;
    for (int64_t i = 0; i < given; ++i) {
      const ActivationInfo* info = activationInfo(names[static_cast<int>(i)]);
      if (!info) ctx.fail(ErrorCode::kUnsupported, concat("unknown activation '", names[static_cast<int>(i)], "'"));
      float alpha = info->alpha, beta = info->beta;
      if (info->numParams >= 1 && nextAlpha < alphas.size()) alpha = alphas[nextAlpha++];
      if (info->numParams >= 2 && nextBeta < betas.size()) beta = betas[nextBeta++];
      p.activations.push_back(info->type);
      p.activationAlpha.push_back(alpha);
      p.activationBeta.push_back(beta);
    }
    if (given != perDirection * dirs) {  // one list for both directions
      for (int64_t i = 0; i < perDirection; ++i) {
        p.activations.push_back(p.activations[i]);
        p.activationAlpha.push_back(p.activationAlpha[i]);
        p.activationBeta.push_back(p.activationBeta[i]);
      }
    }
  }

  const int maxInputs = lstm ? 8 : 6;
  std::vector<ITensor*> inputs;
  for (int i = 0; i < std::min(ctx.numInputs(), maxInputs); ++i)
    inputs.push_back(i < 3 ? ctx.requireInput(i) : ctx.input(i));
  while (inputs.size() > 3 && inputs.back() == nullptr) inputs.pop_back();
  const int numOutputs = std::clamp(ctx.numOutputs(), 1, lstm ? 3 : 2);
  ctx.setOutputs(ctx.addLayer(p, inputs, numOutputs));
}

}  // namespace kiln::onnx_import
