//===- ReferenceKernels.cu - fp32 reference kernels for the device check --===//
//
// Each kernel is the plainest correct mapping of its host twin (runtime/host/*.cpp): one thread
// per output element, row or column, statistics in double where the host keeps them in double.
// The trainers no longer use them (Kernels.cuh's fast kernels do); the device kernel check
// (runtime/cuda/check/KernelCheck.cu) compares every fast kernel against these on fresh random
// inputs.
//
//===----------------------------------------------------------------------===//
#include "cuda/Check.cuh"
#include "cuda/ReferenceKernels.cuh"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace ingot::cuda::ref {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxHeadDim = 256;

/// Blocks for n independent items, grid-stride beyond that.
unsigned blocksFor(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  return unsigned(blocks < 1 ? 1 : (blocks > (1 << 20) ? (1 << 20) : blocks));
}

#define INGOT_GRID_LOOP(i, n)                                                                      \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);                        \
       i += int64_t(gridDim.x) * blockDim.x)

// sqrt(2 / pi) and the GELU cubic, as the host kernels spell them.
constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
constexpr float kInvSqrt2Pi = 0.39894228040143267793994605993438f;
constexpr float kInvSqrt2 = 0.70710678118654752440084436210485f;
constexpr float kGeluCubic = 0.044715f;

__device__ float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

__device__ float applyUnary(Unary op, float x) {
  switch (op) {
  case Unary::neg: return -x;
  case Unary::exp: return expf(x);
  case Unary::log: return logf(x);
  case Unary::sqrt: return sqrtf(x);
  case Unary::rsqrt: return 1.0f / sqrtf(x);
  case Unary::tanh: return tanhf(x);
  case Unary::relu: return isnan(x) ? x : (x > 0.0f ? x : 0.0f);
  case Unary::silu: return x * sigmoidf(x);
  case Unary::gelu_tanh: {
    float u = kSqrt2OverPi * (x + kGeluCubic * x * x * x);
    return 0.5f * x * (1.0f + tanhf(u));
  }
  case Unary::gelu_erf: return 0.5f * x * (1.0f + erff(x * kInvSqrt2));
  }
  return x;
}

__device__ float applyBinary(Binary op, float a, float b) {
  switch (op) {
  case Binary::add: return a + b;
  case Binary::sub: return a - b;
  case Binary::mul: return a * b;
  case Binary::div: return a / b;
  case Binary::maximum:
    if (isnan(a) || isnan(b))
      return nanf("");
    return a > b ? a : b;
  }
  return a;
}

/// The element offset of output index i in an operand with `strides`, over `shape`.
__device__ int64_t stridedOffset(int64_t i, int rank, const Dims &shape, const Dims &strides) {
  int64_t off = 0;
  for (int d = rank - 1; d >= 0; --d) {
    int64_t idx = i % shape.d[d];
    i /= shape.d[d];
    off += idx * strides.d[d];
  }
  return off;
}

int64_t elements(int rank, const Dims &shape) {
  int64_t n = 1;
  for (int d = 0; d < rank; ++d)
    n *= shape.d[d];
  return n;
}

__global__ void binaryKernel(Binary op, float *out, const float *a, const float *b, int rank,
                             Dims shape, Dims sa, Dims sb, int64_t n) {
  INGOT_GRID_LOOP(i, n) {
    out[i] = applyBinary(op, a[stridedOffset(i, rank, shape, sa)],
                         b[stridedOffset(i, rank, shape, sb)]);
  }
}

__global__ void unaryKernel(Unary op, float *out, const float *x, int64_t n) {
  INGOT_GRID_LOOP(i, n) { out[i] = applyUnary(op, x[i]); }
}

__device__ float roundToBF16(float x) {
  uint32_t bits = __float_as_uint(x);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    bits = (bits | 0x00400000u) & 0xffff0000u; // a NaN stays a quiet NaN
  } else {
    bits += 0x7fffu + ((bits >> 16) & 1u);
    bits &= 0xffff0000u;
  }
  return __uint_as_float(bits);
}

__global__ void castKernel(float *out, const float *x, int64_t n) {
  INGOT_GRID_LOOP(i, n) { out[i] = roundToBF16(x[i]); }
}

__global__ void embeddingKernel(float *out, const float *table, const int32_t *ids, int64_t count,
                                int64_t vocab, int64_t dim) {
  INGOT_GRID_LOOP(e, count * dim) {
    int64_t i = e / dim, j = e % dim;
    int64_t id = ids[i];
    out[e] = (id >= 0 && id < vocab) ? table[id * dim + j] : 0.0f;
  }
}

