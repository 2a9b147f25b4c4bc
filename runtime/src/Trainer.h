//===- Trainer.h - The training loop -----------------------------*- C++ -*-===//
//
// runTrainer() is the whole executable: main() in Main.cpp only passes ingot_model() to it.
// It returns the exit status (0 done, 1 bad input or I/O, 2 bad flags, 3 non-finite loss) and
// never calls exit(), so tests drive it in-process with hand-written models.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_TRAINER_H
#define INGOT_RT_TRAINER_H

#include "Flags.h"
#include "ingot/rt/Model.h"

#include <cstdint>

namespace ingot::rt {

/// Parses the flags, then trains (or prints --help / --describe). Errors go to stderr as
/// "error: ..." and become the returned exit status.
int runTrainer(const ModelDesc &model, int argc, char **argv);

/// The learning rate of 1-based `step` out of `steps`: linear warmup from 0 over `warmup` steps
/// (step s <= warmup gets lr * s / warmup), then constant, or cosine or linear decay reaching
/// lr * lrFinal at the last step.
double learningRate(const Options &options, int64_t step, int64_t steps);

} // namespace ingot::rt

#endif // INGOT_RT_TRAINER_H
