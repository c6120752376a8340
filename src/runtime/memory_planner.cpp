#include "runtime/memory_planner.h"

#include <algorithm>
#include <map>
#include <numeric>

namespace kiln {

static int64_t alignUp(int64_t n) { return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

namespace {

// The placed buffers, searchable by lifetime: a buffer alive during [a, b] either is alive at step a (a
// stabbing query on a segment tree over the steps) or starts in (a, b] (a range of `byStart`). Both cost
// O(log n + answers), so planning a long chain is O(n log n) rather than O(n^2).
class PlacedIndex {
 public:
  explicit PlacedIndex(int steps) {
    while (leaves_ < steps) leaves_ *= 2;
    nodes_.resize(2 * static_cast<size_t>(leaves_));
  }

  void add(int id, int firstUse, int lastUse) {
    // The canonical nodes of [firstUse, lastUse]: disjoint, so a stabbing query meets each id once.
    for (int lo = firstUse + leaves_, hi = lastUse + leaves_ + 1; lo < hi; lo /= 2, hi /= 2) {
      if (lo & 1) nodes_[lo++].push_back(id);
      if (hi & 1) nodes_[--hi].push_back(id);
    }
    byStart_.emplace(firstUse, id);
  }

  // Appends the ids of the placed buffers whose lifetimes overlap [firstUse, lastUse].
  void overlapping(int firstUse, int lastUse, std::vector<int>& ids) const {
    for (int node = firstUse + leaves_; node >= 1; node /= 2)
      ids.insert(ids.end(), nodes_[node].begin(), nodes_[node].end());
    for (auto it = byStart_.upper_bound(firstUse); it != byStart_.end() && it->first <= lastUse; ++it)
      ids.push_back(it->second);
  }

 private:
  int leaves_ = 1;
  std::vector<std::vector<int>> nodes_;
  std::multimap<int, int> byStart_;
};

}  // namespace

MemoryPlan planMemory(const std::vector<BufferRequest>& requests) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });

  int steps = 0;
  for (const BufferRequest& r : requests) steps = std::max(steps, r.lastUse + 1);
  PlacedIndex placed(steps);
  std::vector<int> alive;
  std::vector<std::pair<int64_t, int64_t>> busy;
  for (size_t index : order) {
    const BufferRequest& r = requests[index];
    int64_t size = alignUp(std::max<int64_t>(r.bytes, 1));
    plan.naiveBytes += size;
    // Busy intervals of buffers alive at the same time, sorted by offset.
    alive.clear();
    placed.overlapping(r.firstUse, r.lastUse, alive);
    busy.clear();
    for (int id : alive) {
      int64_t begin = plan.offsets[id];
      busy.push_back({begin, begin + alignUp(std::max<int64_t>(requests[id].bytes, 1))});
    }
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
    plan.offsets[index] = best;
    placed.add(static_cast<int>(index), r.firstUse, r.lastUse);
    plan.arenaBytes = std::max(plan.arenaBytes, best + size);
  }
  return plan;
}

}  // namespace kiln
