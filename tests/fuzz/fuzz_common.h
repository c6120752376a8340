// What the fuzz targets share: a silent logger, the rule for which errors are acceptable, and running an
// engine once on zero inputs.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "ir/network.h"
#include "kiln/kiln.h"

namespace kiln::fuzz {

class SilentLogger : public Logger {
 public:
  void log(Severity, const std::string&) override {}
};

// The folder external data is looked up in: it holds one file, weights.bin (4096 bytes), so mutants that
// name it read real data and the others meet the folder's checks.
inline const std::string& externalDataDir() {
  static const std::string dir = [] {
    namespace fs = std::filesystem;
    fs::path d = fs::temp_directory_path() / "kiln-fuzz-external";
    fs::create_directories(d);
    std::ofstream out(d / "weights.bin", std::ios::binary | std::ios::trunc);
    std::vector<char> bytes(4096);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return d.string();
  }();
  return dir;
}

// Any kiln::Error is a clean refusal except an internal one, which is a Kiln bug: the target aborts so
// that libFuzzer records the input. Other exceptions (std::out_of_range, std::bad_alloc, ...) are not
// caught by the targets and abort the same way.
inline void expectCleanError(const Error& e) {
  if (e.code() != ErrorCode::kInternal) return;
  std::fprintf(stderr, "kiln fuzz: internal error: %s\n", e.what());
  std::abort();
}

// Inputs above this size are not run: the fuzzers look for crashes, not for the memory limit.
constexpr int64_t kMaxRunBytes = int64_t{64} << 20;

// Runs the engine once: every input zero at its profile's opt shape (sequences and optionals empty,
// strings empty), outputs left to the context. kiln::Errors are refusals (see expectCleanError).
inline void runOnce(const Engine& engine) {
  try {
    auto context = engine.createExecutionContext();
    std::vector<std::vector<uint8_t>> buffers;
    std::vector<std::vector<std::string>> strings;
    std::vector<std::unique_ptr<Weights>> containers;
    for (int i = 0; i < engine.numIOTensors(); ++i) {
      const std::string& name = engine.ioTensorName(i);
      if (engine.tensorIOMode(name) != TensorIOMode::kInput) continue;
      DataType type = engine.tensorDataType(name);
      ValueKind kind = engine.tensorValueKind(name);
      if (kind != ValueKind::kTensor) {
        containers.push_back(std::make_unique<Weights>(Weights::container(kind, type, {})));
        context->setTensorAddress(name, containers.back().get());
        continue;
      }
      Dims shape = engine.profileShape(name).opt;
      int64_t bytes = checkedByteSize(type, shape);
      if (bytes < 0 || bytes > kMaxRunBytes) return;
      context->setInputShape(name, shape);
      if (type == DataType::kString) {
        strings.emplace_back(static_cast<size_t>(checkedVolume(shape)));
        context->setTensorAddress(name, strings.back().data());
      } else {
        buffers.emplace_back(static_cast<size_t>(bytes) + 1, 0);  // + 1: a valid address for empty tensors
        context->setTensorAddress(name, buffers.back().data());
      }
    }
    // Data-dependent networks cannot plan ahead (an Error): they run, and allocate as they go.
    try {
      if (context->memoryUsage().arenaBytes > kMaxRunBytes) return;
    } catch (const Error& e) {
      expectCleanError(e);
    }
    context->execute();
  } catch (const Error& e) {
    expectCleanError(e);
  }
}

}  // namespace kiln::fuzz