/// One thread per column: rows are added in ascending i, as on the host.
__global__ void embeddingGradKernel(float *dtable, const int32_t *ids, const float *dout,
                                    int64_t count, int64_t vocab, int64_t dim) {
  INGOT_GRID_LOOP(j, dim) {
    for (int64_t i = 0; i < count; ++i) {
      int64_t id = ids[i];
      if (id >= 0 && id < vocab)
        dtable[id * dim + j] += dout[i * dim + j];
    }
  }
}

struct RowStats {
  double mean, rstd;
};

__device__ RowStats rowStats(const float *x, int64_t dim, double eps, bool rms) {
  double mean = 0;
  if (!rms) {
    double sum = 0;
    for (int64_t j = 0; j < dim; ++j)
      sum += double(x[j]);
    mean = sum / double(dim);
  }
  double squares = 0;
  for (int64_t j = 0; j < dim; ++j) {
    double d = double(x[j]) - mean;
    squares += d * d;
  }
  return {mean, 1.0 / sqrt(squares / double(dim) + eps)};
}

__global__ void normKernel(float *y, const float *x, const float *gamma, const float *beta,
                           int64_t rows, int64_t dim, double eps, bool rms) {
  INGOT_GRID_LOOP(r, rows) {
    const float *xr = x + r * dim;
    float *yr = y + r * dim;
    RowStats s = rowStats(xr, dim, eps, rms);
    for (int64_t j = 0; j < dim; ++j) {
      double shift = beta ? double(beta[j]) : 0.0;
      double g = gamma ? double(gamma[j]) : 1.0;
      yr[j] = float((double(xr[j]) - s.mean) * s.rstd * g + shift);
    }
  }
}

__global__ void normStatsKernel(RowStats *stats, const float *x, int64_t rows, int64_t dim,
                                double eps, bool rms) {
  INGOT_GRID_LOOP(r, rows) { stats[r] = rowStats(x + r * dim, dim, eps, rms); }
}

/// dgamma[j] = sum_r dy * xhat, dbeta[j] = sum_r dy: one thread per column, rows ascending.
__global__ void normWeightGradKernel(float *dgamma, float *dbeta, const float *x, const float *dy,
                                     const RowStats *stats, int64_t rows, int64_t dim) {
  INGOT_GRID_LOOP(j, dim) {
    double gammaAcc = 0, betaAcc = 0;
    for (int64_t r = 0; r < rows; ++r) {
      double g = double(dy[r * dim + j]);
      gammaAcc += g * ((double(x[r * dim + j]) - stats[r].mean) * stats[r].rstd);
      betaAcc += g;
    }
    if (dgamma)
      dgamma[j] = float(gammaAcc);
    if (dbeta)
      dbeta[j] = float(betaAcc);
  }
}

/// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma (layer norm); the RMS norm
/// drops the mean(g) term.
__global__ void normInputGradKernel(float *dx, const float *x, const float *gamma, const float *dy,
                                    const RowStats *stats, int64_t rows, int64_t dim, bool rms) {
  INGOT_GRID_LOOP(r, rows) {
    const float *xr = x + r * dim, *dyr = dy + r * dim;
    RowStats s = stats[r];
    double sumG = 0, sumGX = 0;
    for (int64_t j = 0; j < dim; ++j) {
      double g = double(dyr[j]) * (gamma ? double(gamma[j]) : 1.0);
      sumG += g;
      sumGX += g * ((double(xr[j]) - s.mean) * s.rstd);
    }
    double meanG = rms ? 0.0 : sumG / double(dim), meanGX = sumGX / double(dim);
    float *dxr = dx + r * dim;
    for (int64_t j = 0; j < dim; ++j) {
      double g = double(dyr[j]) * (gamma ? double(gamma[j]) : 1.0);
      double xhat = (double(xr[j]) - s.mean) * s.rstd;
      dxr[j] = float(s.rstd * (g - meanG - xhat * meanGX));
    }
  }
}

__global__ void softmaxKernel(float *y, const float *x, int64_t outer, int64_t axis,
                              int64_t inner) {
  INGOT_GRID_LOOP(line, outer * inner) {
    int64_t base = (line / inner) * axis * inner + line % inner;
    double maxValue = -INFINITY;
    for (int64_t a = 0; a < axis; ++a)
      maxValue = fmax(maxValue, double(x[base + a * inner]));
    double sum = 0;
    for (int64_t a = 0; a < axis; ++a)
      sum += exp(double(x[base + a * inner]) - maxValue);
    for (int64_t a = 0; a < axis; ++a)
      y[base + a * inner] = float(exp(double(x[base + a * inner]) - maxValue) / sum);
  }
}

