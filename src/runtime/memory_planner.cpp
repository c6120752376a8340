#include "runtime/memory_planner.h"

#include <algorithm>
#include <numeric>

namespace kiln {

static int64_t alignUp(int64_t n) { return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

MemoryPlan planMemory(const std::vector<BufferRequest>& requests) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });

  struct Placed {
    int64_t begin, end;
    int firstUse, lastUse;
  };
  std::vector<Placed> placed;
  for (size_t index : order) {
    const BufferRequest& r = requests[index];
    int64_t size = alignUp(std::max<int64_t>(r.bytes, 1));
    plan.naiveBytes += size;
    // Busy intervals of buffers alive at the same time, sorted by offset.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (auto& p : placed)
      if (p.firstUse <= r.lastUse && r.firstUse <= p.lastUse) busy.push_back({p.begin, p.end});
    std::sort(busy.begin(), busy.end());
    // Best fit: the smallest gap that holds the buffer; else after the last busy interval.
    int64_t best = -1, bestGap = INT64_MAX, cursor = 0;
    for (auto& [begin, end] : busy) {
      if (begin > cursor && begin - cursor >= size && begin - cursor < bestGap) {
        best = cursor;
        bestGap = begin - cursor;
      }
      cursor = std::max(cursor, end);
    }
    if (best < 0) best = cursor;
    placed.push_back({best, best + size, r.firstUse, r.lastUse});
    plan.offsets[index] = best;
    plan.arenaBytes = std::max(plan.arenaBytes, best + size);
  }
  return plan;
}

}  // namespace kiln
