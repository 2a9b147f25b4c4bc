//===- KernelCheck.cu - Every cuda kernel against the fp32 reference ------===//
//
// Run on a GPU machine: `ingot-cuda-kernel-check [seed]` (CI builds it). For each kernel of
// Kernels.cuh: fresh random inputs (the seed is printed; pass one to repeat it), outputs
// poisoned with NaN first (an element the kernel failed to write fails the check), the fast
// kernel on bf16 storage against ReferenceKernels.cu in fp32 on the same bf16-rounded inputs,
// compared by ||out - ref|| / ||ref|| (METHOD.md: bf16 storage lands between 1e-3 and 1e-2;
// the tolerance is 1e-2, and fp32 kernels must stay under 1e-5). Prints one row per check and
// exits 1 if any fails.
//
//===----------------------------------------------------------------------===//
#include "cuda/Check.cuh"
#include "cuda/Kernels.cuh"
#include "cuda/ReferenceKernels.cuh"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace ingot::cuda;

namespace {

std::mt19937_64 rng;
int failures = 0;

/// A device buffer with host-side helpers.
template <typename T> struct Buf {
  T *p = nullptr;
  size_t n = 0;
  explicit Buf(size_t count) : n(count) { cudaCheck(cudaMalloc(&p, sizeof(T) * (n ? n : 1))); }
  ~Buf() { cudaFree(p); }
  Buf(const Buf &) = delete;
  void upload(const std::vector<float> &h) {
    std::vector<T> t(n);
    for (size_t i = 0; i < n; ++i)
      t[i] = T(h[i]);
    cudaCheck(cudaMemcpy(p, t.data(), sizeof(T) * n, cudaMemcpyHostToDevice));
  }
  std::vector<float> download() const {
    std::vector<T> t(n);
    cudaCheck(cudaDeviceSynchronize());
    cudaCheck(cudaMemcpy(t.data(), p, sizeof(T) * n, cudaMemcpyDeviceToHost));
    std::vector<float> h(n);
    for (size_t i = 0; i < n; ++i)
      h[i] = float(t[i]);
    return h;
  }
  void poison() {
    std::vector<float> nan(n, std::nanf(""));
    upload(nan);
  }
};

/// Random normal values, already rounded to bf16 so both sides see the same inputs.
std::vector<float> randomValues(size_t n, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float &x : v)
    x = float(bf16(normal(rng)));
  return v;
}

std::vector<int32_t> randomIds(size_t n, int64_t vocab) {
  std::uniform_int_distribution<int64_t> uniform(0, vocab - 1);
  std::vector<int32_t> v(n);
  for (int32_t &x : v)
    x = int32_t(uniform(rng));
  return v;
}

int32_t *deviceIds(const std::vector<int32_t> &ids) {
  int32_t *p;
  cudaCheck(cudaMalloc(&p, sizeof(int32_t) * ids.size()));
  cudaCheck(cudaMemcpy(p, ids.data(), sizeof(int32_t) * ids.size(), cudaMemcpyHostToDevice));
  return p;
}

void report(const std::string &name, const std::vector<float> &out, const std::vector<float> &ref,
            double tolerance) {
  double diff = 0, norm = 0;
  bool nan = false;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i]))
      nan = true;
    diff += (double(out[i]) - ref[i]) * (double(out[i]) - ref[i]);
    norm += double(ref[i]) * ref[i];
  }
  double rel = norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
  bool ok = !nan && rel <= tolerance;
  failures += !ok;
  std::printf("| %-44s | %10.3e | %8.1e | %s |\n", name.c_str(), rel, tolerance,
              ok ? "pass" : (nan ? "FAIL (non-finite or unwritten)" : "FAIL"));
}

constexpr double kBf16 = 1e-2, kF32 = 1e-5;

/// A check that must hold bit for bit (an unwritten NaN fails it too).
void exact(const std::string &name, const std::vector<float> &out,
           const std::vector<float> &expected) {
  size_t differ = 0;
  for (size_t i = 0; i < out.size(); ++i)
    differ += !(out[i] == expected[i]) || std::signbit(out[i]) != std::signbit(expected[i]);
  bool ok = out.size() == expected.size() && differ == 0;
  failures += !ok;
  std::printf("| %-44s | %10zu | %8s | %s |\n", name.c_str(), differ, "bitwise",
              ok ? "pass" : "FAIL");
}

void checkMatmul(int64_t batch, int64_t m, int64_t n, int64_t k, bool ta, bool tb) {
  auto a = randomValues(batch * m * k), b = randomValues(batch * k * n);
  Buf<float> af(a.size()), bfl(b.size()), ref(batch * m * n), c32(batch * m * n);
  Buf<bf16> ah(a.size()), bh(b.size()), c16(batch * m * n);
  af.upload(a), bfl.upload(b), ah.upload(a), bh.upload(b);
  c16.poison(), c32.poison();
  ref::matmul(ref.p, af.p, bfl.p, batch, m, n, k, ta, tb, m * k, k * n, m * n, false);
  matmul(c16.p, ah.p, bh.p, batch, m, n, k, ta, tb, m * k, k * n, m * n, false);
  matmul(c32.p, ah.p, bh.p, batch, m, n, k, ta, tb, m * k, k * n, m * n, false);
  char name[96];
  std::snprintf(name, sizeof name, "matmul %lldx%lldx%lld b%lld%s%s", (long long)m, (long long)n,
                (long long)k, (long long)batch, ta ? " tA" : "", tb ? " tB" : "");
  auto r = ref.download();
  report(std::string(name) + " ->bf16", c16.download(), r, kBf16);
  report(std::string(name) + " ->f32", c32.download(), r, kBf16);
  // Accumulate into fp32 (weight gradients across micro-batches).
  matmul(c32.p, ah.p, bh.p, batch, m, n, k, ta, tb, m * k, k * n, m * n, true);
  auto twice = r;
  for (float &x : twice)
    x *= 2;
  report(std::string(name) + " +=f32", c32.download(), twice, kBf16);
}

