//===- Norms.cu - Layer norm and RMS norm, forward and backward -----------===//
//
// One warp per row: the row's statistics in fp32 from a fixed-pattern warp reduction, the
// row read again (from L1/L2) to normalize. bf16 rows of a multiple of 8 elements, up to 2048,
// take the vectorized kernels instead: each lane holds its share of the row in registers, read
// once in 16-byte pieces (8 elements), and writes 16-byte pieces. The backward keeps each row's mean and 1/std in
// scratch, reduces the weight gradients (column sums of dy * xhat and dy) in fixed chunks
// (ColumnSum.cuh), so nothing depends on scheduling, and writes dx last, so dx may take the
// place of x or dy in the memory plan.
//
//===----------------------------------------------------------------------===//
#include "cuda/ColumnSum.cuh"

#include <type_traits>

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

// ---- Vectorized bf16 kernels: a lane holds pieces lane, lane + 32, ... (P at most) ----

constexpr int kPiece = 8; // bf16 elements per 16-byte piece

__device__ __forceinline__ void loadPiece(float (&v)[kPiece], const bf16 *p) {
  uint4 raw = *reinterpret_cast<const uint4 *>(p);
  const auto *pairs = reinterpret_cast<const __nv_bfloat162 *>(&raw);
#pragma unroll
  for (int k = 0; k < kPiece / 2; ++k) {
    float2 f = __bfloat1622float2(pairs[k]);
    v[2 * k] = f.x;
    v[2 * k + 1] = f.y;
  }
}
__device__ __forceinline__ void storePiece(bf16 *p, const float (&v)[kPiece]) {
  uint4 raw;
  auto *pairs = reinterpret_cast<__nv_bfloat162 *>(&raw);
#pragma unroll
  for (int k = 0; k < kPiece / 2; ++k)
    pairs[k] = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
  *reinterpret_cast<uint4 *>(p) = raw;
}

/// A row's statistics from the lane's pieces in registers (pieces past `pieces` are unused).
template <int P>
__device__ RowStats piecesStats(const float (&v)[P][kPiece], int pieces, int lane, int64_t dim,
                                float eps, bool rms) {
  float mean = 0;
  if (!rms) {
    float sum = 0;
#pragma unroll
    for (int i = 0; i < P; ++i)
      if (lane + 32 * i < pieces)
#pragma unroll
        for (int k = 0; k < kPiece; ++k)
          sum += v[i][k];
    mean = warpSum(sum) / float(dim);
  }
  float squares = 0;
#pragma unroll
  for (int i = 0; i < P; ++i)
    if (lane + 32 * i < pieces)
#pragma unroll
      for (int k = 0; k < kPiece; ++k) {
        float d = v[i][k] - mean;
        squares += d * d;
      }
  return {mean, rsqrtf(warpSum(squares) / float(dim) + eps)};
}

/// Loads the lane's pieces of row `r` of x (pieces past the row's end are left unset).
template <int P>
__device__ __forceinline__ void loadRowPieces(float (&v)[P][kPiece], const bf16 *row, int pieces,
                                              int lane) {
#pragma unroll
  for (int i = 0; i < P; ++i)
    if (lane + 32 * i < pieces)
      loadPiece(v[i], row + (lane + 32 * i) * kPiece);
}

template <int P>
__global__ void normVecKernel(bf16 *y, const bf16 *x, const float *gamma, const float *beta,
                              int64_t rows, int64_t dim, float eps, bool rms) {
  int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (r >= rows)
    return;
  const int lane = threadIdx.x % 32, pieces = int(dim / kPiece);
  float v[P][kPiece];
  loadRowPieces<P>(v, x + r * dim, pieces, lane);
  RowStats s = piecesStats<P>(v, pieces, lane, dim, eps, rms);
#pragma unroll
  for (int i = 0; i < P; ++i) {
    const int piece = lane + 32 * i;
    if (piece >= pieces)
      continue;
#pragma unroll
    for (int k = 0; k < kPiece; ++k) {
      const int64_t j = int64_t(piece) * kPiece + k;
      float value = (v[i][k] - s.mean) * s.rstd;
      if (gamma)
        value *= gamma[j];
      if (beta)
        value += beta[j];
      v[i][k] = value;
    }
    storePiece(y + r * dim + int64_t(piece) * kPiece, v[i]);
  }
}

template <int P>
__global__ void normStatsVecKernel(RowStats *stats, const bf16 *x, int64_t rows, int64_t dim,
                                   float eps, bool rms) {
  int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (r >= rows)
    return;
  const int lane = threadIdx.x % 32, pieces = int(dim / kPiece);
  float v[P][kPiece];
  loadRowPieces<P>(v, x + r * dim, pieces, lane);
  RowStats s = piecesStats<P>(v, pieces, lane, dim, eps, rms);
  if (lane == 0)
    stats[r] = s;
}

