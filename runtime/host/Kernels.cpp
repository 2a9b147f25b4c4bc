//===- Kernels.cpp - Elementwise, layout and optimizer host kernels -------===//
//
// The host target's kernels that touch each element a bounded number of times: elementwise
// maths and activations with their gradients, casts, embeddings, layout moves (transpose, axis
// copies, broadcasts), reductions, and the optimizer step. Matmul, the norms, softmax and
// cross-entropy, and attention live in their own files.
//
// Every loop is parallel over output elements only, and each element's reduction runs in
// ascending index order inside one thread, so results are bit-identical for any thread count.
//
//===----------------------------------------------------------------------===//
#include "host/Kernels.h"
#include "host/KernelsCommon.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace ingot::host {
using detail::kParallelMin;
using detail::StridedSpace;

namespace {

template <typename T> T applyBinary(Binary op, T a, T b) {
  switch (op) {
  case Binary::add:
    return a + b;
  case Binary::sub:
    return a - b;
  case Binary::mul:
    return a * b;
  case Binary::div:
    return a / b;
  case Binary::maximum:
    // NaN in either operand propagates, so a non-finite step is still seen downstream.
    if (std::isnan(a) || std::isnan(b))
      return std::numeric_limits<T>::quiet_NaN();
    return a > b ? a : b;
  }
  return T(0);
}

/// Elements per task along a walk's innermost row: long contiguous rows (a coalesced
/// elementwise op is one row) still spread over threads.
constexpr int64_t kRowChunk = 8192;

template <typename T, typename F>
void binaryRows(const StridedSpace &space, T *out, const T *a, const T *b, F f) {
  int64_t rows = space.rows(), inner = space.inner();
  int64_t chunks = (inner + kRowChunk - 1) / kRowChunk, tasks = rows * chunks;
  int64_t os = space.strides[0][space.rank - 1], as = space.strides[1][space.rank - 1],
          bs = space.strides[2][space.rank - 1];
#pragma omp parallel for schedule(static) if (rows * inner >= kParallelMin && tasks > 1)
  for (int64_t task = 0; task < tasks; ++task) {
    int64_t r = task / chunks, i0 = (task % chunks) * kRowChunk;
    int64_t i1 = std::min(inner, i0 + kRowChunk);
    int64_t off[3];
    space.rowOffsets(r, off);
    T *o = out + off[0];
    const T *x = a + off[1], *y = b + off[2];
    if (os == 1 && as == 1 && bs == 1) {
      for (int64_t i = i0; i < i1; ++i)
        o[i] = f(x[i], y[i]);
    } else {
      for (int64_t i = i0; i < i1; ++i)
        o[i * os] = f(x[i * as], y[i * bs]);
    }
  }
}

template <typename T> T sigmoid(T x) { return T(1) / (T(1) + std::exp(-x)); }

// sqrt(2 / pi) and 1 / sqrt(2 pi), spelled out so float and double round them once each.
constexpr double kSqrt2OverPi = 0.79788456080286535587989211986876;
constexpr double kInvSqrt2Pi = 0.39894228040143267793994605993438;
constexpr double kInvSqrt2 = 0.70710678118654752440084436210485;
constexpr double kGeluCubic = 0.044715;

template <typename T> T geluTanh(T x) {
  T u = T(kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x);
  return T(0.5) * x * (T(1) + std::tanh(u));
}
template <typename T> T geluErf(T x) { return T(0.5) * x * (T(1) + std::erf(x * T(kInvSqrt2))); }

template <typename T> T applyUnary(Unary op, T x) {
  switch (op) {
  case Unary::neg:
    return -x;
  case Unary::exp:
    return std::exp(x);
  case Unary::log:
    return std::log(x);
  case Unary::sqrt:
    return std::sqrt(x);
  case Unary::rsqrt:
    return T(1) / std::sqrt(x);
  case Unary::tanh:
    return std::tanh(x);
  case Unary::relu:
    return std::isnan(x) ? x : (x > T(0) ? x : T(0));
  case Unary::silu:
    return x * sigmoid(x);
  case Unary::gelu_tanh:
    return geluTanh(x);
  case Unary::gelu_erf:
    return geluErf(x);
  }
  return x;
}

float roundToBF16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    bits = (bits | 0x00400000u) & 0xffff0000u; // keep NaN a (quiet) NaN after truncation
  } else {
    // Round to nearest, ties to even on the 16 bits kept; carries into the exponent (and to
    // infinity past bf16's largest finite value) are the correct rounding.
    bits += 0x7fffu + ((bits >> 16) & 1u);
    bits &= 0xffff0000u;
  }
  float y;
  std::memcpy(&y, &bits, sizeof y);
  return y;
}

} // namespace

