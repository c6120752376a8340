// What the oneDNN kernel rows share (convolution_onednn.cpp, matrix_multiply_onednn.cpp): the engine, the
// thread count, the workspace layout, and constant weights reordered once per format a primitive asks for.
#pragma once

#if KILN_HAVE_DNNL

#include <dlfcn.h>

#include <dnnl.hpp>
#include <mutex>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"

namespace kiln::cpu::onednn {

using dnnl::memory;

inline const dnnl::engine& engine() {
  static const dnnl::engine cpu(dnnl::engine::kind::cpu, 0);
  return cpu;
}

// oneDNN takes its thread count from its threading runtime. Debian's libdnnl runs on OpenMP, whose count
// belongs to the calling thread: set it to numThreads() (KILN_NUM_THREADS) before creating or running a
// primitive. omp_set_num_threads is looked up at run time because kiln does not link OpenMP itself (the
// library libdnnl loads is the one oneDNN uses).
inline void useKilnThreadCount() {
#if DNNL_CPU_RUNTIME == DNNL_RUNTIME_OMP
  using SetNumThreads = void (*)(int);
  static const auto setNumThreads = reinterpret_cast<SetNumThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (setNumThreads) setNumThreads(numThreads());
#endif
}

// A dense row-major float32 memory descriptor (rank 1 to 6).
inline memory::desc plainDesc(const Dims& dims) {
  KILN_CHECK(!dims.empty() && dims.size() <= 6, kUnsupported, "oneDNN: no plain format for rank ", dims.size());
  static const memory::format_tag tags[] = {memory::format_tag::a, memory::format_tag::ab, memory::format_tag::abc,
                                            memory::format_tag::abcd, memory::format_tag::abcde,
                                            memory::format_tag::abcdef};
  return memory::desc(dims, memory::data_type::f32, tags[dims.size() - 1]);
}

// 64-byte aligned parts of a kernel's workspace.
struct WorkspaceLayout {
  size_t bytes = 0;
  size_t add(size_t size) {
    size_t offset = bytes;
    bytes += (size + 63) / 64 * 64;
    return offset;
  }
};

// Constant weights reordered into the formats primitives ask for, once each (in practice one format per
// kernel: it depends on the channels and the ISA, not on the batch or image size). Thread-safe.
class ReorderedWeights {
 public:
  ReorderedWeights(memory::desc plain, HostTensor value) : plain_(std::move(plain)), value_(std::move(value)) {}
  memory in(const memory::desc& format) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const memory& m : reordered_)
      if (m.get_desc() == format) return m;
    memory src(plain_, engine(), const_cast<void*>(value_.data()));
    memory dst(format, engine());  // allocated by oneDNN, owned by the handle
    dnnl::stream stream(engine());
    dnnl::reorder(src, dst).execute(stream, src, dst);
    stream.wait();
    reordered_.push_back(dst);
    return dst;
  }

 private:
  memory::desc plain_;
  HostTensor value_;  // shares the constant's bytes
  mutable std::mutex mutex_;
  mutable std::vector<memory> reordered_;
};

}  // namespace kiln::cpu::onednn

#endif  // KILN_HAVE_DNNL
