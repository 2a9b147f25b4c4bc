//===- PipelineOps.h - Ops of the pipeline dialect --------------*- C++ -*-===//
#ifndef INGOT_DIALECTS_PIPELINE_PIPELINEOPS_H
#define INGOT_DIALECTS_PIPELINE_PIPELINEOPS_H

#include "dialects/Pipeline/PipelineDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace ingot::pipeline {
class ChunkOp;
class ProgramOp;
} // namespace ingot::pipeline

#define GET_OP_CLASSES
#include "dialects/Pipeline/PipelineOps.h.inc"

#endif // INGOT_DIALECTS_PIPELINE_PIPELINEOPS_H
