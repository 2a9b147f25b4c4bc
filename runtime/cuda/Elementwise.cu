//===- Elementwise.cu - Elementwise and data-movement kernels -------------===//
//
// Memory-bound kernels: one element per thread per grid-stride step, fp32 arithmetic on typed
// loads and stores. Broadcast operands are indexed by their strides; the two layouts every
// model has (same shape, and a trailing vector such as a bias) skip the general index
// arithmetic.
//
//===----------------------------------------------------------------------===//
#include "cuda/Common.cuh"

#include <cmath>
#include <type_traits>

namespace ingot::cuda {
namespace {

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

/// How an operand's element is found from the output's linear index.
struct OperandIndex {
  int mode;       // 0: same layout as the output; 1: i % period (a trailing block); 2: strides
  int64_t period;
  Dims strides;
  __device__ int64_t at(int64_t i, int rank, const Dims &shape) const {
    if (mode == 0)
      return i;
    if (mode == 1)
      return i % period;
    int64_t off = 0;
    for (int d = rank - 1; d >= 0; --d) {
      off += (i % shape.d[d]) * strides.d[d];
      i /= shape.d[d];
    }
    return off;
  }
};

OperandIndex operandIndex(int rank, const Dims &shape, const Dims &strides) {
  OperandIndex index{2, 0, strides};
  // The trailing dimensions with row-major strides, then only zero strides in front.
  int64_t expected = 1;
  int d = rank - 1;
  for (; d >= 0 && strides.d[d] == expected; --d)
    expected *= shape.d[d];
  int firstContiguous = d + 1;
  bool zerosBefore = true;
  for (int e = 0; e < firstContiguous; ++e)
    zerosBefore &= strides.d[e] == 0 || shape.d[e] == 1;
  if (firstContiguous == 0)
    index.mode = 0;
  else if (zerosBefore)
    index.mode = 1, index.period = expected;
  return index;
}

int64_t elements(int rank, const Dims &shape) {
  int64_t n = 1;
  for (int d = 0; d < rank; ++d)
    n *= shape.d[d];
  return n;
}

template <typename O, typename A, typename B>
__global__ void binaryKernel(Binary op, O *out, const A *a, const B *b, int rank, Dims shape,
                             OperandIndex ia, OperandIndex ib, int64_t n) {
  INGOT_GRID_LOOP(i, n) {
    st(out + i, applyBinary(op, ld(a + ia.at(i, rank, shape)), ld(b + ib.at(i, rank, shape))));
  }
}

/// The layouts every model has, with the index arithmetic known at compile time: each thread
/// takes kVec consecutive elements (a is laid out as the output; b as well, or a trailing block
/// of `period` elements repeated, such as a bias). The strided kernel above indexes its shape
/// arrays at run time, which puts them in local memory: 20x slower on these.
constexpr int kVec = 8;
template <bool BPeriodic, typename O, typename A, typename B>
__global__ void binaryVecKernel(Binary op, O *out, const A *a, const B *b, int64_t period,
                                int64_t n) {
  for (int64_t base = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * kVec; base < n;
       base += int64_t(gridDim.x) * blockDim.x * kVec) {
    int64_t bBase = BPeriodic ? base % period : base;
#pragma unroll
    for (int j = 0; j < kVec; ++j)
      if (base + j < n)
        st(out + base + j, applyBinary(op, ld(a + base + j), ld(b + bBase + j)));
  }
}

template <typename O, typename X>
__global__ void unaryKernel(Unary op, O *out, const X *x, int64_t n) {
  for (int64_t base = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * 4; base < n;
       base += int64_t(gridDim.x) * blockDim.x * 4) {
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (base + j < n)
        st(out + base + j, applyUnary(op, ld(x + base + j)));
  }
}

__device__ float roundToBF16(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

template <typename O, typename X>
__global__ void castKernel(O *out, const X *x, int64_t n, bool toBF16) {
  INGOT_GRID_LOOP(i, n) {
    float v = ld(x + i);
    st(out + i, toBF16 ? roundToBF16(v) : v);
  }
}

template <typename T>
__global__ void embeddingKernel(T *out, const float *table, const int32_t *ids, int64_t count,
                                int64_t vocab, int64_t dim) {
  INGOT_GRID_LOOP(e, count * dim) {
    int64_t i = e / dim, j = e % dim;
    int64_t id = ids[i];
    st(out + e, (id >= 0 && id < vocab) ? table[id * dim + j] : 0.0f);
  }
}

template <typename T>
__global__ void softmaxKernel(T *y, const T *x, int64_t outer, int64_t axis, int64_t inner) {
  INGOT_GRID_LOOP(line, outer * inner) {
    int64_t base = (line / inner) * axis * inner + line % inner;
    float maxValue = -INFINITY;
    for (int64_t a = 0; a < axis; ++a)
      maxValue = fmaxf(maxValue, ld(x + base + a * inner));
    float sum = 0;
    for (int64_t a = 0; a < axis; ++a)
      sum += expf(ld(x + base + a * inner) - maxValue);
    for (int64_t a = 0; a < axis; ++a)
      st(y + base + a * inner, expf(ld(x + base + a * inner) - maxValue) / sum);
  }
}

template <typename T>
__global__ void softmaxGradKernel(T *dx, const T *y, const T *dy, int64_t outer, int64_t axis,
                                  int64_t inner) {
  INGOT_GRID_LOOP(line, outer * inner) {
    int64_t base = (line / inner) * axis * inner + line % inner;
    float dot = 0;
    for (int64_t a = 0; a < axis; ++a)
      dot += ld(dy + base + a * inner) * ld(y + base + a * inner);
    for (int64_t a = 0; a < axis; ++a) {
      int64_t e = base + a * inner;
      st(dx + e, ld(y + e) * (ld(dy + e) - dot));
    }
  }
}

template <typename T>
__global__ void geluGradKernel(T *dx, const T *x, const T *dy, int64_t n, bool tanhApprox) {
  INGOT_GRID_LOOP(i, n) {
    float v = ld(x + i), g = ld(dy + i);
    if (tanhApprox) {
      float u = kSqrt2OverPi * (v + kGeluCubic * v * v * v);
      float t = tanhf(u);
      float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * v * v);
      st(dx + i, g * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du));
    } else {
      float cdf = 0.5f * (1.0f + erff(v * kInvSqrt2));
      float pdf = kInvSqrt2Pi * expf(-0.5f * v * v);
      st(dx + i, g * (cdf + v * pdf));
    }
  }
}

template <typename T>
__global__ void siluGradKernel(T *dx, const T *x, const T *dy, int64_t n) {
  INGOT_GRID_LOOP(i, n) {
    float v = ld(x + i), s = sigmoidf(v);
    st(dx + i, ld(dy + i) * (s * (1.0f + v * (1.0f - s))));
  }
}

template <typename T>
__global__ void reluGradKernel(T *dx, const T *x, const T *dy, int64_t n) {
  INGOT_GRID_LOOP(i, n) { st(dx + i, ld(x + i) > 0.0f ? ld(dy + i) : 0.0f); }
}

template <typename T>
__global__ void ropeKernel(T *y, const T *x, int64_t batch, int64_t seq, int64_t heads,
                           int64_t hd, double theta, bool inverse) {
  int64_t half = hd / 2;
  INGOT_GRID_LOOP(item, batch * seq * heads * half) {
    int64_t i = item % half, h = (item / half) % heads, t = (item / (half * heads)) % seq,
            b = item / (half * heads * seq);
    // The angle in double, as the host computes it: t * theta^(-2i/hd) loses digits in fp32
    // at long contexts.
    double angle = double(t) * pow(theta, -2.0 * double(i) / double(hd));
    if (inverse)
      angle = -angle;
    float c = float(cos(angle)), s = float(sin(angle));
    int64_t base = ((b * seq + t) * heads + h) * hd;
    float x1 = ld(x + base + i), x2 = ld(x + base + i + half);
    st(y + base + i, x1 * c - x2 * s);
    st(y + base + i + half, x2 * c + x1 * s);
    if ((hd & 1) && i == 0) // an odd trailing element is left as is
      st(y + base + hd - 1, ld(x + base + hd - 1));
  }
}

template <typename O, typename X>
__global__ void gatherKernel(O *out, const X *x, int rank, Dims outShape, Dims xStrides,
                             int64_t n) {
  INGOT_GRID_LOOP(i, n) {
    int64_t off = 0, r = i;
    for (int d = rank - 1; d >= 0; --d) {
      off += (r % outShape.d[d]) * xStrides.d[d];
      r /= outShape.d[d];
    }
    st(out + i, ld(x + off));
  }
}

template <typename O, typename X>
__global__ void copyAxisKernel(O *out, const X *x, int64_t outer, int64_t axisIn, int64_t axisOut,
                               int64_t inner, int64_t srcStart, int64_t dstStart, int64_t len) {
  INGOT_GRID_LOOP(e, outer * len * inner) {
    int64_t i = e % inner, l = (e / inner) % len, o = e / (inner * len);
    st(out + (o * axisOut + dstStart + l) * inner + i,
       ld(x + (o * axisIn + srcStart + l) * inner + i));
  }
}

/// copyAxis with inner == 1 (slices and pads along the last axis, such as q, k, v out of one
/// projection): kVec consecutive elements of one row per thread.
template <typename O, typename X>
__global__ void copyRowsKernel(O *out, const X *x, int64_t outer, int64_t axisIn, int64_t axisOut,
                               int64_t srcStart, int64_t dstStart, int64_t len) {
  int64_t vecs = len / kVec;
  INGOT_GRID_LOOP(e, outer * vecs) {
    int64_t o = e / vecs, l = (e % vecs) * kVec;
    const X *src = x + o * axisIn + srcStart + l;
    O *dst = out + o * axisOut + dstStart + l;
    if constexpr (std::is_same_v<O, X> && sizeof(X) == 2) {
      // Same 2-byte type, every offset a multiple of 8 (the launcher checks): one 16-byte move.
      *reinterpret_cast<uint4 *>(dst) = *reinterpret_cast<const uint4 *>(src);
    } else {
#pragma unroll
      for (int j = 0; j < kVec; ++j)
        st(dst + j, ld(src + j));
    }
  }
}

template <typename O>
__global__ void fillKernel(O *out, int64_t n, float value) {
  INGOT_GRID_LOOP(i, n) { st(out + i, value); }
}

/// kVec consecutive elements per thread (the loads of a warp cover whole cache lines).
#define INGOT_VEC_LOOP(base, n)                                                                    \
  for (int64_t base = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * kVec; base < (n);        \
       base += int64_t(gridDim.x) * blockDim.x * kVec)

template <typename O, typename X>
__global__ void accumulateKernel(O *out, const X *x, int64_t n) {
  INGOT_VEC_LOOP(base, n) {
#pragma unroll
    for (int j = 0; j < kVec; ++j)
      if (base + j < n)
        st(out + base + j, ld(out + base + j) + ld(x + base + j));
  }
}

template <typename O, typename X>
__global__ void copyKernel(O *out, const X *x, int64_t n) {
  INGOT_VEC_LOOP(base, n) {
#pragma unroll
    for (int j = 0; j < kVec; ++j)
      if (base + j < n)
        st(out + base + j, ld(x + base + j));
  }
}

} // namespace

