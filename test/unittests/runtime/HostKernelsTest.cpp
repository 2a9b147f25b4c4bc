//===- HostKernelsTest.cpp - The host target's kernels --------------------===//
//
// Four kinds of checks, on fresh random inputs each run (the seed is printed; rerun one with
// INGOT_TEST_SEED=<seed>):
//   * gradients: every backward kernel against central differences of its forward kernel in
//     double, as a random directional derivative: for a random direction u over all inputs and
//     a random cotangent w over the output, <w, f(x + h u) - f(x - h u)> / 2h must match the
//     backward's <J^T w, u> with h = kStep = 1e-6, to kGradTol = 1e-7 relative to the size of
//     that inner product's terms, sum_i |(J^T w)_i u_i| (see expectGradMatches);
//   * forward kernels against naive references (double: kRefTol = 1e-12 relative);
//   * determinism: the reducing kernels give the same bytes with 1 and 3 OpenMP threads;
//   * hand-computed values: AdamW's two steps, bf16 rounding.
//
//===----------------------------------------------------------------------===//
#include "host/Kernels.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace ingot::host;

namespace {

constexpr double kStep = 1e-6;     // central-difference step
constexpr double kGradTol = 1e-7;  // |fd - <vjp, u>| <= kGradTol * sum_i |vjp_i u_i|
constexpr double kRefTol = 1e-12;  // relative (to max(1, |ref|)), double forward vs reference
double worstGradError = 0;         // the largest relative gradient error seen, printed at exit

using Vec = std::vector<double>;

uint64_t baseSeed() {
  static uint64_t seed = [] {
    if (const char *env = std::getenv("INGOT_TEST_SEED"))
      return uint64_t(std::strtoull(env, nullptr, 10));
    return uint64_t(std::random_device{}()) << 32 | std::random_device{}();
  }();
  return seed;
}

class HostKernels : public ::testing::Test {
protected:
  void SetUp() override {
    const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
    rng.seed(baseSeed() ^ std::hash<std::string>{}(info->name()));
    std::printf("[ seed     ] %s: INGOT_TEST_SEED=%llu\n", info->name(),
                (unsigned long long)baseSeed());
  }

  Vec random(int64_t n, double lo = -1, double hi = 1) {
    std::uniform_real_distribution<double> dist(lo, hi);
    Vec v(n);
    for (double &x : v)
      x = dist(rng);
    return v;
  }
  std::vector<float> randomFloat(int64_t n, double lo = -1, double hi = 1) {
    Vec v = random(n, lo, hi);
    return std::vector<float>(v.begin(), v.end());
  }
  std::vector<int32_t> randomIds(int64_t n, int32_t lo, int32_t hi) {
    std::uniform_int_distribution<int32_t> dist(lo, hi);
    std::vector<int32_t> ids(n);
    for (int32_t &id : ids)
      id = dist(rng);
    return ids;
  }

  std::mt19937_64 rng;
};

Vec concat(std::initializer_list<const Vec *> parts) {
  Vec all;
  for (const Vec *p : parts)
    all.insert(all.end(), p->begin(), p->end());
  return all;
}

/// Splits a concatenation back into parts of the given sizes.
std::vector<Vec> split(const Vec &all, std::initializer_list<size_t> sizes) {
  std::vector<Vec> parts;
  size_t at = 0;
  for (size_t n : sizes) {
    parts.emplace_back(all.begin() + at, all.begin() + at + n);
    at += n;
  }
  return parts;
}

/// Checks a backward kernel's vector-Jacobian product `vjp` = J^T w against central differences
/// of `forward` at x in direction u: <w, J u> ~ sum_i w_i (f(x + h u)_i - f(x - h u)_i) / 2h
/// (differenced per element, so large outputs do not cancel). The error is measured relative
/// to sum_i |vjp_i u_i|, the size of the inner product's terms: a random <vjp, u> can land
/// near zero by cancellation, where a plain relative error would only measure rounding noise.
void expectGradMatches(const std::function<Vec(const Vec &)> &forward, const Vec &x,
                       const Vec &u, const Vec &w, const Vec &vjp, const std::string &what) {
  ASSERT_EQ(vjp.size(), x.size()) << what;
  Vec plus = x, minus = x;
  for (size_t i = 0; i < x.size(); ++i) {
    plus[i] += kStep * u[i];
    minus[i] -= kStep * u[i];
  }
  Vec fPlus = forward(plus), fMinus = forward(minus);
  double fd = 0;
  for (size_t i = 0; i < w.size(); ++i)
    fd += w[i] * (fPlus[i] - fMinus[i]);
  fd /= 2 * kStep;
  double analytic = 0, termSize = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    analytic += vjp[i] * u[i];
    termSize += std::abs(vjp[i] * u[i]);
  }
  double rel = std::abs(fd - analytic) / std::max(termSize, 1e-300);
  worstGradError = std::max(worstGradError, rel);
  EXPECT_LE(rel, kGradTol) << what << ": finite difference " << fd << ", backward " << analytic
                           << ", term size " << termSize;
}

void expectNear(const Vec &got, const Vec &want, double tol, const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::abs(got[i] - want[i]), tol * std::max(1.0, std::abs(want[i])))
        << what << " at " << i << ": got " << got[i] << ", want " << want[i];
}

/// Calls fn(index) for every multi-index of shape in row-major order.
void forEachIndex(const std::vector<int64_t> &shape,
                  const std::function<void(const std::vector<int64_t> &)> &fn) {
  int64_t total = 1;
  for (int64_t s : shape)
    total *= s;
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t n = 0; n < total; ++n) {
    fn(idx);
    for (int d = int(shape.size()) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d])
        break;
      idx[d] = 0;
    }
  }
}

int64_t offsetOf(const std::vector<int64_t> &idx, const std::vector<int64_t> &strides) {
  int64_t off = 0;
  for (size_t d = 0; d < idx.size(); ++d)
    off += idx[d] * strides[d];
  return off;
}

