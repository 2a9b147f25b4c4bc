//===- Scratch.h - Scratch sizes of the cuda kernels -----------*- C++ -*-===//
//
// Plain C++ (no CUDA): the cuda emitter (compiler/Target/Cuda) sizes the scratch area after the
// arena with these, and the kernels (Kernels.cuh) lay their scratch out by them, so the two
// cannot disagree.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_CUDA_SCRATCH_H
#define INGOT_RT_CUDA_SCRATCH_H

#include <cstdint>

namespace ingot::cuda {

/// Rows of the fixed chunking of column sums (layer-norm weight gradients, bias gradients):
/// partial sums per chunk of rows, then the chunks in order.
constexpr int64_t kColumnChunks = 128;

/// Scratch bytes of layerNormGrad / rmsNormGrad (row statistics and column partial sums).
constexpr int64_t scratchBytesNormGrad(int64_t rows, int64_t dim) {
  return rows * 8 + 2 * kColumnChunks * dim * 4 + 256;
}
/// Axes up to this length are reduced by one thread per output, in order, without scratch.
constexpr int64_t kShortAxis = 64;
/// Scratch bytes of reduce over [outer, axis, inner] (column partial sums of long axes).
constexpr int64_t scratchBytesReduce(int64_t outer, int64_t axis, int64_t inner) {
  return (axis <= kShortAxis || inner == 1) ? 0 : kColumnChunks * outer * inner * 4 + 256;
}
/// Scratch bytes of matmulWeightBiasGrad's bias sums (n floats), besides its fallback's
/// scratchBytesReduce.
constexpr int64_t scratchBytesWeightBiasGrad(int64_t n) { return n * 4 + 256; }
/// Scratch bytes of attentionGrad (each query row's dout . out).
constexpr int64_t scratchBytesAttentionGrad(int64_t batch, int64_t heads, int64_t tq) {
  return batch * heads * tq * 4 + 256;
}
/// Scratch bytes of crossEntropy (each row's loss).
constexpr int64_t scratchBytesCrossEntropy(int64_t rows) { return rows * 4 + 256; }
/// Blocks of sumSquares, each leaving one float64 partial sum (kSumSquaresBlocks * 8 bytes of
/// scratch).
constexpr int64_t kSumSquaresBlocks = 1024;

} // namespace ingot::cuda

#endif // INGOT_RT_CUDA_SCRATCH_H
