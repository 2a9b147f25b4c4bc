//===- ColumnSum.cuh - Deterministic column reductions ---------*- CUDA -*-===//
//
// Private to runtime/cuda/. Sums (or maxima) down the rows of [outer][rows][cols] data whose
// element (o, r, c) a functor computes: bias gradients, layer-norm weight gradients, reduce
// over a middle axis. Two launches with a fixed shape, so the result is the same bits on every
// run: (1) each of kColumnChunks chunks of rows is reduced per column by a 64 x 4 block (4
// row-lanes in a fixed interleave, then combined in lane order) into `partial`; (2) one thread
// per column combines the chunks in ascending order.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_CUDA_COLUMNSUM_CUH
#define INGOT_RT_CUDA_COLUMNSUM_CUH

#include "cuda/Common.cuh"

namespace ingot::cuda {

/// K values per element (e.g. dgamma and dbeta together).
template <int K> struct Values {
  float v[K];
};

template <int K, bool Max, typename F>
__global__ void columnPartialKernel(F value, float *partial, int64_t rows, int64_t cols,
                                    int64_t rowsPerChunk) {
  __shared__ float lanes[K][4][64];
  int64_t c = int64_t(blockIdx.x) * 64 + threadIdx.x;
  int64_t chunk = blockIdx.y, o = blockIdx.z;
  int64_t r0 = chunk * rowsPerChunk, r1 = min(rows, r0 + rowsPerChunk);
  float acc[K];
  for (int k = 0; k < K; ++k)
    acc[k] = Max ? -INFINITY : 0.0f;
  if (c < cols)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += 4) {
      Values<K> x = value(o, r, c);
      for (int k = 0; k < K; ++k)
        acc[k] = Max ? ((x.v[k] > acc[k] || isnan(x.v[k])) ? x.v[k] : acc[k]) : acc[k] + x.v[k];
    }
  for (int k = 0; k < K; ++k)
    lanes[k][threadIdx.y][threadIdx.x] = acc[k];
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    for (int k = 0; k < K; ++k) {
      float total = lanes[k][0][threadIdx.x];
      for (int y = 1; y < 4; ++y) {
        float x = lanes[k][y][threadIdx.x];
        total = Max ? ((x > total || isnan(x)) ? x : total) : total + x;
      }
      partial[((int64_t(k) * gridDim.z + o) * kColumnChunks + chunk) * cols + c] = total;
    }
  }
}

/// out_k[o * cols + c] = combine over chunks, times `scale` (1/rows for a mean).
template <int K, bool Max, typename O>
__global__ void columnFinalKernel(O *out0, O *out1, const float *partial, int64_t outer,
                                  int64_t cols, float scale, bool accumulate) {
  INGOT_GRID_LOOP(e, outer * cols) {
    int64_t o = e / cols, c = e % cols;
    for (int k = 0; k < K; ++k) {
      O *out = k == 0 ? out0 : out1;
      if (!out)
        continue;
      const float *p = partial + (int64_t(k) * outer + o) * kColumnChunks * cols + c;
      float total = p[0];
      for (int64_t chunk = 1; chunk < kColumnChunks; ++chunk) {
        float x = p[chunk * cols];
        total = Max ? ((x > total || isnan(x)) ? x : total) : total + x;
      }
      total *= scale;
      st(out + e, accumulate ? ld(out + e) + total : total);
    }
  }
}

/// Reduces value(o, r, c) over r into out0 (and out1 for K = 2). `partial` holds
/// K * outer * kColumnChunks * cols floats.
template <int K, bool Max, typename O, typename F>
void columnReduce(F value, O *out0, O *out1, float *partial, int64_t outer, int64_t rows,
                  int64_t cols, float scale, bool accumulate, const char *what) {
  int64_t rowsPerChunk = (rows + kColumnChunks - 1) / kColumnChunks;
  dim3 grid(unsigned((cols + 63) / 64), unsigned(kColumnChunks), unsigned(outer));
  columnPartialKernel<K, Max><<<grid, dim3(64, 4)>>>(value, partial, rows, cols, rowsPerChunk);
  launchCheck(what);
  columnFinalKernel<K, Max><<<blocksFor(outer * cols), kThreads>>>(out0, out1, partial, outer,
                                                                   cols, scale, accumulate);
  launchCheck(what);
}

} // namespace ingot::cuda

#endif // INGOT_RT_CUDA_COLUMNSUM_CUH