std::vector<int64_t> denseStrides(const std::vector<int64_t> &shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t s = 1;
  for (int d = int(shape.size()) - 1; d >= 0; --d) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

// --- Naive references -------------------------------------------------------------------------

Vec refLayerNorm(const Vec &x, const Vec &gamma, const Vec &beta, int64_t rows, int64_t dim,
                 double eps) {
  Vec y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < dim; ++j)
      mean += x[r * dim + j] / dim;
    for (int64_t j = 0; j < dim; ++j)
      var += (x[r * dim + j] - mean) * (x[r * dim + j] - mean) / dim;
    for (int64_t j = 0; j < dim; ++j)
      y[r * dim + j] = (x[r * dim + j] - mean) / std::sqrt(var + eps) * gamma[j] + beta[j];
  }
  return y;
}

Vec refAttention(const Vec &q, const Vec &k, const Vec &v, int64_t batch, int64_t tq,
                 int64_t tk, int64_t heads, int64_t kvHeads, int64_t hd, bool causal,
                 double scale) {
  Vec out(q.size(), 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      int64_t kvh = h / (heads / kvHeads);
      for (int64_t t = 0; t < tq; ++t) {
        Vec logits(tk);
        for (int64_t s = 0; s < tk; ++s) {
          double sc = 0;
          for (int64_t d = 0; d < hd; ++d)
            sc += q[((b * tq + t) * heads + h) * hd + d] *
                  k[((b * tk + s) * kvHeads + kvh) * hd + d];
          logits[s] = causal && s > t ? -std::numeric_limits<double>::infinity() : sc * scale;
        }
        double z = 0;
        for (int64_t s = 0; s < tk; ++s)
          z += std::exp(logits[s]);
        for (int64_t s = 0; s < tk; ++s)
          for (int64_t d = 0; d < hd; ++d)
            out[((b * tq + t) * heads + h) * hd + d] +=
                std::exp(logits[s]) / z * v[((b * tk + s) * kvHeads + kvh) * hd + d];
      }
    }
  return out;
}

Vec refMatmul(const Vec &a, const Vec &b, const Vec &c0, int64_t batch, int64_t m, int64_t n,
              int64_t k, bool transA, bool transB, int64_t strideA, int64_t strideB,
              int64_t strideC, bool accumulate) {
  Vec c = c0;
  for (int64_t bi = 0; bi < batch; ++bi)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (int64_t p = 0; p < k; ++p) {
          double av = transA ? a[bi * strideA + p * m + i] : a[bi * strideA + i * k + p];
          double bv = transB ? b[bi * strideB + j * k + p] : b[bi * strideB + p * n + j];
          sum += av * bv;
        }
        double &dst = c[bi * strideC + i * n + j];
        dst = accumulate ? dst + sum : sum;
      }
  return c;
}

Vec refRope(const Vec &x, int64_t batch, int64_t seq, int64_t heads, int64_t hd, double theta) {
  Vec y(x.size());
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < seq; ++t)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < hd / 2; ++i) {
          double angle = t / std::pow(theta, 2.0 * i / hd);
          int64_t base = ((b * seq + t) * heads + h) * hd;
          double x1 = x[base + i], x2 = x[base + i + hd / 2];
          y[base + i] = x1 * std::cos(angle) - x2 * std::sin(angle);
          y[base + i + hd / 2] = x2 * std::cos(angle) + x1 * std::sin(angle);
        }
  return y;
}

// --- Gradients: backward kernels against central differences of the forward ------------------

TEST_F(HostKernels, LayerNormGradMatchesFiniteDifferences) {
  const int64_t rows = 5, dim = 70; // 70 crosses the 64-column block of the weight gradients
  const double eps = 1e-5;
  Vec x = random(rows * dim, -2, 2), gamma = random(dim, 0.5, 1.5), beta = random(dim);
  Vec all = concat({&x, &gamma, &beta});
  auto forward = [&](const Vec &in) {
    auto p = split(in, {x.size(), gamma.size(), beta.size()});
    Vec y(rows * dim);
    layerNorm(y.data(), p[0].data(), p[1].data(), p[2].data(), rows, dim, eps);
    return y;
  };
  for (int trial = 0; trial < 3; ++trial) {
    Vec u = random(all.size()), w = random(rows * dim);
    Vec dx(x.size()), dgamma(dim), dbeta(dim);
    layerNormGrad(dx.data(), dgamma.data(), dbeta.data(), x.data(), gamma.data(), w.data(), rows,
                  dim, eps);
    expectGradMatches(forward, all, u, w, concat({&dx, &dgamma, &dbeta}), "layerNorm");
  }
}

TEST_F(HostKernels, RmsNormGradMatchesFiniteDifferences) {
  const int64_t rows = 6, dim = 67;
  const double eps = 1e-6;
  Vec x = random(rows * dim, -2, 2), gamma = random(dim, 0.5, 1.5);
  Vec all = concat({&x, &gamma});
  auto forward = [&](const Vec &in) {
    auto p = split(in, {x.size(), gamma.size()});
    Vec y(rows * dim);
    rmsNorm(y.data(), p[0].data(), p[1].data(), rows, dim, eps);
    return y;
  };
  for (int trial = 0; trial < 3; ++trial) {
    Vec u = random(all.size()), w = random(rows * dim);
    Vec dx(x.size()), dgamma(dim);
    rmsNormGrad(dx.data(), dgamma.data(), x.data(), gamma.data(), w.data(), rows, dim, eps);
    expectGradMatches(forward, all, u, w, concat({&dx, &dgamma}), "rmsNorm");
  }
}

