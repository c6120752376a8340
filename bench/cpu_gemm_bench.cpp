// Measures the CPU sgemm in GFLOP/s. Build by hand:
//   g++ -O3 -std=c++20 -Iinclude -Isrc bench/cpu_gemm_bench.cpp src/backends/cpu/kernels/gemm.cpp \
//       src/backends/cpu/parallel.cpp -pthread -o /tmp/gemm_bench && /tmp/gemm_bench
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernels/gemm.h"

int main(int argc, char** argv) {
  struct Shape { long M, N, K; bool tB; const char* what; };
  std::vector<Shape> shapes = {
      {1024, 1024, 1024, false, "square 1024"},
      {128, 768, 768, false, "BERT qkv/proj [128x768]x[768x768]"},
      {128, 3072, 768, false, "BERT ffn1"},
      {128, 768, 3072, false, "BERT ffn2"},
      {128, 128, 64, true, "BERT attn QK^T (per head)"},
      {64, 3136, 576, false, "ResNet conv2_x 3x3 (im2col)"},
      {256, 3136, 64, false, "ResNet conv2_x 1x1"},
      {512, 49, 4608, false, "ResNet conv5_x 3x3"},
      {2048, 49, 512, false, "ResNet conv5_x 1x1"},
  };
  int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  kiln::cpu::setNumThreads(threads);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  for (auto s : shapes) {
    std::vector<float> A(s.M * s.K), B(s.K * s.N), C(s.M * s.N);
    for (auto& x : A) x = d(rng);
    for (auto& x : B) x = d(rng);
    double flop = 2.0 * s.M * s.N * s.K;
    int reps = std::max(3, int(2e9 / flop));
    auto run = [&] { kiln::cpu::sgemm(false, s.tB, s.M, s.N, s.K, A.data(), s.K, B.data(), s.tB ? s.K : s.N, C.data(), s.N); };
    run();
    auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) run();
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    std::printf("%-40s M=%5ld N=%5ld K=%5ld  %8.3f ms  %7.1f GFLOP/s\n", s.what, s.M, s.N, s.K, sec * 1e3, flop / sec / 1e9);
  }
}
