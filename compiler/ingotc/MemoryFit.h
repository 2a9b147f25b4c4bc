//===- MemoryFit.h - Does a stage's memory plan fit its device? -*- C++ -*-===//
#ifndef INGOT_COMPILER_INGOTC_MEMORYFIT_H
#define INGOT_COMPILER_INGOTC_MEMORYFIT_H

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <string>

namespace ingot {

/// "" when the planned module's arena fits in `deviceBytes`; otherwise a message with the
/// arena size, the device's memory, and the largest buffers (parameters with their gradients
/// and moments, and the largest activations with their source locations).
std::string checkMemoryFit(mlir::ModuleOp module, uint64_t deviceBytes,
                           llvm::StringRef deviceName);

} // namespace ingot

#endif