template <typename T>
void binary(Binary op, T *out, const T *a, const T *b, int rank, const int64_t *shape,
            const int64_t *aStrides, const int64_t *bStrides) {
  int64_t outStrides[detail::kMaxRank];
  detail::denseStrides(rank, shape, outStrides);
  const int64_t *strides[3] = {outStrides, aStrides, bStrides};
  StridedSpace space(rank, shape, 3, strides);
  switch (op) {
  case Binary::add:
    return binaryRows(space, out, a, b, [](T x, T y) { return x + y; });
  case Binary::sub:
    return binaryRows(space, out, a, b, [](T x, T y) { return x - y; });
  case Binary::mul:
    return binaryRows(space, out, a, b, [](T x, T y) { return x * y; });
  case Binary::div:
    return binaryRows(space, out, a, b, [](T x, T y) { return x / y; });
  case Binary::maximum:
    return binaryRows(space, out, a, b,
                      [](T x, T y) { return applyBinary(Binary::maximum, x, y); });
  }
}

template <typename T> void unary(Unary op, T *out, const T *x, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    out[i] = applyUnary(op, x[i]);
}

template <typename T> void cast(T *out, const T *x, int64_t n, bool toBF16) {
  if (!toBF16) {
    if (out != x)
      std::memmove(out, x, sizeof(T) * n);
    return;
  }
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    out[i] = T(roundToBF16(float(x[i])));
}

template <typename T>
void embedding(T *out, const T *table, const int32_t *ids, int64_t count, int64_t vocab,
               int64_t dim) {
#pragma omp parallel for schedule(static) if (count * dim >= kParallelMin)
  for (int64_t i = 0; i < count; ++i) {
    T *row = out + i * dim;
    int64_t id = ids[i];
    if (id < 0 || id >= vocab) {
      std::fill(row, row + dim, T(0));
      continue;
    }
    std::memcpy(row, table + id * dim, sizeof(T) * dim);
  }
}

template <typename T>
void embeddingGrad(T *dtable, const int32_t *ids, const T *dout, int64_t count, int64_t vocab,
                   int64_t dim) {
  int64_t total = vocab * dim;
#pragma omp parallel for schedule(static) if (total >= kParallelMin)
  for (int64_t i = 0; i < total; ++i)
    dtable[i] = T(0);
  // Parallel over column blocks of the table: each thread owns dtable[:, block] and walks the
  // ids in ascending order, so every element sums its rows in the documented order with no
  // scratch memory.
  constexpr int64_t kBlock = 16;
  int64_t blocks = (dim + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (count * dim >= kParallelMin && blocks > 1)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    int64_t j0 = blk * kBlock, j1 = std::min(dim, j0 + kBlock);
    for (int64_t i = 0; i < count; ++i) {
      int64_t id = ids[i];
      if (id < 0 || id >= vocab)
        continue;
      T *dst = dtable + id * dim;
      const T *src = dout + i * dim;
      for (int64_t j = j0; j < j1; ++j)
        dst[j] += src[j];
    }
  }
}

template <typename T> void geluGrad(T *dx, const T *x, const T *dy, int64_t n, bool tanhApprox) {
  if (tanhApprox) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      T v = x[i];
      T u = T(kSqrt2OverPi) * (v + T(kGeluCubic) * v * v * v);
      T t = std::tanh(u);
      T du = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluCubic) * v * v);
      dx[i] = dy[i] * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * du);
    }
    return;
  }
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    T v = x[i];
    T cdf = T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2)));
    T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

