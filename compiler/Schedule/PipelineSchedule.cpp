//===- PipelineSchedule.cpp - pipeline-schedule ---------------------------===//
//
// Writes the per-stage programs of Schedule.cpp into the plan as IR, with the transfers made
// explicit, then runs the simulator on the IR itself: the programs that reach the emitters are
// the ones that were checked to finish.
//
//===----------------------------------------------------------------------===//
#include "compiler/Schedule/PipelineCommon.h"
#include "compiler/Schedule/PipelinePasses.h"

#include "llvm/Support/FormatVariadic.h"

namespace ingot {
#define GEN_PASS_DEF_PIPELINESCHEDULE
#define GEN_PASS_DEF_PIPELINESIMULATE
#include "compiler/Schedule/PipelinePasses.h.inc"
} // namespace ingot

using namespace mlir;
using namespace ingot;
using namespace ingot::pipeline;

namespace {

struct SchedulePass : public ingot::impl::PipelineScheduleBase<SchedulePass> {
  using PipelineScheduleBase::PipelineScheduleBase;
  void runOnOperation() override;
};

struct SimulatePass : public ingot::impl::PipelineSimulateBase<SimulatePass> {
  using PipelineSimulateBase::PipelineSimulateBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    PlanOp plan = findPlan(module);
    if (!plan) {
      module.emitError("pipeline-simulate needs a pipeline.plan");
      return signalPassFailure();
    }
    if (blocking) {
      std::string deadlock = checkBlockingOrder(plan);
      if (!deadlock.empty()) {
        plan.emitError() << deadlock;
        return signalPassFailure();
      }
      plan.emitRemark() << "the collectives finish as blocking operations";
      return;
    }
    std::vector<std::vector<sched::Step>> programs;
    std::string error;
    std::optional<sched::PlanSummary> summary = summarizePlan(module, plan, programs, error);
    std::optional<sched::Timeline> timeline;
    if (summary)
      timeline = sched::simulate(summary->layout, programs, summary->costs, error);
    if (!timeline) {
      plan.emitError() << error;
      return signalPassFailure();
    }
    plan.emitRemark() << llvm::formatv("predicted step {0:f4} ms, bubble {1:f1}% of the step",
                                       timeline->stepTime * 1e3,
                                       timeline->bubbleFraction() * 100);
  }
};

} // namespace

void SchedulePass::runOnOperation() {
  ModuleOp module = getOperation();
  PlanOp plan = findPlan(module);
  if (!plan) {
    module.emitError("pipeline-schedule needs a pipeline.plan (run pipeline-partition first)");
    return signalPassFailure();
  }
  if (!plan.getProgramOps().empty()) {
    plan.emitError("the plan is already scheduled");
    return signalPassFailure();
  }
  FailureOr<ParallelLayout> parallel = readParallelLayout(module);
  if (failed(parallel))
    return signalPassFailure();
  std::string name = scheduleName.empty() ? parallel->schedule : scheduleName;
  std::optional<sched::Kind> kind = sched::parseKind(name);
  if (!kind) {
    plan.emitError() << "unknown schedule \"" << name
                     << "\"; the schedules are gpipe, 1f1b, interleaved and zb-h1";
    return signalPassFailure();
  }
  sched::Layout layout{*kind, plan.getStages(), plan.getChunks(), plan.getMicrobatches()};
  std::string problem = sched::checkLayout(layout);
  if (!problem.empty()) {
    plan.emitError() << problem;
    return signalPassFailure();
  }

  const int64_t p = layout.stages, chunks = layout.numChunks();
  auto stageOf = [&](int64_t c) { return c % p; };
  OpBuilder b(module.getContext());
  b.setInsertionPointToEnd(&plan.getBody().front());
  Location loc = plan.getLoc();
  std::vector<std::vector<sched::Step>> programs = sched::buildPrograms(layout);
  for (int64_t s = 0; s < p; ++s) {
    auto program = ProgramOp::create(b, loc, s);
    OpBuilder pb = OpBuilder::atBlockEnd(&program.getBody().front());
    for (const sched::Step &st : programs[s]) {
      int64_t k = st.microbatch, c = st.chunk;
      switch (st.kind) {
      case sched::StepKind::Forward:
        if (c > 0 && stageOf(c - 1) != s)
          RecvActivationOp::create(pb, loc, k, c - 1, stageOf(c - 1));
        ForwardOp::create(pb, loc, k, c);
        if (c + 1 < chunks && stageOf(c + 1) != s)
          SendActivationOp::create(pb, loc, k, c, stageOf(c + 1));
        break;
      case sched::StepKind::Backward:
      case sched::StepKind::BackwardInput:
        if (c + 1 < chunks && stageOf(c + 1) != s)
          RecvGradOp::create(pb, loc, k, c + 1, stageOf(c + 1));
        if (st.kind == sched::StepKind::Backward)
          BackwardOp::create(pb, loc, k, c);
        else
          BackwardInputOp::create(pb, loc, k, c);
        if (c > 0 && stageOf(c - 1) != s)
          SendGradOp::create(pb, loc, k, c, stageOf(c - 1));
        break;
      case sched::StepKind::BackwardWeight:
        BackwardWeightOp::create(pb, loc, k, c);
        break;
      }
    }
  }
  plan.setSchedule(sched::kindName(*kind));

  // The programs as written must finish.
  std::vector<std::vector<sched::Step>> written;
  std::string error;
  std::optional<sched::PlanSummary> summary = summarizePlan(module, plan, written, error);
  if (!summary) {
    plan.emitError() << error;
    return signalPassFailure();
  }
  if (!sched::simulate(summary->layout, written, summary->costs, error)) {
    plan.emitError() << error;
    return signalPassFailure();
  }
}
