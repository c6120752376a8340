// Channels-last layout of conv and pooling layers (ConvolutionParams/PoolingParams::channelsLast): the dims
// of an N[D]HWC tensor as channels-first NC[D]HW (and filters [M, k..., C/groups] as [M, C/groups, k...]),
// and back. Ranks below 3 are returned unchanged.
#pragma once

#include <algorithm>

#include "kiln/types.h"

namespace kiln {

inline Dims channelsFirstOf(const Dims& d) {
  Dims r = d;
  if (d.size() >= 3) std::rotate(r.begin() + 1, r.end() - 1, r.end());
  return r;
}

inline Dims channelsLastOf(const Dims& d) {
  Dims r = d;
  if (d.size() >= 3) std::rotate(r.begin() + 1, r.begin() + 2, r.end());
  return r;
}

}  // namespace kiln
