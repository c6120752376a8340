// libFuzzer target: plan bytes -> Runtime::deserializeEngine -> one run on zero inputs when it loads.
// Every refusal must be a kiln::Error of code kInvalidPlan; what loads must run (or refuse its inputs with a
// kiln::Error). With KILN_FUZZ_PLAN_STRUCTURED, a custom mutator edits a valid plan's metadata (or, now and
// then, its weights) and rewrites the header and checksum, so mutants get past the checksum to the reader.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_common.h"
#include "plan/plan_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  static fuzz::SilentLogger logger;
  std::shared_ptr<Engine> engine;
  try {
    engine = Runtime(logger).deserializeEngine(data, size);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kInvalidPlan) {
      std::fprintf(stderr, "kiln fuzz: a bad plan gave %s, not an invalid-plan error: %s\n",
                   errorCodeName(e.code()), e.what());
      std::abort();
    }
    return 0;
  }
  fuzz::runOnce(*engine);
  return 0;
}

#ifdef KILN_FUZZ_PLAN_STRUCTURED

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t maxSize);

namespace {

template <class T>
T readAt(const uint8_t* data, size_t at) {
  T v;
  std::memcpy(&v, data + at, sizeof v);
  return v;
}

template <class T>
void writeAt(std::vector<uint8_t>& out, size_t at, T v) {
  std::memcpy(out.data() + at, &v, sizeof v);
}

uint32_t fnv1a(const uint8_t* data, size_t size) {
  uint32_t hash = 2166136261u;
  for (size_t i = 0; i < size; ++i) hash = (hash ^ data[i]) * 16777619u;
  return hash;
}

// A plan laid out as plan_format.h describes, from `metadata` and `weights`, with a valid checksum.
std::vector<uint8_t> assemblePlan(uint32_t formatVersion, const std::vector<uint8_t>& metadata,
                                  const std::vector<uint8_t>& weights) {
  using namespace kiln::plan;
  size_t weightsOffset = (kHeaderSize + metadata.size() + kWeightsAlignment - 1) / kWeightsAlignment * kWeightsAlignment;
  std::vector<uint8_t> out(weightsOffset + weights.size(), 0);
  std::memcpy(out.data(), kPlanMagic, 8);
  writeAt<uint32_t>(out, 8, formatVersion);
  writeAt<uint64_t>(out, 16, kHeaderSize);
  writeAt<uint64_t>(out, 24, metadata.size());
  writeAt<uint64_t>(out, 32, weightsOffset);
  writeAt<uint64_t>(out, 40, weights.size());
  if (!metadata.empty()) std::memcpy(out.data() + kHeaderSize, metadata.data(), metadata.size());
  if (!weights.empty()) std::memcpy(out.data() + weightsOffset, weights.data(), weights.size());
  writeAt<uint32_t>(out, 48, fnv1a(out.data() + kHeaderSize, out.size() - kHeaderSize));
  return out;
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t maxSize, unsigned int seed) {
  using namespace kiln::plan;
  bool isPlan = size >= kHeaderSize && std::memcmp(data, kPlanMagic, 8) == 0;
  uint64_t metadataSize = isPlan ? readAt<uint64_t>(data, 24) : 0, weightsOffset = isPlan ? readAt<uint64_t>(data, 32) : 0;
  uint64_t weightsSize = isPlan ? readAt<uint64_t>(data, 40) : 0;
  isPlan = isPlan && readAt<uint64_t>(data, 16) == kHeaderSize && metadataSize <= size - kHeaderSize &&
           weightsOffset <= size && weightsSize <= size - weightsOffset &&
           kHeaderSize + metadataSize <= weightsOffset;
  if (!isPlan) return LLVMFuzzerMutate(data, size, maxSize);
  std::vector<uint8_t> metadata(data + kHeaderSize, data + kHeaderSize + metadataSize);
  std::vector<uint8_t> weights(data + weightsOffset, data + weightsOffset + weightsSize);
  // Mostly the metadata (the network, profile and tactics); one time in eight the weights.
  std::vector<uint8_t>& part = seed % 8 == 0 && !weights.empty() ? weights : metadata;
  size_t room = maxSize > size ? maxSize - size : 0;
  size_t partSize = part.size();
  part.resize(partSize + room + 64);
  part.resize(LLVMFuzzerMutate(part.data(), partSize, part.size()));
  std::vector<uint8_t> plan = assemblePlan(readAt<uint32_t>(data, 8), metadata, weights);
  if (plan.size() > maxSize) return size;  // unchanged: no room for this mutant
  std::memcpy(data, plan.data(), plan.size());
  return plan.size();
}

#endif  // KILN_FUZZ_PLAN_STRUCTURED
