// The pass manager: the builder's passes in order, run to a fixed point.
#pragma once

#include <string>
#include <vector>

#include "builder/passes/passes.h"

namespace kiln::passes {

struct Pass {
  const char* name;
  const char* description;
  bool (*run)(PassContext&);
};

// The passes in the order they run (see pass_manager.cpp for why this order).
const std::vector<Pass>& allPasses();

// Runs the enabled passes repeatedly until none changes the network (at most `maxRounds` rounds).
// Unknown names in `disabled` throw kiln::Error listing the known ones.
// `target` is the backend the network is built for (nullptr: any). `precision` (optional) enables
// reduce_precision.
void runPasses(ir::Network& network, const std::vector<std::string>& disabled, std::vector<std::string>& log,
               int maxRounds = 10, const Backend* target = nullptr, PrecisionPolicy* precision = nullptr);

}  // namespace kiln::passes