/// A linear layer's weight and bias gradients in one GEMM (BGRADA epilogue, or its fallback):
/// written, then accumulated into earlier contents (the trainers fold both into the gradients).
void checkWeightBiasGrad(int64_t m, int64_t n, int64_t k) {
  auto a = randomValues(k * m), dy = randomValues(k * n), dw0 = randomValues(m * n),
       db0 = randomValues(n);
  Buf<float> af(a.size()), dyf(dy.size()), dwRef(m * n), dbRef(n), dw(m * n), db(n);
  Buf<bf16> ah(a.size()), dyh(dy.size());
  Buf<char> scratch(std::max(scratchBytesReduce(1, k, n), scratchBytesWeightBiasGrad(n)));
  af.upload(a), dyf.upload(dy), ah.upload(a), dyh.upload(dy);
  ref::matmul(dwRef.p, af.p, dyf.p, 1, m, n, k, true, false, 0, 0, 0, false);
  ref::reduce(Reduce::sum, dbRef.p, dyf.p, 1, k, n);
  char name[96];
  std::snprintf(name, sizeof name, "matmulWeightBiasGrad %lldx%lldx%lld", (long long)m,
                (long long)n, (long long)k);
  // dw written (no accumulate) over NaN; dbias added to fresh values.
  dw.poison();
  db.upload(db0);
  matmulWeightBiasGrad(dw.p, db.p, ah.p, dyh.p, m, n, k, false, scratch.p);
  auto dwExpected = dwRef.download(), dbSums = dbRef.download();
  std::vector<float> dbExpected(n);
  for (int64_t j = 0; j < n; ++j)
    dbExpected[j] = db0[j] + dbSums[j];
  report(std::string(name) + " dw", dw.download(), dwExpected, kBf16);
  report(std::string(name) + " dbias +=", db.download(), dbExpected, kBf16);
  // Both accumulated into earlier gradients.
  dw.upload(dw0);
  db.upload(db0);
  matmulWeightBiasGrad(dw.p, db.p, ah.p, dyh.p, m, n, k, true, scratch.p);
  for (int64_t i = 0; i < m * n; ++i)
    dwExpected[i] += dw0[i];
  report(std::string(name) + " dw +=", dw.download(), dwExpected, kBf16);
  report(std::string(name) + " dbias += (2)", db.download(), dbExpected, kBf16);
}

/// The fused epilogues: bias, residual + bias, GELU + bias (with the pre-GELU aux output).
void checkEpilogues(int64_t m, int64_t n, int64_t k) {
  auto a = randomValues(m * k), b = randomValues(k * n), res = randomValues(m * n),
       bias = randomValues(n);
  Buf<float> af(a.size()), bfl(b.size()), resf(res.size()), biasf(n), prod(m * n), sum(m * n),
      biased(m * n), act(m * n);
  Buf<bf16> ah(a.size()), bh(b.size()), resh(res.size()), biash(n), d(m * n), aux(m * n);
  af.upload(a), bfl.upload(b), resf.upload(res), biasf.upload(bias);
  ah.upload(a), bh.upload(b), resh.upload(res), biash.upload(bias);
  ref::matmul(prod.p, af.p, bfl.p, 1, m, n, k, false, false, 0, 0, 0, false);
  Dims shape{{m, n}}, full{{n, 1}}, row{{0, 1}};
  ref::binary(Binary::add, biased.p, prod.p, biasf.p, 2, shape, full, row);
  ref::binary(Binary::add, sum.p, biased.p, resf.p, 2, shape, full, full);
  ref::unary(Unary::gelu_tanh, act.p, biased.p, m * n);
  char name[64];
  std::snprintf(name, sizeof name, " %lldx%lldx%lld", (long long)m, (long long)n, (long long)k);
  d.poison();
  matmulEpilogue(d.p, ah.p, bh.p, nullptr, biash.p, nullptr, Epilogue::bias, m, n, k, false, false);
  report(std::string("matmul + bias") + name, d.download(), biased.download(), kBf16);
  d.poison();
  matmulEpilogue(d.p, ah.p, bh.p, resh.p, biash.p, nullptr, Epilogue::bias, m, n, k, false, false);
  report(std::string("matmul + residual + bias") + name, d.download(), sum.download(), kBf16);
  d.poison(), aux.poison();
  matmulEpilogue(d.p, ah.p, bh.p, nullptr, biash.p, aux.p, Epilogue::geluBias, m, n, k, false,
                 false);
  report(std::string("gelu(matmul + bias)") + name, d.download(), act.download(), kBf16);
  report(std::string("gelu(matmul + bias) aux") + name, aux.download(), biased.download(), kBf16);
  // The GELU's backward on the product: d = (a x b) * gelu'(pre), pre = the residual values.
  Buf<float> dgelu(m * n);
  ref::geluGrad(dgelu.p, resf.p, prod.p, m * n, true);
  d.poison();
  matmulEpilogue(d.p, ah.p, bh.p, nullptr, nullptr, resh.p, Epilogue::dgelu, m, n, k, false,
                 false);
  report(std::string("matmul * gelu'(aux)") + name, d.download(), dgelu.download(), kBf16);
  // The same with b stored transposed ([n, k]), as the backward's dY . W^T reads it.
  Buf<float> bt(b.size()), prodT(m * n), dgeluT(m * n);
  std::vector<float> bTransposed(b.size());
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j)
      bTransposed[j * k + i] = b[i * n + j];
  bt.upload(bTransposed);
  Buf<bf16> bth(b.size());
  bth.upload(bTransposed);
  ref::matmul(prodT.p, af.p, bt.p, 1, m, n, k, false, true, 0, 0, 0, false);
  ref::geluGrad(dgeluT.p, resf.p, prodT.p, m * n, true);
  d.poison();
  matmulEpilogue(d.p, ah.p, bth.p, nullptr, nullptr, resh.p, Epilogue::dgelu, m, n, k, false,
                 true);
  report(std::string("matmul tB * gelu'(aux)") + name, d.download(), dgeluT.download(), kBf16);
}

