//===- Model.h - The contract between a compiled model and libingot_rt ----===//
//
// ingotc emits one C++ (host) or CUDA (cuda) file per model that defines `ingot_model()`,
// returning a ModelDesc: every tensor the runtime must know by name (parameters, their
// gradients and AdamW moments), where each lives in the one arena, and the two entry points
// the training loop calls. Everything here is fixed at compile time; the runtime allocates the
// arena once, fills the inputs at fixed offsets, and calls the entry points — nothing else.
//
//   per step:   zero the gradient region (gradsOffset, gradsBytes)
//               for each micro-batch: write tokens/targets at their offsets; forwardBackward()
//               write StepScalars (lr, step, ...); optimizerStep()
//
// The arena is host memory (host target) or device memory (cuda target, whose ModelDesc sets
// the allocArena/copy hooks below; the runtime then moves data only through them).
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_MODEL_H
#define INGOT_RT_MODEL_H

#include "ingot/rt/Comm.h"

#include <cstdint>

namespace ingot::rt {

/// Element types as stored in the arena and in checkpoints.
enum class DType : uint8_t { f32 = 0, bf16 = 1, i32 = 2, f64 = 3 };

inline unsigned dtypeBytes(DType t) {
  switch (t) {
  case DType::f32: return 4;
  case DType::bf16: return 2;
  case DType::i32: return 4;
  case DType::f64: return 8;
  }
  return 0;
}
const char *dtypeName(DType t);

constexpr int kMaxRank = 6;

/// A tensor at a fixed place in the arena.
struct TensorDesc {
  const char *name;     // "wte", "layer.3.qkv_w"; gradients and moments get ".grad", ".m", ".v"
  DType dtype;
  int rank;
  int64_t shape[kMaxRank];
  uint64_t offset;      // bytes from the arena's base (aligned to 256)
  uint64_t bytes;
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i)
      n *= shape[i];
    return n;
  }
};

/// How a parameter starts: "zeros", "ones", "constant"(v), "normal"(mean, std), "uniform"(lo, hi).
struct InitDesc {
  const char *kind;
  double args[2];
};

struct ParamDesc {
  TensorDesc value;     // the (master) weights
  TensorDesc grad;      // accumulated over the micro-batches of a step
  TensorDesc m, v;      // AdamW moments
  InitDesc init;
  bool weightDecay;     // false for rank-1 parameters (norm scales, biases)
};

/// Run-time scalars of one optimizer step, written by the runtime before optimizerStep.
struct StepScalars {
  double lr;            // this step's learning rate (schedule already applied)
  double beta1, beta2, eps, weightDecay;
  double clip;          // global-norm clip threshold; 0 disables clipping
  int64_t step;         // 1-based, for AdamW's bias correction
  // Written back by optimizerStep:
  double gradNorm;      // the global gradient norm before clipping
  bool nonFinite;       // the gradient norm or the loss was NaN/Inf (the update was not applied)
};

/// Defaults from the model's train section; flags override them at run time.
struct TrainDefaults {
  double lr, beta1, beta2, eps, weightDecay, clip;
  const char *lrSchedule; // "constant" | "cosine" | "linear"
  int64_t warmup;
  double lrFinal;         // floor, as a fraction of lr
};

/// Pipeline parallelism (P > 1): each rank runs its stage's segments of the one-rank training
/// step in its stage's schedule order. A segment is one chunk's forward, or its whole backward
/// (input and weight gradients), or under ZB-H1 its input-gradient (B) or weight-gradient (W)
/// part of the backward, i.e. the ops of forwardBackward with that chunk and phase, in
/// the one-rank order and at the one-rank arena offsets; the ops of other stages never run.
/// Transfers carry the values one stage's segment makes and another's reads (activations
/// forward, their gradients back, and a tied parameter's gradient part), per micro-batch.
struct PipelineSegment {
  int32_t chunk, stage;
  int32_t backward;            // 0: forward; 1: backward (input and weight gradients);
                               // 2: input-gradient backward (B); 3: weight-gradient backward (W)
  void (*run)(char *arena);
  const char *name;            // "chunk0_forward"
};
struct PipelineTransfer {
  int32_t from, to;            // segment indices (of the same micro-batch); stages differ
  uint64_t offset, bytes;      // in the arena, the same on both sides
  /// 0: the value at `offset` (the receiver writes it there before `to` runs). 1: the part of a
  /// tied parameter's gradient (at `offset`) that `from` adds: the sender zeroes that gradient
  /// before `from` runs and sends it after; the receiver adds it into its own before `to` runs,
  /// so the additions happen in the one-rank order.
  int32_t tiedGradient;
  const char *what;            // "activation of chunk 0 forward (8x64x64 f32)"
};
struct PipelineStep {
  int32_t segment, microbatch;
};
struct PipelineDesc {
  const char *schedule;        // "gpipe", "1f1b", "interleaved", "zb-h1"
  int32_t numSegments;
  const PipelineSegment *segments;
  int32_t numTransfers;
  const PipelineTransfer *transfers;
  const int32_t *programBegin; // stage s runs steps[programBegin[s] .. programBegin[s + 1])
  const PipelineStep *steps;
  /// The activations of the one-rank plan: a micro-batch's forward leaves here what its backward
  /// reads; the runtime keeps a copy per micro-batch in flight.
  uint64_t activationOffset, activationBytes;
  /// What a forward leaves beside the plan for its backward (the cuda target's log-sum-exp
  /// statistics of attention and cross-entropy), kept per micro-batch like the activations;
  /// 0 bytes on the host target.
  uint64_t statsOffset, statsBytes;