template <typename O, typename A, typename B>
void binary(Binary op, O *out, const A *a, const B *b, int rank, Dims shape, Dims aStrides,
            Dims bStrides) {
  int64_t n = elements(rank, shape);
  OperandIndex ia = operandIndex(rank, shape, aStrides), ib = operandIndex(rank, shape, bStrides);
  // The vector kernels need b's period to be a whole number of vectors.
  if (ia.mode == 0 && ib.mode == 0) {
    binaryVecKernel<false><<<blocksFor((n + kVec - 1) / kVec), kThreads>>>(op, out, a, b, 1, n);
  } else if (ia.mode == 0 && ib.mode == 1 && ib.period % kVec == 0) {
    binaryVecKernel<true><<<blocksFor((n + kVec - 1) / kVec), kThreads>>>(op, out, a, b,
                                                                          ib.period, n);
  } else if (ib.mode == 0 && ia.mode == 1 && ia.period % kVec == 0 && op != Binary::sub &&
             op != Binary::div) {
    // Commutative: the periodic operand second.
    binaryVecKernel<true><<<blocksFor((n + kVec - 1) / kVec), kThreads>>>(op, out, b, a,
                                                                          ia.period, n);
  } else {
    binaryKernel<<<blocksFor(n), kThreads>>>(op, out, a, b, rank, shape, ia, ib, n);
  }
  launchCheck("binary");
}