void checkNorms(int64_t rows, int64_t dim) {
  auto x = randomValues(rows * dim), dy = randomValues(rows * dim);
  auto gamma = randomValues(dim, 0.5f), beta = randomValues(dim, 0.5f);
  for (float &g : gamma)
    g += 1.0f;
  Buf<float> xf(x.size()), dyf(x.size()), gf(dim), bf(dim), yr(x.size()), dxr(x.size()),
      dgr(dim), dbr(dim), dg(dim), db(dim);
  Buf<bf16> xh(x.size()), dyh(x.size()), y(x.size()), dx(x.size());
  Buf<char> scratch(scratchBytesNormGrad(rows, dim) + 16 * rows);
  xf.upload(x), dyf.upload(dy), gf.upload(gamma), bf.upload(beta), xh.upload(x), dyh.upload(dy);
  std::string shape = " " + std::to_string(rows) + "x" + std::to_string(dim);
  for (bool rms : {false, true}) {
    y.poison(), dx.poison(), dg.poison(), db.poison();
    if (rms) {
      ref::rmsNorm(yr.p, xf.p, gf.p, rows, dim, 1e-5);
      rmsNorm(y.p, xh.p, gf.p, rows, dim, 1e-5);
      ref::rmsNormGrad(dxr.p, dgr.p, xf.p, gf.p, dyf.p, rows, dim, 1e-5, scratch.p);
      rmsNormGrad(dx.p, dg.p, xh.p, gf.p, dyh.p, rows, dim, 1e-5, scratch.p);
    } else {
      ref::layerNorm(yr.p, xf.p, gf.p, bf.p, rows, dim, 1e-5);
      layerNorm(y.p, xh.p, gf.p, bf.p, rows, dim, 1e-5);
      ref::layerNormGrad(dxr.p, dgr.p, dbr.p, xf.p, gf.p, dyf.p, rows, dim, 1e-5, scratch.p);
      layerNormGrad(dx.p, dg.p, db.p, xh.p, gf.p, dyh.p, rows, dim, 1e-5, scratch.p);
    }
    std::string name = rms ? "rmsNorm" : "layerNorm";
    report(name + shape, y.download(), yr.download(), kBf16);
    report(name + "Grad dx" + shape, dx.download(), dxr.download(), kBf16);
    report(name + "Grad dgamma" + shape, dg.download(), dgr.download(), kBf16);
    if (!rms)
      report(name + "Grad dbeta" + shape, db.download(), dbr.download(), kBf16);
    // The residual stream's gradient joining the norm's input gradient in place.
    auto expected = dxr.download();
    for (size_t i = 0; i < expected.size(); ++i)
      expected[i] += dy[i];
    Buf<bf16> joined(x.size());
    joined.upload(dy);
    if (rms)
      rmsNormGrad(joined.p, dg.p, xh.p, gf.p, dyh.p, rows, dim, 1e-5, scratch.p, joined.p);
    else
      layerNormGrad(joined.p, dg.p, db.p, xh.p, gf.p, dyh.p, rows, dim, 1e-5, scratch.p, joined.p);
    report(name + "Grad dx + residual" + shape, joined.download(), expected, kBf16);
    // dx written over x itself (the memory plan may give dx the place of a dead x).
    Buf<bf16> inPlace(x.size());
    inPlace.upload(x);
    if (rms)
      rmsNormGrad(inPlace.p, dg.p, inPlace.p, gf.p, dyh.p, rows, dim, 1e-5, scratch.p);
    else
      layerNormGrad(inPlace.p, dg.p, db.p, inPlace.p, gf.p, dyh.p, rows, dim, 1e-5, scratch.p);
    report(name + "Grad dx over x" + shape, inPlace.download(), dxr.download(), kBf16);
    report(name + "Grad dgamma (dx over x)" + shape, dg.download(), dgr.download(), kBf16);
    // The weight gradients added into the parameters' gradients (dg holds one copy already).
    if (rms)
      rmsNormGrad(dx.p, dg.p, xh.p, gf.p, dyh.p, rows, dim, 1e-5, scratch.p,
                  static_cast<const bf16 *>(nullptr), true);
    else
      layerNormGrad(dx.p, dg.p, db.p, xh.p, gf.p, dyh.p, rows, dim, 1e-5, scratch.p,
                    static_cast<const bf16 *>(nullptr),
                    true);
    auto twice = dgr.download();
    for (float &v : twice)
      v *= 2;
    report(name + "Grad dgamma +=" + shape, dg.download(), twice, kBf16);
  }
}