template <typename T> void siluGrad(T *dx, const T *x, const T *dy, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    T s = sigmoid(x[i]);
    dx[i] = dy[i] * (s * (T(1) + x[i] * (T(1) - s)));
  }
}

template <typename T> void reluGrad(T *dx, const T *x, const T *dy, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    dx[i] = x[i] > T(0) ? dy[i] : T(0);
}

template <typename T>
void broadcast(T *out, const T *x, int rank, const int64_t *shape, const int64_t *xStrides) {
  int64_t outStrides[detail::kMaxRank];
  detail::denseStrides(rank, shape, outStrides);
  const int64_t *strides[2] = {outStrides, xStrides};
  StridedSpace space(rank, shape, 2, strides);
  int64_t rows = space.rows(), inner = space.inner();
  int64_t chunks = (inner + kRowChunk - 1) / kRowChunk, tasks = rows * chunks;
  int64_t os = space.strides[0][space.rank - 1], xs = space.strides[1][space.rank - 1];
#pragma omp parallel for schedule(static) if (rows * inner >= kParallelMin && tasks > 1)
  for (int64_t task = 0; task < tasks; ++task) {
    int64_t r = task / chunks, i0 = (task % chunks) * kRowChunk;
    int64_t i1 = std::min(inner, i0 + kRowChunk);
    int64_t off[2];
    space.rowOffsets(r, off);
    T *o = out + off[0];
    const T *in = x + off[1];
    if (os == 1 && xs == 1)
      std::memcpy(o + i0, in + i0, sizeof(T) * (i1 - i0));
    else
      for (int64_t i = i0; i < i1; ++i)
        o[i * os] = in[i * xs];
  }
}

template <typename T>
void transpose(T *out, const T *x, int rank, const int64_t *shape, const int64_t *perm) {
  // A transpose is a strided read: out's dimension d walks x's dimension perm[d].
  int64_t xDense[detail::kMaxRank], outShape[detail::kMaxRank], xStrides[detail::kMaxRank];
  detail::denseStrides(rank, shape, xDense);
  for (int d = 0; d < rank; ++d) {
    outShape[d] = shape[perm[d]];
    xStrides[d] = xDense[perm[d]];
  }
  broadcast(out, x, rank, outShape, xStrides);
}

template <typename T>
void copyAxis(T *out, const T *x, int64_t outer, int64_t axisIn, int64_t axisOut, int64_t inner,
              int64_t srcStart, int64_t dstStart, int64_t len, bool zeroOut) {
  int64_t headLen = dstStart * inner, copyLen = len * inner,
          tailLen = (axisOut - dstStart - len) * inner;
#pragma omp parallel for schedule(static) if (outer * axisOut * inner >= kParallelMin && outer > 1)
  for (int64_t o = 0; o < outer; ++o) {
    T *dst = out + o * axisOut * inner;
    if (zeroOut) {
      std::fill(dst, dst + headLen, T(0));
      std::fill(dst + headLen + copyLen, dst + headLen + copyLen + tailLen, T(0));
    }
    std::memcpy(dst + headLen, x + (o * axisIn + srcStart) * inner, sizeof(T) * copyLen);
  }
}

