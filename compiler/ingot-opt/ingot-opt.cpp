//===- ingot-opt.cpp - Run Ingot's passes on IR, one at a time ------------===//
//
// Every project dialect and pass is registered here, so each stage of the compiler can be fed IR
// on its own: `ingot-opt model.mlir --some-pass | FileCheck`.
//
//===----------------------------------------------------------------------===//
#include "compiler/Schedule/PipelinePasses.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Collective/CollectiveDialect.h"
#include "dialects/Ingot/IngotDialect.h"
#include "dialects/Pipeline/PipelineDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  ingot::registerIngotPasses();
  ingot::registerIngotPipelinePasses();
  mlir::DialectRegistry registry;
  registry.insert<ingot::IngotDialect, ingot::pipeline::PipelineDialect,
                  ingot::collective::CollectiveDialect, mlir::func::FuncDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Ingot optimizer driver\n", registry));
}
