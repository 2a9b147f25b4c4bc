//===- NormKernels.cpp - Norms, softmax and cross-entropy on the host -----===//
//
// Row-wise kernels whose statistics are accumulated in double whatever T is: layer norm and RMS
// norm (mean, variance, and the two means of their backward), softmax (max-subtracted exponent
// sums), and cross-entropy (logsumexp and the mean over rows). Rows run in parallel; inside a
// row every sum runs in ascending index order. The weight gradients (dgamma, dbeta) are summed
// over rows by a second loop, parallel over columns, each column summing rows r = 0, 1, ...
// in order, so nothing depends on the thread count.
//
// gamma and beta may be null (no scale, no shift); so may dgamma and dbeta (not wanted).
//
//===----------------------------------------------------------------------===//
#include "host/Kernels.h"
#include "host/KernelsCommon.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace ingot::host {
using detail::kParallelMin;

namespace {

struct RowStats {
  double mean = 0; // 0 for RMS norm
  double rstd = 0; // 1 / sqrt(var + eps), or 1 / sqrt(mean(x^2) + eps)
};

template <typename T> RowStats layerNormStats(const T *x, int64_t dim, double eps) {
  double sum = 0;
  for (int64_t j = 0; j < dim; ++j)
    sum += double(x[j]);
  double mean = sum / double(dim);
  double squares = 0;
  for (int64_t j = 0; j < dim; ++j) {
    double d = double(x[j]) - mean;
    squares += d * d;
  }
  return {mean, 1.0 / std::sqrt(squares / double(dim) + eps)};
}

template <typename T> RowStats rmsNormStats(const T *x, int64_t dim, double eps) {
  double squares = 0;
  for (int64_t j = 0; j < dim; ++j)
    squares += double(x[j]) * double(x[j]);
  return {0.0, 1.0 / std::sqrt(squares / double(dim) + eps)};
}

/// dgamma[j] = sum_r dy[r, j] * xhat[r, j] and dbeta[j] = sum_r dy[r, j], r ascending, in
/// double. Parallel over blocks of columns; each block walks rows in order.
template <typename T>
void normWeightGrads(T *dgamma, T *dbeta, const T *x, const T *dy, const RowStats *stats,
                     int64_t rows, int64_t dim) {
  if (!dgamma && !dbeta)
    return;
  constexpr int64_t kBlock = 64;
  int64_t blocks = (dim + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (rows * dim >= kParallelMin && blocks > 1)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    int64_t j0 = blk * kBlock, width = std::min(kBlock, dim - j0);
    double gammaAcc[kBlock] = {}, betaAcc[kBlock] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const T *xr = x + r * dim + j0, *dyr = dy + r * dim + j0;
      double mean = stats[r].mean, rstd = stats[r].rstd;
      for (int64_t j = 0; j < width; ++j) {
        double g = double(dyr[j]);
        gammaAcc[j] += g * ((double(xr[j]) - mean) * rstd);
        betaAcc[j] += g;
      }
    }
    for (int64_t j = 0; j < width; ++j) {
      if (dgamma)
        dgamma[j0 + j] = T(gammaAcc[j]);
      if (dbeta)
        dbeta[j0 + j] = T(betaAcc[j]);
    }
  }
}

template <typename T> double scaleAt(const T *gamma, int64_t j) {
  return gamma ? double(gamma[j]) : 1.0;
}

} // namespace

template <typename T>
void layerNorm(T *y, const T *x, const T *gamma, const T *beta, int64_t rows, int64_t dim,
               double eps) {
#pragma omp parallel for schedule(static) if (rows * dim >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T *xr = x + r * dim;
    T *yr = y + r * dim;
    RowStats s = layerNormStats(xr, dim, eps);
    for (int64_t j = 0; j < dim; ++j) {
      double shift = beta ? double(beta[j]) : 0.0;
      yr[j] = T((double(xr[j]) - s.mean) * s.rstd * scaleAt(gamma, j) + shift);
    }
  }
}

