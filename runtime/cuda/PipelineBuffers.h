//===- PipelineBuffers.h - The pipeline runner's device memory ---*- C++ -*-===//
//
// The cuda target's PipelineDesc hooks (ingot/rt/Model.h): the pipeline runner
// (runtime/src/Pipeline.cpp) keeps its per-micro-batch copies of the activation and statistics
// regions, and the bytes it receives from other stages, in device memory beside the arena.
// Copies and additions go on the calling thread's default stream, where the generated kernels
// are (--default-stream per-thread), so they run in order with them; NCCL works on its own
// stream, which is why the runner synchronizes before every transfer.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_CUDA_PIPELINEBUFFERS_H
#define INGOT_RT_CUDA_PIPELINEBUFFERS_H

#include <cstdint>

namespace ingot::cuda {

/// `bytes` of zeroed device memory on the current device, or null when it has no room.
void *allocPipelineBuffer(uint64_t bytes);
void freePipelineBuffer(void *buffer);
/// Device to device, queued after the work already queued.
void copyPipelineBuffer(void *dst, const void *src, uint64_t bytes);
/// dst[i] += src[i] (the accumulate kernel of the generated gradient accumulation).
void addPipelineBuffer(float *dst, const float *src, uint64_t count);
/// Waits for everything queued so far on this thread's default stream.
void synchronizePipeline();

} // namespace ingot::cuda

#endif // INGOT_RT_CUDA_PIPELINEBUFFERS_H
