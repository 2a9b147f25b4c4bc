//===- IngotTrainingOps.cpp - Ops of the training step --------------------===//
//
// Verifiers of the ops that ingot-autodiff and ingot-optimizer add: each names parameters by
// symbol, and every name must resolve to an ingot.param of the right type.
//
//===----------------------------------------------------------------------===//
#include "dialects/Ingot/IngotOps.h"

using namespace mlir;
using namespace ingot;

/// The ingot.param that `name` resolves to from `op`, or an error on `op`.
static FailureOr<ParamOp> lookupParam(Operation *op, SymbolTableCollection &symbolTable,
                                      SymbolRefAttr name) {
  auto param = symbolTable.lookupNearestSymbolFrom<ParamOp>(op, name);
  if (!param)
    return op->emitOpError() << name << " does not name an ingot.param";
  return param;
}

LogicalResult ParamGradOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto param = lookupParam(*this, symbolTable, getNameAttr());
  if (failed(param))
    return failure();
  if (param->getType() != getGrad().getType())
    return emitOpError() << "gradient type " << getGrad().getType()
                         << " differs from the type " << param->getType() << " of param "
                         << getNameAttr();
  return success();
}

LogicalResult GlobalGradNormOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  for (Attribute name : getParams())
    if (failed(lookupParam(*this, symbolTable, llvm::cast<SymbolRefAttr>(name))))
      return failure();
  return success();
}

LogicalResult AdamWOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  return lookupParam(*this, symbolTable, getNameAttr());
}
