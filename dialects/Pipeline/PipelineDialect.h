//===- PipelineDialect.h - The pipeline dialect -----------------*- C++ -*-===//
#ifndef INGOT_DIALECTS_PIPELINE_PIPELINEDIALECT_H
#define INGOT_DIALECTS_PIPELINE_PIPELINEDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialects/Pipeline/PipelineOpsDialect.h.inc"

#endif // INGOT_DIALECTS_PIPELINE_PIPELINEDIALECT_H
