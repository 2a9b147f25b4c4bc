//===- MLIRGen.h - From the checked AST to the ingot dialect ----*- C++ -*-===//
//
// Emits one builtin.module holding the model's parameters (ingot.param), its repeated blocks
// (ingot.block with a func.func @body) and func.func @forward, every op located at the .ingot
// source that produced it. The train and parallel sections become module attributes
// (ingot.train, ingot.parallel) for the passes that build the training step.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LANG_MLIRGEN_H
#define INGOT_LANG_MLIRGEN_H

#include "lang/Sema.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace ingot::lang {

/// Requires a module that `analyze` accepted. Returns null if the result fails to verify
/// (which is a compiler bug: the errors name the source location).
mlir::OwningOpRef<mlir::ModuleOp> mlirGen(const Module &module, const ModelInfo &info,
                                          Diagnostics &diags);

/// Registers the dialects MLIRGen emits (ingot, func) in `context`.
void registerFrontendDialects(mlir::MLIRContext &context);

} // namespace ingot::lang

#endif // INGOT_LANG_MLIRGEN_H
