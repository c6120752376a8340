// CUDA streams, events, pinned host buffers and graphs for `kiln bench` on CUDA engines.
// Declared without CUDA types; tools/cuda_timing.cpp is compiled only when Kiln has the CUDA backend
// (KILN_HAVE_CUDA), so a CPU-only CLI links no CUDA library.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace kiln::tools {

class CudaTiming {
 public:
  // Points in one timed inference, recorded as CUDA events on the stream.
  enum Mark { kStart, kInputsCopied, kComputed, kOutputsCopied, kNumMarks };

  explicit CudaTiming(int device);
  ~CudaTiming();
  CudaTiming(const CudaTiming&) = delete;
  CudaTiming& operator=(const CudaTiming&) = delete;

  std::string deviceDescription() const;  // "NVIDIA H200 (sm_90)"
  void* stream() const;                   // a cudaStream_t owned by this object

  // Buffers freed by the destructor.
  void* allocateDevice(size_t bytes);
  void* allocatePinned(size_t bytes);
  // Asynchronous copies on stream().
  void copyToDevice(void* dst, const void* src, size_t bytes);
  void copyToHost(void* dst, const void* src, size_t bytes);

  void mark(Mark mark);  // records the event of `mark` on stream()
  void synchronize();    // waits for stream()
  // Milliseconds between two recorded marks (after synchronize()).
  double elapsedMs(Mark from, Mark to) const;

  // Captures what `work` enqueues on stream() into a CUDA graph (replacing any previous one). If `work`
  // throws, the capture is ended and the error rethrown with the reason graphs failed.
  void captureGraph(const std::function<void()>& work);
  bool hasGraph() const;
  void launchGraph();  // replays the graph on stream()

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::tools
