//===- MatmulKernels.cpp - Batched matmul on the host ---------------------===//
//
// c[b] (+)= op(a[b]) x op(b[b]) in blocks of C: each task owns a kRowBlock x kColBlock tile of one
// batch's C, copies kDepthBlock rows of op(b) into a contiguous panel (so transB reads stream),
// and adds a(i, p) * panel(p, :) into the tile's accumulator row for p = 0, 1, ..., k - 1. Every
// c element is therefore the sum over p in ascending order, accumulated in T from zero, then
// added to c when accumulating: the same value for any thread count and any tiling.
//
//===----------------------------------------------------------------------===//
#include "host/Kernels.h"
#include "host/KernelsCommon.h"

#include <algorithm>
#include <vector>

namespace ingot::host {

namespace {
constexpr int64_t kRowBlock = 32;
constexpr int64_t kColBlock = 64;
constexpr int64_t kDepthBlock = 256;
} // namespace

template <typename T>
void matmul(T *c, const T *a, const T *b, int64_t batch, int64_t m, int64_t n, int64_t k,
            bool transA, bool transB, int64_t strideA, int64_t strideB, int64_t strideC,
            bool accumulate) {
  if (batch <= 0 || m <= 0 || n <= 0)
    return;
  int64_t rowBlocks = (m + kRowBlock - 1) / kRowBlock;
  int64_t colBlocks = (n + kColBlock - 1) / kColBlock;
  int64_t tilesPerBatch = rowBlocks * colBlocks;
  int64_t tasks = batch * tilesPerBatch;
  bool parallel = tasks > 1 && batch * m * n * std::max<int64_t>(k, 1) >= detail::kParallelMin;

#pragma omp parallel if (parallel)
  {
    std::vector<T> tile(kRowBlock * kColBlock);
    std::vector<T> panel(kDepthBlock * kColBlock);
#pragma omp for schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
      int64_t bi = task / tilesPerBatch, t = task % tilesPerBatch;
      int64_t i0 = (t / colBlocks) * kRowBlock, j0 = (t % colBlocks) * kColBlock;
      int64_t rows = std::min(kRowBlock, m - i0), width = std::min(kColBlock, n - j0);
      const T *A = a + bi * strideA;
      const T *B = b + bi * strideB;
      T *C = c + bi * strideC;
      T *__restrict acc = tile.data();
      T *__restrict bp = panel.data();
      std::fill(acc, acc + rows * width, T(0));

      for (int64_t p0 = 0; p0 < k; p0 += kDepthBlock) {
        int64_t depth = std::min(kDepthBlock, k - p0);
        if (transB) { // b stored [n, k]: read each row j along p
          for (int64_t j = 0; j < width; ++j) {
            const T *src = B + (j0 + j) * k + p0;
            for (int64_t p = 0; p < depth; ++p)
              bp[p * width + j] = src[p];
          }
        } else { // b stored [k, n]
          for (int64_t p = 0; p < depth; ++p)
            std::copy(B + (p0 + p) * n + j0, B + (p0 + p) * n + j0 + width, bp + p * width);
        }
        for (int64_t i = 0; i < rows; ++i) {
          T *__restrict accRow = acc + i * width;
          int64_t gi = i0 + i;
          for (int64_t p = 0; p < depth; ++p) {
            int64_t gp = p0 + p;
            T aip = transA ? A[gp * m + gi] : A[gi * k + gp];
            const T *__restrict bRow = bp + p * width;
            for (int64_t j = 0; j < width; ++j)
              accRow[j] += aip * bRow[j];
          }
        }
      }

      for (int64_t i = 0; i < rows; ++i) {
        T *dst = C + (i0 + i) * n + j0;
        const T *src = acc + i * width;
        if (accumulate)
          for (int64_t j = 0; j < width; ++j)
            dst[j] += src[j];
        else
          std::copy(src, src + width, dst);
      }
    }
  }
}

template void matmul<float>(float *, const float *, const float *, int64_t, int64_t, int64_t,
                            int64_t, bool, bool, int64_t, int64_t, int64_t, bool);
template void matmul<double>(double *, const double *, const double *, int64_t, int64_t,
                             int64_t, int64_t, bool, bool, int64_t, int64_t, int64_t, bool);

} // namespace ingot::host