TEST_F(HostKernels, SoftmaxGradMatchesFiniteDifferences) {
  struct Case {
    int64_t outer, axis, inner;
  };
  for (Case c : {Case{4, 9, 1}, Case{3, 7, 5}}) {
    int64_t n = c.outer * c.axis * c.inner;
    Vec x = random(n, -3, 3);
    auto forward = [&](const Vec &in) {
      Vec y(n);
      softmax(y.data(), in.data(), c.outer, c.axis, c.inner);
      return y;
    };
    Vec y = forward(x), u = random(n), w = random(n), dx(n);
    softmaxGrad(dx.data(), y.data(), w.data(), c.outer, c.axis, c.inner);
    expectGradMatches(forward, x, u, w, dx, "softmax inner=" + std::to_string(c.inner));
  }
}

TEST_F(HostKernels, AttentionGradMatchesFiniteDifferences) {
  struct Case {
    int64_t tq, tk, heads, kvHeads;
    bool causal;
    double scale;
  };
  const int64_t batch = 2, hd = 8;
  for (Case c : {Case{6, 6, 2, 2, true, 0}, Case{6, 6, 2, 2, false, 0},
                 Case{5, 7, 4, 2, false, 0.3}, Case{7, 7, 4, 2, true, 0},
                 Case{6, 6, 4, 1, true, 0}}) {
    int64_t nq = batch * c.tq * c.heads * hd, nkv = batch * c.tk * c.kvHeads * hd;
    Vec q = random(nq), k = random(nkv), v = random(nkv);
    Vec all = concat({&q, &k, &v});
    auto forward = [&](const Vec &in) {
      auto p = split(in, {q.size(), k.size(), v.size()});
      Vec out(nq);
      attention(out.data(), p[0].data(), p[1].data(), p[2].data(), batch, c.tq, c.tk, c.heads,
                c.kvHeads, hd, c.causal, c.scale);
      return out;
    };
    Vec out = forward(all);
    std::string what = "attention heads=" + std::to_string(c.heads) +
                       " kvHeads=" + std::to_string(c.kvHeads) +
                       (c.causal ? " causal" : " full") + " tq=" + std::to_string(c.tq) +
                       " tk=" + std::to_string(c.tk);
    for (int trial = 0; trial < 2; ++trial) {
      Vec u = random(all.size()), w = random(nq);
      Vec dq(nq), dk(nkv), dv(nkv);
      attentionGrad(dq.data(), dk.data(), dv.data(), q.data(), k.data(), v.data(), out.data(),
                    w.data(), batch, c.tq, c.tk, c.heads, c.kvHeads, hd, c.causal, c.scale);
      expectGradMatches(forward, all, u, w, concat({&dq, &dk, &dv}), what);
    }
  }
}

TEST_F(HostKernels, RopeInverseIsItsVjp) {
  const int64_t batch = 2, seq = 5, heads = 3, hd = 8;
  const double theta = 10000;
  int64_t n = batch * seq * heads * hd;
  Vec x = random(n);
  auto forward = [&](const Vec &in) {
    Vec y(n);
    rope(y.data(), in.data(), batch, seq, heads, hd, theta, false);
    return y;
  };
  Vec u = random(n), w = random(n), back(n);
  rope(back.data(), w.data(), batch, seq, heads, hd, theta, true);
  expectGradMatches(forward, x, u, w, back, "rope");
}

TEST_F(HostKernels, CrossEntropyGradMatchesFiniteDifferences) {
  const int64_t rows = 6, classes = 11;
  Vec logits = random(rows * classes, -3, 3);
  std::vector<int32_t> targets = randomIds(rows, 0, classes - 1);
  auto forward = [&](const Vec &in) {
    Vec loss(1);
    crossEntropy(loss.data(), in.data(), targets.data(), rows, classes);
    return loss;
  };
  for (int trial = 0; trial < 3; ++trial) {
    Vec u = random(logits.size()), w = random(1), dlogits(logits.size());
    crossEntropyGrad(dlogits.data(), logits.data(), targets.data(), w.data(), rows, classes);
    expectGradMatches(forward, logits, u, w, dlogits, "crossEntropy");
  }
}

TEST_F(HostKernels, ActivationGradsMatchFiniteDifferences) {
  const int64_t n = 257;
  Vec x = random(n, -4, 4);
  for (double &v : x) // keep relu's kink out of reach of the step
    if (std::abs(v) < 1e-3)
      v = 0.5;
  struct Activation {
    Unary op;
    const char *name;
    std::function<void(double *, const double *, const double *)> grad;
  };
  std::vector<Activation> activations = {
      {Unary::gelu_tanh, "gelu_tanh",
       [&](double *dx, const double *xs, const double *dy) { geluGrad(dx, xs, dy, n, true); }},
      {Unary::gelu_erf, "gelu_erf",
       [&](double *dx, const double *xs, const double *dy) { geluGrad(dx, xs, dy, n, false); }},
      {Unary::silu, "silu",
       [&](double *dx, const double *xs, const double *dy) { siluGrad(dx, xs, dy, n); }},
      {Unary::relu, "relu",
       [&](double *dx, const double *xs, const double *dy) { reluGrad(dx, xs, dy, n); }},
  };
  for (const Activation &act : activations) {
    auto forward = [&](const Vec &in) {
      Vec y(n);
      unary(act.op, y.data(), in.data(), n);
      return y;
    };
    Vec u = random(n), w = random(n), dx(n);
    act.grad(dx.data(), x.data(), w.data());
    expectGradMatches(forward, x, u, w, dx, act.name);
  }
}

