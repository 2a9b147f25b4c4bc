//===- AttentionBench.cu - Times the flash attention kernels ---------------===//
//
// Run on a GPU machine: `ingot-cuda-attention-bench [--once] [batch tq heads hd]...` (CI builds it;
// utils/bench/attention.sh runs it next to PyTorch's scaled_dot_product_attention on the same
// card). Causal bf16 attention as the trainers call it ([batch, t, heads * hd] rows): the
// forward and the backward (delta, dK/dV, dQ) each timed with CUDA events over 20 launches
// after 3 warm-up launches, median of 5 such windows. FLOPs count the causal half: forward
// 4·b·h·t²·d / 2, backward 2.5× that (the five products of flash attention's backward).
// Prints one JSON line per shape. `--once` runs each once, untimed (for a profiler such as
// ncu). Correctness is ingot-cuda-kernel-check's job.
//
//===----------------------------------------------------------------------===//
#include "cuda/Check.cuh"
#include "cuda/Kernels.cuh"
#include "cuda/Scratch.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace ingot::cuda;

namespace {

struct Shape {
  int64_t batch, t, heads, hd;
};

template <typename Launch> float medianMs(Launch launch) {
  constexpr int kWarmup = 3, kLaunches = 20, kWindows = 5;
  for (int i = 0; i < kWarmup; ++i)
    launch();
  cudaEvent_t start, stop;
  cudaCheck(cudaEventCreate(&start));
  cudaCheck(cudaEventCreate(&stop));
  std::vector<float> windows;
  for (int w = 0; w < kWindows; ++w) {
    cudaCheck(cudaEventRecord(start, cudaStreamPerThread));
    for (int i = 0; i < kLaunches; ++i)
      launch();
    cudaCheck(cudaEventRecord(stop, cudaStreamPerThread));
    cudaCheck(cudaEventSynchronize(stop));
    float ms = 0;
    cudaCheck(cudaEventElapsedTime(&ms, start, stop));
    windows.push_back(ms / kLaunches);
  }
  cudaCheck(cudaEventDestroy(start));
  cudaCheck(cudaEventDestroy(stop));
  std::sort(windows.begin(), windows.end());
  return windows[kWindows / 2];
}

void bench(const Shape &s, bool once) {
  const size_t rows = size_t(s.batch * s.t), width = size_t(s.heads * s.hd);
  const size_t n = rows * width;
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<bf16> host(n);
  bf16 *buffers[8];
  for (bf16 *&p : buffers) {
    cudaCheck(cudaMalloc(&p, n * sizeof(bf16)));
    for (bf16 &x : host)
      x = bf16(normal(rng));
    cudaCheck(cudaMemcpy(p, host.data(), n * sizeof(bf16), cudaMemcpyHostToDevice));
  }
  bf16 *q = buffers[0], *k = buffers[1], *v = buffers[2], *out = buffers[3], *dout = buffers[4],
       *dq = buffers[5], *dk = buffers[6], *dv = buffers[7];
  float *lse;
  void *scratch;
  cudaCheck(cudaMalloc(&lse, size_t(s.batch * s.heads * s.t) * sizeof(float)));
  cudaCheck(cudaMalloc(&scratch, size_t(scratchBytesAttentionGrad(s.batch, s.heads, s.t))));
  auto forward = [&] {
    attention<bf16>(out, lse, q, k, v, s.batch, s.t, s.t, s.heads, s.heads, s.hd, true, 0.0);
  };
  auto backward = [&] {
    attentionGrad<bf16>(dq, dk, dv, q, k, v, out, dout, lse, s.batch, s.t, s.t, s.heads,
                        s.heads, s.hd, true, 0.0, scratch);
  };
  if (once) {
    forward();
    backward();
    cudaCheck(cudaDeviceSynchronize());
    std::printf("ran batch %lld t %lld heads %lld hd %lld once\n", (long long)s.batch,
                (long long)s.t, (long long)s.heads, (long long)s.hd);
  } else {
    float fwdMs = medianMs(forward);
    float bwdMs = medianMs(backward);
    cudaCheck(cudaDeviceSynchronize());
    const double fwdFlops = 4.0 * s.batch * s.heads * double(s.t) * s.t * s.hd / 2;
    std::printf("{\"system\": \"ingot\", \"batch\": %lld, \"t\": %lld, \"heads\": %lld, \"hd\": %lld, "
                "\"fwd_ms\": %.4f, \"bwd_ms\": %.4f, \"fwd_tflops\": %.1f, \"bwd_tflops\": %.1f}\n",
                (long long)s.batch, (long long)s.t, (long long)s.heads, (long long)s.hd, fwdMs,
                bwdMs, fwdFlops / fwdMs / 1e9, 2.5 * fwdFlops / bwdMs / 1e9);
  }
  for (bf16 *p : buffers)
    cudaFree(p);
  cudaFree(lse);
  cudaFree(scratch);
}

} // namespace

int main(int argc, char **argv) {
  std::vector<Shape> shapes;
  int first = 1;
  const bool once = argc > 1 && std::string(argv[1]) == "--once";
  first += once;
  if (argc > first) {
    if ((argc - first) % 4 != 0) {
      std::fprintf(stderr, "usage: %s [--once] [batch tq heads hd]...\n", argv[0]);
      return 2;
    }
    for (int i = first; i + 3 < argc; i += 4)
      shapes.push_back({std::atoll(argv[i]), std::atoll(argv[i + 1]), std::atoll(argv[i + 2]),
                        std::atoll(argv[i + 3])});
  } else {
    // GPT-2 124M, 350M (B 16) and 1.5B (B 8) at T 1024: the benchmark table's attention.
    shapes = {{16, 1024, 12, 64}, {16, 1024, 16, 64}, {8, 1024, 25, 64}};
  }
  for (const Shape &s : shapes) {
    if (s.batch <= 0 || s.t <= 0 || s.heads <= 0 || s.hd <= 0) {
      std::fprintf(stderr, "error: batch, t, heads and hd must be positive\n");
      return 2;
    }
    bench(s, once);
  }
  return 0;
}