/// `qScale` > 1 sharpens the softmax (scores of standard deviation qScale), as trained
/// attention heads do.
void checkAttention(int64_t batch, int64_t t, int64_t heads, int64_t kvHeads, int64_t hd,
                    bool causal, float qScale = 1.0f) {
  int64_t nq = batch * t * heads * hd, nk = batch * t * kvHeads * hd;
  auto q = randomValues(nq, qScale), k = randomValues(nk), v = randomValues(nk), dout = randomValues(nq);
  Buf<float> qf(nq), kf(nk), vf(nk), dof(nq), outr(nq), dqr(nq), dkr(nk), dvr(nk);
  Buf<bf16> qh(nq), kh(nk), vh(nk), doh(nq), out(nq), dq(nq), dk(nk), dv(nk);
  Buf<float> lse(batch * heads * t);
  Buf<char> scratch(scratchBytesAttentionGrad(batch, heads, t) + 8 * batch * heads * t);
  qf.upload(q), kf.upload(k), vf.upload(v), dof.upload(dout);
  qh.upload(q), kh.upload(k), vh.upload(v), doh.upload(dout);
  out.poison(), dq.poison(), dk.poison(), dv.poison();
  ref::attention(outr.p, qf.p, kf.p, vf.p, batch, t, t, heads, kvHeads, hd, causal, 0.0);
  attention(out.p, lse.p, qh.p, kh.p, vh.p, batch, t, t, heads, kvHeads, hd, causal, 0.0);
  // The backward reads the bf16 output, as the trainer does.
  auto o = out.download();
  Buf<float> of(nq);
  std::vector<float> oRounded(o);
  of.upload(oRounded);
  ref::attentionGrad(dqr.p, dkr.p, dvr.p, qf.p, kf.p, vf.p, of.p, dof.p, batch, t, t, heads,
                     kvHeads, hd, causal, 0.0, scratch.p);
  attentionGrad(dq.p, dk.p, dv.p, qh.p, kh.p, vh.p, out.p, doh.p, lse.p, batch, t, t, heads,
                kvHeads, hd, causal, 0.0, scratch.p);
  char name[96];
  std::snprintf(name, sizeof name, "attention b%lld t%lld h%lld/%lld hd%lld%s%s", (long long)batch,
                (long long)t, (long long)heads, (long long)kvHeads, (long long)hd,
                causal ? " causal" : "", qScale != 1.0f ? " sharp" : "");
  report(name, o, outr.download(), kBf16);
  report(std::string(name) + " dq", dq.download(), dqr.download(), kBf16);
  report(std::string(name) + " dk", dk.download(), dkr.download(), kBf16);
  report(std::string(name) + " dv", dv.download(), dvr.download(), kBf16);
  if (heads != kvHeads)
    return;
  // The gradients side by side in one [batch, t, 3 * heads * hd] tensor (q, k, v projections).
  int64_t width = heads * hd;
  Buf<bf16> packed(3 * nq);
  packed.poison();
  attentionGrad(packed.p, packed.p + width, packed.p + 2 * width, qh.p, kh.p, vh.p, out.p, doh.p,
                lse.p, batch, t, t, heads, kvHeads, hd, causal, 0.0, scratch.p, 3 * width,
                3 * width);
  auto all = packed.download();
  std::vector<float> parts[3];
  for (int64_t row = 0; row < batch * t; ++row)
    for (int part = 0; part < 3; ++part)
      parts[part].insert(parts[part].end(), all.begin() + (3 * row + part) * width,
                         all.begin() + (3 * row + part + 1) * width);
  report(std::string(name) + " packed dq", parts[0], dqr.download(), kBf16);
  report(std::string(name) + " packed dk", parts[1], dkr.download(), kBf16);
  report(std::string(name) + " packed dv", parts[2], dvr.download(), kBf16);
  // q, k, v read as views of one [batch, t, 3 * heads * hd] projection (row stride 3 * width),
  // as the trainers pass them: the output and gradients must not change.
  std::vector<float> qkv(3 * nq);
  for (int64_t row = 0; row < batch * t; ++row)
    for (int64_t j = 0; j < width; ++j) {
      qkv[(3 * row) * width + j] = q[row * width + j];
      qkv[(3 * row + 1) * width + j] = k[row * width + j];
      qkv[(3 * row + 2) * width + j] = v[row * width + j];
    }
  Buf<bf16> views(3 * nq), viewOut(nq);
  views.upload(qkv);
  viewOut.poison();
  packed.poison();
  attention(viewOut.p, lse.p, views.p, views.p + width, views.p + 2 * width, batch, t, t, heads,
            kvHeads, hd, causal, 0.0, 3 * width, 3 * width);
  attentionGrad(packed.p, packed.p + width, packed.p + 2 * width, views.p, views.p + width,
                views.p + 2 * width, viewOut.p, doh.p, lse.p, batch, t, t, heads, kvHeads, hd,
                causal, 0.0, scratch.p, 3 * width, 3 * width, 3 * width, 3 * width);
  report(std::string(name) + " views", viewOut.download(), outr.download(), kBf16);
  all = packed.download();
  for (int part = 0; part < 3; ++part)
    parts[part].clear();
  for (int64_t row = 0; row < batch * t; ++row)
    for (int part = 0; part < 3; ++part)
      parts[part].insert(parts[part].end(), all.begin() + (3 * row + part) * width,
                         all.begin() + (3 * row + part + 1) * width);
  report(std::string(name) + " views dq", parts[0], dqr.download(), kBf16);
  report(std::string(name) + " views dk", parts[1], dkr.download(), kBf16);
  report(std::string(name) + " views dv", parts[2], dvr.download(), kBf16);
}

