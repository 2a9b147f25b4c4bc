//===- CrossEntropy.cu - Softmax cross-entropy and its gradient -----------===//
//
// One block per row of logits: each thread keeps a running maximum and a running sum of
// exponentials over its share of the row (one read of the row), the block combines them in a
// fixed pattern, and the row's loss goes to scratch; one block then averages the rows in a
// fixed order. Each row's log-sum-exp is kept (a slot after the arena, as attention's), so the
// gradient is one more read of the logits and one write: softmax - onehot, times dloss / rows.
// The probabilities are never stored.
//
//===----------------------------------------------------------------------===//
#include "cuda/Common.cuh"

#include <cmath>
#include <type_traits>

namespace ingot::cuda {
namespace {

constexpr int kRowThreads = 512;

struct Softmax {
  float max, sum;
};

/// The row's maximum and sum of exp(x - max), identical in every thread. Each thread walks runs
/// of 8 consecutive logits (whole cache lines per warp), keeping a running maximum and sum.
template <typename T>
__device__ Softmax rowSoftmax(const T *row, int64_t classes, float *shared) {
  float m = -INFINITY, s = 0;
  for (int64_t base = int64_t(threadIdx.x) * 8; base < classes; base += int64_t(blockDim.x) * 8) {
    float x[8];
    if constexpr (std::is_same_v<T, bf16>) {
      if (base + 8 <= classes && classes % 8 == 0) {
        uint4 packed = *reinterpret_cast<const uint4 *>(row + base); // 8 logits, 16 bytes
        const bf16 *v = reinterpret_cast<const bf16 *>(&packed);
#pragma unroll
        for (int j = 0; j < 8; ++j)
          x[j] = __bfloat162float(v[j]);
      } else {
#pragma unroll
        for (int j = 0; j < 8; ++j)
          x[j] = base + j < classes ? ld(row + base + j) : -INFINITY;
      }
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j)
        x[j] = base + j < classes ? ld(row + base + j) : -INFINITY;
    }
    // One rescale per run of 8: the running sum moves to the run's maximum once.
    float runMax = x[0];
#pragma unroll
    for (int j = 1; j < 8; ++j)
      runMax = fmaxf(runMax, x[j]);
    if (runMax == -INFINITY)
      continue; // adds nothing (and would make exp(-inf - -inf) a NaN)
    if (runMax > m) {
      s = m == -INFINITY ? 0.0f : s * expf(m - runMax);
      m = runMax;
    }
#pragma unroll
    for (int j = 0; j < 8; ++j)
      s += expf(x[j] - m);
  }
  float rowMax = blockMax(m, shared);
  float scaled = m == -INFINITY ? 0.0f : s * expf(m - rowMax);
  return {rowMax, blockSum(scaled, shared)};
}

/// Each row's loss (for the mean) and log-sum-exp (kept for the gradient).
template <typename T>
__global__ void rowLossKernel(float *losses, float *rowLse, const T *logits,
                              const int32_t *targets, int64_t classes) {
  __shared__ float shared[32];
  int64_t r = blockIdx.x;
  const T *row = logits + r * classes;
  Softmax sm = rowSoftmax(row, classes, shared);
  if (threadIdx.x == 0) {
    int64_t target = targets[r];
    float lse = sm.max + logf(sm.sum);
    rowLse[r] = lse;
    losses[r] = (target < 0 || target >= classes) ? nanf("") : lse - ld(row + target);
  }
}

__global__ void meanKernel(float *loss, const float *losses, int64_t rows) {
  __shared__ double shared[32];
  double acc = 0;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x)
    acc += double(losses[r]);
  acc = blockSum(acc, shared);
  if (threadIdx.x == 0)
    loss[0] = float(acc / double(rows));
}

/// softmax - onehot from the forward's log-sum-exp: one read of the logits, one write.
template <typename T>
__global__ void crossEntropyGradKernel(T *dlogits, const T *logits, const float *rowLse,
                                       const int32_t *targets, const float *dloss, int64_t rows,
                                       int64_t classes) {
  int64_t r = blockIdx.x;
  const T *row = logits + r * classes;
  float scale = dloss[0] / float(rows), lse = rowLse[r];
  int64_t target = targets[r];
  T *out = dlogits + r * classes;
  if constexpr (std::is_same_v<T, bf16>) {
    if (classes % 8 == 0) {
      // 16-byte loads and stores of 8 logits; the bf16 output needs no more than __expf.
      for (int64_t base = int64_t(threadIdx.x) * 8; base < classes;
           base += int64_t(blockDim.x) * 8) {
        uint4 in = *reinterpret_cast<const uint4 *>(row + base), result;
        const bf16 *x = reinterpret_cast<const bf16 *>(&in);
        bf16 *y = reinterpret_cast<bf16 *>(&result);
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          float p = __expf(__bfloat162float(x[j]) - lse);
          y[j] = __float2bfloat16_rn((p - (base + j == target ? 1.0f : 0.0f)) * scale);
        }
        *reinterpret_cast<uint4 *>(out + base) = result;
      }
      return;
    }
  }
  for (int64_t base = int64_t(threadIdx.x) * 8; base < classes; base += int64_t(blockDim.x) * 8) {
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      int64_t c = base + j;
      if (c < classes)
        st(out + c, (expf(ld(row + c) - lse) - (c == target ? 1.0f : 0.0f)) * scale);
    }
  }
}

} // namespace

template <typename T>
void crossEntropy(float *loss, float *rowLse, const T *logits, const int32_t *targets,
                  int64_t rows, int64_t classes, void *scratch) {
  auto *losses = static_cast<float *>(scratch);
  rowLossKernel<<<unsigned(rows), kRowThreads>>>(losses, rowLse, logits, targets, classes);
  launchCheck("crossEntropy (rows)");
  meanKernel<<<1, 1024>>>(loss, losses, rows);
  launchCheck("crossEntropy (mean)");
}

template <typename T>
void crossEntropyGrad(T *dlogits, const T *logits, const float *rowLse, const int32_t *targets,
                      const float *dloss, int64_t rows, int64_t classes) {
  crossEntropyGradKernel<<<unsigned(rows), kRowThreads>>>(dlogits, logits, rowLse, targets,
                                                          dloss, rows, classes);
  launchCheck("crossEntropyGrad");
}

#define INGOT_INST_CE(T)                                                                           \
  template void crossEntropy<T>(float *, float *, const T *, const int32_t *, int64_t, int64_t,   \
                                void *);                                                           \
  template void crossEntropyGrad<T>(T *, const T *, const float *, const int32_t *,               \
                                    const float *, int64_t, int64_t);
INGOT_FOR_T(INGOT_INST_CE)

} // namespace ingot::cuda