template <typename O, typename X> void unary(Unary op, O *out, const X *x, int64_t n) {
  unaryKernel<<<blocksFor((n + 3) / 4), kThreads>>>(op, out, x, n);
  launchCheck("unary");
}

template <typename O, typename X> void cast(O *out, const X *x, int64_t n, bool toBF16) {
  castKernel<<<blocksFor(n), kThreads>>>(out, x, n, toBF16);
  launchCheck("cast");
}

template <typename O, typename X> void convert(O *out, const X *x, int64_t n) {
  copyKernel<<<blocksFor((n + kVec - 1) / kVec), kThreads>>>(out, x, n);
  launchCheck("convert");
}

template <typename T>
void embedding(T *out, const float *table, const int32_t *ids, int64_t count, int64_t vocab,
               int64_t dim) {
  embeddingKernel<<<blocksFor(count * dim), kThreads>>>(out, table, ids, count, vocab, dim);
  launchCheck("embedding");
}

template <typename T>
void softmax(T *y, const T *x, int64_t outer, int64_t axis, int64_t inner) {
  softmaxKernel<<<blocksFor(outer * inner), kThreads>>>(y, x, outer, axis, inner);
  launchCheck("softmax");
}

template <typename T>
void softmaxGrad(T *dx, const T *y, const T *dy, int64_t outer, int64_t axis, int64_t inner) {
  softmaxGradKernel<<<blocksFor(outer * inner), kThreads>>>(dx, y, dy, outer, axis, inner);
  launchCheck("softmaxGrad");
}

