// Random: uniform values in [low, high) (float16/bfloat16 may round up to high) from a counter-based generator (splitmix64 of the seed and the
// element index), so the values do not depend on how the work is split between threads. Without a seed
// each run draws a fresh one.
#include <random>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernels/dispatch.h"
#include "backends/cpu/kernels/kernels.h"

namespace kiln::cpu {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A double in [0, 1) from the top 53 bits of a hash of (seed, index).
double uniformAt(uint64_t seed, int64_t index) {
  return static_cast<double>(splitmix64(seed ^ splitmix64(static_cast<uint64_t>(index))) >> 11) * 0x1.0p-53;
}

}  // namespace

void runRandom(const ir::Layer& layer, const KernelArgs& args) {
  KILN_CHECK(!args.outputs.empty(), kInternal, layer.describe(), ": no output");
  const auto& p = layer.as<RandomParams>();
  const TensorView& out = args.outputs[0];
  uint64_t seed = static_cast<uint64_t>(p.seed);
  if (!p.hasSeed) {
    std::random_device device;
    seed = (static_cast<uint64_t>(device()) << 32) ^ device();
  }
  const double low = p.low, range = static_cast<double>(p.high) - p.low;
  dispatchType<kFloats>(out.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* y = out.as<T>();
    parallelFor(out.count(), 16384, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        y[i] = static_cast<T>(static_cast<ComputeType<T>>(low + range * uniformAt(seed, i)));
      }
    });
  });
}

}  // namespace kiln::cpu
