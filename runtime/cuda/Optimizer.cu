//===- Optimizer.cu - AdamW on fp32 master weights -------------------------===//
//
// Float64 arithmetic per element as the host target does it (so the fp32 path matches the host
// bit for bit and the bf16 path differs only by its activations), four elements per thread.
// A parameter GEMMs read also gets its bf16 working copy written here, from the updated master
// still in registers: the rounding the `convert` refresh does, without a second pass over the
// masters before every micro-batch.
//
//===----------------------------------------------------------------------===//
#include "cuda/Common.cuh"

#include <cmath>

namespace ingot::cuda {
namespace {

__device__ __forceinline__ float adamwElement(float &param, float grad, float &m, float &v,
                                              double lr, double beta1, double beta2, double eps,
                                              double weightDecay, double correction1,
                                              double correction2, double gradScale) {
  double g = double(grad) * gradScale;
  double mi = beta1 * double(m) + (1 - beta1) * g;
  double vi = beta2 * double(v) + (1 - beta2) * g * g;
  m = float(mi);
  v = float(vi);
  double p = double(param);
  double update = (mi / correction1) / (sqrt(vi / correction2) + eps) + weightDecay * p;
  param = float(p - lr * update);
  return param;
}

/// Four elements per thread with 16-byte loads and stores (the arena keeps every tensor
/// 256-byte aligned); the tail one by one. With `state`, the gradient scale comes from the
/// device and a non-finite step updates nothing (the working copy included). With
/// `workingCopy`, each updated weight is also stored there rounded to bf16 (nearest even, as
/// `convert` rounds), four per 8-byte store.
__global__ void adamwKernel(float *param, const float *grad, float *m, float *v, int64_t n,
                            double lr, double beta1, double beta2, double eps, double weightDecay,
                            double correction1, double correction2, double gradScale,
                            const DeviceStepState *state, bf16 *workingCopy) {
  if (state) {
    if (state->nonFinite)
      return;
    gradScale = state->scale;
  }
  int64_t quads = n / 4;
  INGOT_GRID_LOOP(i, quads) {
    float4 p = reinterpret_cast<float4 *>(param)[i], mm = reinterpret_cast<float4 *>(m)[i],
           vv = reinterpret_cast<float4 *>(v)[i];
    float4 g = reinterpret_cast<const float4 *>(grad)[i];
    adamwElement(p.x, g.x, mm.x, vv.x, lr, beta1, beta2, eps, weightDecay, correction1,
                 correction2, gradScale);
    adamwElement(p.y, g.y, mm.y, vv.y, lr, beta1, beta2, eps, weightDecay, correction1,
                 correction2, gradScale);
    adamwElement(p.z, g.z, mm.z, vv.z, lr, beta1, beta2, eps, weightDecay, correction1,
                 correction2, gradScale);
    adamwElement(p.w, g.w, mm.w, vv.w, lr, beta1, beta2, eps, weightDecay, correction1,
                 correction2, gradScale);
    reinterpret_cast<float4 *>(param)[i] = p;
    reinterpret_cast<float4 *>(m)[i] = mm;
    reinterpret_cast<float4 *>(v)[i] = vv;
    if (workingCopy) {
      __nv_bfloat162 *pairs = reinterpret_cast<__nv_bfloat162 *>(workingCopy + 4 * i);
      pairs[0] = __floats2bfloat162_rn(p.x, p.y);
      pairs[1] = __floats2bfloat162_rn(p.z, p.w);
    }
  }
  INGOT_GRID_LOOP(j, n - quads * 4) {
    int64_t i = quads * 4 + j;
    float p = adamwElement(param[i], grad[i], m[i], v[i], lr, beta1, beta2, eps, weightDecay,
                           correction1, correction2, gradScale);
    if (workingCopy)
      workingCopy[i] = __float2bfloat16_rn(p);
  }
}

__global__ void finishGradNormKernel(const double *partials, double clip,
                                     DeviceStepState *state) {
  // One thread, ascending order: the same bits as sumPartials on the host.
  double total = 0;
  for (int i = 0; i < kSumSquaresBlocks; ++i)
    total += partials[i];
  double norm = sqrt(total);
  state->norm = norm;
  state->nonFinite = !isfinite(norm);
  state->scale = clip > 0 && norm > clip ? clip / norm : 1.0;
}

void launchAdamw(float *param, const float *grad, float *m, float *v, int64_t n, double lr,
                 double beta1, double beta2, double eps, double weightDecay, int64_t step,
                 double gradScale, const DeviceStepState *state, bf16 *workingCopy) {
  double correction1 = 1 - std::pow(beta1, double(step));
  double correction2 = 1 - std::pow(beta2, double(step));
  adamwKernel<<<blocksFor((n + 3) / 4), kThreads>>>(param, grad, m, v, n, lr, beta1, beta2, eps,
                                                    weightDecay, correction1, correction2,
                                                    gradScale, state, workingCopy);
  launchCheck("adamw");
}

} // namespace

void finishGradNorm(const double *partials, double clip, DeviceStepState *state) {
  finishGradNormKernel<<<1, 1>>>(partials, clip, state);
  launchCheck("finishGradNorm");
}

void readStepState(const DeviceStepState *state, double *norm, bool *nonFinite) {
  DeviceStepState host;
  cudaCheck(cudaMemcpy(&host, state, sizeof(host), cudaMemcpyDeviceToHost));
  *norm = host.norm;
  *nonFinite = host.nonFinite != 0;
}

void adamw(float *param, const float *grad, float *m, float *v, int64_t n, double lr,
           double beta1, double beta2, double eps, double weightDecay, int64_t step,
           double gradScale, bf16 *workingCopy) {
  launchAdamw(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, step, gradScale, nullptr,
              workingCopy);
}

void adamw(float *param, const float *grad, float *m, float *v, int64_t n, double lr,
           double beta1, double beta2, double eps, double weightDecay, int64_t step,
           const DeviceStepState *state, bf16 *workingCopy) {
  launchAdamw(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, step, 1.0, state,
              workingCopy);
}

} // namespace ingot::cuda