TEST_F(HostKernels, EmbeddingGradMatchesFiniteDifferences) {
  const int64_t vocab = 9, dim = 37, count = 40; // ids repeat; one is out of range
  std::vector<int32_t> ids = randomIds(count, 0, vocab - 1);
  ids[7] = int32_t(vocab);
  ids[11] = -1;
  Vec table = random(vocab * dim);
  auto forward = [&](const Vec &in) {
    Vec out(count * dim);
    embedding(out.data(), in.data(), ids.data(), count, vocab, dim);
    return out;
  };
  Vec out = forward(table);
  for (int64_t j = 0; j < dim; ++j) {
    EXPECT_EQ(out[7 * dim + j], 0.0);
    EXPECT_EQ(out[11 * dim + j], 0.0);
    EXPECT_EQ(out[3 * dim + j], table[ids[3] * dim + j]);
  }
  Vec u = random(table.size()), w = random(count * dim), dtable(table.size(), 42.0);
  embeddingGrad(dtable.data(), ids.data(), w.data(), count, vocab, dim);
  expectGradMatches(forward, table, u, w, dtable, "embedding");
  Vec ref(table.size(), 0.0);
  for (int64_t i = 0; i < count; ++i)
    if (ids[i] >= 0 && ids[i] < vocab)
      for (int64_t j = 0; j < dim; ++j)
        ref[ids[i] * dim + j] += w[i * dim + j];
  expectNear(dtable, ref, kRefTol, "embeddingGrad");
}

// --- Forward kernels against naive references -------------------------------------------------

TEST_F(HostKernels, MatmulMatchesNaiveLoops) {
  struct Case {
    int64_t batch, m, n, k;
    bool broadcastA, broadcastB, accumulate;
  };
  // 40 x 70 x 300 crosses the 32-row, 64-column and 256-deep blocks.
  for (Case c : {Case{1, 40, 70, 300, false, false, false}, Case{3, 5, 7, 9, false, false, true},
                 Case{2, 33, 65, 17, true, false, false}, Case{2, 6, 3, 11, false, true, true},
                 Case{1, 1, 1, 1, false, false, false}, Case{2, 4, 5, 0, false, false, true}})
    for (int trans = 0; trans < 4; ++trans) {
      bool transA = trans & 1, transB = trans & 2;
      int64_t sizeA = c.m * c.k, sizeB = c.k * c.n, sizeC = c.m * c.n;
      // Batches sit a few elements apart (not packed) to exercise the strides.
      int64_t strideA = c.broadcastA ? 0 : sizeA + 3, strideB = c.broadcastB ? 0 : sizeB + 1,
              strideC = sizeC + 2;
      Vec a = random(strideA * (c.batch - 1) + sizeA), b = random(strideB * (c.batch - 1) + sizeB);
      Vec c0 = random(strideC * (c.batch - 1) + sizeC), got = c0;
      matmul(got.data(), a.data(), b.data(), c.batch, c.m, c.n, c.k, transA, transB, strideA,
             strideB, strideC, c.accumulate);
      Vec want = refMatmul(a, b, c0, c.batch, c.m, c.n, c.k, transA, transB, strideA, strideB,
                           strideC, c.accumulate);
      std::string what = "matmul " + std::to_string(c.m) + "x" + std::to_string(c.n) + "x" +
                         std::to_string(c.k) + " transA=" + std::to_string(transA) +
                         " transB=" + std::to_string(transB);
      expectNear(got, want, kRefTol, what);

      std::vector<float> af(a.begin(), a.end()), bf(b.begin(), b.end()),
          cf(c0.begin(), c0.end());
      matmul(cf.data(), af.data(), bf.data(), c.batch, c.m, c.n, c.k, transA, transB, strideA,
             strideB, strideC, c.accumulate);
      expectNear(Vec(cf.begin(), cf.end()), want, 1e-4, what + " (float)");
    }
}

TEST_F(HostKernels, AttentionMatchesReference) {
  struct Case {
    int64_t tq, tk, heads, kvHeads;
    bool causal;
    double scale;
  };
  const int64_t batch = 2, hd = 16;
  for (Case c : {Case{9, 9, 4, 2, true, 0}, Case{9, 9, 4, 4, false, 0},
                 Case{6, 11, 4, 1, false, 0.2}, Case{8, 8, 2, 1, true, 0.5}}) {
    int64_t nq = batch * c.tq * c.heads * hd, nkv = batch * c.tk * c.kvHeads * hd;
    Vec q = random(nq, -2, 2), k = random(nkv, -2, 2), v = random(nkv), out(nq);
    attention(out.data(), q.data(), k.data(), v.data(), batch, c.tq, c.tk, c.heads, c.kvHeads,
              hd, c.causal, c.scale);
    double scale = c.scale == 0 ? 1 / std::sqrt(double(hd)) : c.scale;
    Vec want = refAttention(q, k, v, batch, c.tq, c.tk, c.heads, c.kvHeads, hd, c.causal, scale);
    expectNear(out, want, kRefTol, "attention");

    std::vector<float> qf(q.begin(), q.end()), kf(k.begin(), k.end()), vf(v.begin(), v.end()),
        outf(nq);
    attention(outf.data(), qf.data(), kf.data(), vf.data(), batch, c.tq, c.tk, c.heads,
              c.kvHeads, hd, c.causal, c.scale);
    expectNear(Vec(outf.begin(), outf.end()), want, 1e-5, "attention (float)");
  }
}

TEST_F(HostKernels, LayerNormAndRmsNormMatchReference) {
  const int64_t rows = 9, dim = 48;
  Vec x = random(rows * dim, -3, 3), gamma = random(dim, 0.5, 1.5), beta = random(dim);
  Vec y(x.size());
  layerNorm(y.data(), x.data(), gamma.data(), beta.data(), rows, dim, 1e-5);
  expectNear(y, refLayerNorm(x, gamma, beta, rows, dim, 1e-5), kRefTol, "layerNorm");

  rmsNorm(y.data(), x.data(), gamma.data(), rows, dim, 1e-6);
  Vec want(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ms = 0;
    for (int64_t j = 0; j < dim; ++j)
      ms += x[r * dim + j] * x[r * dim + j] / dim;
    for (int64_t j = 0; j < dim; ++j)
      want[r * dim + j] = x[r * dim + j] / std::sqrt(ms + 1e-6) * gamma[j];
  }
  expectNear(y, want, kRefTol, "rmsNorm");

  std::vector<float> xf(x.begin(), x.end()), gf(gamma.begin(), gamma.end()),
      bf(beta.begin(), beta.end()), yf(x.size());
  layerNorm(yf.data(), xf.data(), gf.data(), bf.data(), rows, dim, 1e-5);
  expectNear(Vec(yf.begin(), yf.end()), refLayerNorm(x, gamma, beta, rows, dim, 1e-5), 1e-5,
             "layerNorm (float)");
}

