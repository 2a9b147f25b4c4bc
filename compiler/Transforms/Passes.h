//===- Passes.h - Ingot's passes --------------------------------*- C++ -*-===//
#ifndef INGOT_COMPILER_TRANSFORMS_PASSES_H
#define INGOT_COMPILER_TRANSFORMS_PASSES_H

#include "dialects/Ingot/IngotOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace ingot {

#define GEN_PASS_DECL
#include "compiler/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "compiler/Transforms/Passes.h.inc"

/// Bytes of one element of `type` in the arena: `floatBytes` for floats when nonzero.
int64_t elementBytes(mlir::Type type, int64_t floatBytes);

/// True when ingot-assign-storage placed `v` in the arena as bf16.
bool storedAsBf16(mlir::Value v);

/// Arena alignment of every tensor.
constexpr int64_t kArenaAlignment = 256;

} // namespace ingot

#endif // INGOT_COMPILER_TRANSFORMS_PASSES_H
