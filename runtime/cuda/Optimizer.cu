//===- Optimizer.cu - AdamW on fp32 master weights -------------------------===//
//
// fp32 arithmetic per element (the host target computes in float64; the two agree to about
// 1e-7 relative per step), four elements per thread.
// A parameter GEMMs read also gets its bf16 working copy written here, from the updated master
// still in registers: the rounding the `convert` refresh does, without a second pass over the
// masters before every micro-batch. adamwAll runs every parameter of a step in one launch
// (a chunk table built once), so a model's many small tensors (biases, norm weights) cost no
// launch and tail each.
//
//===----------------------------------------------------------------------===//
#include "cuda/Common.cuh"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <vector>

namespace ingot::cuda {
namespace {

/// The scalars of one AdamW step in the form the element update uses: fp32, bias corrections
/// as reciprocals.
struct AdamWScalars {
  float lr, beta1, beta2, eps, weightDecay, invCorrection1, invCorrection2;
};

AdamWScalars adamwScalars(double lr, double beta1, double beta2, double eps, double weightDecay,
                          int64_t step) {
  double correction1 = 1 - std::pow(beta1, double(step));
  double correction2 = 1 - std::pow(beta2, double(step));
  return {float(lr),          float(beta1),       float(beta2),       float(eps),
          float(weightDecay), float(1 / correction1), float(1 / correction2)};
}

/// fp32 arithmetic, as PyTorch's fused AdamW does for fp32 parameters: the update is memory
/// bound in fp32 (28 bytes per element), where float64 division and square roots made it
/// compute bound.
__device__ __forceinline__ float adamwElement(float &param, float grad, float &m, float &v,
                                              const AdamWScalars &a, float weightDecay,
                                              float gradScale) {
  const float g = grad * gradScale;
  const float mi = fmaf(a.beta1, m, (1.0f - a.beta1) * g);
  const float vi = fmaf(a.beta2, v, (1.0f - a.beta2) * g * g);
  m = mi;
  v = vi;
  const float update = (mi * a.invCorrection1) / (sqrtf(vi * a.invCorrection2) + a.eps) +
                       weightDecay * param;
  param = param - a.lr * update;
  return param;
}

/// Elements 4i .. 4i + 3 with 16-byte loads and stores (every tensor is 256-byte aligned), and
/// their bf16 working copy when there is one.
__device__ __forceinline__ void adamwQuad(float *param, const float *grad, float *m, float *v,
                                          bf16 *workingCopy, int64_t i, const AdamWScalars &a,
                                          float weightDecay, float gradScale) {
  float4 p = reinterpret_cast<float4 *>(param)[i], mm = reinterpret_cast<float4 *>(m)[i],
         vv = reinterpret_cast<float4 *>(v)[i];
  float4 g = reinterpret_cast<const float4 *>(grad)[i];
  adamwElement(p.x, g.x, mm.x, vv.x, a, weightDecay, gradScale);
  adamwElement(p.y, g.y, mm.y, vv.y, a, weightDecay, gradScale);
  adamwElement(p.z, g.z, mm.z, vv.z, a, weightDecay, gradScale);
  adamwElement(p.w, g.w, mm.w, vv.w, a, weightDecay, gradScale);
  reinterpret_cast<float4 *>(param)[i] = p;
  reinterpret_cast<float4 *>(m)[i] = mm;
  reinterpret_cast<float4 *>(v)[i] = vv;
  if (workingCopy) {
    __nv_bfloat162 *pairs = reinterpret_cast<__nv_bfloat162 *>(workingCopy + 4 * i);
    pairs[0] = __floats2bfloat162_rn(p.x, p.y);
    pairs[1] = __floats2bfloat162_rn(p.z, p.w);
  }
}

/// Four elements per thread with 16-byte loads and stores (the arena keeps every tensor
/// 256-byte aligned); the tail one by one. With `state`, the gradient scale comes from the
/// device and a non-finite step updates nothing (the working copy included). With
/// `workingCopy`, each updated weight is also stored there rounded to bf16 (nearest even, as
/// `convert` rounds), four per 8-byte store.
__global__ void adamwKernel(float *param, const float *grad, float *m, float *v, int64_t n,
                            AdamWScalars a, float gradScale, const DeviceStepState *state,
                            bf16 *workingCopy) {
  if (state) {
    if (state->nonFinite)
      return;
    gradScale = float(state->scale);
  }
  int64_t quads = n / 4;
  INGOT_GRID_LOOP(i, quads)
    adamwQuad(param, grad, m, v, workingCopy, i, a, a.weightDecay, gradScale);
  INGOT_GRID_LOOP(j, n - quads * 4) {
    int64_t i = quads * 4 + j;
    float p = adamwElement(param[i], grad[i], m[i], v[i], a, a.weightDecay, gradScale);
    if (workingCopy)
      workingCopy[i] = __float2bfloat16_rn(p);
  }
}

/// Elements per block of the multi-tensor step: 256 threads, four quads each.
constexpr int64_t kAdamwChunk = 4096;

/// Where a block of adamwAllKernel works: a chunk of one tensor.
struct AdamWChunk {
  int32_t tensor;
  int64_t begin; // element index in that tensor
};

__global__ void __launch_bounds__(256)
    adamwAllKernel(char *arena, const AdamWTensor *tensors, const AdamWChunk *chunks,
                   AdamWScalars a, const DeviceStepState *state) {
  if (state->nonFinite)
    return;
  const float gradScale = float(state->scale);
  const AdamWChunk chunk = chunks[blockIdx.x];
  const AdamWTensor t = tensors[chunk.tensor];
  auto *param = reinterpret_cast<float *>(arena + t.param);
  auto *grad = reinterpret_cast<const float *>(arena + t.grad);
  auto *m = reinterpret_cast<float *>(arena + t.m), *v = reinterpret_cast<float *>(arena + t.v);
  bf16 *copy = t.workingCopy >= 0 ? reinterpret_cast<bf16 *>(arena + t.workingCopy) : nullptr;
  const float decay = t.decay ? a.weightDecay : 0.0f;
  const int64_t end = min(t.n, chunk.begin + kAdamwChunk);
  if (t.n % 4 == 0) { // whole quads: 16-byte loads (every tensor is 256-byte aligned)
    for (int64_t i = chunk.begin / 4 + threadIdx.x; i < end / 4; i += blockDim.x)
      adamwQuad(param, grad, m, v, copy, i, a, decay, gradScale);
    return;
  }
  for (int64_t i = chunk.begin + threadIdx.x; i < end; i += blockDim.x) {
    float p = adamwElement(param[i], grad[i], m[i], v[i], a, decay, gradScale);
    if (copy)
      copy[i] = __float2bfloat16_rn(p);
  }
}

/// The device copies of one static tensor table and its chunk map.
struct AdamWTable {
  std::vector<AdamWTensor> host;
  AdamWTensor *tensors = nullptr;
  AdamWChunk *chunks = nullptr;
  int64_t chunkCount = 0;
};

const AdamWTable &deviceTable(const AdamWTensor *tensors, int count) {
  static std::map<const AdamWTensor *, AdamWTable> tables;
  AdamWTable &table = tables[tensors];
  bool same = int(table.host.size()) == count &&
              std::memcmp(table.host.data(), tensors, sizeof(AdamWTensor) * count) == 0;
  if (same)
    return table;
  cudaFree(table.tensors);
  cudaFree(table.chunks);
  table.host.assign(tensors, tensors + count);
  std::vector<AdamWChunk> chunks;
  for (int t = 0; t < count; ++t)
    for (int64_t begin = 0; begin < tensors[t].n; begin += kAdamwChunk)
      chunks.push_back({t, begin});
  table.chunkCount = int64_t(chunks.size());
  cudaCheck(cudaMalloc(&table.tensors, sizeof(AdamWTensor) * std::max(count, 1)));
  cudaCheck(cudaMalloc(&table.chunks, sizeof(AdamWChunk) * std::max<size_t>(chunks.size(), 1)));
  cudaCheck(cudaMemcpy(table.tensors, tensors, sizeof(AdamWTensor) * count,
                       cudaMemcpyHostToDevice));
  cudaCheck(cudaMemcpy(table.chunks, chunks.data(), sizeof(AdamWChunk) * chunks.size(),
                       cudaMemcpyHostToDevice));
  return table;
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
  adamwKernel<<<blocksFor((n + 3) / 4), kThreads>>>(
      param, grad, m, v, n, adamwScalars(lr, beta1, beta2, eps, weightDecay, step),
      float(gradScale), state, workingCopy);
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

void adamwAll(char *arena, const AdamWTensor *tensors, int count, double lr, double beta1,
              double beta2, double eps, double weightDecay, int64_t step,
              const DeviceStepState *state) {
  const AdamWTable &table = deviceTable(tensors, count);
  if (table.chunkCount == 0)
    return;
  adamwAllKernel<<<unsigned(table.chunkCount), 256>>>(
      arena, table.tensors, table.chunks,
      adamwScalars(lr, beta1, beta2, eps, weightDecay, step), state);
  launchCheck("adamwAll");
}

} // namespace ingot::cuda