TEST_F(HostKernels, SoftmaxMatchesReference) {
  const int64_t outer = 3, axis = 6, inner = 4;
  Vec x = random(outer * axis * inner, -5, 5), y(x.size()), want(x.size());
  softmax(y.data(), x.data(), outer, axis, inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double z = 0;
      for (int64_t a = 0; a < axis; ++a)
        z += std::exp(x[(o * axis + a) * inner + i]);
      for (int64_t a = 0; a < axis; ++a)
        want[(o * axis + a) * inner + i] = std::exp(x[(o * axis + a) * inner + i]) / z;
    }
  expectNear(y, want, kRefTol, "softmax");
}

TEST_F(HostKernels, CrossEntropyMatchesReference) {
  const int64_t rows = 13, classes = 29;
  Vec logits = random(rows * classes, -4, 4);
  std::vector<int32_t> targets = randomIds(rows, 0, classes - 1);
  double want = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double z = 0;
    for (int64_t j = 0; j < classes; ++j)
      z += std::exp(logits[r * classes + j]);
    want += (std::log(z) - logits[r * classes + targets[r]]) / rows;
  }
  Vec loss(1);
  crossEntropy(loss.data(), logits.data(), targets.data(), rows, classes);
  expectNear(loss, {want}, kRefTol, "crossEntropy");

  // Large logits must not overflow: the max is subtracted before exponentiating.
  std::vector<float> big(classes, 1000.0f);
  int32_t target = 3;
  float lossF = 0;
  crossEntropy(&lossF, big.data(), &target, 1, classes);
  EXPECT_NEAR(lossF, std::log(double(classes)), 1e-5);
}

TEST_F(HostKernels, RopeMatchesReference) {
  const int64_t batch = 2, seq = 7, heads = 2, hd = 16;
  Vec x = random(batch * seq * heads * hd), y(x.size()), back(x.size());
  rope(y.data(), x.data(), batch, seq, heads, hd, 10000, false);
  expectNear(y, refRope(x, batch, seq, heads, hd, 10000), kRefTol, "rope");
  rope(back.data(), y.data(), batch, seq, heads, hd, 10000, true);
  expectNear(back, x, kRefTol, "rope inverse");
}

TEST_F(HostKernels, TransposeMatchesReference) {
  std::vector<int64_t> shape = {3, 4, 5, 2};
  std::vector<std::vector<int64_t>> perms = {{0, 1, 3, 2}, {3, 2, 1, 0}, {1, 0, 2, 3},
                                             {2, 0, 3, 1}, {0, 1, 2, 3}};
  Vec x = random(3 * 4 * 5 * 2);
  auto xStrides = denseStrides(shape);
  for (const auto &perm : perms) {
    std::vector<int64_t> outShape(4);
    for (int d = 0; d < 4; ++d)
      outShape[d] = shape[perm[d]];
    Vec out(x.size()), want(x.size());
    transpose(out.data(), x.data(), 4, shape.data(), perm.data());
    auto outStrides = denseStrides(outShape);
    forEachIndex(outShape, [&](const std::vector<int64_t> &o) {
      std::vector<int64_t> xi(4);
      for (int d = 0; d < 4; ++d)
        xi[perm[d]] = o[d];
      want[offsetOf(o, outStrides)] = x[offsetOf(xi, xStrides)];
    });
    EXPECT_EQ(out, want) << "perm " << perm[0] << perm[1] << perm[2] << perm[3];
  }
}

TEST_F(HostKernels, CopyAxisMatchesReference) {
  const int64_t outer = 3, axisIn = 7, axisOut = 10, inner = 4;
  Vec x = random(outer * axisIn * inner);
  for (bool zeroOut : {true, false}) {
    Vec out = random(outer * axisOut * inner), want = out;
    const int64_t srcStart = 2, dstStart = 5, len = 4;
    copyAxis(out.data(), x.data(), outer, axisIn, axisOut, inner, srcStart, dstStart, len,
             zeroOut);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t a = 0; a < axisOut; ++a)
        for (int64_t i = 0; i < inner; ++i) {
          double &dst = want[(o * axisOut + a) * inner + i];
          if (a >= dstStart && a < dstStart + len)
            dst = x[(o * axisIn + srcStart + a - dstStart) * inner + i];
          else if (zeroOut)
            dst = 0;
        }
    EXPECT_EQ(out, want) << "zeroOut=" << zeroOut;
  }
}

TEST_F(HostKernels, ReduceMatchesReference) {
  struct Case {
    int64_t outer, axis, inner;
  };
  for (Case c : {Case{4, 9, 1}, Case{3, 5, 300}, Case{1, 1, 7}, Case{2, 17, 3}})
    for (Reduce op : {Reduce::sum, Reduce::mean, Reduce::max}) {
      Vec x = random(c.outer * c.axis * c.inner), out(c.outer * c.inner), want(out.size());
      reduce(op, out.data(), x.data(), c.outer, c.axis, c.inner);
      for (int64_t o = 0; o < c.outer; ++o)
        for (int64_t i = 0; i < c.inner; ++i) {
          double acc = op == Reduce::max ? -INFINITY : 0;
          for (int64_t a = 0; a < c.axis; ++a) {
            double v = x[(o * c.axis + a) * c.inner + i];
            acc = op == Reduce::max ? std::max(acc, v) : acc + v;
          }
          want[o * c.inner + i] = op == Reduce::mean ? acc / c.axis : acc;
        }
      expectNear(out, want, kRefTol, "reduce op=" + std::to_string(int(op)));
    }
}