void checkCrossEntropy(int64_t rows, int64_t classes) {
  auto logits = randomValues(rows * classes, 2.0f);
  auto ids = randomIds(rows, classes);
  int32_t *targets = deviceIds(ids);
  Buf<float> lf(logits.size()), lossr(1), loss(1), dloss(1), dlr(logits.size());
  Buf<bf16> lh(logits.size()), dl(logits.size());
  Buf<char> scratch(scratchBytesCrossEntropy(rows));
  Buf<float> rowLse(rows);
  lf.upload(logits), lh.upload(logits), dloss.upload({0.5f});
  loss.poison(), dl.poison();
  ref::crossEntropy(lossr.p, lf.p, targets, rows, classes);
  crossEntropy(loss.p, rowLse.p, lh.p, targets, rows, classes, scratch.p);
  ref::crossEntropyGrad(dlr.p, lf.p, targets, dloss.p, rows, classes);
  crossEntropyGrad(dl.p, lh.p, rowLse.p, targets, dloss.p, rows, classes);
  std::string shape = " " + std::to_string(rows) + "x" + std::to_string(classes);
  report("crossEntropy" + shape, loss.download(), lossr.download(), 1e-5);
  report("crossEntropyGrad" + shape, dl.download(), dlr.download(), kBf16);
  cudaFree(targets);
}

void checkEmbedding(int64_t count, int64_t vocab, int64_t dim) {
  auto table = randomValues(vocab * dim), dout = randomValues(count * dim);
  auto ids = randomIds(count, vocab / 4); // repeated ids: the scatter-add must sum them
  int32_t *d = deviceIds(ids);
  Buf<float> tf(table.size()), outr(count * dim), dof(dout.size()), dtr(table.size()),
      dt(table.size());
  Buf<bf16> out(count * dim), doh(dout.size());
  tf.upload(table), dof.upload(dout), doh.upload(dout);
  out.poison(), dt.poison();
  ref::embedding(outr.p, tf.p, d, count, vocab, dim);
  embedding(out.p, tf.p, d, count, vocab, dim);
  ref::embeddingGrad(dtr.p, d, dof.p, count, vocab, dim);
  embeddingGrad(dt.p, d, doh.p, count, vocab, dim);
  std::string shape = " " + std::to_string(count) + " of " + std::to_string(vocab) + "x" +
                      std::to_string(dim);
  report("embedding" + shape, out.download(), outr.download(), kBf16);
  report("embeddingGrad" + shape, dt.download(), dtr.download(), 1e-5);
  // Accumulating into a parameter's gradient that already holds something (the tied head's
  // part): against the reference plus those contents, and bit for bit the fresh table added to
  // them (the temporary and `accumulate` it replaces), rows no id names keeping their bits.
  auto previous = randomValues(table.size());
  Buf<float> acc(table.size());
  acc.upload(previous);
  embeddingGrad(acc.p, d, doh.p, count, vocab, dim, true);
  auto fresh = dt.download(), reference = dtr.download(), got = acc.download();
  std::vector<float> plusReference(previous.size()), plusFresh(previous.size());
  for (size_t i = 0; i < previous.size(); ++i) {
    plusReference[i] = previous[i] + reference[i];
    plusFresh[i] = previous[i] + fresh[i];
  }
  report("embeddingGrad +=" + shape, got, plusReference, 1e-5);
  exact("embeddingGrad += is table + accumulate" + shape, got, plusFresh);
  cudaFree(d);
}

