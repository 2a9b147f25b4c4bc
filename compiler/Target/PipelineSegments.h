//===- PipelineSegments.h - @forward_backward cut for pipeline stages -*- C++ -*-===//
//
// Pipeline stages (P > 1) on either target. The module's `ingot.stage_programs` (one program
// per stage of (chunk, micro-batch, phase) triples, from pipeline-schedule) say what each stage
// runs; this cuts the memory-planned @forward_backward into *segments*, one per chunk and phase
// (its forward; its backward, input and weight gradients together; or under ZB-H1 its
// input-gradient ops (B) and its weight-gradient ops (W, `ingot.grad = "weight"`, which ingotc
// has ordered after the chunk's B ops)), each keeping the one-rank program order and arena
// offsets; finds the *transfers* (each value a segment reads from a segment of another stage,
// and the part of a parameter's gradient that two stages add to); and lists each stage's
// order of (segment, micro-batch) steps. Both emitters write the segments as functions of their
// own kernel calls and the tables below as Model.h's PipelineDesc; the runtime
// (runtime/src/Pipeline.cpp) runs a stage's steps and moves the transfers.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_COMPILER_TARGET_PIPELINESEGMENTS_H
#define INGOT_COMPILER_TARGET_PIPELINESEGMENTS_H

#include "compiler/Target/EmitCommon.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <string>
#include <vector>

namespace ingot {
namespace codegen {

class KernelCallEmitter;

class PipelineSegments {
public:
  struct Segment {
    int64_t chunk, stage;
    /// 0: forward; 1: backward; 2: input-gradient backward (B); 3: weight-gradient backward (W).
    int64_t phase;
    llvm::SmallVector<mlir::Operation *> ops;
    /// What its function emits: its ops, the parameter views and constants it makes again
    /// (no data moves for those), and in the last chunk's forward the loss copy.
    llvm::DenseSet<mlir::Operation *> emit;
    std::string name; // "chunk0_forward"
  };
  struct Transfer {
    int64_t from, to;     // segment indices; their stages differ
    int64_t offset, bytes; // in the arena, as the target's plan stores the value
    bool tiedGradient;    // the `from` segment's part of a parameter's gradient
    std::string what;
  };
  struct Step {
    int64_t segment, microbatch;
  };

  /// Cuts `plan`'s @forward_backward by the stage programs of `module`. Fails, with an error at
  /// the op or function naming `target`, where the stages cannot run the one-rank program as
  /// it is (a value used before it is received, a gradient shared by more than two stages, a
  /// step of a stage with no ops there).
  mlir::LogicalResult build(mlir::ModuleOp module, const ArenaPlan &plan, llvm::StringRef target);

  /// The segment that runs `op` of @forward_backward, or -1 for an op of no segment (the
  /// terminator). Parameter views and constants answer the segment they are defined in.
  int64_t segmentOf(mlir::Operation *op) const { return segmentOfOp.lookup_or(op, -1); }
  /// The stage that runs `op`, or -1.
  int64_t stageOf(mlir::Operation *op) const {
    int64_t s = segmentOf(op);
    return s < 0 ? -1 : segments[size_t(s)].stage;
  }

  /// Each segment as `void NAME(char *A)` with the calls of its ops in the one-rank order;
  /// `prologue` writes the first lines of a segment's body. `calls` must have begun
  /// @forward_backward (KernelCallEmitter::beginFunction).
  mlir::LogicalResult
  emitFunctions(KernelCallEmitter &calls, llvm::raw_ostream &os,
                llvm::function_ref<void(const Segment &)> prologue = nullptr) const;
  /// kSegments, kTransfers, kProgramBegin, kSteps and kPipeline. The activation region is the
  /// plan's (after the persistent bytes); `statsOffset`/`statsBytes` what the target keeps
  /// beside the plan from a forward to its backward (0 bytes when nothing); `deviceHooks` the
  /// PipelineDesc's device fields (spelled out, with a trailing comma: "nullptr, ..." on the
  /// host).
  void emitTables(llvm::raw_ostream &os, int64_t statsOffset, int64_t statsBytes,
                  llvm::StringRef deviceHooks) const;

  std::vector<Segment> segments;
  std::vector<Transfer> transfers;
  std::vector<Step> steps;
  /// Stage s runs steps[programBegin[s] .. programBegin[s + 1]).
  llvm::SmallVector<int64_t> programBegin;

private:
  llvm::DenseMap<mlir::Operation *, int64_t> segmentOfOp;
  std::string schedule;
  int64_t persistentBytes = 0, arenaBytes = 0;
  mlir::Block *body = nullptr; // @forward_backward's
};

} // namespace codegen
} // namespace ingot

#endif // INGOT_COMPILER_TARGET_PIPELINESEGMENTS_H