template <typename T>
void rope(T *y, const T *x, int64_t batch, int64_t seq, int64_t heads, int64_t hd, double theta,
          bool inverse) {
  ropeKernel<<<blocksFor(batch * seq * heads * (hd / 2)), kThreads>>>(y, x, batch, seq, heads, hd,
                                                                     theta, inverse);
  launchCheck("rope");
}

template <typename T>
void geluGrad(T *dx, const T *x, const T *dy, int64_t n, bool tanhApprox) {
  geluGradKernel<<<blocksFor(n), kThreads>>>(dx, x, dy, n, tanhApprox);
  launchCheck("geluGrad");
}

template <typename T> void siluGrad(T *dx, const T *x, const T *dy, int64_t n) {
  siluGradKernel<<<blocksFor(n), kThreads>>>(dx, x, dy, n);
  launchCheck("siluGrad");
}

template <typename T> void reluGrad(T *dx, const T *x, const T *dy, int64_t n) {
  reluGradKernel<<<blocksFor(n), kThreads>>>(dx, x, dy, n);
  launchCheck("reluGrad");
}

template <typename O, typename X>
void transpose(O *out, const X *x, int rank, Dims shape, Dims perm) {
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
  gatherKernel<<<blocksFor(n), kThreads>>>(out, x, rank, outShape, outStrides, n);
  launchCheck("transpose");
}