TEST_F(HostKernels, BroadcastMatchesReference) {
  // x of shape [3, 1, 4] (strides 4, 0, 1) broadcast to [3, 5, 4]; and a scalar to [2, 3].
  std::vector<int64_t> shape = {3, 5, 4}, xStrides = {4, 0, 1};
  Vec x = random(12), out(60), want(60);
  broadcast(out.data(), x.data(), 3, shape.data(), xStrides.data());
  forEachIndex(shape, [&](const std::vector<int64_t> &i) {
    want[offsetOf(i, denseStrides(shape))] = x[offsetOf(i, xStrides)];
  });
  EXPECT_EQ(out, want);

  std::vector<int64_t> shape2 = {2, 3}, zero = {0, 0};
  Vec scalar = {2.5}, out2(6);
  broadcast(out2.data(), scalar.data(), 2, shape2.data(), zero.data());
  EXPECT_EQ(out2, Vec(6, 2.5));
}

TEST_F(HostKernels, BinaryBroadcastsLikeReference) {
  std::vector<int64_t> shape = {2, 3, 4, 5};
  auto outStrides = denseStrides(shape);
  // a: [2, 1, 4, 5] broadcast over dimension 1; b: [3, 1] laid out as [1, 3, 1, 1]... plus a
  // transposed view to exercise non-contiguous innermost strides.
  std::vector<int64_t> aStrides = {20, 0, 5, 1}, bStrides = {0, 1, 0, 0},
                       cStrides = {1, 2, 6, 24}; // a [5, 4, 3, 2] tensor read transposed
  Vec a = random(40), b = random(3, 0.5, 2), c = random(120);
  for (Binary op : {Binary::add, Binary::sub, Binary::mul, Binary::div, Binary::maximum}) {
    auto apply = [&](double x, double y) {
      switch (op) {
      case Binary::add:
        return x + y;
      case Binary::sub:
        return x - y;
      case Binary::mul:
        return x * y;
      case Binary::div:
        return x / y;
      case Binary::maximum:
        return std::max(x, y);
      }
      return 0.0;
    };
    Vec out(120), want(120);
    binary(op, out.data(), a.data(), b.data(), 4, shape.data(), aStrides.data(), bStrides.data());
    forEachIndex(shape, [&](const std::vector<int64_t> &i) {
      want[offsetOf(i, outStrides)] = apply(a[offsetOf(i, aStrides)], b[offsetOf(i, bStrides)]);
    });
    EXPECT_EQ(out, want) << "op " << int(op);

    binary(op, out.data(), c.data(), a.data(), 4, shape.data(), cStrides.data(),
           aStrides.data());
    forEachIndex(shape, [&](const std::vector<int64_t> &i) {
      want[offsetOf(i, outStrides)] = apply(c[offsetOf(i, cStrides)], a[offsetOf(i, aStrides)]);
    });
    EXPECT_EQ(out, want) << "op " << int(op) << " (transposed operand)";
  }
  // Large enough to run threaded: a bias over [40, 1000] rows and a plain add that coalesces
  // into one 40000-long row, which is split into chunks.
  std::vector<int64_t> big = {40, 1000}, dense = {1000, 1}, bias = {0, 1};
  Vec x1 = random(40000), x2 = random(40000), bvec = random(1000), got(40000);
  binary(Binary::add, got.data(), x1.data(), bvec.data(), 2, big.data(), dense.data(),
         bias.data());
  for (int64_t i = 0; i < 40000; ++i)
    ASSERT_EQ(got[i], x1[i] + bvec[i % 1000]) << i;
  binary(Binary::sub, got.data(), x1.data(), x2.data(), 2, big.data(), dense.data(),
         dense.data());
  for (int64_t i = 0; i < 40000; ++i)
    ASSERT_EQ(got[i], x1[i] - x2[i]) << i;
  broadcast(got.data(), bvec.data(), 2, big.data(), bias.data());
  for (int64_t i = 0; i < 40000; ++i)
    ASSERT_EQ(got[i], bvec[i % 1000]) << i;

  // Rank 0: a scalar.
  double x = 3, y = 4, z = 0;
  binary(Binary::mul, &z, &x, &y, 0, nullptr, nullptr, nullptr);
  EXPECT_EQ(z, 12);
  // maximum propagates NaN.
  double nan = std::numeric_limits<double>::quiet_NaN();
  int64_t one = 1, unit = 1;
  binary(Binary::maximum, &z, &nan, &y, 1, &one, &unit, &unit);
  EXPECT_TRUE(std::isnan(z));
}

TEST_F(HostKernels, UnaryMatchesStdMath) {
  const int64_t n = 100;
  Vec x = random(n, 0.1, 3), neg = random(n, -3, 3), out(n);
  auto check = [&](Unary op, const Vec &in, const std::function<double(double)> &f,
                   const char *name) {
    unary(op, out.data(), in.data(), n);
    Vec want(n);
    for (int64_t i = 0; i < n; ++i)
      want[i] = f(in[i]);
    expectNear(out, want, kRefTol, name);
  };
  check(Unary::neg, neg, [](double v) { return -v; }, "neg");
  check(Unary::exp, neg, [](double v) { return std::exp(v); }, "exp");
  check(Unary::log, x, [](double v) { return std::log(v); }, "log");
  check(Unary::sqrt, x, [](double v) { return std::sqrt(v); }, "sqrt");
  check(Unary::rsqrt, x, [](double v) { return 1 / std::sqrt(v); }, "rsqrt");
  check(Unary::tanh, neg, [](double v) { return std::tanh(v); }, "tanh");
  check(Unary::relu, neg, [](double v) { return v > 0 ? v : 0; }, "relu");
  check(Unary::silu, neg, [](double v) { return v / (1 + std::exp(-v)); }, "silu");
  check(Unary::gelu_tanh, neg,
        [](double v) {
          double c = std::sqrt(2 / std::acos(-1.0));
          return 0.5 * v * (1 + std::tanh(c * (v + 0.044715 * v * v * v)));
        },
        "gelu_tanh");
  check(Unary::gelu_erf, neg, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); },
        "gelu_erf");
}

