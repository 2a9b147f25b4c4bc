//===- Common.cuh - Device helpers shared by the cuda kernels --*- CUDA -*-===//
//
// Private to runtime/cuda/: typed loads and stores (every kernel computes in fp32 whatever the
// storage), launch geometry, fixed-pattern warp and block reductions, and the explicit
// instantiation macros of the launchers declared in Kernels.cuh.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_CUDA_COMMON_CUH
#define INGOT_RT_CUDA_COMMON_CUH

#include "cuda/Check.cuh"
#include "cuda/Kernels.cuh"

#include <cuda_bf16.h>

#include <cstdint>

namespace ingot::cuda {

constexpr int kThreads = 256;

/// Blocks for n independent items at `threads` per block, grid-stride beyond 2^20 blocks.
inline unsigned blocksFor(int64_t n, int threads = kThreads) {
  int64_t blocks = (n + threads - 1) / threads;
  return unsigned(blocks < 1 ? 1 : (blocks > (1 << 20) ? (1 << 20) : blocks));
}

#define INGOT_GRID_LOOP(i, n)                                                                      \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);                        \
       i += int64_t(gridDim.x) * blockDim.x)

__device__ __forceinline__ float ld(const float *p) { return *p; }
__device__ __forceinline__ float ld(const bf16 *p) { return __bfloat162float(*p); }
__device__ __forceinline__ void st(float *p, float v) { *p = v; }
__device__ __forceinline__ void st(bf16 *p, float v) { *p = __float2bfloat16_rn(v); }

/// Sum over the 32 lanes; every lane gets the same bits (a butterfly in a fixed pattern).
__device__ __forceinline__ float warpSum(float v) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warpSum(double v) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warpMax(float v) {
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/// Sum over the block (blockDim.x a multiple of 32, at most 1024): warps first, then warp 0
/// over the warp sums; every thread gets the result. `shared` holds 32 values.
template <typename V> __device__ V blockSum(V v, V *shared) {
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warpSum(v);
  __syncthreads(); // `shared` may still be read from a previous call
  if (lane == 0)
    shared[warp] = v;
  __syncthreads();
  V total = lane < warps ? shared[lane] : V(0);
  return warpSum(total);
}

__device__ __forceinline__ float blockMax(float v, float *shared) {
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warpMax(v);
  __syncthreads();
  if (lane == 0)
    shared[warp] = v;
  __syncthreads();
  float total = lane < warps ? shared[lane] : -INFINITY;
  return warpMax(total);
}

} // namespace ingot::cuda

// Explicit instantiation over the storage types.
#define INGOT_FOR_T(M) M(float) M(bf16)
#define INGOT_FOR_T2(M) M(float, float) M(float, bf16) M(bf16, float) M(bf16, bf16)
#define INGOT_FOR_T3(M)                                                                            \
  M(float, float, float) M(float, float, bf16) M(float, bf16, float) M(float, bf16, bf16)         \
  M(bf16, float, float) M(bf16, float, bf16) M(bf16, bf16, float) M(bf16, bf16, bf16)

#endif // INGOT_RT_CUDA_COMMON_CUH
