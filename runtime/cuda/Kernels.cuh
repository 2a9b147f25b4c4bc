//===- Kernels.cuh - The cuda target's kernels -----------------*- CUDA -*-===//
//
// One launcher per ingot op (forward and backward), the same list and the same semantics as
// runtime/host/Kernels.h. The cuda emitter calls these with every shape a compile-time
// constant and every pointer typed by the arena storage ingot-assign-storage chose: `bf16` for
// activations and activation gradients under precision bf16, `float` for master weights,
// weight gradients, moments, the loss and everything under precision f32.
//
// Activation pointers of one call share one type T (float or bf16); parameters (gamma, beta,
// embedding tables) are fp32 masters; weight-gradient outputs are fp32. The generic data
// movement and elementwise kernels take each pointer's type separately, since the storage
// rules let an fp32 weight gradient be built from bf16 activations.
//
// Arithmetic is fp32 everywhere (statistics, softmax, accumulation inside GEMMs); bf16 is a
// storage format only. Determinism: no floating-point atomics. Every reduction has a fixed
// shape (warp shuffles in a fixed pattern, fixed chunking across blocks, partial sums added in
// a fixed order), so a run reproduces bit for bit on the same GPU.
//
// Scratch: some kernels need transient memory; the emitter places one scratch area after the
// memory plan's arena (its size from scratchBytes* below) and passes its address.
//
// Every launch is checked (cudaGetLastError); with INGOT_CUDA_SYNC=1 in the environment each
// launch is also synchronized, so an asynchronous fault names the kernel that caused it.
//
// The simple one-thread-per-row kernels these replaced live on in ReferenceKernels.cu: the
// device kernel check (runtime/cuda/check/) compares every kernel here against them.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_CUDA_KERNELS_CUH
#define INGOT_RT_CUDA_KERNELS_CUH

#include "cuda/Scratch.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace ingot::cuda {

using bf16 = __nv_bfloat16;

enum class Binary { add, sub, mul, div, maximum };
enum class Unary { neg, exp, log, sqrt, rsqrt, tanh, relu, silu, gelu_tanh, gelu_erf };
enum class Reduce { sum, mean, max };

constexpr int kMaxRank = 6;
/// A shape or a stride list passed by value to a kernel.
struct Dims {
  int64_t d[kMaxRank];
};

/// out[i] = a[ia] op b[ib] over `out`'s shape; aStrides/bStrides are element strides per output
/// dimension, 0 where that operand is broadcast.
template <typename O, typename A, typename B>
void binary(Binary op, O *out, const A *a, const B *b, int rank, Dims shape, Dims aStrides,
            Dims bStrides);
template <typename O, typename X> void unary(Unary op, O *out, const X *x, int64_t n);
/// Rounds to bfloat16 precision (nearest even) when toBF16, else converts (the `cast` op).
template <typename O, typename X> void cast(O *out, const X *x, int64_t n, bool toBF16);
/// out[i] = x[i] converted to out's type, round to nearest even (bf16 working weights).
template <typename O, typename X> void convert(O *out, const X *x, int64_t n);

/// c[b] (+)= op(a[b]) x op(b[b]) as in host::matmul (row-major; transA: a stored [k, m];
/// transB: b stored [n, k]; strides in elements between batches, 0 broadcasts). T is float
/// (fp32 GEMM) or bf16 (tensor cores, fp32 accumulation); C is T or float.
template <typename C, typename T>
void matmul(C *c, const T *a, const T *b, int64_t batch, int64_t m, int64_t n, int64_t k,
            bool transA, bool transB, int64_t strideA, int64_t strideB, int64_t strideC,
            bool accumulate);

/// What a fused GEMM does after the product.
enum class Epilogue { none, bias, geluBias, dgelu };
/// d = a x b (+ residual) (+ bias), then GELU (tanh) for geluBias, with aux receiving the
/// value before the GELU (its backward reads it); for dgelu, d = (a x b) * gelu'(aux), the
/// GELU's backward with aux the forward's pre-activation. One cuBLASLt call with a fused
/// epilogue (bf16 operands, fp32 accumulation). a, b as in matmul (batch 1); residual is
/// [m, n] like d (it may be d itself) or null; bias has n elements (bf16) or is null.
void matmulEpilogue(bf16 *d, const bf16 *a, const bf16 *b, const bf16 *residual,
                    const bf16 *bias, bf16 *aux, Epilogue epilogue, int64_t m, int64_t n,
                    int64_t k, bool transA, bool transB);
/// A linear layer's weight and bias gradients from one read of dy: dw (+)= a^T x dy (a [k, m],
/// dy [k, n]; fp32 dw, added to with `accumulate`) and dbias += dy's column sums (n fp32), the
/// sums taken by cuBLASLt's BGRADA epilogue into `scratch` (at least n floats) and then added.
/// Where cuBLASLt has no algorithm for that epilogue, the same through matmul and reduce
/// (scratch: scratchBytesReduce(1, k, n)).
void matmulWeightBiasGrad(float *dw, float *dbias, const bf16 *a, const bf16 *dy, int64_t m,
                          int64_t n, int64_t k, bool accumulate, void *scratch);

