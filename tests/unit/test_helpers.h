// Small builders shared by the unit tests.
#pragma once

#include <vector>

#include "kiln/kiln.h"

namespace kiln::testing {

inline Weights floats(const Dims& shape, std::vector<float> values) {
  return Weights::copyOf(DataType::kFloat32, shape, values.data());
}
inline Weights int64s(const Dims& shape, std::vector<int64_t> values) {
  return Weights::copyOf(DataType::kInt64, shape, values.data());
}

// Builds a plan and loads it.
inline std::shared_ptr<Engine> buildEngine(NetworkDefinition& network, const BuilderConfig& config = {},
                                           BuildSummary* summary = nullptr) {
  Builder builder;
  std::vector<uint8_t> plan = builder.buildSerializedNetwork(network, config, summary);
  return Runtime().deserializeEngine(plan.data(), plan.size());
}

}  // namespace kiln::testing
