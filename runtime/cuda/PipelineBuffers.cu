//===- PipelineBuffers.cu - The pipeline runner's device memory -----------===//
#include "cuda/PipelineBuffers.h"

#include "cuda/Check.cuh"
#include "cuda/Kernels.cuh"

namespace ingot::cuda {

void *allocPipelineBuffer(uint64_t bytes) {
  void *buffer = nullptr;
  if (cudaMalloc(&buffer, (bytes + 255) / 256 * 256) != cudaSuccess) {
    cudaGetLastError(); // the runner reports it, naming what the memory was for
    return nullptr;
  }
  cudaCheck(cudaMemset(buffer, 0, bytes));
  return buffer;
}

void freePipelineBuffer(void *buffer) { cudaFree(buffer); }

void copyPipelineBuffer(void *dst, const void *src, uint64_t bytes) {
  cudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cudaStreamPerThread));
}

void addPipelineBuffer(float *dst, const float *src, uint64_t count) {
  accumulate(dst, src, int64_t(count));
}

void synchronizePipeline() { cudaCheck(cudaStreamSynchronize(cudaStreamPerThread)); }

} // namespace ingot::cuda