__global__ void softmaxGradKernel(float *dx, const float *y, const float *dy, int64_t outer,
                                  int64_t axis, int64_t inner) {
  INGOT_GRID_LOOP(line, outer * inner) {
    int64_t base = (line / inner) * axis * inner + line % inner;
    double dot = 0;
    for (int64_t a = 0; a < axis; ++a)
      dot += double(dy[base + a * inner]) * double(y[base + a * inner]);
    for (int64_t a = 0; a < axis; ++a) {
      int64_t e = base + a * inner;
      dx[e] = float(double(y[e]) * (double(dy[e]) - dot));
    }
  }
}

/// Where the rows of one (batch, head) live: q/out/dout rows are heads * hd wide, k/v rows
/// kvHeads * hd.
struct AttentionShape {
  int64_t batch, tq, tk, heads, kvHeads, hd;
  bool causal;
  float scale;
  __device__ int64_t qRow(int64_t b, int64_t t, int64_t h) const {
    return (b * tq + t) * heads * hd + h * hd;
  }
  __device__ int64_t kvRow(int64_t b, int64_t s, int64_t kvh) const {
    return (b * tk + s) * kvHeads * hd + kvh * hd;
  }
  __device__ int64_t lastKey(int64_t t) const { return causal ? (t < tk - 1 ? t : tk - 1) : tk - 1; }
};

__device__ float dotf(const float *a, const float *b, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i)
    s += a[i] * b[i];
  return s;
}

/// One thread per (batch, head, query): max, exponent sum (double), then out = sum_s p v.
__global__ void attentionKernel(float *out, const float *q, const float *k, const float *v,
                                AttentionShape sh) {
  INGOT_GRID_LOOP(item, sh.batch * sh.heads * sh.tq) {
    int64_t t = item % sh.tq, h = (item / sh.tq) % sh.heads, b = item / (sh.tq * sh.heads);
    int64_t kvh = h / (sh.heads / sh.kvHeads);
    const float *qr = q + sh.qRow(b, t, h);
    int64_t last = sh.lastKey(t);
    double maxScore = -INFINITY;
    for (int64_t s = 0; s <= last; ++s)
      maxScore = fmax(maxScore, double(dotf(qr, k + sh.kvRow(b, s, kvh), sh.hd)) * sh.scale);
    double sum = 0;
    for (int64_t s = 0; s <= last; ++s)
      sum += exp(double(dotf(qr, k + sh.kvRow(b, s, kvh), sh.hd)) * sh.scale - maxScore);
    float acc[kMaxHeadDim];
    for (int64_t d = 0; d < sh.hd; ++d)
      acc[d] = 0;
    for (int64_t s = 0; s <= last; ++s) {
      float p = float(
          exp(double(dotf(qr, k + sh.kvRow(b, s, kvh), sh.hd)) * sh.scale - maxScore) / sum);
      const float *vr = v + sh.kvRow(b, s, kvh);
      for (int64_t d = 0; d < sh.hd; ++d)
        acc[d] += p * vr[d];
    }
    float *o = out + sh.qRow(b, t, h);
    for (int64_t d = 0; d < sh.hd; ++d)
      o[d] = acc[d];
  }
}

/// Per query row: the log-sum-exp of its scores and delta = dout . out into scratch, and dq.
__global__ void attentionGradQueryKernel(float *dq, float *lse, float *delta, const float *q,
                                         const float *k, const float *v, const float *out,
                                         const float *dout, AttentionShape sh) {
  INGOT_GRID_LOOP(item, sh.batch * sh.heads * sh.tq) {
    int64_t t = item % sh.tq, h = (item / sh.tq) % sh.heads, b = item / (sh.tq * sh.heads);
    int64_t kvh = h / (sh.heads / sh.kvHeads);
    const float *qr = q + sh.qRow(b, t, h), *dor = dout + sh.qRow(b, t, h);
    int64_t last = sh.lastKey(t);
    double maxScore = -INFINITY;
    for (int64_t s = 0; s <= last; ++s)
      maxScore = fmax(maxScore, double(dotf(qr, k + sh.kvRow(b, s, kvh), sh.hd)) * sh.scale);
    double sum = 0;
    for (int64_t s = 0; s <= last; ++s)
      sum += exp(double(dotf(qr, k + sh.kvRow(b, s, kvh), sh.hd)) * sh.scale - maxScore);
    double rowLse = maxScore + log(sum);
    float rowDelta = dotf(dor, out + sh.qRow(b, t, h), sh.hd);
    lse[item] = float(rowLse);
    delta[item] = rowDelta;
    float acc[kMaxHeadDim];
    for (int64_t d = 0; d < sh.hd; ++d)
      acc[d] = 0;
    for (int64_t s = 0; s <= last; ++s) {
      const float *kr = k + sh.kvRow(b, s, kvh);
      float p = float(exp(double(dotf(qr, kr, sh.hd)) * sh.scale - rowLse));
      float dp = dotf(dor, v + sh.kvRow(b, s, kvh), sh.hd);
      float ds = sh.scale * p * (dp - rowDelta);
      for (int64_t d = 0; d < sh.hd; ++d)
        acc[d] += ds * kr[d];
    }
    float *dqr = dq + sh.qRow(b, t, h);
    for (int64_t d = 0; d < sh.hd; ++d)
      dqr[d] = acc[d];
  }
}

