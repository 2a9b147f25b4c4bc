//===- LangFuzzer.cpp - libFuzzer target for the Ingot front end ----------===//
//
// Feeds arbitrary bytes through the whole front end (lex, parse, check, MLIRGen and verify) and
// requires that it never crashes, hangs or trips AddressSanitizer; errors are the expected
// outcome for most inputs, and are swallowed.
//
//===----------------------------------------------------------------------===//
#include "lang/MLIRGen.h"
#include "lang/Parser.h"
#include "lang/Sema.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::MLIRContext *context = [] {
    auto *ctx = new mlir::MLIRContext(mlir::MLIRContext::Threading::DISABLED);
    ingot::lang::registerFrontendDialects(*ctx);
    return ctx;
  }();
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(
          llvm::StringRef(reinterpret_cast<const char *>(data), size), "fuzz.ingot"),
      llvm::SMLoc());
  // Swallow diagnostics, but still format each one (the printing path must not crash either).
  mlir::ScopedDiagnosticHandler handler(context, [](mlir::Diagnostic &diag) {
    std::string text;
    llvm::raw_string_ostream os(text);
    diag.print(os);
    return mlir::success();
  });
  ingot::lang::Diagnostics diags(sourceMgr, *context);
  ingot::lang::Parser parser(diags, sourceMgr.getMainFileID());
  ingot::lang::Module module = parser.parseModule();
  if (diags.errorCount() > 0)
    return 0;
  ingot::lang::ModelInfo info;
  if (!ingot::lang::analyze(module, diags, {}, info))
    return 0;
  // Cap what MLIRGen builds: a fuzzed model of a billion ops is not a front-end bug.
  (void)ingot::lang::mlirGen(module, info, diags);
  return 0;
}
