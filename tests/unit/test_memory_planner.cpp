#include <gtest/gtest.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "runtime/memory_planner.h"

using kiln::BufferRequest;
using kiln::kArenaAlignment;
using kiln::planMemory;

// No two buffers alive at the same time may overlap in memory.
static void expectNoOverlap(const std::vector<BufferRequest>& r, const kiln::MemoryPlan& plan) {
  for (size_t i = 0; i < r.size(); ++i)
    for (size_t j = i + 1; j < r.size(); ++j) {
      bool sameTime = r[i].firstUse <= r[j].lastUse && r[j].firstUse <= r[i].lastUse;
      bool sameMemory = plan.offsets[i] < plan.offsets[j] + r[j].bytes && plan.offsets[j] < plan.offsets[i] + r[i].bytes;
      EXPECT_FALSE(sameTime && sameMemory) << "buffers " << i << " and " << j << " overlap";
    }
}

TEST(MemoryPlanner, ChainReusesMemory) {
  // a -> b -> c -> d: each buffer lives from its producer to its single consumer.
  std::vector<BufferRequest> r = {{1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}, {1000, 3, 4}};
  auto plan = planMemory(r);
  expectNoOverlap(r, plan);
  EXPECT_EQ(plan.arenaBytes, 2 * 1024);  // two 1000-byte buffers, 256-aligned
  EXPECT_EQ(plan.naiveBytes, 4 * 1024);
  EXPECT_EQ(plan.offsets[0], plan.offsets[2]);
}

TEST(MemoryPlanner, OffsetsAreAligned) {
  std::vector<BufferRequest> r = {{3, 0, 5}, {17, 0, 5}, {999, 0, 5}};
  auto plan = planMemory(r);
  for (int64_t offset : plan.offsets) EXPECT_EQ(offset % kArenaAlignment, 0);
  expectNoOverlap(r, plan);
}

TEST(MemoryPlanner, RandomLifetimesNeverOverlap) {
  std::vector<BufferRequest> r;
  uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1103515245u + 12345u, (seed >> 8) % 1000; };
  for (int i = 0; i < 60; ++i) {
    int first = static_cast<int>(next() % 40);
    r.push_back({static_cast<int64_t>(next() * 37 + 1), first, first + static_cast<int>(next() % 10)});
  }
  auto plan = planMemory(r);
  expectNoOverlap(r, plan);
  EXPECT_LE(plan.arenaBytes, plan.naiveBytes);
  EXPECT_LT(plan.arenaBytes, plan.naiveBytes);  // lifetimes this short must share memory
}

TEST(MemoryPlanner, EmptyPlan) {
  auto plan = planMemory({});
  EXPECT_EQ(plan.arenaBytes, 0);
  EXPECT_TRUE(plan.offsets.empty());
}

// The planner before its interval index: every buffer compared with every placed one (O(n^2)). The
// indexed planner must give the same offsets.
static kiln::MemoryPlan quadraticPlan(const std::vector<BufferRequest>& requests) {
  auto alignUp = [](int64_t n) { return (std::max<int64_t>(n, 1) + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; };
  kiln::MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });
  std::vector<size_t> placed;
  for (size_t index : order) {
    const BufferRequest& r = requests[index];
    int64_t size = alignUp(r.bytes);
    plan.naiveBytes += size;
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t p : placed)
      if (requests[p].firstUse <= r.lastUse && r.firstUse <= requests[p].lastUse)
        busy.push_back({plan.offsets[p], plan.offsets[p] + alignUp(requests[p].bytes)});
    std::sort(busy.begin(), busy.end());
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
    placed.push_back(index);
    plan.arenaBytes = std::max(plan.arenaBytes, best + size);
  }
  return plan;
}

TEST(MemoryPlanner, IndexedPlanMatchesTheQuadraticPlan) {
  // Short and long lifetimes, equal and different sizes, zero-byte buffers, one buffer alive throughout.
  std::vector<BufferRequest> r = {{5000, 0, 299}};
  uint32_t seed = 777;
  auto next = [&] { return seed = seed * 1103515245u + 12345u, (seed >> 8) % 100000; };
  for (int i = 0; i < 1500; ++i) {
    int first = static_cast<int>(next() % 300);
    int length = next() % 4 == 0 ? static_cast<int>(next() % 120) : static_cast<int>(next() % 3);
    int64_t bytes = next() % 10 == 0 ? 0 : static_cast<int64_t>(next() % 8 * 256 + next() % 300);
    r.push_back({bytes, first, std::min(first + length, 299)});
  }
  auto plan = planMemory(r);
  auto reference = quadraticPlan(r);
  EXPECT_EQ(plan.offsets, reference.offsets);
  EXPECT_EQ(plan.arenaBytes, reference.arenaBytes);
  EXPECT_EQ(plan.naiveBytes, reference.naiveBytes);
  expectNoOverlap(r, plan);
}

TEST(MemoryPlanner, LongChainUsesTwoBuffers) {
  // 20,000 layers in a chain (each output read by the next layer) and the network input read by the last.
  const int kLength = 20000;
  std::vector<BufferRequest> r = {{64, 0, kLength}};
  for (int i = 0; i < kLength; ++i) r.push_back({64, i, i + 1});
  auto plan = planMemory(r);
  EXPECT_EQ(plan.arenaBytes, 3 * kArenaAlignment);
  for (int i = 1; i + 1 < kLength; ++i) {
    ASSERT_NE(plan.offsets[i], plan.offsets[i + 1]) << "chain buffers " << i << " and " << i + 1;
    ASSERT_NE(plan.offsets[i], plan.offsets[0]) << "chain buffer " << i << " and the long-lived buffer";
  }
}
