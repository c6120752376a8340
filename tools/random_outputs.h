// Judging the outputs of models that draw random numbers (kiln conformance): their values cannot match a
// reference run, so each output is checked by shape, type and the support of the op that produced it.
//
//   RandomUniform(Like)      values in [low, high]
//   RandomNormal(Like)       finite values
//   Bernoulli                values in {0, 1}
//   Multinomial              class indices in [0, classes)
//   Dropout (training mode)  each element 0 or input * 1 / (1 - ratio); its mask: any bool
//   any other output         integral values within the expected [min, max] when the expected values are
//                            all integral (e.g. a cast Bernoulli draw), else finite values
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor_view.h"

namespace kiln::tools {

enum class RandomSupport { kRange, kFinite, kZeroOne, kClassIndex, kDropout, kAnyBool, kIntegralInExpectedRange };

struct RandomOutputRule {
  RandomSupport support = RandomSupport::kFinite;
  double low = 0, high = 1;        // kRange
  int64_t classes = -1;            // kClassIndex; -1 when unknown
  std::string dropoutData;         // kDropout: the ONNX name of the Dropout's data input
  std::string dropoutRatioName;    // kDropout: the ratio input's name when it is a graph input
  double dropoutRatio = 0.5;       // kDropout: the ratio when it is an attribute or an initializer
  std::string describe() const;    // "in [0, 1)", "0 or input * 2"...
};

// The op types that draw random numbers; Dropout counts when it has a training_mode input that is not a
// constant false.
bool isRandomOp(const std::string& opType);

// One rule per graph output of the ONNX model at `onnxPath`; nullopt when the model draws no random numbers.
std::optional<std::vector<RandomOutputRule>> randomOutputRules(const std::string& onnxPath);

// "" when `actual` is a possible draw under `rule` (same type and shape as `expected`), else why not.
// inputs: the case's inputs by ONNX name (a Dropout's kept values are its scaled input).
std::string judgeRandomOutput(const RandomOutputRule& rule, const HostTensor& actual, const HostTensor& expected,
                              const std::map<std::string, HostTensor>& inputs, double rtol, double atol);

}  // namespace kiln::tools
