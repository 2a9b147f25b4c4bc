//===- AttentionKernels.cpp - Attention and rotary embedding on the host --===//
//
// Scaled dot-product attention, one query row at a time: scores q . k in T (ascending d), the
// max-subtracted exponent sum in double, probabilities rounded to T, and out = sum_s p v in
// ascending s. The backward recomputes the same probabilities (the API saves no logsumexp) and
// is parallel over (batch, kv head): that task owns dk and dv of its kv head and dq of the
// query heads that read it, and sums heads in ascending order, then queries in ascending order,
// so grouped-query attention is deterministic without scratch beyond O(tk) per thread.
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

/// The shapes of one attention call and the offsets of its rows.
struct AttentionShape {
  int64_t tq, tk, heads, kvHeads, hd;
  bool causal;
  double scale;

  int64_t group() const { return heads / kvHeads; }
  int64_t qRow(int64_t b, int64_t t, int64_t h) const { return ((b * tq + t) * heads + h) * hd; }
  int64_t kvRow(int64_t b, int64_t s, int64_t kvh) const {
    return ((b * tk + s) * kvHeads + kvh) * hd;
  }
  /// Keys query t sees: s <= t when causal.
  int64_t keys(int64_t t) const { return causal ? std::min(t + 1, tk) : tk; }
};

template <typename T> T dot(const T *a, const T *b, int64_t n) {
  T sum = T(0);
  for (int64_t d = 0; d < n; ++d)
    sum += a[d] * b[d];
  return sum;
}

/// Writes the probabilities of query row (b, t, h) over its visible keys into p[0, keys).
template <typename T>
int64_t attentionRow(const AttentionShape &sh, const T *q, const T *k, int64_t b, int64_t t,
                     int64_t h, double *weights, T *p) {
  int64_t n = sh.keys(t), kvh = h / sh.group();
  const T *qr = q + sh.qRow(b, t, h);
  double maxScore = -std::numeric_limits<double>::infinity();
  for (int64_t s = 0; s < n; ++s) {
    weights[s] = double(dot(qr, k + sh.kvRow(b, s, kvh), sh.hd)) * sh.scale;
    maxScore = std::max(maxScore, weights[s]);
  }
  double sum = 0;
  for (int64_t s = 0; s < n; ++s) {
    weights[s] = std::exp(weights[s] - maxScore);
    sum += weights[s];
  }
  for (int64_t s = 0; s < n; ++s)
    p[s] = T(weights[s] / sum);
  return n;
}

double resolveScale(double scale, int64_t hd) {
  return scale == 0 ? 1.0 / std::sqrt(double(hd)) : scale;
}

} // namespace

template <typename T>
void attention(T *out, const T *q, const T *k, const T *v, int64_t batch, int64_t tq, int64_t tk,
               int64_t heads, int64_t kvHeads, int64_t hd, bool causal, double scale) {
  AttentionShape sh{tq, tk, heads, kvHeads, hd, causal, resolveScale(scale, hd)};
  int64_t tasks = batch * tq * heads;
  bool parallel = tasks > 1 && tasks * tk * hd >= kParallelMin;
#pragma omp parallel if (parallel)
  {
    std::vector<double> weights(tk);
    std::vector<T> p(tk);
    // Causal rows differ in cost; dynamic scheduling balances them and cannot change a value.
#pragma omp for schedule(dynamic, 16)
    for (int64_t task = 0; task < tasks; ++task) {
      int64_t b = task / (tq * heads), t = (task / heads) % tq, h = task % heads;
      int64_t n = attentionRow(sh, q, k, b, t, h, weights.data(), p.data());
      T *o = out + sh.qRow(b, t, h);
      std::fill(o, o + hd, T(0));
      int64_t kvh = h / sh.group();
      for (int64_t s = 0; s < n; ++s) {
        const T *vr = v + sh.kvRow(b, s, kvh);
        T ps = p[s];
        for (int64_t d = 0; d < hd; ++d)
          o[d] += ps * vr[d];
      }
    }
  }
}