/// Per key row (batch, kv head, key): dk and dv summed over the query heads that read it and
/// the queries that see it, in ascending (head, query) order.
__global__ void attentionGradKeyKernel(float *dk, float *dv, const float *lse, const float *delta,
                                       const float *q, const float *k, const float *v,
                                       const float *dout, AttentionShape sh) {
  INGOT_GRID_LOOP(item, sh.batch * sh.kvHeads * sh.tk) {
    int64_t s = item % sh.tk, kvh = (item / sh.tk) % sh.kvHeads, b = item / (sh.tk * sh.kvHeads);
    int64_t group = sh.heads / sh.kvHeads;
    const float *kr = k + sh.kvRow(b, s, kvh), *vr = v + sh.kvRow(b, s, kvh);
    float dkAcc[kMaxHeadDim], dvAcc[kMaxHeadDim];
    for (int64_t d = 0; d < sh.hd; ++d)
      dkAcc[d] = dvAcc[d] = 0;
    for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
      for (int64_t t = 0; t < sh.tq; ++t) {
        if (sh.causal && s > sh.lastKey(t))
          continue;
        int64_t row = (b * sh.heads + h) * sh.tq + t;
        const float *qr = q + sh.qRow(b, t, h), *dor = dout + sh.qRow(b, t, h);
        float p = float(exp(double(dotf(qr, kr, sh.hd)) * sh.scale - double(lse[row])));
        float dp = dotf(dor, vr, sh.hd);
        float ds = sh.scale * p * (dp - delta[row]);
        for (int64_t d = 0; d < sh.hd; ++d) {
          dvAcc[d] += p * dor[d];
          dkAcc[d] += ds * qr[d];
        }
      }
    }
    float *dkr = dk + sh.kvRow(b, s, kvh), *dvr = dv + sh.kvRow(b, s, kvh);
    for (int64_t d = 0; d < sh.hd; ++d) {
      dkr[d] = dkAcc[d];
      dvr[d] = dvAcc[d];
    }
  }
}

__global__ void ropeKernel(float *y, const float *x, int64_t batch, int64_t seq, int64_t heads,
                           int64_t hd, double theta, bool inverse) {
  int64_t half = hd / 2;
  INGOT_GRID_LOOP(item, batch * seq * heads * half) {
    int64_t i = item % half, h = (item / half) % heads, t = (item / (half * heads)) % seq,
            b = item / (half * heads * seq);
    double angle = double(t) * pow(theta, -2.0 * double(i) / double(hd));
    if (inverse)
      angle = -angle;
    double c = cos(angle), s = sin(angle);
    int64_t base = ((b * seq + t) * heads + h) * hd;
    double x1 = x[base + i], x2 = x[base + i + half];
    y[base + i] = float(x1 * c - x2 * s);
    y[base + i + half] = float(x2 * c + x1 * s);
    if ((hd & 1) && i == 0) // an odd trailing element is left as is
      y[base + hd - 1] = x[base + hd - 1];
  }
}

constexpr int kReduceThreads = 1024;

/// Sums `value` over the kReduceThreads threads of the block into shared[0] (every thread
/// calls it): a fixed-shape tree, so the result does not depend on timing.
__device__ void blockSum(double *shared, double value) {
  shared[threadIdx.x] = value;
  __syncthreads();
  for (int width = kReduceThreads / 2; width > 0; width /= 2) {
    if (threadIdx.x < width)
      shared[threadIdx.x] += shared[threadIdx.x + width];
    __syncthreads();
  }
}

