// When a Shape layer's value may be computed ahead of its run.
#pragma once

#include "ir/network.h"

namespace kiln::ir {

// True when every dim a Shape layer reports of an input of `inputDims` (its [start, end) range) is known.
// The rule for everything that evaluates Shape ahead of its run (import, constant folding, reshape): a
// dim that is -1 there is known only at run time, and folding it would turn it into a wrong -1 value.
bool shapeValueKnown(const Layer& shapeLayer, const Dims& inputDims);

}  // namespace kiln::ir
