//===- HostEmitter.h - The host target: memory-planned IR -> C++ -*- C++ -*-===//
//
// Turns a module that went through unroll, autodiff, optimizer and plan-memory into one C++
// file: a straight-line call of a host kernel (runtime/host/Kernels.h) per op, every shape and
// arena offset a constant, plus the ModelDesc that libingot_rt's training loop reads.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_COMPILER_TARGET_HOST_HOSTEMITTER_H
#define INGOT_COMPILER_TARGET_HOST_HOSTEMITTER_H

#include "compiler/Target/EmitCommon.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/raw_ostream.h"

#include <string>

namespace ingot {

using HostEmitOptions = TargetEmitOptions;

/// Writes the program; errors (an op the host target cannot run) are emitted at the op.
mlir::LogicalResult emitHostProgram(mlir::ModuleOp module, const HostEmitOptions &options,
                                    llvm::raw_ostream &os);

} // namespace ingot

#endif // INGOT_COMPILER_TARGET_HOST_HOSTEMITTER_H