template <typename T>
void embedding(T *out, const float *table, const int32_t *ids, int64_t count, int64_t vocab,
               int64_t dim);
/// dtable = 0, then dtable[ids[i], :] += dout[i, :] in ascending i: the ids are sorted
/// (stably, on the device) and each id's rows summed in order, so no atomics. With
/// `accumulate`, dtable is not cleared: each id's row sum (the same sum, in the same order) is
/// added to dtable's row and rows no id names are left as they are, so a table's gradient goes
/// straight into its parameter's gradient with the bits of a temporary and an `accumulate`.
template <typename T>
void embeddingGrad(float *dtable, const int32_t *ids, const T *dout, int64_t count,
                   int64_t vocab, int64_t dim, bool accumulate = false);

template <typename T>
void layerNorm(T *y, const T *x, const float *gamma, const float *beta, int64_t rows,
               int64_t dim, double eps);
/// scratch: scratchBytesNormGrad(rows, dim). With `residual`, dx = residual + the norm's input
/// gradient (the residual stream's gradient joining it; residual may be dx itself).
template <typename T>
void layerNormGrad(T *dx, float *dgamma, float *dbeta, const T *x, const float *gamma,
                   const T *dy, int64_t rows, int64_t dim, double eps, void *scratch,
                   const T *residual = nullptr, bool accumulateWeights = false);
template <typename T>
void rmsNorm(T *y, const T *x, const float *gamma, int64_t rows, int64_t dim, double eps);
/// scratch: scratchBytesNormGrad(rows, dim).
/// With `accumulateWeights`, dgamma (and dbeta) += the weight gradients, straight into the
/// parameters' gradients.
template <typename T>
void rmsNormGrad(T *dx, float *dgamma, const T *x, const float *gamma, const T *dy, int64_t rows,
                 int64_t dim, double eps, void *scratch, const T *residual = nullptr,
                 bool accumulateWeights = false);

template <typename T>
void softmax(T *y, const T *x, int64_t outer, int64_t axis, int64_t inner);
template <typename T>
void softmaxGrad(T *dx, const T *y, const T *dy, int64_t outer, int64_t axis, int64_t inner);

/// Scaled dot-product attention as host::attention. Flash attention on the tensor cores for
/// bf16 with head sizes 16, 32, 64 and 128; otherwise the simple kernel. `lse` receives each
/// query row's log-sum-exp (batch * heads * tq floats), which attentionGrad reads. Rows of q
/// and of k, v are `qRowStride` / `kvRowStride` elements apart (0: packed, heads * hd and
/// kvHeads * hd), so the three can be slices of one [batch, t, 3 * dim] projection.
template <typename T>
void attention(T *out, float *lse, const T *q, const T *k, const T *v, int64_t batch, int64_t tq,
               int64_t tk, int64_t heads, int64_t kvHeads, int64_t hd, bool causal,
               double scale, int64_t qRowStride = 0, int64_t kvRowStride = 0);
/// `lse` as written by attention on the same inputs; scratch: scratchBytesAttentionGrad.
/// dq, dk, dv rows are `dqRowStride` / `dkvRowStride` elements apart (0: packed, heads * hd and
/// kvHeads * hd), so the three can land side by side in one [batch, t, 3 * dim] gradient; q, k
/// and v rows as in attention.
template <typename T>
void attentionGrad(T *dq, T *dk, T *dv, const T *q, const T *k, const T *v, const T *out,
                   const T *dout, const float *lse, int64_t batch, int64_t tq, int64_t tk,
                   int64_t heads, int64_t kvHeads, int64_t hd, bool causal, double scale,
                   void *scratch, int64_t dqRowStride = 0, int64_t dkvRowStride = 0,
                   int64_t qRowStride = 0, int64_t kvRowStride = 0);

template <typename T>
void rope(T *y, const T *x, int64_t batch, int64_t seq, int64_t heads, int64_t hd, double theta,
          bool inverse);

/// loss[0] = mean over rows of (logsumexp(logits[r]) - logits[r, targets[r]]); rowLse receives
/// each row's log-sum-exp (rows floats), which crossEntropyGrad reads; scratch:
/// scratchBytesCrossEntropy(rows).
template <typename T>
void crossEntropy(float *loss, float *rowLse, const T *logits, const int32_t *targets,
                  int64_t rows, int64_t classes, void *scratch);
/// `rowLse` as written by crossEntropy on the same logits.
template <typename T>
void crossEntropyGrad(T *dlogits, const T *logits, const float *rowLse, const int32_t *targets,
                      const float *dloss, int64_t rows, int64_t classes);

template <typename T>
void geluGrad(T *dx, const T *x, const T *dy, int64_t n, bool tanhApprox);
template <typename T> void siluGrad(T *dx, const T *x, const T *dy, int64_t n);
template <typename T> void reluGrad(T *dx, const T *x, const T *dy, int64_t n);