void checkReduce(Reduce op, int64_t outer, int64_t axis, int64_t inner) {
  auto x = randomValues(outer * axis * inner);
  Buf<float> xf(x.size()), r(outer * inner), o(outer * inner);
  Buf<bf16> xh(x.size());
  Buf<char> scratch(scratchBytesReduce(outer, axis, inner) + 16);
  xf.upload(x), xh.upload(x);
  o.poison();
  ref::reduce(op, r.p, xf.p, outer, axis, inner);
  reduce(op, o.p, xh.p, outer, axis, inner, scratch.p);
  const char *kind = op == Reduce::sum ? "sum" : op == Reduce::mean ? "mean" : "max";
  char name[96];
  std::snprintf(name, sizeof name, "reduce %s [%lld, %lld, %lld]", kind, (long long)outer,
                (long long)axis, (long long)inner);
  report(name, o.download(), r.download(), 1e-5);
  if (op == Reduce::sum) { // added into an existing gradient
    reduce(op, o.p, xh.p, outer, axis, inner, scratch.p, true);
    auto twice = r.download();
    for (float &v : twice)
      v *= 2;
    report(std::string(name) + " +=", o.download(), twice, 1e-5);
  }
}

void checkElementwise(int64_t rows, int64_t dim) {
  int64_t n = rows * dim;
  auto x = randomValues(n), y = randomValues(n), bias = randomValues(dim);
  Buf<float> xf(n), yf(n), bf(dim), r(n);
  Buf<bf16> xh(n), yh(n), o(n);
  xf.upload(x), yf.upload(y), bf.upload(bias), xh.upload(x), yh.upload(y);
  Dims shape{{rows, dim}}, full{{dim, 1}}, row{{0, 1}};
  std::string s = " " + std::to_string(rows) + "x" + std::to_string(dim);
  o.poison();
  ref::binary(Binary::add, r.p, xf.p, bf.p, 2, shape, full, row);
  binary(Binary::add, o.p, xh.p, bf.p, 2, shape, full, row);
  report("binary add (bias)" + s, o.download(), r.download(), kBf16);
  o.poison();
  ref::binary(Binary::mul, r.p, xf.p, yf.p, 2, shape, full, full);
  binary(Binary::mul, o.p, xh.p, yh.p, 2, shape, full, full);
  report("binary mul" + s, o.download(), r.download(), kBf16);
  o.poison();
  ref::unary(Unary::gelu_tanh, r.p, xf.p, n);
  unary(Unary::gelu_tanh, o.p, xh.p, n);
  report("gelu (tanh)" + s, o.download(), r.download(), kBf16);
  o.poison();
  ref::geluGrad(r.p, xf.p, yf.p, n, true);
  geluGrad(o.p, xh.p, yh.p, n, true);
  report("geluGrad" + s, o.download(), r.download(), kBf16);
  o.poison();
  ref::siluGrad(r.p, xf.p, yf.p, n);
  siluGrad(o.p, xh.p, yh.p, n);
  report("siluGrad" + s, o.download(), r.download(), kBf16);
  o.poison();
  ref::softmax(r.p, xf.p, rows, dim, 1);
  softmax(o.p, xh.p, rows, dim, 1);
  report("softmax" + s, o.download(), r.download(), kBf16);
  o.poison();
  ref::copyAxis(r.p, xf.p, rows, dim, dim, 1, 0, 0, dim, false);
  copyAxis(o.p, xh.p, rows, dim, dim, 1, 0, 0, dim, false);
  report("copyAxis" + s, o.download(), r.download(), kBf16);
  o.poison();
  Dims perm{{1, 0}};
  ref::transpose(r.p, xf.p, 2, shape, perm);
  transpose(o.p, xh.p, 2, shape, perm);
  report("transpose" + s, o.download(), r.download(), kBf16);
}

void checkRope(int64_t batch, int64_t seq, int64_t heads, int64_t hd) {
  int64_t n = batch * seq * heads * hd;
  auto x = randomValues(n);
  Buf<float> xf(n), r(n);
  Buf<bf16> xh(n), o(n);
  xf.upload(x), xh.upload(x);
  o.poison();
  ref::rope(r.p, xf.p, batch, seq, heads, hd, 10000.0, false);
  rope(o.p, xh.p, batch, seq, heads, hd, 10000.0, false);
  report("rope t" + std::to_string(seq) + " hd" + std::to_string(hd), o.download(), r.download(),
         kBf16);
}

