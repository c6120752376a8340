// The CUDA kernel test harness: builds one layer, runs the CPU reference (host::evaluateLayer) and the
// CUDA kernel of a tactic (the preferred one, or a named one) on seeded random data, and compares every
// output with per-layer tolerances. Outputs are poisoned before each run. Each tests/cuda/test_cuda_*.cpp family file uses it; tests skip when no GPU
// is present (but always compile).
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "backends/host_eval.h"
#include "backends/cuda/cuda_backend.h"
#include "core/half.h"
#include "ir/network.h"
#include "kiln/kiln.h"

namespace kiln::cuda_test {

constexpr DataType F32 = DataType::kFloat32, F16 = DataType::kFloat16, I32 = DataType::kInt32,
                   I64 = DataType::kInt64, BOOL = DataType::kBool;

inline std::shared_ptr<Backend> gpu() {
  static std::shared_ptr<Backend> backend = cuda::cudaDeviceCount() > 0 ? cuda::makeCudaBackend(0) : nullptr;
  return backend;
}
#define REQUIRE_GPU() \
  if (!gpu()) GTEST_SKIP() << "no CUDA device"

// One input of a test case: random data (a network input) or given values (a Constant layer).
struct In {
  DataType type = F32;
  Dims shape;
  bool constant = false;
  std::vector<double> values;  // constant values (or empty: random)
  double lo = -2, hi = 2;      // random range
  bool omitted = false;
};
inline In data(DataType t, Dims s, double lo = -2, double hi = 2) { return In{t, std::move(s), false, {}, lo, hi}; }
inline In cdata(DataType t, Dims s, double lo = -2, double hi = 2) { return In{t, std::move(s), true, {}, lo, hi}; }
inline In ints(std::vector<double> v, DataType t = I64) {
  Dims s{static_cast<int64_t>(v.size())};
  return In{t, s, true, std::move(v)};
}
inline In scalar(double v, DataType t) { return In{t, {}, true, {v}}; }
inline In none() {
  In i;
  i.omitted = true;
  return i;
}

inline HostTensor makeTensor(const In& in, std::mt19937& rng) {
  int64_t n = volume(in.shape);
  std::vector<uint8_t> bytes(static_cast<size_t>(n) * dataTypeSize(in.type));
  std::uniform_real_distribution<double> u(in.lo, in.hi);
  for (int64_t i = 0; i < n; ++i) {
    double v = in.values.empty() ? u(rng) : in.values[i];
    switch (in.type) {
      case F32: reinterpret_cast<float*>(bytes.data())[i] = static_cast<float>(v); break;
      case F16: reinterpret_cast<uint16_t*>(bytes.data())[i] = floatToHalf(static_cast<float>(v)); break;
      case I32: reinterpret_cast<int32_t*>(bytes.data())[i] = static_cast<int32_t>(std::floor(v)); break;
      case I64: reinterpret_cast<int64_t*>(bytes.data())[i] = static_cast<int64_t>(std::floor(v)); break;
      case BOOL: bytes[i] = in.values.empty() ? (v > (in.lo + in.hi) / 2) : (v != 0); break;
      case DataType::kUInt8: bytes[i] = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0)); break;
      case DataType::kInt8: reinterpret_cast<int8_t*>(bytes.data())[i] = static_cast<int8_t>(std::clamp(v, -128.0, 127.0)); break;
      default: ADD_FAILURE() << "test cannot make " << dataTypeName(in.type);
    }
  }
  return Weights::copyOf(in.type, in.shape, bytes.data());
}

inline double elementAt(const HostTensor& t, int64_t i) {
  switch (t.type) {
    case F32: return t.as<float>()[i];
    case F16: return halfToFloat(t.as<uint16_t>()[i]);
    case I32: return t.as<int32_t>()[i];
    case I64: return static_cast<double>(t.as<int64_t>()[i]);
    case BOOL: case DataType::kUInt8: return t.as<uint8_t>()[i];
    case DataType::kInt8: return t.as<int8_t>()[i];
    case DataType::kFloat64: return t.as<double>()[i];
    default: return NAN;
  }
}

struct Tol {
  double atol = 1e-5, rtol = 1e-4;
};