/// One block: thread r handles rows r, r + 1024, ...; the block then adds the 1024 partial sums
/// in a fixed tree, so the loss does not depend on scheduling.
__global__ void crossEntropyKernel(float *loss, const float *logits, const int32_t *targets,
                                   int64_t rows, int64_t classes) {
  __shared__ double partial[kReduceThreads];
  double acc = 0;
  for (int64_t r = threadIdx.x; r < rows; r += kReduceThreads) {
    const float *row = logits + r * classes;
    int64_t target = targets[r];
    if (target < 0 || target >= classes) {
      acc = nan("");
      continue;
    }
    double maxValue = -INFINITY;
    for (int64_t j = 0; j < classes; ++j)
      maxValue = fmax(maxValue, double(row[j]));
    double sum = 0;
    for (int64_t j = 0; j < classes; ++j)
      sum += exp(double(row[j]) - maxValue);
    acc += maxValue + log(sum) - double(row[target]);
  }
  blockSum(partial, acc);
  if (threadIdx.x == 0)
    loss[0] = float(partial[0] / double(rows));
}

__global__ void crossEntropyGradKernel(float *dlogits, const float *logits,
                                       const int32_t *targets, const float *dloss, int64_t rows,
                                       int64_t classes) {
  INGOT_GRID_LOOP(r, rows) {
    double scale = double(dloss[0]) / double(rows);
    const float *row = logits + r * classes;
    float *out = dlogits + r * classes;
    double maxValue = -INFINITY;
    for (int64_t j = 0; j < classes; ++j)
      maxValue = fmax(maxValue, double(row[j]));
    double sum = 0;
    for (int64_t j = 0; j < classes; ++j)
      sum += exp(double(row[j]) - maxValue);
    int64_t target = targets[r];
    for (int64_t j = 0; j < classes; ++j) {
      double p = exp(double(row[j]) - maxValue) / sum;
      out[j] = float((p - (j == target ? 1.0 : 0.0)) * scale);
    }
  }
}

__global__ void geluGradKernel(float *dx, const float *x, const float *dy, int64_t n,
                               bool tanhApprox) {
  INGOT_GRID_LOOP(i, n) {
    float v = x[i];
    if (tanhApprox) {
      float u = kSqrt2OverPi * (v + kGeluCubic * v * v * v);
      float t = tanhf(u);
      float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * v * v);
      dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
    } else {
      float cdf = 0.5f * (1.0f + erff(v * kInvSqrt2));
      float pdf = kInvSqrt2Pi * expf(-0.5f * v * v);
      dx[i] = dy[i] * (cdf + v * pdf);
    }
  }
}

__global__ void siluGradKernel(float *dx, const float *x, const float *dy, int64_t n) {
  INGOT_GRID_LOOP(i, n) {
    float s = sigmoidf(x[i]);
    dx[i] = dy[i] * (s * (1.0f + x[i] * (1.0f - s)));
  }
}

__global__ void reluGradKernel(float *dx, const float *x, const float *dy, int64_t n) {
  INGOT_GRID_LOOP(i, n) { dx[i] = x[i] > 0.0f ? dy[i] : 0.0f; }
}

__global__ void transposeKernel(float *out, const float *x, int rank, Dims outShape,
                                Dims xStrides, int64_t n) {
  INGOT_GRID_LOOP(i, n) { out[i] = x[stridedOffset(i, rank, outShape, xStrides)]; }
}

__global__ void copyAxisKernel(float *out, const float *x, int64_t outer, int64_t axisIn,
                               int64_t axisOut, int64_t inner, int64_t srcStart, int64_t dstStart,
                               int64_t len) {
  INGOT_GRID_LOOP(e, outer * len * inner) {
    int64_t i = e % inner, l = (e / inner) % len, o = e / (inner * len);
    out[(o * axisOut + dstStart + l) * inner + i] = x[(o * axisIn + srcStart + l) * inner + i];
  }
}

__global__ void reduceKernel(Reduce op, float *out, const float *x, int64_t outer, int64_t axis,
                             int64_t inner) {
  INGOT_GRID_LOOP(e, outer * inner) {
    int64_t o = e / inner, i = e % inner;
    const float *src = x + o * axis * inner + i;
    float acc = op == Reduce::max ? -INFINITY : 0.0f;
    for (int64_t a = 0; a < axis; ++a) {
      float v = src[a * inner];
      if (op == Reduce::max)
        acc = (v > acc || isnan(v)) ? v : acc;
      else
        acc += v;
    }
    out[e] = op == Reduce::mean ? acc / float(axis) : acc;
  }
}

