//===- Flags.h - The trainer's command line ----------------------*- C++ -*-===//
//
// Everything a run may change without recompiling (DESIGN.md, "What is fixed when"). Optimizer
// hyperparameters default to the model's train section (ModelDesc::defaults).
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_FLAGS_H
#define INGOT_RT_FLAGS_H

#include "ingot/rt/Model.h"

#include <cstdint>
#include <string>

namespace ingot::rt {

enum class LrSchedule { constant, cosine, linear };
const char *lrScheduleName(LrSchedule s);

/// --on-nonfinite: what a step whose loss or gradient is NaN/Inf does.
enum class OnNonFinite { stop, skip };

/// --end-of-data: what the run does once every training batch has been read (one epoch).
enum class EndOfData { wrap, stop };

struct Options {
  bool help = false;
  bool describe = false;

  std::string data;         // --data: glob of training shards
  std::string val;          // --val: glob of validation shards ("" = none)
  int64_t steps = -1;       // --steps: optimizer steps in total (-1 = not given)

  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weightDecay = 0, clip = 0;
  LrSchedule lrSchedule = LrSchedule::constant;
  int64_t warmup = 0;
  double lrFinal = 0;       // the decayed lr at the last step, as a fraction of lr

  uint64_t seed = 1234;
  std::string ckptDir;      // "" = no checkpoints
  int64_t ckptEvery = 0;    // 0 = only at the end
  int64_t ckptKeep = 0;     // 0 = keep all
  bool saveInitial = false; // --save-initial: also checkpoint step 0 (the initialized weights)
  std::string resume;       // "" | a checkpoint directory | "latest"
  std::string logPath;      // JSONL, one object per step
  int64_t evalEvery = 0;    // 0 = only at the last step (when --val is given)
  int64_t evalBatches = 10;
  int threads = 0;          // 0 = OpenMP's default
  int64_t gradcheck = 0;    // > 0: check the gradient along this many directions, then exit
  OnNonFinite onNonFinite = OnNonFinite::stop; // stop: exit 3; skip: drop the update, continue
  // Multi-rank runs (Comm.h): the deadline of every send, receive and collective, and the
  // cuda target's TCP rendezvous when no MPI launcher started the job.
  double collectiveTimeout = 300; // --collective-timeout SECONDS
  std::string masterAddr;   // --master-addr HOST ("" = MASTER_ADDR)
  int masterPort = 0;       // --master-port PORT (0 = MASTER_PORT)
  // The training data's order and end (DataLoader.h). A resumed run continues its checkpoint's
  // order, so it records which of these were given, to refuse a contradicting one.
  bool shuffle = false;     // --shuffle on|off (off: llm.c's order, see docs/runtime.md)
  EndOfData endOfData = EndOfData::wrap; // wrap: next epoch, reshuffled; stop: end the run
  bool shuffleGiven = false, seedGiven = false;
};

/// Parses argv[1..argc) over the model's defaults. Throws UsageError ("--steps: expected a
/// non-negative integer, found '1x'") on anything malformed or missing. --help and --describe
/// are returned as flags and need nothing else.
Options parseFlags(const ModelDesc &model, int argc, char **argv);

/// The --help text.
std::string usageText(const ModelDesc &model, const char *argv0);

} // namespace ingot::rt

#endif // INGOT_RT_FLAGS_H
