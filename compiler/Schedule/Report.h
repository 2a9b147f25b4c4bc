//===- Report.h - The schedule as a table and a Chrome trace ----*- C++ -*-===//
//
// What `ingotc --emit=schedule` prints: a text table of the partition (each stage's chunks,
// layers, predicted step times and memory) with the step time and bubble the simulation
// predicts, and the timeline as Chrome trace event JSON (chrome://tracing, ui.perfetto.dev).
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_COMPILER_SCHEDULE_REPORT_H
#define INGOT_COMPILER_SCHEDULE_REPORT_H

#include "compiler/Schedule/Schedule.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/raw_ostream.h"

namespace ingot::sched {

/// The plan beside its timeline: what the table and trace name.
struct PlanSummary {
  Layout layout;
  int64_t data = 1;           // data-parallel replicas of every stage
  int64_t devicesPerNode = 1; // to name each rank's node and device
  std::string deviceName;
  double deviceMemoryBytes = 0;
  std::vector<ChunkCost> costs;            // per chunk
  std::vector<std::string> chunkLabels;    // per chunk, e.g. "layers 0-5 + embedding"
  std::vector<double> stageStaticBytes;    // per stage: parameters, gradients, moments
  std::vector<double> stageWorkspaceBytes; // per stage: the largest transient buffer
};

/// "1.50 GiB", "12.25 MiB", "3.00 KiB" or "512 bytes".
std::string formatBytes(double bytes);

/// The predicted memory of stage `s`: static bytes, the activations the schedule keeps in
/// flight at its peak, and the workspace.
double stageMemoryBytes(const PlanSummary &plan, const Timeline &timeline, int64_t s);

/// The text table: one row per stage, then the step time, bubble and the formula's bubble.
void writeTable(const PlanSummary &plan, const Timeline &timeline, llvm::raw_ostream &os);

/// Chrome trace event JSON: one track (thread) per stage, or, when `ranks` is not empty, one
/// per listed rank (rank = stage * data + replica), each showing its stage's timeline.
/// Times are in microseconds.
void writeChromeTrace(const PlanSummary &plan, const Timeline &timeline,
                      llvm::ArrayRef<int64_t> ranks, llvm::raw_ostream &os);

} // namespace ingot::sched

#endif // INGOT_COMPILER_SCHEDULE_REPORT_H
