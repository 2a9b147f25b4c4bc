//===- Driver.h - ingotc's pipeline stages: --emit=pipeline and --emit=schedule -*- C++ -*-===//
#ifndef INGOT_COMPILER_SCHEDULE_DRIVER_H
#define INGOT_COMPILER_SCHEDULE_DRIVER_H

#include "compiler/ClusterMap/ClusterMap.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/raw_ostream.h"

namespace ingot {

/// `ingot.device` for the pipeline passes: the map's device (model, memory, peak rates), its
/// link bandwidths and its shape (nodes, devices per node).
mlir::DictionaryAttr deviceAttr(mlir::MLIRContext *context, const ClusterMap &map);

/// Records the map's device on the training-step module and runs pipeline-partition,
/// pipeline-schedule and collective-insert. Errors are reported through the context.
mlir::LogicalResult planPipeline(mlir::ModuleOp module, const ClusterMap &map);

/// Simulates the planned module's schedule and writes its Chrome trace to `trace` (one track per
/// stage, or per rank of `ranks`) and its table to `table`. Returns an error message, or "".
std::string writeSchedule(mlir::ModuleOp module, llvm::ArrayRef<int64_t> ranks,
                          llvm::raw_ostream &trace, llvm::raw_ostream &table);

} // namespace ingot

#endif // INGOT_COMPILER_SCHEDULE_DRIVER_H
