//===- CrossEntropy.cu - Softmax cross-entropy and its gradient -----------===//
//
// One block per row of logits: each thread keeps a running maximum and a running sum of
// exponentials over its strided share of the row (one read of the row), the block combines
// them in a fixed pattern, and the row's loss goes to scratch; one block then averages the rows
// in a fixed order. The gradient recomputes the row's statistics the same way (the
// probabilities are never stored) and writes softmax - onehot, scaled by dloss / rows.
//
//===----------------------------------------------------------------------===//
#include "cuda/Common.cuh"

#include <cmath>

namespace ingot::cuda {
namespace {

constexpr int kRowThreads = 512;

struct Softmax {
  float max, sum;
};

/// The row's maximum and sum of exp(x - max), identical in every thread.
template <typename T>
__device__ Softmax rowSoftmax(const T *row, int64_t classes, float *shared) {
  float m = -INFINITY, s = 0;
  for (int64_t j = threadIdx.x; j < classes; j += blockDim.x) {
    float x = ld(row + j);
    if (x == -INFINITY)
      continue; // adds nothing (and would make exp(-inf - -inf) a NaN)
    if (x > m) {
      s = s * expf(m - x) + 1.0f;
      m = x;
    } else {
      s += expf(x - m);
    }
  }
  float rowMax = blockMax(m, shared);
  float scaled = m == -INFINITY ? 0.0f : s * expf(m - rowMax);
  return {rowMax, blockSum(scaled, shared)};
}

template <typename T>
__global__ void rowLossKernel(float *losses, const T *logits, const int32_t *targets,
                              int64_t classes) {
  __shared__ float shared[32];
  int64_t r = blockIdx.x;
  const T *row = logits + r * classes;
  Softmax sm = rowSoftmax(row, classes, shared);
  if (threadIdx.x == 0) {
    int64_t target = targets[r];
    losses[r] = (target < 0 || target >= classes)
                    ? nanf("")
                    : sm.max + logf(sm.sum) - ld(row + target);
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

template <typename T>
__global__ void crossEntropyGradKernel(T *dlogits, const T *logits, const int32_t *targets,
                                       const float *dloss, int64_t rows, int64_t classes) {
  __shared__ float shared[32];
  int64_t r = blockIdx.x;
  const T *row = logits + r * classes;
  Softmax sm = rowSoftmax(row, classes, shared);
  float scale = dloss[0] / float(rows), inverseSum = 1.0f / sm.sum;
  int64_t target = targets[r];
  T *out = dlogits + r * classes;
  for (int64_t j = threadIdx.x; j < classes; j += blockDim.x) {
    float p = expf(ld(row + j) - sm.max) * inverseSum;
    st(out + j, (p - (j == target ? 1.0f : 0.0f)) * scale);
  }
}

} // namespace

template <typename T>
void crossEntropy(float *loss, const T *logits, const int32_t *targets, int64_t rows,
                  int64_t classes, void *scratch) {
  auto *losses = static_cast<float *>(scratch);
  rowLossKernel<<<unsigned(rows), kRowThreads>>>(losses, logits, targets, classes);
  launchCheck("crossEntropy (rows)");
  meanKernel<<<1, 1024>>>(loss, losses, rows);
  launchCheck("crossEntropy (mean)");
}

template <typename T>
void crossEntropyGrad(T *dlogits, const T *logits, const int32_t *targets, const float *dloss,
                      int64_t rows, int64_t classes) {
  crossEntropyGradKernel<<<unsigned(rows), kRowThreads>>>(dlogits, logits, targets, dloss, rows,
                                                          classes);
  launchCheck("crossEntropyGrad");
}

#define INGOT_INST_CE(T)                                                                           \
  template void crossEntropy<T>(float *, const T *, const int32_t *, int64_t, int64_t, void *);   \
  template void crossEntropyGrad<T>(T *, const T *, const int32_t *, const float *, int64_t,      \
                                    int64_t);
INGOT_FOR_T(INGOT_INST_CE)

} // namespace ingot::cuda