TEST_F(HostKernels, FillAccumulateSumSquares) {
  const int64_t n = 40000; // above the parallel threshold
  std::vector<float> out(n), x = randomFloat(n);
  fill(out.data(), n, 0.25);
  EXPECT_EQ(out, std::vector<float>(n, 0.25f));
  accumulate(out.data(), x.data(), n);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(out[i], 0.25f + x[i]);
  double want = 0;
  for (int64_t i = 0; i < n; ++i)
    want += double(x[i]) * double(x[i]);
  EXPECT_EQ(sumSquares(x.data(), n), want); // same ascending order, so bit-identical
}

// --- Determinism: the same bytes for any thread count -----------------------------------------

template <typename F> void expectSameBytesFor1And3Threads(F run, const char *what) {
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  std::vector<std::vector<float>> one = run();
  omp_set_num_threads(3);
  std::vector<std::vector<float>> three = run();
  omp_set_num_threads(saved);
  ASSERT_EQ(one.size(), three.size());
  for (size_t i = 0; i < one.size(); ++i) {
    ASSERT_EQ(one[i].size(), three[i].size());
    EXPECT_EQ(std::memcmp(one[i].data(), three[i].data(), one[i].size() * sizeof(float)), 0)
        << what << " output " << i << " differs between 1 and 3 threads";
  }
}

TEST_F(HostKernels, DeterministicAcrossThreadCounts) {
  { // attentionGrad with grouped-query heads and a causal mask
    const int64_t batch = 4, t = 32, heads = 4, kvHeads = 2, hd = 16;
    int64_t nq = batch * t * heads * hd, nkv = batch * t * kvHeads * hd;
    auto q = randomFloat(nq), k = randomFloat(nkv), v = randomFloat(nkv), dout = randomFloat(nq);
    std::vector<float> out(nq);
    attention(out.data(), q.data(), k.data(), v.data(), batch, t, t, heads, kvHeads, hd, true, 0);
    expectSameBytesFor1And3Threads(
        [&] {
          std::vector<float> dq(nq), dk(nkv), dv(nkv), o(nq);
          attention(o.data(), q.data(), k.data(), v.data(), batch, t, t, heads, kvHeads, hd,
                    true, 0);
          attentionGrad(dq.data(), dk.data(), dv.data(), q.data(), k.data(), v.data(),
                        out.data(), dout.data(), batch, t, t, heads, kvHeads, hd, true, 0);
          return std::vector<std::vector<float>>{o, dq, dk, dv};
        },
        "attention");
  }
  { // layerNormGrad over 512 rows: dgamma/dbeta sum every row
    const int64_t rows = 512, dim = 96;
    auto x = randomFloat(rows * dim, -2, 2), gamma = randomFloat(dim, 0.5, 1.5),
         dy = randomFloat(rows * dim);
    expectSameBytesFor1And3Threads(
        [&] {
          std::vector<float> dx(rows * dim), dgamma(dim), dbeta(dim), dgammaRms(dim),
              dxRms(rows * dim);
          layerNormGrad(dx.data(), dgamma.data(), dbeta.data(), x.data(), gamma.data(),
                        dy.data(), rows, dim, 1e-5);
          rmsNormGrad(dxRms.data(), dgammaRms.data(), x.data(), gamma.data(), dy.data(), rows,
                      dim, 1e-5);
          return std::vector<std::vector<float>>{dx, dgamma, dbeta, dxRms, dgammaRms};
        },
        "layerNormGrad/rmsNormGrad");
  }
  { // matmul: the weight-gradient shape (transA, long k) and a plain one
    const int64_t m = 96, n = 130, k = 600;
    auto a = randomFloat(m * k), b = randomFloat(k * n);
    expectSameBytesFor1And3Threads(
        [&] {
          std::vector<float> c1(m * n), c2(m * n);
          matmul(c1.data(), a.data(), b.data(), 1, m, n, k, true, false, 0, 0, 0, false);
          matmul(c2.data(), a.data(), b.data(), 1, m, n, k, false, true, 0, 0, 0, false);
          return std::vector<std::vector<float>>{c1, c2};
        },
        "matmul");
  }
  { // embeddingGrad: many repeated ids, so rows collect many contributions
    const int64_t vocab = 50, dim = 80, count = 1000;
    auto ids = randomIds(count, 0, vocab - 1);
    auto dout = randomFloat(count * dim);
    expectSameBytesFor1And3Threads(
        [&] {
          std::vector<float> dtable(vocab * dim);
          embeddingGrad(dtable.data(), ids.data(), dout.data(), count, vocab, dim);
          return std::vector<std::vector<float>>{dtable};
        },
        "embeddingGrad");
  }
  { // crossEntropy and its gradient over the tiny GPT's logits
    const int64_t rows = 512, classes = 256;
    auto logits = randomFloat(rows * classes, -4, 4);
    auto targets = randomIds(rows, 0, classes - 1);
    float dloss = 1;
    expectSameBytesFor1And3Threads(
        [&] {
          std::vector<float> loss(1), dlogits(rows * classes);
          crossEntropy(loss.data(), logits.data(), targets.data(), rows, classes);
          crossEntropyGrad(dlogits.data(), logits.data(), targets.data(), &dloss, rows, classes);
          return std::vector<std::vector<float>>{loss, dlogits};
        },
        "crossEntropy");
  }
}

// --- Hand-computed values -----------------------------------------------------------------------

