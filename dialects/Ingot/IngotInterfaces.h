//===- IngotInterfaces.h - Op interfaces of the Ingot dialect ---*- C++ -*-===//
//
// ingot::IngotVjpOpInterface (reverse-mode differentiation of one op) and
// ingot::IngotCostOpInterface (FLOPs and bytes moved).
//
//===----------------------------------------------------------------------===//

#ifndef INGOT_DIALECTS_INGOT_INGOTINTERFACES_H
#define INGOT_DIALECTS_INGOT_INGOTINTERFACES_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpDefinition.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>

#include "dialects/Ingot/IngotInterfaces.h.inc"

#endif // INGOT_DIALECTS_INGOT_INGOTINTERFACES_H