__global__ void fillKernel(float *out, int64_t n, float value) {
  INGOT_GRID_LOOP(i, n) { out[i] = value; }
}

__global__ void accumulateKernel(float *out, const float *x, int64_t n) {
  INGOT_GRID_LOOP(i, n) { out[i] += x[i]; }
}

__global__ void sumSquaresKernel(const float *x, int64_t n, double *partial) {
  __shared__ double acc[kReduceThreads];
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += kReduceThreads)
    s += double(x[i]) * double(x[i]);
  blockSum(acc, s);
  if (threadIdx.x == 0)
    partial[0] = acc[0];
}

__global__ void adamwKernel(float *param, const float *grad, float *m, float *v, int64_t n,
                            double lr, double beta1, double beta2, double eps, double weightDecay,
                            double correction1, double correction2, double gradScale) {
  INGOT_GRID_LOOP(i, n) {
    double g = double(grad[i]) * gradScale;
    double mi = beta1 * double(m[i]) + (1 - beta1) * g;
    double vi = beta2 * double(v[i]) + (1 - beta2) * g * g;
    m[i] = float(mi);
    v[i] = float(vi);
    double p = double(param[i]);
    double update = (mi / correction1) / (sqrt(vi / correction2) + eps) + weightDecay * p;
    param[i] = float(p - lr * update);
  }
}

} // namespace

void binary(Binary op, float *out, const float *a, const float *b, int rank, Dims shape,
            Dims aStrides, Dims bStrides) {
  int64_t n = elements(rank, shape);
  binaryKernel<<<blocksFor(n), kThreads>>>(op, out, a, b, rank, shape, aStrides, bStrides, n);
  launchCheck("binary");
}

void unary(Unary op, float *out, const float *x, int64_t n) {
  unaryKernel<<<blocksFor(n), kThreads>>>(op, out, x, n);
  launchCheck("unary");
}

void cast(float *out, const float *x, int64_t n, bool toBF16) {
  if (!toBF16) {
    if (out != x)
      cudaCheck(cudaMemcpyAsync(out, x, sizeof(float) * n, cudaMemcpyDeviceToDevice));
    return;
  }
  castKernel<<<blocksFor(n), kThreads>>>(out, x, n);
  launchCheck("cast");
}