template <typename O, typename X>
void copyAxis(O *out, const X *x, int64_t outer, int64_t axisIn, int64_t axisOut, int64_t inner,
              int64_t srcStart, int64_t dstStart, int64_t len, bool zeroOut) {
  if (zeroOut)
    cudaCheck(cudaMemsetAsync(out, 0, sizeof(O) * outer * axisOut * inner));
  // Rows of whole 16-byte vectors: every start and length a multiple of kVec elements.
  if (inner == 1 && len % kVec == 0 && axisIn % kVec == 0 && axisOut % kVec == 0 &&
      srcStart % kVec == 0 && dstStart % kVec == 0)
    copyRowsKernel<<<blocksFor(outer * len / kVec), kThreads>>>(out, x, outer, axisIn, axisOut,
                                                                srcStart, dstStart, len);
  else
    copyAxisKernel<<<blocksFor(outer * len * inner), kThreads>>>(out, x, outer, axisIn, axisOut,
                                                                 inner, srcStart, dstStart, len);
  launchCheck("copyAxis");
}

template <typename O, typename X>
void broadcast(O *out, const X *x, int rank, Dims shape, Dims xStrides) {
  int64_t n = elements(rank, shape);
  gatherKernel<<<blocksFor(n), kThreads>>>(out, x, rank, shape, xStrides, n);
  launchCheck("broadcast");
}

template <typename O> void fill(O *out, int64_t n, double value) {
  fillKernel<<<blocksFor(n), kThreads>>>(out, n, float(value));
  launchCheck("fill");
}

template <typename O, typename X> void accumulate(O *out, const X *x, int64_t n) {
  accumulateKernel<<<blocksFor((n + kVec - 1) / kVec), kThreads>>>(out, x, n);
  launchCheck("accumulate");
}

template <typename O, typename X> void copy(O *out, const X *x, int64_t n) {
  copyKernel<<<blocksFor((n + kVec - 1) / kVec), kThreads>>>(out, x, n);
  launchCheck("copy");
}

#define INGOT_INST_BINARY(O, A, B)                                                                 \
  template void binary<O, A, B>(Binary, O *, const A *, const B *, int, Dims, Dims, Dims);
INGOT_FOR_T3(INGOT_INST_BINARY)

#define INGOT_INST_PAIR(O, X)                                                                      \
  template void unary<O, X>(Unary, O *, const X *, int64_t);                                      \
  template void cast<O, X>(O *, const X *, int64_t, bool);                                        \
  template void convert<O, X>(O *, const X *, int64_t);                                           \
  template void transpose<O, X>(O *, const X *, int, Dims, Dims);                                 \
  template void copyAxis<O, X>(O *, const X *, int64_t, int64_t, int64_t, int64_t, int64_t,        \
                               int64_t, int64_t, bool);                                           \
  template void broadcast<O, X>(O *, const X *, int, Dims, Dims);                                 \
  template void accumulate<O, X>(O *, const X *, int64_t);                                        \
  template void copy<O, X>(O *, const X *, int64_t);
INGOT_FOR_T2(INGOT_INST_PAIR)

#define INGOT_INST_ONE(T)                                                                          \
  template void embedding<T>(T *, const float *, const int32_t *, int64_t, int64_t, int64_t);     \
  template void softmax<T>(T *, const T *, int64_t, int64_t, int64_t);                            \
  template void softmaxGrad<T>(T *, const T *, const T *, int64_t, int64_t, int64_t);             \
  template void rope<T>(T *, const T *, int64_t, int64_t, int64_t, int64_t, double, bool);        \
  template void geluGrad<T>(T *, const T *, const T *, int64_t, bool);                            \
  template void siluGrad<T>(T *, const T *, const T *, int64_t);                                  \
  template void reluGrad<T>(T *, const T *, const T *, int64_t);                                  \
  template void fill<T>(T *, int64_t, double);
INGOT_FOR_T(INGOT_INST_ONE)

} // namespace ingot::cuda