template <typename T>
void attentionGrad(T *dq, T *dk, T *dv, const T *q, const T *k, const T *v, const T * /*out*/,
                   const T *dout, int64_t batch, int64_t tq, int64_t tk, int64_t heads,
                   int64_t kvHeads, int64_t hd, bool causal, double scale) {
  AttentionShape sh{tq, tk, heads, kvHeads, hd, causal, resolveScale(scale, hd)};
  int64_t tasks = batch * kvHeads, group = sh.group();
  bool parallel = tasks > 1 && batch * tq * heads * tk * hd >= kParallelMin;
#pragma omp parallel if (parallel)
  {
    std::vector<double> weights(tk);
    std::vector<T> p(tk), ds(tk);
#pragma omp for schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
      int64_t b = task / kvHeads, kvh = task % kvHeads;
      for (int64_t s = 0; s < tk; ++s) {
        std::fill(dk + sh.kvRow(b, s, kvh), dk + sh.kvRow(b, s, kvh) + hd, T(0));
        std::fill(dv + sh.kvRow(b, s, kvh), dv + sh.kvRow(b, s, kvh) + hd, T(0));
      }
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        for (int64_t t = 0; t < tq; ++t) {
          int64_t n = attentionRow(sh, q, k, b, t, h, weights.data(), p.data());
          const T *qr = q + sh.qRow(b, t, h), *dor = dout + sh.qRow(b, t, h);
          // ds = scale * p * (dp - sum_s p dp), dp = dout . v; the softmax sum in double.
          double delta = 0;
          for (int64_t s = 0; s < n; ++s) {
            T dp = dot(dor, v + sh.kvRow(b, s, kvh), hd);
            ds[s] = dp; // held until delta is known
            delta += double(p[s]) * double(dp);
          }
          for (int64_t s = 0; s < n; ++s)
            ds[s] = T(sh.scale * double(p[s]) * (double(ds[s]) - delta));
          T *dqr = dq + sh.qRow(b, t, h);
          std::fill(dqr, dqr + hd, T(0));
          for (int64_t s = 0; s < n; ++s) {
            int64_t row = sh.kvRow(b, s, kvh);
            const T *kr = k + row;
            T *dkr = dk + row, *dvr = dv + row;
            T dss = ds[s], ps = p[s];
            for (int64_t d = 0; d < hd; ++d) {
              dqr[d] += dss * kr[d];
              dkr[d] += dss * qr[d];
              dvr[d] += ps * dor[d];
            }
          }
        }
      }
    }
  }
}

template <typename T>
void rope(T *y, const T *x, int64_t batch, int64_t seq, int64_t heads, int64_t hd, double theta,
          bool inverse) {
  int64_t half = hd / 2, width = heads * hd, rows = batch * seq;
#pragma omp parallel for schedule(static) if (rows * width >= kParallelMin)
  for (int64_t row = 0; row < rows; ++row) {
    double t = double(row % seq);
    const T *xr = x + row * width;
    T *yr = y + row * width;
    for (int64_t i = 0; i < half; ++i) {
      double angle = t * std::pow(theta, -2.0 * double(i) / double(hd));
      double c = std::cos(angle), s = inverse ? -std::sin(angle) : std::sin(angle);
      for (int64_t h = 0; h < heads; ++h) {
        double x1 = double(xr[h * hd + i]), x2 = double(xr[h * hd + i + half]);
        yr[h * hd + i] = T(x1 * c - x2 * s);
        yr[h * hd + i + half] = T(x2 * c + x1 * s);
      }
    }
    if (hd % 2 && y != x) // an odd trailing element is left as is
      for (int64_t h = 0; h < heads; ++h)
        yr[h * hd + hd - 1] = xr[h * hd + hd - 1];
  }
}

#define INGOT_INSTANTIATE(T)                                                                     \
  template void attention<T>(T *, const T *, const T *, const T *, int64_t, int64_t, int64_t,    \
                             int64_t, int64_t, int64_t, bool, double);                           \
  template void attentionGrad<T>(T *, T *, T *, const T *, const T *, const T *, const T *,      \
                                 const T *, int64_t, int64_t, int64_t, int64_t, int64_t,         \
                                 int64_t, bool, double);                                         \
  template void rope<T>(T *, const T *, int64_t, int64_t, int64_t, int64_t, double, bool);

INGOT_INSTANTIATE(float)
INGOT_INSTANTIATE(double)
#undef INGOT_INSTANTIATE

} // namespace ingot::host