void checkOptimizer(int64_t n) {
  auto p = randomValues(n), g = randomValues(n), m = randomValues(n, 0.1f), v = randomValues(n);
  for (float &x : v)
    x = x * x;
  Buf<float> p1(n), g1(n), m1(n), v1(n), p2(n), m2(n), v2(n);
  p1.upload(p), g1.upload(g), m1.upload(m), v1.upload(v), p2.upload(p), m2.upload(m),
      v2.upload(v);
  ref::adamw(p1.p, g1.p, m1.p, v1.p, n, 6e-4, 0.9, 0.95, 1e-8, 0.1, 7, 0.5);
  adamw(p2.p, g1.p, m2.p, v2.p, n, 6e-4, 0.9, 0.95, 1e-8, 0.1, 7, 0.5);
  report("adamw " + std::to_string(n), p2.download(), p1.download(), kF32);
  auto grads = randomValues(n);
  Buf<float> gf(n);
  gf.upload(grads);
  Buf<double> partials(kSumSquaresBlocks), one(1);
  ref::sumSquares(gf.p, n, one.p);
  sumSquares(gf.p, n, partials.p);
  double fast = sumPartials(partials.p), slow = ref::sumPartials(one.p, 1);
  report("sumSquares " + std::to_string(n), {float(fast)}, {float(slow)}, kF32);
  // The device-side step: the norm, clip factor and decision from the partial sums, then an
  // update that reads them; a non-finite norm leaves weights and moments untouched.
  Buf<DeviceStepState> state(1);
  double clip = 0.5 * std::sqrt(slow);
  finishGradNorm(partials.p, clip, state.p);
  double norm;
  bool nonFinite;
  readStepState(state.p, &norm, &nonFinite);
  report("finishGradNorm " + std::to_string(n), {float(norm)}, {float(std::sqrt(slow))}, kF32);
  Buf<float> p3(n), m3(n), v3(n), p4(n), m4(n), v4(n);
  p3.upload(p), m3.upload(m), v3.upload(v), p4.upload(p), m4.upload(m), v4.upload(v);
  ref::adamw(p3.p, g1.p, m3.p, v3.p, n, 6e-4, 0.9, 0.95, 1e-8, 0.1, 7, clip / std::sqrt(slow));
  adamw(p4.p, g1.p, m4.p, v4.p, n, 6e-4, 0.9, 0.95, 1e-8, 0.1, 7, state.p);
  report("adamw (device clip factor)", p4.download(), p3.download(), kF32);
  report("adamw (device clip factor) m", m4.download(), m3.download(), kF32);
  std::vector<double> nan(kSumSquaresBlocks, 0.0);
  nan[3] = std::nan("");
  cudaCheck(cudaMemcpy(partials.p, nan.data(), sizeof(double) * nan.size(), cudaMemcpyHostToDevice));
  finishGradNorm(partials.p, clip, state.p);
  readStepState(state.p, &norm, &nonFinite);
  auto before = p4.download(), beforeM = m4.download();
  adamw(p4.p, g1.p, m4.p, v4.p, n, 6e-4, 0.9, 0.95, 1e-8, 0.1, 8, state.p);
  bool untouched = nonFinite && p4.download() == before && m4.download() == beforeM;
  failures += !untouched;
  std::printf("| %-44s | %10s | %8s | %s |\n", "adamw skips a non-finite step", "-", "-",
              untouched ? "pass" : "FAIL");
}

/// AdamW writing the bf16 working copy of the weights it updates (the copy GEMMs read): the
/// masters, moments as without the copy, the copy bit for bit what `convert` makes of the new
/// masters (it replaces that refresh), and a skipped (non-finite) step leaves the copy alone.
/// n not a multiple of 4 runs the tail too.
void checkAdamwWorkingCopy(int64_t n) {
  auto p = randomValues(n), g = randomValues(n), m = randomValues(n, 0.1f), v = randomValues(n);
  for (float &x : v)
    x = x * x;
  Buf<float> g1(n), p1(n), m1(n), v1(n), p2(n), m2(n), v2(n);
  Buf<bf16> copy(n), converted(n);
  g1.upload(g), p1.upload(p), m1.upload(m), v1.upload(v), p2.upload(p), m2.upload(m),
      v2.upload(v);
  copy.poison();
  std::string size = " " + std::to_string(n);
  ref::adamw(p1.p, g1.p, m1.p, v1.p, n, 6e-4, 0.9, 0.95, 1e-8, 0.1, 3, 0.5);
  adamw(p2.p, g1.p, m2.p, v2.p, n, 6e-4, 0.9, 0.95, 1e-8, 0.1, 3, 0.5, copy.p);
  report("adamw + working copy" + size, p2.download(), p1.download(), kF32);
  report("adamw + working copy m" + size, m2.download(), m1.download(), kF32);
  report("adamw + working copy v" + size, v2.download(), v1.download(), kF32);
  convert(converted.p, p2.p, n);
  exact("adamw working copy is convert(master)" + size, copy.download(), converted.download());
  // The gradient scale from the device, as the optimizer step passes it.
  DeviceStepState host{0.0, 0.5, 0};
  Buf<DeviceStepState> state(1);
  cudaCheck(cudaMemcpy(state.p, &host, sizeof(host), cudaMemcpyHostToDevice));
  ref::adamw(p1.p, g1.p, m1.p, v1.p, n, 6e-4, 0.9, 0.95, 1e-8, 0.0, 4, 0.5);
  copy.poison();
  adamw(p2.p, g1.p, m2.p, v2.p, n, 6e-4, 0.9, 0.95, 1e-8, 0.0, 4, state.p, copy.p);
  report("adamw (device scale) + working copy" + size, p2.download(), p1.download(), kF32);
  convert(converted.p, p2.p, n);
  exact("adamw (device scale) copy is convert" + size, copy.download(), converted.download());
  // A non-finite step: neither the masters nor the copy move.
  host = DeviceStepState{std::nan(""), 1.0, 1};
  cudaCheck(cudaMemcpy(state.p, &host, sizeof(host), cudaMemcpyHostToDevice));
  auto masters = p2.download(), copied = copy.download();
  adamw(p2.p, g1.p, m2.p, v2.p, n, 6e-4, 0.9, 0.95, 1e-8, 0.0, 5, state.p, copy.p);
  exact("adamw skipped: masters untouched" + size, p2.download(), masters);
  exact("adamw skipped: working copy untouched" + size, copy.download(), copied);
}