  // --- Where the arena is device memory (the cuda target), the runner's own memory is too: its
  // copies of the regions above and the bytes it receives. All null on the host target (host
  // memory, memcpy). Every copy is queued after the kernels queued before it, in order.
  void *(*allocBuffer)(uint64_t bytes);                   // zeroed; never returns null
  void (*freeBuffer)(void *buffer);
  void (*copyBuffer)(void *dst, const void *src, uint64_t bytes);
  /// dst[i] += src[i], the addition the generated gradient accumulation does (a tied gradient's
  /// part; the gradients are f32 there).
  void (*addBuffer)(float *dst, const float *src, uint64_t count);
  /// Returns once every kernel and copy queued so far is done: Comm reads and writes device
  /// memory on its own stream.
  void (*synchronize)();
};

struct ModelDesc {
  const char *name;         // the `model NAME;` of the source
  const char *target;       // "host" or "cuda"
  const char *manifestJson; // printed by --describe: model, sizes, memory plan, layout, compiler
  uint64_t sourceHash;      // FNV-1a of the .ingot source and the --set overrides
  int64_t microBatch, seqLen, vocab;
  int64_t microbatches;     // micro-batches accumulated per optimizer step
  DType computeType;        // f32 (host), f64 (host gradient checks), bf16 (cuda)
  int numParams;
  const ParamDesc *params;
  uint64_t arenaBytes;
  uint64_t gradsOffset, gradsBytes;  // the contiguous gradient region, zeroed before each step
  TensorDesc tokens, targets;        // i32 [microBatch, seqLen]
  TensorDesc loss;                   // f32 (f64 in gradient-check builds) scalar: the micro-batch mean
  TrainDefaults defaults;

  /// Forward and backward of one micro-batch: reads tokens and targets, writes loss, adds this
  /// micro-batch's gradients (scaled by 1/microbatches) into the gradient region.
  void (*forwardBackward)(char *arena);
  /// Forward only (validation): writes loss.
  void (*forward)(char *arena);
  /// Global-norm clip and AdamW over every parameter; skips the update if non-finite.
  void (*optimizerStep)(char *arena, StepScalars *scalars);

  /// Where the arena lives when it is not host memory (the cuda target: one cudaMalloc). All
  /// null for the host target: the runtime then allocates host memory and uses memcpy/memset.
  /// When set, the runtime never dereferences the arena; it moves every byte it reads or writes
  /// (parameters at init, tokens, the loss, checkpoints) through these. The cuda target's
  /// copyToArena and zeroArena also notice writes into the master weights: its bf16 working
  /// copies (which the optimizer step keeps current) are refreshed before the next pass. So
  /// outside forwardBackward and optimizerStep, masters change only through these two.
  void *(*allocArena)(uint64_t bytes);  // zeroed
  void (*freeArena)(void *arena);
  void (*copyToArena)(void *arena, uint64_t offset, const void *src, uint64_t bytes);
  void (*copyFromArena)(void *dst, const void *arena, uint64_t offset, uint64_t bytes);
  void (*zeroArena)(void *arena, uint64_t offset, uint64_t bytes);

  // --- What the machine must be: checked at startup, before any work (runtime/src/Startup.cpp,
  // docs/runtime.md "Startup checks"). From the cluster map given to ingotc --cluster; without
  // one, any device and one rank. Null or zero (hand-written test models) means the same.
  const char *clusterName;  // the map's name, or "" without --cluster
  const char *deviceKind;   // the map's device kind: "gpu", "cpu", or "any"
  const char *deviceModel;  // the map's device model (e.g. "H100-SXM5-80GB"), or "any"
  int64_t nodes;            // the job's nodes (0 means 1)
  int64_t devicesPerNode;   // devices per node, one rank each (0 means 1); ranks = nodes x this
  /// The backend's check of this process's device (the cuda target's: visible GPU count, GPU
  /// model, free memory for arenaBytes, driver version); null on the host target, so the host
  /// runtime never links CUDA. Returns 0 when the device fits; otherwise writes what was
  /// expected and what was found into `message` and returns non-zero.
  int (*checkDevice)(const ModelDesc *model, int localRank, char *message, uint64_t messageBytes);

  // --- The parallel layout (the model's parallel section, overridden by the cluster map). ---
  // One-rank trainers leave these zero: P = D = 1, and no MPI or NCCL is linked, so they start
  // where neither is installed. `microbatches` above is per replica: one optimizer step trains
  // on microBatch * seqLen * microbatches * dataParallel tokens, and the loss and gradients are
  // means over all of them (autodiff seeds each micro-batch with 1 / (microbatches * D)).
  // Rank = stage * dataParallel + replica (DESIGN.md, "Ranks and launch").
  int32_t stages;           // pipeline stages P (0 means 1)
  int32_t dataParallel;     // data-parallel replicas D (0 means 1)
  CommFactory makeComm;     // the Comm backend when P * D > 1 (makeMpiComm, makeNcclComm)
  const PipelineDesc *pipeline; // the stage programs when P > 1, else null
};

} // namespace ingot::rt

/// Defined by the generated model file.
extern "C" const ingot::rt::ModelDesc *ingot_model();

/// ModelDesc::checkDevice of the cuda target (runtime/cuda/Backend.cu); generated cuda trainers
/// name it, and only they link it.
extern "C" int ingot_cuda_check_device(const ingot::rt::ModelDesc *model, int localRank,
                                       char *message, uint64_t messageBytes);

#endif // INGOT_RT_MODEL_H
