//===- CollectiveDialect.cpp - The collective dialect ---------------------===//
#include "dialects/Collective/CollectiveDialect.h"
#include "dialects/Collective/CollectiveOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace ingot::collective;

#include "dialects/Collective/CollectiveOpsDialect.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "dialects/Collective/CollectiveOpsTypes.cpp.inc"

void CollectiveDialect::initialize() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "dialects/Collective/CollectiveOpsTypes.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialects/Collective/CollectiveOps.cpp.inc"
      >();
}
