//===- IngotOps.h - Ops of the Ingot dialect --------------------*- C++ -*-===//

#ifndef INGOT_DIALECTS_INGOT_INGOTOPS_H
#define INGOT_DIALECTS_INGOT_INGOTOPS_H

#include "dialects/Ingot/IngotDialect.h"
#include "dialects/Ingot/IngotInterfaces.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <optional>

namespace ingot {

/// The numpy broadcast of two shapes: aligned from the last dimension, equal
/// dimensions stay, a dimension of 1 stretches to the other, missing leading
/// dimensions count as 1. std::nullopt when the shapes do not broadcast.
std::optional<llvm::SmallVector<int64_t>>
broadcastShapes(llvm::ArrayRef<int64_t> lhs, llvm::ArrayRef<int64_t> rhs);

namespace OpTrait {
/// A binary op (`lhs`, `rhs`, one result) whose result shape is the numpy
/// broadcast of its operand shapes, with all element types equal.
template <typename ConcreteType>
class BroadcastingElementwise
    : public mlir::OpTrait::TraitBase<ConcreteType, BroadcastingElementwise> {
public:
  static mlir::LogicalResult verifyTrait(mlir::Operation *op);
};

mlir::LogicalResult verifyBroadcastingElementwise(mlir::Operation *op);

template <typename ConcreteType>
mlir::LogicalResult
BroadcastingElementwise<ConcreteType>::verifyTrait(mlir::Operation *op) {
  return verifyBroadcastingElementwise(op);
}
} // namespace OpTrait

} // namespace ingot

#define GET_OP_CLASSES
#include "dialects/Ingot/IngotOps.h.inc"

namespace ingot {
/// Attaches the reverse-mode rules (IngotVjp.cpp) to the ops; the dialect does it on load.
void attachVjpModels(mlir::MLIRContext &context);
/// Attaches the cost model (IngotCost.cpp) to every op; the dialect does it on load.
void attachCostModels(mlir::MLIRContext &context);
} // namespace ingot

#endif // INGOT_DIALECTS_INGOT_INGOTOPS_H
