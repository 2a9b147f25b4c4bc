//===- PipelineDialect.cpp - The pipeline dialect -------------------------===//
#include "dialects/Pipeline/PipelineDialect.h"
#include "dialects/Pipeline/PipelineOps.h"

using namespace mlir;
using namespace ingot::pipeline;

#include "dialects/Pipeline/PipelineOpsDialect.cpp.inc"

void PipelineDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/Pipeline/PipelineOps.cpp.inc"
      >();
}
