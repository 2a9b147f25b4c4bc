//===- Norms.cu - Layer norm and RMS norm, forward and backward -----------===//
//
// One warp per row: the row's statistics in fp32 from a fixed-pattern warp reduction, the
// row read again (from L1/L2) to normalize. The backward keeps each row's mean and 1/std in
// scratch, reduces the weight gradients (column sums of dy * xhat and dy) in fixed chunks
// (ColumnSum.cuh), so nothing depends on scheduling, and writes dx last, so dx may take the
// place of x or dy in the memory plan.
//
//===----------------------------------------------------------------------===//
#include "cuda/ColumnSum.cuh"

namespace ingot::cuda {
namespace {

constexpr int kRowsPerBlock = 8; // one warp each

struct RowStats {
  float mean, rstd;
};

template <typename T>
__device__ RowStats warpRowStats(const T *x, int64_t dim, float eps, bool rms) {
  int lane = threadIdx.x % 32;
  float mean = 0;
  if (!rms) {
    float sum = 0;
    for (int64_t j = lane; j < dim; j += 32)
      sum += ld(x + j);
    mean = warpSum(sum) / float(dim);
  }
  float squares = 0;
  for (int64_t j = lane; j < dim; j += 32) {
    float d = ld(x + j) - mean;
    squares += d * d;
  }
  return {mean, rsqrtf(warpSum(squares) / float(dim) + eps)};
}

template <typename T>
__global__ void normKernel(T *y, const T *x, const float *gamma, const float *beta, int64_t rows,
                           int64_t dim, float eps, bool rms) {
  int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (r >= rows)
    return;
  int lane = threadIdx.x % 32;
  const T *xr = x + r * dim;
  T *yr = y + r * dim;
  RowStats s = warpRowStats(xr, dim, eps, rms);
  for (int64_t j = lane; j < dim; j += 32) {
    float v = (ld(xr + j) - s.mean) * s.rstd;
    if (gamma)
      v *= gamma[j];
    if (beta)
      v += beta[j];
    st(yr + j, v);
  }
}

/// Each row's mean and 1/std, for the weight gradients and the input gradient.
template <typename T>
__global__ void normStatsKernel(RowStats *stats, const T *x, int64_t rows, int64_t dim,
                                float eps, bool rms) {
  int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (r >= rows)
    return;
  RowStats s = warpRowStats(x + r * dim, dim, eps, rms);
  if (threadIdx.x % 32 == 0)
    stats[r] = s;
}

/// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma (layer norm); the RMS norm
/// drops the mean(g) term. Each lane reads x[j] and dy[j] before it writes dx[j], so dx may be
/// x or dy itself (the weight gradients, which read them too, run first).
template <typename T>
__global__ void normInputGradKernel(T *dx, const RowStats *stats, const T *x, const float *gamma,
                                    const T *dy, const T *residual, int64_t rows, int64_t dim,
                                    bool rms) {
  int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (r >= rows)
    return;
  int lane = threadIdx.x % 32;
  const T *xr = x + r * dim, *dyr = dy + r * dim;
  RowStats s = stats[r];
  float sumG = 0, sumGX = 0;
  for (int64_t j = lane; j < dim; j += 32) {
    float g = ld(dyr + j) * (gamma ? gamma[j] : 1.0f);
    sumG += g;
    sumGX += g * ((ld(xr + j) - s.mean) * s.rstd);
  }
  float meanG = rms ? 0.0f : warpSum(sumG) / float(dim);
  float meanGX = warpSum(sumGX) / float(dim);
  T *dxr = dx + r * dim;
  const T *res = residual ? residual + r * dim : nullptr;
  for (int64_t j = lane; j < dim; j += 32) {
    float g = ld(dyr + j) * (gamma ? gamma[j] : 1.0f);
    float xhat = (ld(xr + j) - s.mean) * s.rstd;
    float value = s.rstd * (g - meanG - xhat * meanGX);
    st(dxr + j, res ? ld(res + j) + value : value);
  }
}

/// (dy * xhat, dy) at (r, c): the two column sums of the weight gradients.
template <typename T> struct NormWeightGradValue {
  const T *x, *dy;
  const RowStats *stats;
  int64_t dim;
  __device__ Values<2> operator()(int64_t, int64_t r, int64_t c) const {
    float g = ld(dy + r * dim + c);
    RowStats s = stats[r];
    return {{g * ((ld(x + r * dim + c) - s.mean) * s.rstd), g}};
  }
};

template <typename T>
void normGrad(T *dx, float *dgamma, float *dbeta, const T *x, const float *gamma, const T *dy,
              const T *residual, int64_t rows, int64_t dim, double eps, void *scratch, bool rms,
              bool accumulateWeights) {
  auto *stats = static_cast<RowStats *>(scratch);
  float *partial = reinterpret_cast<float *>(static_cast<char *>(scratch) +
                                             (rows * sizeof(RowStats) + 255) / 256 * 256);
  unsigned blocks = unsigned((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  normStatsKernel<<<blocks, 32 * kRowsPerBlock>>>(stats, x, rows, dim, float(eps), rms);
  launchCheck(rms ? "rmsNormGrad (statistics)" : "layerNormGrad (statistics)");
  columnReduce<2, false>(NormWeightGradValue<T>{x, dy, stats, dim}, dgamma, dbeta, partial, 1,
                         rows, dim, 1.0f, accumulateWeights,
                         rms ? "rmsNormGrad (weights)" : "layerNormGrad (weights)");
  normInputGradKernel<<<blocks, 32 * kRowsPerBlock>>>(dx, stats, x, gamma, dy, residual, rows,
                                                      dim, rms);
  launchCheck(rms ? "rmsNormGrad (input)" : "layerNormGrad (input)");
}

} // namespace

template <typename T>
void layerNorm(T *y, const T *x, const float *gamma, const float *beta, int64_t rows,
               int64_t dim, double eps) {
  normKernel<<<unsigned((rows + kRowsPerBlock - 1) / kRowsPerBlock), 32 * kRowsPerBlock>>>(
      y, x, gamma, beta, rows, dim, float(eps), false);
  launchCheck("layerNorm");
}

template <typename T>
void layerNormGrad(T *dx, float *dgamma, float *dbeta, const T *x, const float *gamma,
                   const T *dy, int64_t rows, int64_t dim, double eps, void *scratch,
                   const T *residual, bool accumulateWeights) {
  normGrad(dx, dgamma, dbeta, x, gamma, dy, residual, rows, dim, eps, scratch, false,
           accumulateWeights);
}

template <typename T>
void rmsNorm(T *y, const T *x, const float *gamma, int64_t rows, int64_t dim, double eps) {
  normKernel<<<unsigned((rows + kRowsPerBlock - 1) / kRowsPerBlock), 32 * kRowsPerBlock>>>(
      y, x, gamma, static_cast<const float *>(nullptr), rows, dim, float(eps), true);
  launchCheck("rmsNorm");
}

template <typename T>
void rmsNormGrad(T *dx, float *dgamma, const T *x, const float *gamma, const T *dy, int64_t rows,
                 int64_t dim, double eps, void *scratch, const T *residual,
                 bool accumulateWeights) {
  normGrad(dx, dgamma, static_cast<float *>(nullptr), x, gamma, dy, residual, rows, dim, eps,
           scratch, true, accumulateWeights);
}

#define INGOT_INST_NORMS(T)                                                                        \
  template void layerNorm<T>(T *, const T *, const float *, const float *, int64_t, int64_t,      \
                             double);                                                              \
  template void layerNormGrad<T>(T *, float *, float *, const T *, const float *, const T *,      \
                                 int64_t, int64_t, double, void *, const T *, bool);               \
  template void rmsNorm<T>(T *, const T *, const float *, int64_t, int64_t, double);              \
  template void rmsNormGrad<T>(T *, float *, const T *, const float *, const T *, int64_t,        \
                               int64_t, double, void *, const T *, bool);
INGOT_FOR_T(INGOT_INST_NORMS)

} // namespace ingot::cuda