// Builds the layer, runs the CPU reference and the CUDA kernel of `tactic` ("": the preferred one), and
// compares every output. The kernel's name must be the tactic.
inline void checkTactic(const std::string& tactic, const LayerParams& params, const std::vector<In>& ins,
                        int numOutputs = 1, Tol tol = {}, Tol tol16 = {2e-2, 2e-2}, unsigned seed = 7) {
  auto backend = gpu();
  ASSERT_TRUE(backend);
  std::mt19937 rng(seed);
  ir::Network net;
  std::vector<ITensor*> tensors;
  std::vector<HostTensor> hosts(ins.size());
  bool anyHalf = false;
  for (size_t i = 0; i < ins.size(); ++i) {
    if (ins[i].omitted) {
      tensors.push_back(nullptr);
      continue;
    }
    anyHalf |= ins[i].type == F16;
    hosts[i] = makeTensor(ins[i], rng);
    if (ins[i].constant) {
      ConstantParams c;
      c.weights = hosts[i];
      tensors.push_back(net.addLayer(c, {}, 1)->output(0));
    } else {
      tensors.push_back(net.addInput("in" + std::to_string(i), ins[i].type, ins[i].shape));
    }
  }
  auto* layer = static_cast<ir::Layer*>(net.addLayer(params, tensors, numOutputs, "under_test"));
  std::string why = backend->unsupportedReason(*layer);
  ASSERT_TRUE(why.empty()) << layer->describe() << ": " << why;
  std::vector<const HostTensor*> refInputs, constants;
  for (size_t i = 0; i < ins.size(); ++i) {
    refInputs.push_back(ins[i].omitted ? nullptr : &hosts[i]);
    constants.push_back(!ins[i].omitted && ins[i].constant ? &hosts[i] : nullptr);
  }
  std::vector<HostTensor> ref = host::evaluateLayer(*layer, refInputs);
  ASSERT_EQ(static_cast<int>(ref.size()), numOutputs);

  auto kernel = backend->createKernel(*layer, constants, tactic);
  if (tactic.empty()) {
    std::vector<std::string> preferred = backend->tactics(*layer, 0);
    ASSERT_EQ(preferred.size(), 1u) << layer->describe();
    EXPECT_EQ(kernel->name(), preferred[0]);
  } else {
    EXPECT_EQ(kernel->name(), tactic);
  }
  KernelArgs args;
  std::vector<void*> allocations;
  auto alloc = [&](size_t bytes) {
    void* p = backend->allocate(std::max<size_t>(bytes, 1));
    allocations.push_back(p);
    return p;
  };
  for (size_t i = 0; i < ins.size(); ++i) {
    TensorView v;
    if (!ins[i].omitted) {
      v.type = hosts[i].type;
      v.shape = hosts[i].shape;
      size_t bytes = static_cast<size_t>(hosts[i].count()) * dataTypeSize(hosts[i].type);
      v.data = alloc(bytes);
      backend->copyFromHost(v.data, hosts[i].data(), bytes, nullptr);
    }
    args.inputs.push_back(v);
  }
  for (auto& r : ref) {
    TensorView v;
    v.type = r.type;
    v.shape = r.shape;
    size_t bytes = static_cast<size_t>(r.count()) * dataTypeSize(r.type);
    v.data = alloc(bytes);
    std::vector<uint8_t> poison(bytes, 0xff);  // NaN for floats, -1 for ints
    backend->copyFromHost(v.data, poison.data(), bytes, nullptr);
    args.outputs.push_back(v);
  }
  args.workspaceBytes = kernel->workspaceSize(args);
  args.workspace = args.workspaceBytes ? alloc(args.workspaceBytes) : nullptr;
  backend->synchronize(nullptr);
  kernel->execute(args);
  backend->synchronize(nullptr);

  Tol t = anyHalf ? tol16 : tol;
  for (size_t o = 0; o < ref.size(); ++o) {
    const HostTensor& r = ref[o];
    size_t bytes = static_cast<size_t>(r.count()) * dataTypeSize(r.type);
    std::vector<uint8_t> got(bytes);
    backend->copyToHost(got.data(), args.outputs[o].data, bytes, nullptr);
    backend->synchronize(nullptr);
    HostTensor g = Weights::copyOf(r.type, r.shape, got.data());
    int bad = 0;
    for (int64_t i = 0; i < r.count() && bad < 5; ++i) {
      double a = elementAt(g, i), b = elementAt(r, i);
      bool ok = (std::isnan(a) && std::isnan(b)) || a == b || std::fabs(a - b) <= t.atol + t.rtol * std::fabs(b);
      if (!ok) {
        ++bad;
        ADD_FAILURE() << kernel->name() << " output " << o << " " << dimsToString(r.shape) << " element " << i
                      << ": cuda " << a << " vs cpu " << b;
      }
    }
  }
  for (void* p : allocations) backend->deallocate(p);
}

// checkTactic with the preferred tactic.
inline void check(const LayerParams& params, const std::vector<In>& ins, int numOutputs = 1, Tol tol = {},
                  Tol tol16 = {2e-2, 2e-2}, unsigned seed = 7) {
  checkTactic("", params, ins, numOutputs, tol, tol16, seed);
}

template <class P> P with(P p) { return p; }

}  // namespace kiln::cuda_test
