//===- Optimizer.cu - AdamW on fp32 master weights -------------------------===//
//
// One thread per element, float64 arithmetic as the host target does it (so the fp32 path
// matches the host bit for bit and the bf16 path differs only by its activations).
//
//===----------------------------------------------------------------------===//
#include "cuda/Common.cuh"

#include <cmath>

namespace ingot::cuda {
namespace {

__global__ void adamwKernel(float *param, const float *grad, float *m, float *v, int64_t n,
                            double lr, double beta1, double beta2, double eps, double weightDecay,
                            double correction1, double correction2, double gradScale) {
  INGOT_GRID_LOOP(i, n) {
    double g = double(grad[i]) * gradScale;
    double mi = beta1 * double(m[i]) + (1 - beta1) * g;
    double vi = beta2 * double(v[i]) + (1 - beta2) * g * g;
    m[i] = float(mi);
    v[i] = float(vi);
    double p = double(param[i]);
    double update = (mi / correction1) / (sqrt(vi / correction2) + eps) + weightDecay * p;
    param[i] = float(p - lr * update);
  }
}

} // namespace

void adamw(float *param, const float *grad, float *m, float *v, int64_t n, double lr,
           double beta1, double beta2, double eps, double weightDecay, int64_t step,
           double gradScale) {
  double correction1 = 1 - std::pow(beta1, double(step));
  double correction2 = 1 - std::pow(beta2, double(step));
  adamwKernel<<<blocksFor(n), kThreads>>>(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay,
                                          correction1, correction2, gradScale);
  launchCheck("adamw");
}

} // namespace ingot::cuda