void matmul(float *c, const float *a, const float *b, int64_t batch, int64_t m, int64_t n,
            int64_t k, bool transA, bool transB, int64_t strideA, int64_t strideB,
            int64_t strideC, bool accumulate) {
  // Row-major C[m, n] = A[m, k] B[k, n] is column-major C^T[n, m] = B^T A^T: cuBLAS sees b as
  // its first operand. A row-major [r, c] matrix is a column-major [c, r] one with ld = c.
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  int64_t ldb = transB ? k : n, lda = transA ? m : k;
  cublasCheck(cublasGemmStridedBatchedEx(detail::cublas(), opB, opA, int(n), int(m), int(k),
                                         &alpha, b, CUDA_R_32F, int(ldb), strideB, a, CUDA_R_32F,
                                         int(lda), strideA, &beta, c, CUDA_R_32F, int(n), strideC,
                                         int(batch), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void embedding(float *out, const float *table, const int32_t *ids, int64_t count, int64_t vocab,
               int64_t dim) {
  embeddingKernel<<<blocksFor(count * dim), kThreads>>>(out, table, ids, count, vocab, dim);
  launchCheck("embedding");
}

void embeddingGrad(float *dtable, const int32_t *ids, const float *dout, int64_t count,
                   int64_t vocab, int64_t dim) {
  cudaCheck(cudaMemsetAsync(dtable, 0, sizeof(float) * vocab * dim));
  embeddingGradKernel<<<blocksFor(dim), kThreads>>>(dtable, ids, dout, count, vocab, dim);
  launchCheck("embeddingGrad");
}

void layerNorm(float *y, const float *x, const float *gamma, const float *beta, int64_t rows,
               int64_t dim, double eps) {
  normKernel<<<blocksFor(rows), kThreads>>>(y, x, gamma, beta, rows, dim, eps, false);
  launchCheck("layerNorm");
}

static void normGrad(float *dx, float *dgamma, float *dbeta, const float *x, const float *gamma,
                     const float *dy, int64_t rows, int64_t dim, double eps, void *scratch,
                     bool rms) {
  auto *stats = static_cast<RowStats *>(scratch);
  normStatsKernel<<<blocksFor(rows), kThreads>>>(stats, x, rows, dim, eps, rms);
  launchCheck(rms ? "rmsNormGrad (statistics)" : "layerNormGrad (statistics)");
  normWeightGradKernel<<<blocksFor(dim), kThreads>>>(dgamma, dbeta, x, dy, stats, rows, dim);
  launchCheck(rms ? "rmsNormGrad (weights)" : "layerNormGrad (weights)");
  normInputGradKernel<<<blocksFor(rows), kThreads>>>(dx, x, gamma, dy, stats, rows, dim, rms);
  launchCheck(rms ? "rmsNormGrad (input)" : "layerNormGrad (input)");
}

void layerNormGrad(float *dx, float *dgamma, float *dbeta, const float *x, const float *gamma,
                   const float *dy, int64_t rows, int64_t dim, double eps, void *scratch) {
  normGrad(dx, dgamma, dbeta, x, gamma, dy, rows, dim, eps, scratch, false);
}

void rmsNorm(float *y, const float *x, const float *gamma, int64_t rows, int64_t dim,
             double eps) {
  normKernel<<<blocksFor(rows), kThreads>>>(y, x, gamma, nullptr, rows, dim, eps, true);
  launchCheck("rmsNorm");
}

void rmsNormGrad(float *dx, float *dgamma, const float *x, const float *gamma, const float *dy,
                 int64_t rows, int64_t dim, double eps, void *scratch) {
  normGrad(dx, dgamma, nullptr, x, gamma, dy, rows, dim, eps, scratch, true);
}

void softmax(float *y, const float *x, int64_t outer, int64_t axis, int64_t inner) {
  softmaxKernel<<<blocksFor(outer * inner), kThreads>>>(y, x, outer, axis, inner);
  launchCheck("softmax");
}

void softmaxGrad(float *dx, const float *y, const float *dy, int64_t outer, int64_t axis,
                 int64_t inner) {
  softmaxGradKernel<<<blocksFor(outer * inner), kThreads>>>(dx, y, dy, outer, axis, inner);
  launchCheck("softmaxGrad");
}

static AttentionShape attentionShape(int64_t batch, int64_t tq, int64_t tk, int64_t heads,
                                     int64_t kvHeads, int64_t hd, bool causal, double scale) {
  if (hd > kMaxHeadDim || kvHeads <= 0 || heads % kvHeads != 0) {
    std::fprintf(stderr, "error: the cuda attention kernel needs a head size of at most %d and "
                         "heads divisible by kv heads (found hd %lld, heads %lld, kv heads %lld)\n",
                 kMaxHeadDim, (long long)hd, (long long)heads, (long long)kvHeads);
    std::exit(1);
  }
  float s = float(scale == 0 ? 1.0 / std::sqrt(double(hd)) : scale);
  return {batch, tq, tk, heads, kvHeads, hd, causal, s};
}

void attention(float *out, const float *q, const float *k, const float *v, int64_t batch,
               int64_t tq, int64_t tk, int64_t heads, int64_t kvHeads, int64_t hd, bool causal,
               double scale) {
  AttentionShape sh = attentionShape(batch, tq, tk, heads, kvHeads, hd, causal, scale);
  attentionKernel<<<blocksFor(batch * heads * tq), kThreads>>>(out, q, k, v, sh);
  launchCheck("attention");
}

void attentionGrad(float *dq, float *dk, float *dv, const float *q, const float *k, const float *v,
                   const float *out, const float *dout, int64_t batch, int64_t tq, int64_t tk,
                   int64_t heads, int64_t kvHeads, int64_t hd, bool causal, double scale,
                   void *scratch) {
  AttentionShape sh = attentionShape(batch, tq, tk, heads, kvHeads, hd, causal, scale);
  float *lse = static_cast<float *>(scratch);
  float *delta = lse + batch * heads * tq;
  attentionGradQueryKernel<<<blocksFor(batch * heads * tq), kThreads>>>(dq, lse, delta, q, k, v,
                                                                        out, dout, sh);
  launchCheck("attentionGrad (queries)");
  attentionGradKeyKernel<<<blocksFor(batch * kvHeads * tk), kThreads>>>(dk, dv, lse, delta, q, k,
                                                                        v, dout, sh);
  launchCheck("attentionGrad (keys, values)");
}

void rope(float *y, const float *x, int64_t batch, int64_t seq, int64_t heads, int64_t hd,
          double theta, bool inverse) {
  ropeKernel<<<blocksFor(batch * seq * heads * (hd / 2)), kThreads>>>(y, x, batch, seq, heads, hd,
                                                                     theta, inverse);
  launchCheck("rope");
}

void crossEntropy(float *loss, const float *logits, const int32_t *targets, int64_t rows,
                  int64_t classes) {
  crossEntropyKernel<<<1, kReduceThreads>>>(loss, logits, targets, rows, classes);
  launchCheck("crossEntropy");
}

void crossEntropyGrad(float *dlogits, const float *logits, const int32_t *targets,
                      const float *dloss, int64_t rows, int64_t classes) {
  crossEntropyGradKernel<<<blocksFor(rows), kThreads>>>(dlogits, logits, targets, dloss, rows,
                                                        classes);
  launchCheck("crossEntropyGrad");
}

void geluGrad(float *dx, const float *x, const float *dy, int64_t n, bool tanhApprox) {
  geluGradKernel<<<blocksFor(n), kThreads>>>(dx, x, dy, n, tanhApprox);
  launchCheck("geluGrad");
}

void siluGrad(float *dx, const float *x, const float *dy, int64_t n) {
  siluGradKernel<<<blocksFor(n), kThreads>>>(dx, x, dy, n);
  launchCheck("siluGrad");
}

void reluGrad(float *dx, const float *x, const float *dy, int64_t n) {
  reluGradKernel<<<blocksFor(n), kThreads>>>(dx, x, dy, n);
  launchCheck("reluGrad");
}

void transpose(float *out, const float *x, int rank, Dims shape, Dims perm) {
  Dims xStrides{}, outShape{}, outStrides{};
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; --d) {
    xStrides.d[d] = s;
    s *= shape.d[d];
  }
  for (int d = 0; d < rank; ++d) {
    outShape.d[d] = shape.d[perm.d[d]];
    outStrides.d[d] = xStrides.d[perm.d[d]];
  }
  int64_t n = elements(rank, shape);
  transposeKernel<<<blocksFor(n), kThreads>>>(out, x, rank, outShape, outStrides, n);
  launchCheck("transpose");
}

void copyAxis(float *out, const float *x, int64_t outer, int64_t axisIn, int64_t axisOut,
              int64_t inner, int64_t srcStart, int64_t dstStart, int64_t len, bool zeroOut) {
  if (zeroOut)
    cudaCheck(cudaMemsetAsync(out, 0, sizeof(float) * outer * axisOut * inner));
  copyAxisKernel<<<blocksFor(outer * len * inner), kThreads>>>(out, x, outer, axisIn, axisOut,
                                                               inner, srcStart, dstStart, len);
  launchCheck("copyAxis");
}

void reduce(Reduce op, float *out, const float *x, int64_t outer, int64_t axis, int64_t inner) {
  reduceKernel<<<blocksFor(outer * inner), kThreads>>>(op, out, x, outer, axis, inner);
  launchCheck("reduce");
}

void broadcast(float *out, const float *x, int rank, Dims shape, Dims xStrides) {
  int64_t n = elements(rank, shape);
  transposeKernel<<<blocksFor(n), kThreads>>>(out, x, rank, shape, xStrides, n);
  launchCheck("broadcast");
}

void fill(float *out, int64_t n, double value) {
  fillKernel<<<blocksFor(n), kThreads>>>(out, n, float(value));
  launchCheck("fill");
}

void accumulate(float *out, const float *x, int64_t n) {
  accumulateKernel<<<blocksFor(n), kThreads>>>(out, x, n);
  launchCheck("accumulate");
}

void copy(float *out, const float *x, int64_t n) {
  cudaCheck(cudaMemcpyAsync(out, x, sizeof(float) * n, cudaMemcpyDeviceToDevice));
}

void sumSquares(const float *x, int64_t n, double *partial) {
  sumSquaresKernel<<<1, kReduceThreads>>>(x, n, partial);
  launchCheck("sumSquares");
}

double sumPartials(const double *partials, int count) {
  std::vector<double> host(count);
  cudaCheck(cudaMemcpy(host.data(), partials, sizeof(double) * count, cudaMemcpyDeviceToHost));
  double total = 0;
  for (double p : host)
    total += p;
  return total;
}

void adamw(float *param, const float *grad, float *m, float *v, int64_t n, double lr,
           double beta1, double beta2, double eps, double weightDecay, int64_t step,
           double gradScale) {
  double correction1 = 1 - std::pow(beta1, double(step));
  double correction2 = 1 - std::pow(beta2, double(step));
  adamwKernel<<<blocksFor(n), kThreads>>>(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay,
                                          correction1, correction2, gradScale);
  launchCheck("adamw");
}

} // namespace ingot::cuda::ref
