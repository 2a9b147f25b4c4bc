//===- PipelinePasses.h - Pipeline and collective passes --------*- C++ -*-===//
#ifndef INGOT_COMPILER_SCHEDULE_PIPELINEPASSES_H
#define INGOT_COMPILER_SCHEDULE_PIPELINEPASSES_H

#include "compiler/Schedule/Report.h"
#include "dialects/Collective/CollectiveOps.h"
#include "dialects/Pipeline/PipelineOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace ingot {

#define GEN_PASS_DECL
#include "compiler/Schedule/PipelinePasses.h.inc"

#define GEN_PASS_REGISTRATION
#include "compiler/Schedule/PipelinePasses.h.inc"

/// The module's `pipeline.plan`, or null.
pipeline::PlanOp findPlan(mlir::ModuleOp module);

/// The layout, chunk costs and programs of a scheduled plan, as the simulator takes them, and
/// the table's labels and per-stage static memory. `data` and `devicesPerNode` come from the
/// module's ingot.parallel and ingot.device. Errors name what is missing.
std::optional<sched::PlanSummary> summarizePlan(mlir::ModuleOp module, pipeline::PlanOp plan,
                                                std::vector<std::vector<sched::Step>> &programs,
                                                std::string &error);

/// Runs the collectives of a plan after collective-insert as blocking operations (each start is
/// the whole operation; a send waits for its receive; a collective over stages for all of
/// them). Returns "" when every program finishes, else the deadlock: where each stage waits.
std::string checkBlockingOrder(pipeline::PlanOp plan);

} // namespace ingot

#endif // INGOT_COMPILER_SCHEDULE_PIPELINEPASSES_H
