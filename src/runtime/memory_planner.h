// Assigns offsets in one arena to buffers with known lifetimes, reusing memory between buffers whose
// lifetimes do not overlap. Greedy by size (largest first, best-fitting gap), as TFLite's planner. Each
// buffer looks only at the placed buffers alive with it (an interval index), so the cost is
// O(n log n + overlaps): linear-ish in a long chain.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln {

struct BufferRequest {
  int64_t bytes = 0;
  int firstUse = 0;  // index of the producing step (>= 0)
  int lastUse = 0;   // index of the last consuming step (inclusive, >= firstUse)
};

struct MemoryPlan {
  std::vector<int64_t> offsets;  // one per request
  int64_t arenaBytes = 0;
  int64_t naiveBytes = 0;        // sum of all (aligned) sizes: what no reuse would cost
};

constexpr int64_t kArenaAlignment = 256;

MemoryPlan planMemory(const std::vector<BufferRequest>& requests);

}  // namespace kiln
