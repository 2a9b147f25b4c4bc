//===- ReferenceKernels.cuh - fp32 reference kernels -----------*- CUDA -*-===//
//
// The simple fp32 kernels (one thread per row or element, statistics in double) that the cuda
// target started with, kept as the reference of the device kernel check. Same semantics as
// runtime/host/Kernels.h.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_CUDA_REFERENCEKERNELS_CUH
#define INGOT_RT_CUDA_REFERENCEKERNELS_CUH

#include <cstdint>

#include "cuda/Kernels.cuh"

namespace ingot::cuda::ref {

using ingot::cuda::Binary;
using ingot::cuda::Dims;
using ingot::cuda::Reduce;
using ingot::cuda::Unary;

/// out[i] = a[ia] op b[ib] over `out`'s shape; aStrides/bStrides are element strides per output
/// dimension, 0 where that operand is broadcast.
void binary(Binary op, float *out, const float *a, const float *b, int rank, Dims shape,
            Dims aStrides, Dims bStrides);
void unary(Unary op, float *out, const float *x, int64_t n);
/// Rounds to bfloat16 precision (nearest even) when toBF16, else copies.
void cast(float *out, const float *x, int64_t n, bool toBF16);

/// c[b] (+)= op(a[b]) x op(b[b]) as in host::matmul (row-major; transA: a stored [k, m];
/// transB: b stored [n, k]; strides in elements between batches, 0 broadcasts).
void matmul(float *c, const float *a, const float *b, int64_t batch, int64_t m, int64_t n,
            int64_t k, bool transA, bool transB, int64_t strideA, int64_t strideB,
            int64_t strideC, bool accumulate);

void embedding(float *out, const float *table, const int32_t *ids, int64_t count, int64_t vocab,
               int64_t dim);
/// dtable = 0, then dtable[ids[i], :] += dout[i, :] in ascending i (one thread per column).
void embeddingGrad(float *dtable, const int32_t *ids, const float *dout, int64_t count,
                   int64_t vocab, int64_t dim);

void layerNorm(float *y, const float *x, const float *gamma, const float *beta, int64_t rows,
               int64_t dim, double eps);
/// scratch: 2 * rows doubles.
void layerNormGrad(float *dx, float *dgamma, float *dbeta, const float *x, const float *gamma,
                   const float *dy, int64_t rows, int64_t dim, double eps, void *scratch);
void rmsNorm(float *y, const float *x, const float *gamma, int64_t rows, int64_t dim, double eps);
/// scratch: 2 * rows doubles.
void rmsNormGrad(float *dx, float *dgamma, const float *x, const float *gamma, const float *dy,
                 int64_t rows, int64_t dim, double eps, void *scratch);

void softmax(float *y, const float *x, int64_t outer, int64_t axis, int64_t inner);
void softmaxGrad(float *dx, const float *y, const float *dy, int64_t outer, int64_t axis,
                 int64_t inner);

/// Scaled dot-product attention as host::attention; head size at most 256.
void attention(float *out, const float *q, const float *k, const float *v, int64_t batch,
               int64_t tq, int64_t tk, int64_t heads, int64_t kvHeads, int64_t hd, bool causal,
               double scale);
/// scratch: 2 * batch * heads * tq floats (each query row's log-sum-exp and dout . out).
void attentionGrad(float *dq, float *dk, float *dv, const float *q, const float *k, const float *v,
                   const float *out, const float *dout, int64_t batch, int64_t tq, int64_t tk,
                   int64_t heads, int64_t kvHeads, int64_t hd, bool causal, double scale,
                   void *scratch);

void rope(float *y, const float *x, int64_t batch, int64_t seq, int64_t heads, int64_t hd,
          double theta, bool inverse);

/// loss[0] = mean over rows of (logsumexp(logits[r]) - logits[r, targets[r]]).
void crossEntropy(float *loss, const float *logits, const int32_t *targets, int64_t rows,
                  int64_t classes);
void crossEntropyGrad(float *dlogits, const float *logits, const int32_t *targets,
                      const float *dloss, int64_t rows, int64_t classes);

void geluGrad(float *dx, const float *x, const float *dy, int64_t n, bool tanhApprox);
void siluGrad(float *dx, const float *x, const float *dy, int64_t n);
void reluGrad(float *dx, const float *x, const float *dy, int64_t n);

/// out = x permuted: out's dimension d is x's dimension perm[d]; shape is x's shape.
void transpose(float *out, const float *x, int rank, Dims shape, Dims perm);
/// As host::copyAxis: out[:, dstStart : dstStart + len, :] = x[:, srcStart : srcStart + len, :].
void copyAxis(float *out, const float *x, int64_t outer, int64_t axisIn, int64_t axisOut,
              int64_t inner, int64_t srcStart, int64_t dstStart, int64_t len, bool zeroOut);
void reduce(Reduce op, float *out, const float *x, int64_t outer, int64_t axis, int64_t inner);
void broadcast(float *out, const float *x, int rank, Dims shape, Dims xStrides);

void fill(float *out, int64_t n, double value);
/// out[i] += x[i].
void accumulate(float *out, const float *x, int64_t n);
/// out[i] = x[i] (device to device).
void copy(float *out, const float *x, int64_t n);

/// partial[0] = sum(x[i]^2) in float64, with a fixed reduction order.
void sumSquares(const float *x, int64_t n, double *partial);
/// Copies `count` partial sums to the host and adds them in ascending order.
double sumPartials(const double *partials, int count);

/// One AdamW step, as host::adamw.
void adamw(float *param, const float *grad, float *m, float *v, int64_t n, double lr,
           double beta1, double beta2, double eps, double weightDecay, int64_t step,
           double gradScale);

} // namespace ingot::cuda::ref

#endif // INGOT_RT_CUDA_REFERENCEKERNELS_CUH
