//===- Schedule.h - Static pipeline schedules and their simulation -*- C++ -*-===//
//
// The target-independent core of pipeline-schedule and --emit=schedule: the per-stage order of
// compute steps for each schedule (GPipe, 1F1B, interleaved 1F1B, ZB-H1), and an event
// simulation of those orders on predicted step and transfer times. It knows stages, chunks and
// micro-batches only, never ranks: every data-parallel replica of a stage runs the same program.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_COMPILER_SCHEDULE_SCHEDULE_H
#define INGOT_COMPILER_SCHEDULE_SCHEDULE_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ingot::sched {

enum class Kind { GPipe, OneFOneB, Interleaved, ZeroBubbleH1 };

/// "gpipe", "1f1b", "interleaved", "zb-h1" (the names of the parallel section and the map).
std::optional<Kind> parseKind(llvm::StringRef name);
const char *kindName(Kind kind);

enum class StepKind : uint8_t {
  Forward,        // F
  Backward,       // B and W together
  BackwardInput,  // B
  BackwardWeight, // W
  GradReduce,     // the data-parallel all-reduce of a chunk's gradients (on the comm stream)
  Optimizer,      // the AdamW update of the stage's parameters
};
/// "forward", "backward", "backward_input", "backward_weight", "gradient_all_reduce",
/// "optimizer": in messages and as the Chrome trace category.
const char *stepKindName(StepKind kind);

/// One compute step of a stage program; `chunk` is the global chunk index (its stage is
/// chunk mod stages).
struct Step {
  StepKind kind;
  int32_t microbatch;
  int32_t chunk;
};

struct Layout {
  Kind kind = Kind::OneFOneB;
  int64_t stages = 1;
  int64_t chunksPerStage = 1; // v; > 1 only for the interleaved schedule
  int64_t microbatches = 1;
  int64_t numChunks() const { return stages * chunksPerStage; }
};

/// "" when the schedule can run the layout, else why not (micro-batch counts the schedule
/// needs, chunks for a schedule that has none).
std::string checkLayout(const Layout &layout);

/// The compute steps of every stage in the order the stage runs them. Transfers are implied:
/// after F of chunk c its output goes to chunk c + 1's stage, after B of chunk c the gradient
/// goes to chunk c - 1's stage. Call checkLayout first.
std::vector<std::vector<Step>> buildPrograms(const Layout &layout);

/// Predicted seconds of one micro-batch's steps on one chunk, and of sending its output to the
/// next chunk (the gradient coming back takes as long).
struct ChunkCost {
  double forward = 0, backwardInput = 0, backwardWeight = 0, transfer = 0;
  double activationBytes = 0; // kept from F until its backward is complete
  double gradReduce = 0;      // all-reduce of the chunk's gradients over the replicas
  double optimizer = 0;       // AdamW on the chunk's parameters
};

struct Event {
  int32_t stage;
  Step step;
  double start, end;
};

struct Timeline {
  std::vector<std::vector<Event>> stages; // compute events of each stage, in program order
  std::vector<std::vector<Event>> comms;  // gradient all-reduces of each stage, in start order
  double stepTime = 0;                    // first start to last end over all stages
  std::vector<double> busy;               // compute seconds of each stage
  std::vector<double> peakActivationBytes; // per stage, from the in-flight micro-batches
  std::vector<int64_t> peakInFlight;      // micro-batch-chunks whose backward is not complete
  /// Idle share of the step, averaged over stages: 1 - mean(busy) / stepTime.
  double bubbleFraction() const;
};

/// Runs `programs` (one per stage) on `costs` (one per chunk). Each step starts when its stage
/// is free and its inputs are there: F after the previous chunk's F plus the transfer, B after
/// the next chunk's B plus the transfer (or the same chunk's F on the last chunk), W after
/// the same chunk's B. A chunk's gradient all-reduce starts on the stage's communication stream
/// once its last backward step is done; the optimizer runs when the compute and the
/// all-reduces are done. Returns the timeline, or an error naming the steps that can never run
/// (a deadlock: every stage waits for another).
std::optional<Timeline> simulate(const Layout &layout,
                                 const std::vector<std::vector<Step>> &programs,
                                 const std::vector<ChunkCost> &costs, std::string &error);

/// The bubble seconds per step that ../BENCHMARKS.md gives for uniform stages, with F, B, W the
/// times of one micro-batch on a whole stage (all of its chunks).
double formulaBubble(const Layout &layout, double forward, double backwardInput,
                     double backwardWeight);

} // namespace ingot::sched

#endif // INGOT_COMPILER_SCHEDULE_SCHEDULE_H