/// normInputGradKernel with the row's x and dy in registers (one read of each).
template <int P>
__global__ void normInputGradVecKernel(bf16 *dx, const RowStats *stats, const bf16 *x,
                                       const float *gamma, const bf16 *dy, const bf16 *residual,
                                       int64_t rows, int64_t dim, bool rms) {
  int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (r >= rows)
    return;
  const int lane = threadIdx.x % 32, pieces = int(dim / kPiece);
  const RowStats s = stats[r];
  float xhat[P][kPiece], g[P][kPiece];
  float sumG = 0, sumGX = 0;
#pragma unroll
  for (int i = 0; i < P; ++i) {
    const int piece = lane + 32 * i;
    if (piece >= pieces)
      continue;
    loadPiece(xhat[i], x + r * dim + int64_t(piece) * kPiece);
    loadPiece(g[i], dy + r * dim + int64_t(piece) * kPiece);
#pragma unroll
    for (int k = 0; k < kPiece; ++k) {
      xhat[i][k] = (xhat[i][k] - s.mean) * s.rstd;
      if (gamma)
        g[i][k] *= gamma[int64_t(piece) * kPiece + k];
      sumG += g[i][k];
      sumGX += g[i][k] * xhat[i][k];
    }
  }
  const float meanG = rms ? 0.0f : warpSum(sumG) / float(dim);
  const float meanGX = warpSum(sumGX) / float(dim);
#pragma unroll
  for (int i = 0; i < P; ++i) {
    const int piece = lane + 32 * i;
    if (piece >= pieces)
      continue;
    const int64_t at = r * dim + int64_t(piece) * kPiece;
    float res[kPiece];
    if (residual)
      loadPiece(res, residual + at); // read before dx[at] is written: dx may be the residual
#pragma unroll
    for (int k = 0; k < kPiece; ++k) {
      const float value = s.rstd * (g[i][k] - meanG - xhat[i][k] * meanGX);
      g[i][k] = residual ? res[k] + value : value;
    }
    storePiece(dx + at, g[i]);
  }
}

/// Pieces per lane of the vectorized kernels for `dim`, or 0 where they do not apply.
template <typename T> int vectorPieces(int64_t dim) {
  if (!std::is_same_v<T, bf16> || dim % kPiece != 0)
    return 0;
  for (int p : {1, 2, 4, 8})
    if (dim <= int64_t(32) * kPiece * p)
      return p;
  return 0;
}

/// Launches `Kernel<P>` for the pieces per lane `p` (1, 2, 4 or 8).
#define INGOT_NORM_VEC_LAUNCH(p, kernel, grid, ...)                                                \
  switch (p) {                                                                                     \
  case 1: kernel<1><<<grid, 32 * kRowsPerBlock>>>(__VA_ARGS__); break;                             \
  case 2: kernel<2><<<grid, 32 * kRowsPerBlock>>>(__VA_ARGS__); break;                             \
  case 4: kernel<4><<<grid, 32 * kRowsPerBlock>>>(__VA_ARGS__); break;                             \
  default: kernel<8><<<grid, 32 * kRowsPerBlock>>>(__VA_ARGS__); break;                            \
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
  const int pieces = vectorPieces<T>(dim);
  if constexpr (std::is_same_v<T, bf16>) {
    if (pieces) {
      INGOT_NORM_VEC_LAUNCH(pieces, normStatsVecKernel, blocks, stats, x, rows, dim, float(eps),
                            rms)
    }
  }
  if (!pieces)
    normStatsKernel<<<blocks, 32 * kRowsPerBlock>>>(stats, x, rows, dim, float(eps), rms);
  launchCheck(rms ? "rmsNormGrad (statistics)" : "layerNormGrad (statistics)");
  columnReduce<2, false>(NormWeightGradValue<T>{x, dy, stats, dim}, dgamma, dbeta, partial, 1,
                         rows, dim, 1.0f, accumulateWeights,
                         rms ? "rmsNormGrad (weights)" : "layerNormGrad (weights)");
  if constexpr (std::is_same_v<T, bf16>) {
    if (pieces) {
      INGOT_NORM_VEC_LAUNCH(pieces, normInputGradVecKernel, blocks, dx, stats, x, gamma, dy,
                            residual, rows, dim, rms)
    }
  }
  if (!pieces)
    normInputGradKernel<<<blocks, 32 * kRowsPerBlock>>>(dx, stats, x, gamma, dy, residual, rows,
                                                        dim, rms);
  launchCheck(rms ? "rmsNormGrad (input)" : "layerNormGrad (input)");
}

} // namespace

/// The forward of both norms: the vectorized kernel where it applies.
template <typename T>
void norm(T *y, const T *x, const float *gamma, const float *beta, int64_t rows, int64_t dim,
          double eps, bool rms) {
  const unsigned blocks = unsigned((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  const int pieces = vectorPieces<T>(dim);
  if constexpr (std::is_same_v<T, bf16>) {
    if (pieces) {
      INGOT_NORM_VEC_LAUNCH(pieces, normVecKernel, blocks, y, x, gamma, beta, rows, dim,
                            float(eps), rms)
    }
  }
  if (!pieces)
    normKernel<<<blocks, 32 * kRowsPerBlock>>>(y, x, gamma, beta, rows, dim, float(eps), rms);
  launchCheck(rms ? "rmsNorm" : "layerNorm");
}

template <typename T>
void layerNorm(T *y, const T *x, const float *gamma, const float *beta, int64_t rows,
               int64_t dim, double eps) {
  norm(y, x, gamma, beta, rows, dim, eps, false);
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
  norm(y, x, gamma, static_cast<const float *>(nullptr), rows, dim, eps, true);
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
