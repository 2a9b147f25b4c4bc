//===- ModelUtil.h - Small helpers on a ModelDesc -----------------*- C++ -*-===//
#ifndef INGOT_RT_MODELUTIL_H
#define INGOT_RT_MODELUTIL_H

#include "ingot/rt/Model.h"

#include <string>

namespace ingot::rt {

/// "[64, 256]" (and "[]" for a scalar).
std::string shapeString(const int64_t *shape, int rank);
inline std::string shapeString(const TensorDesc &t) { return shapeString(t.shape, t.rank); }

/// The parameter whose value tensor is called `name`, or nullptr.
const ParamDesc *findParam(const ModelDesc &model, const char *name);

/// Total number of parameter elements.
int64_t parameterCount(const ModelDesc &model);

/// Tokens per optimizer step: microBatch * seqLen * microbatches.
inline int64_t tokensPerStep(const ModelDesc &model) {
  return model.microBatch * model.seqLen * model.microbatches;
}

/// Whether the arena is device memory that the runtime reaches only through the ModelDesc's
/// copy hooks (the cuda target), rather than host memory it reads directly.
inline bool arenaOnDevice(const ModelDesc &model) { return model.allocArena != nullptr; }
/// Copies bytes between host memory and the arena, through the hooks when the arena is on
/// the device, else with memcpy/memset.
void readArena(const ModelDesc &model, const char *arena, uint64_t offset, void *dst,
               uint64_t bytes);
void writeArena(const ModelDesc &model, char *arena, uint64_t offset, const void *src,
                uint64_t bytes);
void zeroArena(const ModelDesc &model, char *arena, uint64_t offset, uint64_t bytes);
/// The loss the last pass wrote (f32, or f64 in gradient-check builds).
double readLoss(const ModelDesc &model, const char *arena);

/// Checks that the description is self-consistent (every tensor inside the arena with
/// bytes == numel * dtype size, gradients inside the gradient region, tokens/targets i32
/// [microBatch, seqLen], a scalar f32/f64 loss, entry points present; with pipeline stages,
/// the stage programs' tables against the arena and the layout). Returns "" when it is,
/// else what is wrong: a bug in the code generator, reported before any work.
std::string checkModelDesc(const ModelDesc &model);

} // namespace ingot::rt

#endif // INGOT_RT_MODELUTIL_H