template <typename T>
void layerNormGrad(T *dx, T *dgamma, T *dbeta, const T *x, const T *gamma, const T *dy,
                   int64_t rows, int64_t dim, double eps) {
  std::vector<RowStats> stats(rows);
#pragma omp parallel for schedule(static) if (rows * dim >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r)
    stats[r] = layerNormStats(x + r * dim, dim, eps);
  // The weight gradients first, so dx may share storage with x or dy.
  normWeightGrads(dgamma, dbeta, x, dy, stats.data(), rows, dim);
  // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma.
#pragma omp parallel for schedule(static) if (rows * dim >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T *xr = x + r * dim, *dyr = dy + r * dim;
    RowStats s = stats[r];
    double sumG = 0, sumGX = 0;
    for (int64_t j = 0; j < dim; ++j) {
      double g = double(dyr[j]) * scaleAt(gamma, j);
      sumG += g;
      sumGX += g * ((double(xr[j]) - s.mean) * s.rstd);
    }
    double meanG = sumG / double(dim), meanGX = sumGX / double(dim);
    T *dxr = dx + r * dim;
    for (int64_t j = 0; j < dim; ++j) {
      double g = double(dyr[j]) * scaleAt(gamma, j);
      double xhat = (double(xr[j]) - s.mean) * s.rstd;
      dxr[j] = T(s.rstd * (g - meanG - xhat * meanGX));
    }
  }
}

template <typename T>
void rmsNorm(T *y, const T *x, const T *gamma, int64_t rows, int64_t dim, double eps) {
#pragma omp parallel for schedule(static) if (rows * dim >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T *xr = x + r * dim;
    T *yr = y + r * dim;
    RowStats s = rmsNormStats(xr, dim, eps);
    for (int64_t j = 0; j < dim; ++j)
      yr[j] = T(double(xr[j]) * s.rstd * scaleAt(gamma, j));
  }
}

template <typename T>
void rmsNormGrad(T *dx, T *dgamma, const T *x, const T *gamma, const T *dy, int64_t rows,
                 int64_t dim, double eps) {
  std::vector<RowStats> stats(rows);
#pragma omp parallel for schedule(static) if (rows * dim >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r)
    stats[r] = rmsNormStats(x + r * dim, dim, eps);
  normWeightGrads<T>(dgamma, nullptr, x, dy, stats.data(), rows, dim);
  // dx = rstd * (g - xhat * mean(g * xhat)) with g = dy * gamma, xhat = x * rstd.
#pragma omp parallel for schedule(static) if (rows * dim >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T *xr = x + r * dim, *dyr = dy + r * dim;
    double rstd = stats[r].rstd;
    double sumGX = 0;
    for (int64_t j = 0; j < dim; ++j)
      sumGX += double(dyr[j]) * scaleAt(gamma, j) * (double(xr[j]) * rstd);
    double meanGX = sumGX / double(dim);
    T *dxr = dx + r * dim;
    for (int64_t j = 0; j < dim; ++j) {
      double g = double(dyr[j]) * scaleAt(gamma, j);
      dxr[j] = T(rstd * (g - double(xr[j]) * rstd * meanGX));
    }
  }
}

template <typename T>
void softmax(T *y, const T *x, int64_t outer, int64_t axis, int64_t inner) {
  int64_t lines = outer * inner;
#pragma omp parallel for schedule(static) if (lines * axis >= kParallelMin)
  for (int64_t line = 0; line < lines; ++line) {
    int64_t o = line / inner, i = line % inner;
    const T *xl = x + o * axis * inner + i;
    T *yl = y + o * axis * inner + i;
    double maxValue = -std::numeric_limits<double>::infinity();
    for (int64_t a = 0; a < axis; ++a)
      maxValue = std::max(maxValue, double(xl[a * inner]));
    double sum = 0;
    for (int64_t a = 0; a < axis; ++a)
      sum += std::exp(double(xl[a * inner]) - maxValue);
    for (int64_t a = 0; a < axis; ++a)
      yl[a * inner] = T(std::exp(double(xl[a * inner]) - maxValue) / sum);
  }
}

