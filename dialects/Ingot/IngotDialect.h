//===- IngotDialect.h - The tensor-level Ingot dialect ----------*- C++ -*-===//

#ifndef INGOT_DIALECTS_INGOT_INGOTDIALECT_H
#define INGOT_DIALECTS_INGOT_INGOTDIALECT_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Dialect.h"

#include "dialects/Ingot/IngotOpsDialect.h.inc"

#endif // INGOT_DIALECTS_INGOT_INGOTDIALECT_H
