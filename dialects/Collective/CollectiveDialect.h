//===- CollectiveDialect.h - The collective dialect -------------*- C++ -*-===//
#ifndef INGOT_DIALECTS_COLLECTIVE_COLLECTIVEDIALECT_H
#define INGOT_DIALECTS_COLLECTIVE_COLLECTIVEDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialects/Collective/CollectiveOpsDialect.h.inc"

#endif // INGOT_DIALECTS_COLLECTIVE_COLLECTIVEDIALECT_H