TEST_F(HostKernels, AdamWTwoStepsByHand) {
  // lr 0.1, betas (0.9, 0.999), eps 1e-8, weight decay 0.01, gradScale 2 (so g = 2 * grad).
  Vec param = {1.0, -0.5}, m = {0, 0}, v = {0, 0};
  Vec grad1 = {0.5, 0.25}, grad2 = {-0.25, 0.25};
  adamw(param.data(), grad1.data(), m.data(), v.data(), 2, 0.1, 0.9, 0.999, 1e-8, 0.01, 1, 2.0);
  // Step 1, g = (1, 0.5): m = 0.1 g, v = 0.001 g^2, so m^ = g and v^ = g^2 and the update is
  // g / (|g| + eps) + 0.01 p.
  //   p0 = 1 - 0.1 (1 / (1 + 1e-8) + 0.01) = 0.899000001 (to 1e-17)
  //   p1 = -0.5 - 0.1 (0.5 / (0.5 + 1e-8) - 0.005) = -0.599499998 (to 1e-17)
  expectNear(m, {0.1, 0.05}, 1e-15, "adamw m, step 1");
  expectNear(v, {0.001, 0.00025}, 1e-15, "adamw v, step 1");
  expectNear(param, {0.899000001, -0.599499998}, 1e-14, "adamw param, step 1");

  adamw(param.data(), grad2.data(), m.data(), v.data(), 2, 0.1, 0.9, 0.999, 1e-8, 0.01, 2, 2.0);
  // Step 2, g = (-0.5, 0.5): m = (0.09 - 0.05, 0.045 + 0.05) = (0.04, 0.095);
  // v = (0.000999 + 0.00025, 0.00024975 + 0.00025) = (0.001249, 0.00049975);
  // corrections 1 - 0.9^2 = 0.19 and 1 - 0.999^2 = 0.001999.
  double p0 = 0.899000001 - 0.1 * ((0.04 / 0.19) / (std::sqrt(0.001249 / 0.001999) + 1e-8) +
                                   0.01 * 0.899000001);
  double p1 = -0.599499998 - 0.1 * ((0.095 / 0.19) / (std::sqrt(0.00049975 / 0.001999) + 1e-8) +
                                    0.01 * -0.599499998);
  EXPECT_NEAR(p0, 0.8714672973699031, 1e-15); // the hand formula, evaluated
  EXPECT_NEAR(p1, -0.6989004960019993, 1e-15);
  expectNear(m, {0.04, 0.095}, 1e-15, "adamw m, step 2");
  expectNear(v, {0.001249, 0.00049975}, 1e-15, "adamw v, step 2");
  expectNear(param, {p0, p1}, 1e-14, "adamw param, step 2");

  // float state: the same step within float rounding.
  std::vector<float> pf = {1.0f, -0.5f}, mf = {0, 0}, vf = {0, 0}, gf = {0.5f, 0.25f};
  adamw(pf.data(), gf.data(), mf.data(), vf.data(), 2, 0.1, 0.9, 0.999, 1e-8, 0.01, 1, 2.0);
  EXPECT_NEAR(pf[0], 0.899000001, 1e-7);
  EXPECT_NEAR(pf[1], -0.599499998, 1e-7);
}

float fromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
uint32_t toBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

TEST_F(HostKernels, CastRoundsToBF16NearestEven) {
  struct Case {
    float in, want;
  };
  std::vector<Case> cases = {
      {1.0f, 1.0f},
      {-2.5f, -2.5f},
      {1.00390625f, 1.0f},          // 1 + 2^-8: halfway, ties to even (down)
      {1.01171875f, 1.015625f},     // 1 + 3 * 2^-8: halfway, ties to even (up)
      {fromBits(0x3F808001), 1.0078125f}, // just above halfway: up
      {fromBits(0x3F807FFF), 1.0f},       // just below halfway: down
      {3.14159274f, 3.140625f},
      {-3.14159274f, -3.140625f},
      {fromBits(0x7F7FFFFF), INFINITY}, // float max rounds past bf16's max finite
      {fromBits(0x7F7F0000), fromBits(0x7F7F0000)},
      {INFINITY, INFINITY},
      {-INFINITY, -INFINITY},
      {0.0f, 0.0f},
      {fromBits(0x000116C2), fromBits(0x00010000)}, // a subnormal keeps its top bits
  };
  std::vector<float> in, out(cases.size());
  for (const Case &c : cases)
    in.push_back(c.in);
  cast(out.data(), in.data(), int64_t(in.size()), true);
  for (size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(toBits(out[i]), toBits(cases[i].want))
        << "bf16(" << cases[i].in << ") = " << out[i] << ", want " << cases[i].want;

  float nan = std::numeric_limits<float>::quiet_NaN(), outNaN = 0;
  cast(&outNaN, &nan, 1, true);
  EXPECT_TRUE(std::isnan(outNaN));

  Vec d = {1.00390625, 1.01171875, 1.0 + std::ldexp(1.0, -30), 0.1}, dout(4);
  cast(dout.data(), d.data(), 4, true);
  EXPECT_EQ(dout[0], 1.0);
  EXPECT_EQ(dout[1], 1.015625);
  EXPECT_EQ(dout[2], 1.0);
  EXPECT_EQ(dout[3], 0.10009765625); // bf16(0.1) = 0x3DCD

  std::vector<float> copy(in.size());
  cast(copy.data(), in.data(), int64_t(in.size()), false);
  EXPECT_EQ(std::memcmp(copy.data(), in.data(), in.size() * sizeof(float)), 0);
}

class ReportWorstGradError : public ::testing::Environment {
public:
  void TearDown() override {
    std::printf("[ gradient ] step %g, tolerance %g relative; worst relative error seen %.3g\n",
                kStep, kGradTol, worstGradError);
  }
};
const auto *const reportEnv = ::testing::AddGlobalTestEnvironment(new ReportWorstGradError);

} // namespace