/// adamwAll (every parameter in one launch, from a table of arena offsets) against adamw per
/// tensor: the same bits for tensors of several chunks, of odd and tiny sizes, with and without a
/// working copy and weight decay; and nothing at all on a non-finite step.
void checkAdamwAll() {
  const int64_t sizes[] = {3 * 4096 + 8, 1001, 768, 4, 9999};
  std::vector<AdamWTensor> table;
  int64_t bytes = 0;
  auto place = [&](int64_t b) {
    int64_t at = bytes;
    bytes += (b + 255) / 256 * 256;
    return at;
  };
  for (int i = 0; i < 5; ++i) {
    int64_t n = sizes[i];
    AdamWTensor t{place(4 * n), place(4 * n), place(4 * n), place(4 * n),
                  i % 2 == 0 ? place(2 * n) : -1, n, i % 3 != 1};
    table.push_back(t);
  }
  // Two arenas with the same random contents (every float finite, v >= 0).
  std::vector<float> init(bytes / 4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float &x : init)
    x = std::fabs(normal(rng));
  Buf<float> perTensor(bytes / 4), all(bytes / 4);
  perTensor.upload(init), all.upload(init);
  DeviceStepState host{2.0, 0.5, 0};
  Buf<DeviceStepState> state(1);
  cudaCheck(cudaMemcpy(state.p, &host, sizeof(host), cudaMemcpyHostToDevice));
  auto at = [](Buf<float> &arena, int64_t offset) {
    return reinterpret_cast<char *>(arena.p) + offset;
  };
  for (const AdamWTensor &t : table)
    adamw(reinterpret_cast<float *>(at(perTensor, t.param)),
          reinterpret_cast<const float *>(at(perTensor, t.grad)),
          reinterpret_cast<float *>(at(perTensor, t.m)),
          reinterpret_cast<float *>(at(perTensor, t.v)), t.n, 6e-4, 0.9, 0.95, 1e-8,
          t.decay ? 0.1 : 0.0, 7, state.p,
          t.workingCopy >= 0 ? reinterpret_cast<bf16 *>(at(perTensor, t.workingCopy)) : nullptr);
  adamwAll(reinterpret_cast<char *>(all.p), table.data(), int(table.size()), 6e-4, 0.9, 0.95,
           1e-8, 0.1, 7, state.p);
  exact("adamwAll = adamw per tensor (5 tensors, every byte)", all.download(),
        perTensor.download());
  auto before = all.download();
  host = DeviceStepState{std::nan(""), 1.0, 1};
  cudaCheck(cudaMemcpy(state.p, &host, sizeof(host), cudaMemcpyHostToDevice));
  adamwAll(reinterpret_cast<char *>(all.p), table.data(), int(table.size()), 6e-4, 0.9, 0.95,
           1e-8, 0.1, 8, state.p);
  exact("adamwAll skipped: arena untouched", all.download(), before);
}

} // namespace

int main(int argc, char **argv) {
  uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : std::random_device{}();
  rng.seed(seed);
  std::printf("kernel check, seed %llu\n\n", (unsigned long long)seed);
  std::printf("| %-44s | %10s | %8s | %s |\n|---|---|---|---|\n", "check", "rel. error", "tol",
              "result");
  checkMatmul(1, 256, 384, 192, false, false);
  checkMatmul(1, 256, 384, 192, false, true);
  checkMatmul(1, 256, 384, 192, true, false);
  checkMatmul(3, 128, 64, 96, false, false);
  checkAdamwAll();
  checkWeightBiasGrad(256, 384, 1024);
  checkWeightBiasGrad(768, 2304, 4096); // GPT-2's qkv projection, 4096 tokens
  checkEpilogues(512, 384, 256);
  checkEpilogues(300, 2304, 768);
  checkNorms(1000, 768);
  checkNorms(257, 1600);
  checkAttention(2, 256, 4, 4, 64, true);
  checkAttention(2, 200, 4, 4, 64, true);
  checkAttention(1, 128, 8, 2, 64, true);
  checkAttention(2, 64, 4, 4, 16, true);
  checkAttention(1, 1024, 2, 2, 64, true);       // the GPT-2 sequence: 8 query blocks
  checkAttention(1, 1024, 2, 2, 64, true, 4.0f); // peaked softmax rows
  checkAttention(2, 320, 3, 3, 32, true, 4.0f);
  checkAttention(1, 192, 2, 2, 128, false);
  checkAttention(1, 96, 2, 2, 48, true); // the simple kernels
  checkCrossEntropy(64, 50304);
  checkCrossEntropy(300, 256);
  checkEmbedding(4096, 1000, 96);
  checkEmbedding(16384, 50304, 768); // GPT-2's token table, B x T = 16 x 1024
  checkReduce(Reduce::sum, 1, 4096, 768);
  checkReduce(Reduce::sum, 1, 16, 3000);
  checkReduce(Reduce::mean, 300, 257, 1);
  checkReduce(Reduce::max, 3, 500, 40);
  checkElementwise(513, 768);
  checkRope(2, 64, 4, 64);
  checkOptimizer(1 << 20);
  checkAdamwWorkingCopy(1 << 20);
  checkAdamwWorkingCopy(1001); // 250 quads and a tail of one
  std::printf("\n%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
