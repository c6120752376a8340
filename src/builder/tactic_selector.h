// Tactic selection: for every layer with several candidate kernels on its backend, time each candidate
// on the target device at the profile's opt shapes with the layer's real weights, and keep the fastest.
// Timings come from and go to a TimingCache, so a second build with the same cache times nothing and
// makes the same choices.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "builder/timing_cache.h"
#include "runtime/engine_impl.h"

namespace kiln::builder {

struct TacticSelectionOptions {
  int effort = 3;                 // BuilderConfig::builderEffort
  TimingCache* cache = nullptr;   // read and updated; required
  std::function<void(int, int, const std::string&, const std::string&)> progress;  // may be empty
  Logger* logger = nullptr;       // verbose lines: each timing, each failed candidate
};

// Per layer of the engine's network (in order).
struct TacticSelection {
  std::vector<std::string> tactics;  // "" for layers without a kernel
  std::vector<float> milliseconds;   // the chosen tactic's time; -1 when not timed
  Dims candidates;                   // how many candidates were timed (0: none)
  std::vector<bool> fromCache;       // every candidate's time came from the cache
  int layersTimed = 0;               // layers for which at least one candidate was timed in this build
  int cacheHits = 0;                 // layers whose candidates were all in the cache
};

// `engine` is loaded from a plan of the network with the preferred tactics; `optShapes` are the
// profile's opt shapes of the network inputs.
TacticSelection selectTactics(const EngineImpl& engine, const std::map<std::string, Dims>& optShapes,
                              const TacticSelectionOptions& options);

// The timing-cache key of a layer at settled shapes: type, params, input/output types and shapes, which
// inputs are constants, and the backend's device signature. Layer names are not part of it, so equal
// layers share timings.
std::string layerSignature(const EngineImpl& engine, size_t layerIndex, const SettledShapes& shapes);

// Picks the index of the fastest timing; a candidate earlier in the backend's preference order wins
// when it is within `tolerance` (relative) of the fastest, so measurement noise does not flip choices.
// Timings without a value (failed candidates) are never chosen. Returns -1 when none has a value.
int chooseFastest(const std::vector<TimingCache::Timing>& timings, double tolerance = 0.02);

}  // namespace kiln::builder
