//===- PipelineCommon.h - What the pipeline passes read from a module -*- C++ -*-===//
#ifndef INGOT_COMPILER_SCHEDULE_PIPELINECOMMON_H
#define INGOT_COMPILER_SCHEDULE_PIPELINECOMMON_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"

#include <cstdint>
#include <string>

namespace ingot {

/// A parameter's memory on its stage: the parameter, its gradient and two AdamW moments.
constexpr double kStaticCopies = 4;

/// The module's `ingot.parallel` (the model's parallel section after the map's overrides).
struct ParallelLayout {
  int64_t stages = 1, data = 1, microbatches = 1, chunks = 1;
  std::string schedule = "1f1b";
};

/// Reads `ingot.parallel`; missing entries keep the defaults above. Errors on the module.
mlir::FailureOr<ParallelLayout> readParallelLayout(mlir::ModuleOp module);

/// The module's `ingot.device`: one rank's device and the links between ranks, from the
/// cluster map. Rates a map leaves out (a cpu map need not give any) get nominal values, so
/// that a plan can still be made; its times are then only relative.
struct DeviceInfo {
  std::string model = "device";
  uint64_t memoryBytes = 0;
  double peakFlops = 1e11, hbmBytesPerSecond = 2e10;
  double intraNodeBytesPerSecond = 1e10, interNodeBytesPerSecond = 1e10;
  int64_t devicesPerNode = 1, nodes = 1;

  /// The link between replica 0 of stage `from` and of stage `to` (rank = stage * data +
  /// replica): NVLink-class inside a node, the NIC between nodes.
  double linkBytesPerSecond(int64_t from, int64_t to, int64_t data) const {
    return (from * data) / devicesPerNode == (to * data) / devicesPerNode
               ? intraNodeBytesPerSecond
               : interNodeBytesPerSecond;
  }
};

/// Reads `ingot.device`. Errors on the module when it is missing or malformed.
mlir::FailureOr<DeviceInfo> readDevice(mlir::ModuleOp module);

} // namespace ingot

#endif // INGOT_COMPILER_SCHEDULE_PIPELINECOMMON_H
