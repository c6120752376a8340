#include <gtest/gtest.h>

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
