//===- Kernels.h - The host target's kernels ------------------*- C++ -*-===//
//
// One function per ingot op (forward and backward), templated on the element type T (float for
// training, double for gradient checks). The host emitter calls these with every shape a
// compile-time constant; tensors are dense row-major arrays in the arena.
//
// Determinism: every kernel parallelizes (OpenMP) over output elements only, and each output
// element is computed by one thread with its reduction in a fixed (ascending index) order, so
// results are bit-identical for any thread count. Scratch memory is small and per call: matmul
// tiles per thread, O(keys) per thread in attention, O(rows) for row statistics and per-row
// losses.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_HOST_KERNELS_H
#define INGOT_RT_HOST_KERNELS_H

#include <cstdint>

namespace ingot::host {

enum class Binary { add, sub, mul, div, maximum };
enum class Unary { neg, exp, log, sqrt, rsqrt, tanh, relu, silu, gelu_tanh, gelu_erf };
enum class Reduce { sum, mean, max };

/// out[i] = a[ia] op b[ib] over `out`'s shape (rank <= 6); aStrides/bStrides are element strides
/// per output dimension, 0 where that operand is broadcast.
template <typename T>
void binary(Binary op, T *out, const T *a, const T *b, int rank, const int64_t *shape,
            const int64_t *aStrides, const int64_t *bStrides);

template <typename T> void unary(Unary op, T *out, const T *x, int64_t n);

/// Rounds to bfloat16 precision (round to nearest even) when toBF16, else copies: on the host,
/// bf16 tensors are stored as T holding bf16-representable values.
template <typename T> void cast(T *out, const T *x, int64_t n, bool toBF16);

/// c[b] (+)= op(a[b]) x op(b[b]) for b < batch, where op(a) is [m, k] (a stored [k, m] when
/// transA) and op(b) is [k, n] (stored [n, k] when transB). Strides are in elements between
/// batches; 0 broadcasts that operand. accumulate adds into c instead of overwriting.
template <typename T>
void matmul(T *c, const T *a, const T *b, int64_t batch, int64_t m, int64_t n, int64_t k,
            bool transA, bool transB, int64_t strideA, int64_t strideB, int64_t strideC,
            bool accumulate);

/// out[i, :] = table[ids[i], :], i < count; ids outside [0, vocab) write zeros.
template <typename T>
void embedding(T *out, const T *table, const int32_t *ids, int64_t count, int64_t vocab,
               int64_t dim);
/// dtable = 0, then dtable[ids[i], :] += dout[i, :] (in ascending i for every row).
template <typename T>
void embeddingGrad(T *dtable, const int32_t *ids, const T *dout, int64_t count, int64_t vocab,
                   int64_t dim);

/// Over rows of width dim: y = (x - mean) / sqrt(var + eps) * gamma + beta (biased variance).
template <typename T>
void layerNorm(T *y, const T *x, const T *gamma, const T *beta, int64_t rows, int64_t dim,
               double eps);
/// Recomputes the row statistics from x; writes dx, and dgamma, dbeta summed over rows.
template <typename T>
void layerNormGrad(T *dx, T *dgamma, T *dbeta, const T *x, const T *gamma, const T *dy,
                   int64_t rows, int64_t dim, double eps);
/// y = x / sqrt(mean(x^2) + eps) * gamma.
template <typename T>
void rmsNorm(T *y, const T *x, const T *gamma, int64_t rows, int64_t dim, double eps);
template <typename T>
void rmsNormGrad(T *dx, T *dgamma, const T *x, const T *gamma, const T *dy, int64_t rows,
                 int64_t dim, double eps);

/// Softmax over the middle axis of a tensor viewed as [outer, axis, inner].
template <typename T>
void softmax(T *y, const T *x, int64_t outer, int64_t axis, int64_t inner);
/// dx = y * (dy - sum(dy * y)) over the axis.
template <typename T>
void softmaxGrad(T *dx, const T *y, const T *dy, int64_t outer, int64_t axis, int64_t inner);

/// Scaled dot-product attention. q, out: [batch, tq, heads * hd]; k, v: [batch, tk, kvHeads *
/// hd]; query head h reads kv head h / (heads / kvHeads). causal masks key s > query t.
/// scale 0 means 1 / sqrt(hd).
template <typename T>
void attention(T *out, const T *q, const T *k, const T *v, int64_t batch, int64_t tq, int64_t tk,
               int64_t heads, int64_t kvHeads, int64_t hd, bool causal, double scale);
template <typename T>
void attentionGrad(T *dq, T *dk, T *dv, const T *q, const T *k, const T *v, const T *out,
                   const T *dout, int64_t batch, int64_t tq, int64_t tk, int64_t heads,
                   int64_t kvHeads, int64_t hd, bool causal, double scale);

/// Rotary embedding on x: [batch, seq, heads * hd], rotate-half convention: for i < hd / 2 with
/// angle = t * theta^(-2i / hd), (x1, x2) = (x[i], x[i + hd/2]) ->
/// (x1 cos - x2 sin, x2 cos + x1 sin); inverse rotates by -angle (rope's own VJP).
template <typename T>
void rope(T *y, const T *x, int64_t batch, int64_t seq, int64_t heads, int64_t hd, double theta,
          bool inverse);

/// loss[0] = mean over rows of (logsumexp(logits[r]) - logits[r, targets[r]]). Targets outside
/// [0, classes) are a bug upstream (the data loader validates tokens).
template <typename T>
void crossEntropy(T *loss, const T *logits, const int32_t *targets, int64_t rows,
                  int64_t classes);
/// dlogits[r] = (softmax(logits[r]) - onehot(targets[r])) * dloss[0] / rows.
template <typename T>
void crossEntropyGrad(T *dlogits, const T *logits, const int32_t *targets, const T *dloss,
                      int64_t rows, int64_t classes);

/// Elementwise backward of the activations: dx = dy * f'(x).
template <typename T> void geluGrad(T *dx, const T *x, const T *dy, int64_t n, bool tanhApprox);
template <typename T> void siluGrad(T *dx, const T *x, const T *dy, int64_t n);
template <typename T> void reluGrad(T *dx, const T *x, const T *dy, int64_t n);

/// out = x permuted: out's dimension d is x's dimension perm[d]. shape is x's shape.
template <typename T>
void transpose(T *out, const T *x, int rank, const int64_t *shape, const int64_t *perm);

/// Copies x (viewed as [outer, axisIn, inner]) into out ([outer, axisOut, inner]) at
/// out[:, dstStart : dstStart + len, :] = x[:, srcStart : srcStart + len, :]. With zeroOut, the
/// rest of out is zeroed first. Slice, pad and concat are built from this.
template <typename T>
void copyAxis(T *out, const T *x, int64_t outer, int64_t axisIn, int64_t axisOut, int64_t inner,
              int64_t srcStart, int64_t dstStart, int64_t len, bool zeroOut);

/// Reduces x (viewed as [outer, axis, inner]) over the middle axis into out [outer, inner].
/// Several reduced axes are reduced one after the other by the emitter.
template <typename T>
void reduce(Reduce op, T *out, const T *x, int64_t outer, int64_t axis, int64_t inner);

/// out (shape `shape`, rank) = x broadcast, with x's element strides per out dimension (0 where
/// broadcast).
template <typename T>
void broadcast(T *out, const T *x, int rank, const int64_t *shape, const int64_t *xStrides);

/// Fills n elements with value.
template <typename T> void fill(T *out, int64_t n, double value);
/// out[i] += x[i].
template <typename T> void accumulate(T *out, const T *x, int64_t n);

/// sum(x[i]^2) in float64, in ascending i.
template <typename T> double sumSquares(const T *x, int64_t n);

/// One AdamW step on n elements, with the gradient first multiplied by gradScale (clipping):
///   g = grad * gradScale; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2
///   p -= lr * (m / (1 - b1^step) / (sqrt(v / (1 - b2^step)) + eps) + weightDecay * p)
template <typename T>
void adamw(T *param, const T *grad, T *m, T *v, int64_t n, double lr, double beta1, double beta2,
           double eps, double weightDecay, int64_t step, double gradScale);

} // namespace ingot::host

#endif // INGOT_RT_HOST_KERNELS_H