/// out = x permuted: out's dimension d is x's dimension perm[d]; shape is x's shape.
template <typename O, typename X>
void transpose(O *out, const X *x, int rank, Dims shape, Dims perm);
/// As host::copyAxis: out[:, dstStart : dstStart + len, :] = x[:, srcStart : srcStart + len, :].
template <typename O, typename X>
void copyAxis(O *out, const X *x, int64_t outer, int64_t axisIn, int64_t axisOut, int64_t inner,
              int64_t srcStart, int64_t dstStart, int64_t len, bool zeroOut);
/// scratch: scratchBytesReduce(outer, axis, inner). With `accumulate`, out += the reduction
/// (a bias gradient added straight into the parameter's gradient).
template <typename O, typename X>
void reduce(Reduce op, O *out, const X *x, int64_t outer, int64_t axis, int64_t inner,
            void *scratch, bool accumulate = false);
template <typename O, typename X>
void broadcast(O *out, const X *x, int rank, Dims shape, Dims xStrides);

template <typename O> void fill(O *out, int64_t n, double value);
/// out[i] += x[i].
template <typename O, typename X> void accumulate(O *out, const X *x, int64_t n);
/// out[i] = x[i] (device to device).
template <typename O, typename X> void copy(O *out, const X *x, int64_t n);

/// partials[0..kSumSquaresBlocks) = sums of x[i]^2 in float64 over fixed chunks of x.
void sumSquares(const float *x, int64_t n, double *partials);
/// Copies the kSumSquaresBlocks partial sums to the host and adds them in ascending order.
double sumPartials(const double *partials);

/// The optimizer step's decision, kept on the device so the step never waits for the host:
/// the global gradient norm, the clip factor the updates apply, and whether the norm is
/// non-finite (then every update leaves its weights and moments as they are).
struct DeviceStepState {
  double norm, scale;
  int nonFinite;
};
/// state = the norm of the partial sums (added in ascending order, as sumPartials does), the
/// clip factor (clip / norm when clip > 0 and norm > clip, else 1) and the non-finite flag.
void finishGradNorm(const double *partials, double clip, DeviceStepState *state);
/// Copies the norm and the flag to the host (once per step, after the updates are queued).
void readStepState(const DeviceStepState *state, double *norm, bool *nonFinite);

/// One AdamW step, as host::adamw. With `workingCopy` (n bf16, the parameter's working copy
/// the GEMMs read), the updated weights are also written there rounded to bf16, as `convert`
/// would from the masters.
void adamw(float *param, const float *grad, float *m, float *v, int64_t n, double lr,
           double beta1, double beta2, double eps, double weightDecay, int64_t step,
           double gradScale, bf16 *workingCopy = nullptr);
/// The same with the gradient scale read from `state` on the device; no update at all when
/// state->nonFinite (nor of the working copy, which then still matches the masters).
void adamw(float *param, const float *grad, float *m, float *v, int64_t n, double lr,
           double beta1, double beta2, double eps, double weightDecay, int64_t step,
           const DeviceStepState *state, bf16 *workingCopy = nullptr);

/// One parameter of a multi-tensor AdamW step, as byte offsets in the arena (workingCopy < 0:
/// none); `decay`: whether weight decay applies.
struct AdamWTensor {
  int64_t param, grad, m, v, workingCopy, n;
  int32_t decay;
};
/// The AdamW step of every tensor of `tensors` (a static table, `count` entries) in one launch:
/// blocks take fixed chunks of one tensor each, and each element gets exactly adamw's
/// arithmetic (the same bits). Gradient scale and the non-finite skip from `state`. The table
/// is copied to the device with its chunk map on the first call (again if its contents change).
void adamwAll(char *arena, const AdamWTensor *tensors, int count, double lr, double beta1,
              double beta2, double eps, double weightDecay, int64_t step,
              const DeviceStepState *state);

/// A pass over the model (the forward and backward of one micro-batch) replayed as a CUDA graph:
/// the first call runs `body` directly (making the library plans, workspaces and kernel
/// attributes a capture must not create), the second captures it from the thread's default
/// stream and launches the graph, every later call only launches it. Every kernel of a pass is
/// on that stream (the cuda code is compiled with --default-stream per-thread), so the replay
/// runs the same kernels in the same order: the same bits. INGOT_CUDA_GRAPH=0 (or
/// INGOT_CUDA_SYNC=1) runs `body` directly every time.
struct CapturedPass {
  cudaGraphExec_t exec = nullptr;
  int calls = 0;
  char *arena = nullptr;
};
void runCaptured(CapturedPass &pass, void (*body)(char *), char *arena);

// The backend hooks of ModelDesc (ingot/rt/Model.h): the arena is one cudaMalloc on the
// rank's device.
void *allocArena(uint64_t bytes);
void freeArena(void *arena);
void copyToArena(void *arena, uint64_t offset, const void *src, uint64_t bytes);
void copyFromArena(void *dst, const void *arena, uint64_t offset, uint64_t bytes);
void zeroArena(void *arena, uint64_t offset, uint64_t bytes);

} // namespace ingot::cuda

#endif // INGOT_RT_CUDA_KERNELS_CUH
