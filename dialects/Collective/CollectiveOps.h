//===- CollectiveOps.h - Ops and types of the collective dialect -*- C++ -*-===//
#ifndef INGOT_DIALECTS_COLLECTIVE_COLLECTIVEOPS_H
#define INGOT_DIALECTS_COLLECTIVE_COLLECTIVEOPS_H

#include "dialects/Collective/CollectiveDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"

#define GET_TYPEDEF_CLASSES
#include "dialects/Collective/CollectiveOpsTypes.h.inc"

#define GET_OP_CLASSES
#include "dialects/Collective/CollectiveOps.h.inc"

#endif // INGOT_DIALECTS_COLLECTIVE_COLLECTIVEOPS_H
