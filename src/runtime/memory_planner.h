// Assigns offsets in one arena to buffers with known lifetimes, reusing memory between buffers whose
// lifetimes do not overlap. Greedy by size (largest first, lowest offset that fits), as TFLite's planner.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln {

struct BufferRequest {
  int64_t bytes = 0;
  int firstUse = 0;  // index of the producing step
  int lastUse = 0;   // index of the last consuming step (inclusive)
};

struct MemoryPlan {
  std::vector<int64_t> offsets;  // one per request
  int64_t arenaBytes = 0;
  int64_t naiveBytes = 0;        // sum of all (aligned) sizes: what no reuse would cost
};

constexpr int64_t kArenaAlignment = 256;

MemoryPlan planMemory(const std::vector<BufferRequest>& requests);

}  // namespace kiln
