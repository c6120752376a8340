// Shape rule of the Recurrent layer (RNN, GRU, LSTM cells).
#include "ir/layers/shape_rules.h"

namespace kiln::ir::shape_rules {

// Inputs x, w, r, bias, sequenceLengths, initialH, initialC, peephole (ONNX RNN/GRU/LSTM order).
Outputs inferRecurrent(const ShapeInferenceContext& c) {
  const auto& p = c.layer.as<RecurrentParams>();
  bool lstm = p.cell == RecurrentCell::kLSTM;
  expectInputs(c, 3, lstm ? 8 : 6);
  const int64_t gates = recurrentGates(p.cell), hidden = p.hiddenSize;
  const int64_t dirs = p.direction == RecurrentDirection::kBidirectional ? 2 : 1;
  SHAPE_CHECK(c, hidden >= 1, "hidden size must be >= 1, got ", hidden);
  DataType type = c.type(0);
  SHAPE_CHECK(c, isFloatType(type) && type != DataType::kFP8E4M3, "x must be a float tensor, got ",
              dataTypeName(type));
  const size_t numActivations = p.activations.size();
  SHAPE_CHECK(c, numActivations == 0 || numActivations == static_cast<size_t>(recurrentActivationCount(p.cell) * dirs),
              "expects ", recurrentActivationCount(p.cell) * dirs, " activations (", recurrentActivationCount(p.cell),
              " per direction), got ", numActivations);
  SHAPE_CHECK(c, p.activationAlpha.size() == numActivations && p.activationBeta.size() == numActivations,
              "activation alpha/beta need one value per activation (", numActivations, "), got ",
              p.activationAlpha.size(), "/", p.activationBeta.size());
  SHAPE_CHECK(c, p.clip > 0, "clip must be positive, got ", p.clip);
  const Dims& x = c.shape(0);
  SHAPE_CHECK(c, x.size() == 3, "x must be 3-D ", p.batchFirst ? "[batch, seq, input]" : "[seq, batch, input]",
              ", got ", dimsToString(x));
  int64_t seq = p.batchFirst ? x[1] : x[0], batch = p.batchFirst ? x[0] : x[1];
  // Checks input i against the expected shape (-1 entries unchecked) and that it has x's type.
  auto expectShape = [&](int i, const char* name, const Dims& want) {
    if (!c.has(i)) return;
    SHAPE_CHECK(c, c.type(i) == type, name, " must be ", dataTypeName(type), " like x, got ", dataTypeName(c.type(i)));
    const Dims& got = c.shape(i);
    bool ok = got.size() == want.size();
    for (size_t k = 0; ok && k < got.size(); ++k) ok = !known(got[k]) || !known(want[k]) || got[k] == want[k];
    SHAPE_CHECK(c, ok, name, " has shape ", dimsToString(got), ", expected ", dimsToString(want));
  };
  expectShape(1, "w", {dirs, gates * hidden, x[2]});
  expectShape(2, "r", {dirs, gates * hidden, hidden});
  expectShape(3, "bias", {dirs, 2 * gates * hidden});
  if (c.has(4)) {
    expectIndexType(c, 4, "sequence lengths");
    SHAPE_CHECK(c, c.rank(4) == 1 && (!known(c.shape(4)[0]) || !known(batch) || c.shape(4)[0] == batch),
                "sequence lengths must be [", batch, "], got ", dimsToString(c.shape(4)));
  }
  Dims state = p.batchFirst ? Dims{batch, dirs, hidden} : Dims{dirs, batch, hidden};
  expectShape(5, "initial h", state);
  expectShape(6, "initial c", state);
  expectShape(7, "peephole", {dirs, 3 * hidden});
  int outputs = c.numOutputs(lstm ? 3 : 2);
  SHAPE_CHECK(c, outputs >= 1 && outputs <= (lstm ? 3 : 2), "has ", outputs, " outputs; expected y, y_h",
              lstm ? ", y_c" : "");
  Outputs result = one(type, p.batchFirst ? Dims{batch, seq, dirs, hidden} : Dims{seq, dirs, batch, hidden});
  for (int i = 1; i < outputs; ++i) result.push_back({type, state});
  return result;
}

}  // namespace kiln::ir::shape_rules
