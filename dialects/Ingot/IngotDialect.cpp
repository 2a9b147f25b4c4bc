//===- IngotDialect.cpp - The tensor-level Ingot dialect ------------------===//

#include "dialects/Ingot/IngotDialect.h"
#include "dialects/Ingot/IngotOps.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace ingot;

#include "dialects/Ingot/IngotOpsDialect.cpp.inc"

void IngotDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/Ingot/IngotOps.cpp.inc"
      >();
  attachVjpModels(*getContext());
  attachCostModels(*getContext());
}

Operation *IngotDialect::materializeConstant(OpBuilder &builder,
                                             Attribute value, Type type,
                                             Location loc) {
  auto elements = llvm::dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, type, elements);
}