template <typename T>
void reduce(Reduce op, T *out, const T *x, int64_t outer, int64_t axis, int64_t inner) {
  // Parallel over (outer, block of inner): each output element accumulates the axis in
  // ascending order, vectorized across the block's independent elements.
  constexpr int64_t kBlock = 256;
  int64_t blocks = (inner + kBlock - 1) / kBlock;
  int64_t tasks = outer * blocks;
  T init = op == Reduce::max ? -std::numeric_limits<T>::infinity() : T(0);
#pragma omp parallel for schedule(static) if (outer * axis * inner >= kParallelMin && tasks > 1)
  for (int64_t task = 0; task < tasks; ++task) {
    int64_t o = task / blocks, i0 = (task % blocks) * kBlock;
    int64_t width = std::min(kBlock, inner - i0);
    T *dst = out + o * inner + i0;
    const T *src = x + o * axis * inner + i0;
    if (inner == 1) { // a contiguous row: a plain running sum
      T acc = init;
      if (op == Reduce::max) {
        for (int64_t a = 0; a < axis; ++a)
          acc = (src[a] > acc || std::isnan(src[a])) ? src[a] : acc;
      } else {
        for (int64_t a = 0; a < axis; ++a)
          acc += src[a];
      }
      dst[0] = op == Reduce::mean ? acc / T(axis) : acc;
      continue;
    }
    for (int64_t i = 0; i < width; ++i)
      dst[i] = init;
    for (int64_t a = 0; a < axis; ++a) {
      const T *row = src + a * inner;
      if (op == Reduce::max) {
        for (int64_t i = 0; i < width; ++i)
          dst[i] = (row[i] > dst[i] || std::isnan(row[i])) ? row[i] : dst[i];
      } else {
        for (int64_t i = 0; i < width; ++i)
          dst[i] += row[i];
      }
    }
    if (op == Reduce::mean)
      for (int64_t i = 0; i < width; ++i)
        dst[i] /= T(axis);
  }
}

template <typename T> void fill(T *out, int64_t n, double value) {
  T v = T(value);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    out[i] = v;
}

template <typename T> void accumulate(T *out, const T *x, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    out[i] += x[i];
}

template <typename T> double sumSquares(const T *x, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i)
    sum += double(x[i]) * double(x[i]);
  return sum;
}

template <typename T>
void adamw(T *param, const T *grad, T *m, T *v, int64_t n, double lr, double beta1, double beta2,
           double eps, double weightDecay, int64_t step, double gradScale) {
  double correction1 = 1 - std::pow(beta1, double(step));
  double correction2 = 1 - std::pow(beta2, double(step));
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    double g = double(grad[i]) * gradScale;
    double mi = beta1 * double(m[i]) + (1 - beta1) * g;
    double vi = beta2 * double(v[i]) + (1 - beta2) * g * g;
    m[i] = T(mi);
    v[i] = T(vi);
    double p = double(param[i]);
    double update = (mi / correction1) / (std::sqrt(vi / correction2) + eps) + weightDecay * p;
    param[i] = T(p - lr * update);
  }
}

#define INGOT_INSTANTIATE(T)                                                                     \
  template void binary<T>(Binary, T *, const T *, const T *, int, const int64_t *,               \
                          const int64_t *, const int64_t *);                                     \
  template void unary<T>(Unary, T *, const T *, int64_t);                                        \
  template void cast<T>(T *, const T *, int64_t, bool);                                          \
  template void embedding<T>(T *, const T *, const int32_t *, int64_t, int64_t, int64_t);        \
  template void embeddingGrad<T>(T *, const int32_t *, const T *, int64_t, int64_t, int64_t);    \
  template void geluGrad<T>(T *, const T *, const T *, int64_t, bool);                           \
  template void siluGrad<T>(T *, const T *, const T *, int64_t);                                 \
  template void reluGrad<T>(T *, const T *, const T *, int64_t);                                 \
  template void transpose<T>(T *, const T *, int, const int64_t *, const int64_t *);             \
  template void copyAxis<T>(T *, const T *, int64_t, int64_t, int64_t, int64_t, int64_t,         \
                            int64_t, int64_t, bool);                                             \
  template void reduce<T>(Reduce, T *, const T *, int64_t, int64_t, int64_t);                    \
  template void broadcast<T>(T *, const T *, int, const int64_t *, const int64_t *);             \
  template void fill<T>(T *, int64_t, double);                                                   \
  template void accumulate<T>(T *, const T *, int64_t);                                          \
  template double sumSquares<T>(const T *, int64_t);                                             \
  template void adamw<T>(T *, const T *, T *, T *, int64_t, double, double, double, double,      \
                         double, int64_t, double);

INGOT_INSTANTIATE(float)
INGOT_INSTANTIATE(double)
#undef INGOT_INSTANTIATE

} // namespace ingot::host
