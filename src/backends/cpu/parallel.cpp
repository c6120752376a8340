// A fixed thread pool for CPU kernels: parallelFor splits a range into contiguous chunks.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "backends/cpu/cpu_backend.h"

namespace kiln::cpu {
namespace {

class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { workerLoop(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs task(i) for i in [0, count) on the workers and the calling thread; returns when all are done.
  void run(int count, const std::function<void(int)>& task) {
    std::unique_lock<std::mutex> runLock(runMutex_);  // one parallel region at a time
    uint32_t generation;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = &task;
      count_ = count;
      pending_ = count;
      generation = static_cast<uint32_t>(++generation_);
      next_.store(uint64_t{generation} << 32);
    }
    wake_.notify_all();
    drain(generation, count, &task);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    task_ = nullptr;
  }

 private:
  // Claims and runs indices of one region. `next_` holds the region's generation beside the next index, so a
  // worker still draining a finished region can never claim an index of the next one (which would run a
  // task twice and end the region early); the region's count and task are the caller's copies, never the
  // shared fields another region may be writing.
  void drain(uint32_t generation, int count, const std::function<void(int)>* task) {
    for (;;) {
      uint64_t claimed = next_.load();
      if (static_cast<uint32_t>(claimed >> 32) != generation) return;
      int i = static_cast<int>(claimed & 0xffffffffu);
      if (i >= count) return;
      if (!next_.compare_exchange_weak(claimed, claimed + 1)) continue;
      (*task)(i);
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_.notify_all();
    }
  }
  void workerLoop() {
    uint64_t seen = 0;
    for (;;) {
      uint32_t generation;
      int count;
      const std::function<void(int)>* task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || (generation_ != seen && task_ != nullptr); });
        if (stop_) return;
        seen = generation_;
        generation = static_cast<uint32_t>(generation_);
        count = count_;
        task = task_;
      }
      drain(generation, count, task);
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_, runMutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* task_ = nullptr;
  int count_ = 0;
  std::atomic<uint64_t> next_{0};  // generation << 32 | next index to claim
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

int defaultThreads() {
  if (const char* env = std::getenv("KILN_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

std::mutex poolMutex;
std::unique_ptr<ThreadPool> pool;
int requestedThreads = 0;
thread_local bool insideParallelRegion = false;

ThreadPool& getPool() {
  std::lock_guard<std::mutex> lock(poolMutex);
  if (!pool) pool = std::make_unique<ThreadPool>(requestedThreads > 0 ? requestedThreads : defaultThreads());
  return *pool;
}

}  // namespace

int numThreads() { return getPool().size(); }

void setNumThreads(int n) {
  std::lock_guard<std::mutex> lock(poolMutex);
  requestedThreads = std::max(1, n);
  pool.reset();
}

void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  ThreadPool& threads = getPool();
  int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, threads.size());
  if (chunks <= 1 || insideParallelRegion) {  // nested regions run serially
    fn(0, n);
    return;
  }
  int64_t per = (n + chunks - 1) / chunks;
  threads.run(static_cast<int>(chunks), [&](int c) {
    insideParallelRegion = true;
    int64_t begin = c * per, end = std::min(n, begin + per);
    if (begin < end) fn(begin, end);
    insideParallelRegion = false;
  });
}

}  // namespace kiln::cpu