template <typename T>
void softmaxGrad(T *dx, const T *y, const T *dy, int64_t outer, int64_t axis, int64_t inner) {
  int64_t lines = outer * inner;
#pragma omp parallel for schedule(static) if (lines * axis >= kParallelMin)
  for (int64_t line = 0; line < lines; ++line) {
    int64_t base = (line / inner) * axis * inner + line % inner;
    double dot = 0;
    for (int64_t a = 0; a < axis; ++a)
      dot += double(dy[base + a * inner]) * double(y[base + a * inner]);
    for (int64_t a = 0; a < axis; ++a) {
      int64_t e = base + a * inner;
      dx[e] = T(double(y[e]) * (double(dy[e]) - dot));
    }
  }
}

namespace {
template <typename T> double rowMax(const T *row, int64_t n) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < n; ++j)
    m = std::max(m, double(row[j]));
  return m;
}
template <typename T> double rowExpSum(const T *row, int64_t n, double maxValue) {
  double sum = 0;
  for (int64_t j = 0; j < n; ++j)
    sum += std::exp(double(row[j]) - maxValue);
  return sum;
}
} // namespace

template <typename T>
void crossEntropy(T *loss, const T *logits, const int32_t *targets, int64_t rows,
                  int64_t classes) {
  std::vector<double> rowLoss(rows);
#pragma omp parallel for schedule(static) if (rows * classes >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T *row = logits + r * classes;
    int64_t target = targets[r];
    if (target < 0 || target >= classes) { // an upstream bug: make it loud, not a wild read
      rowLoss[r] = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    double maxValue = rowMax(row, classes);
    double logSumExp = maxValue + std::log(rowExpSum(row, classes, maxValue));
    rowLoss[r] = logSumExp - double(row[target]);
  }
  double total = 0;
  for (int64_t r = 0; r < rows; ++r)
    total += rowLoss[r];
  loss[0] = T(total / double(rows));
}

template <typename T>
void crossEntropyGrad(T *dlogits, const T *logits, const int32_t *targets, const T *dloss,
                      int64_t rows, int64_t classes) {
  double scale = double(dloss[0]) / double(rows);
#pragma omp parallel for schedule(static) if (rows * classes >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T *row = logits + r * classes;
    T *out = dlogits + r * classes;
    double maxValue = rowMax(row, classes);
    double sum = rowExpSum(row, classes, maxValue);
    int64_t target = targets[r];
    for (int64_t j = 0; j < classes; ++j) {
      double p = std::exp(double(row[j]) - maxValue) / sum;
      out[j] = T((p - (j == target ? 1.0 : 0.0)) * scale);
    }
  }
}

#define INGOT_INSTANTIATE(T)                                                                     \
  template void layerNorm<T>(T *, const T *, const T *, const T *, int64_t, int64_t, double);    \
  template void layerNormGrad<T>(T *, T *, T *, const T *, const T *, const T *, int64_t,        \
                                 int64_t, double);                                               \
  template void rmsNorm<T>(T *, const T *, const T *, int64_t, int64_t, double);                 \
  template void rmsNormGrad<T>(T *, T *, const T *, const T *, const T *, int64_t, int64_t,      \
                               double);                                                          \
  template void softmax<T>(T *, const T *, int64_t, int64_t, int64_t);                           \
  template void softmaxGrad<T>(T *, const T *, const T *, int64_t, int64_t, int64_t);            \
  template void crossEntropy<T>(T *, const T *, const int32_t *, int64_t, int64_t);              \
  template void crossEntropyGrad<T>(T *, const T *, const int32_t *, const T *, int64_t,         \
                                    int64_t);

INGOT_INSTANTIATE(float)
INGOT_INSTANTIATE(double)
#undef INGOT_INSTANTIATE

} // namespace ingot::host
