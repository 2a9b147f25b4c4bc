//===- ingotc.cpp - The Ingot compiler driver -----------------------------===//
//
// ingotc model.ingot [--emit=ast|ingot] [-o FILE] [--set NAME=VALUE]...
//
// Reads a model, checks it, lowers it, and prints the stage that --emit names. Every error names
// file:line:col with the source line and a caret; any error exits with status 1.
//
//===----------------------------------------------------------------------===//
#include "lang/MLIRGen.h"
#include "lang/Parser.h"
#include "lang/Sema.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

#ifndef INGOT_VERSION
#define INGOT_VERSION "dev"
#endif

namespace cl = llvm::cl;
using namespace ingot;

namespace {
enum class Emit { AST, Ingot };

cl::OptionCategory category("ingotc options");
cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.ingot>"), cl::Required,
                               cl::cat(category));
cl::opt<std::string> outputFile("o", cl::desc("Output file (default: standard output)"),
                                cl::value_desc("file"), cl::init("-"), cl::cat(category));
cl::opt<Emit> emit("emit", cl::desc("The stage to print"), cl::init(Emit::Ingot),
                   cl::values(clEnumValN(Emit::AST, "ast", "the syntax tree"),
                              clEnumValN(Emit::Ingot, "ingot",
                                         "the model in the ingot dialect (forward only)")),
                   cl::cat(category));
cl::list<std::string> overrides("set", cl::desc("Override a model constant: --set layers=24"),
                                cl::value_desc("name=value"), cl::cat(category));
cl::opt<bool> noLocations("no-locations",
                          cl::desc("Print IR without its .ingot source locations"),
                          cl::cat(category));
cl::opt<bool> verifyDiagnostics(
    "verify-diagnostics",
    cl::desc("Check the errors against '// expected-error' comments in the input (tests)"),
    cl::cat(category));
} // namespace

static int compile(llvm::SourceMgr &sourceMgr, mlir::MLIRContext &context, llvm::raw_ostream &os) {
  std::vector<lang::ConstOverride> sets;
  for (const std::string &s : overrides) {
    auto [name, value] = llvm::StringRef(s).split('=');
    if (name.empty() || value.empty() || !llvm::StringRef(s).contains('=')) {
      llvm::WithColor::error(llvm::errs(), "ingotc")
          << "--set expects NAME=VALUE, found '" << s << "'\n";
      return 1;
    }
    sets.push_back({name.trim().str(), value.trim().str()});
  }

  lang::Diagnostics diags(sourceMgr, context);
  lang::Parser parser(diags, sourceMgr.getMainFileID());
  lang::Module module = parser.parseModule();
  if (diags.errorCount() > 0)
    return 1;
  if (emit == Emit::AST) {
    lang::dumpAST(module, os);
    return 0;
  }
  lang::ModelInfo info;
  if (!lang::analyze(module, diags, sets, info))
    return 1;
  mlir::OwningOpRef<mlir::ModuleOp> ir = lang::mlirGen(module, info, diags);
  if (!ir)
    return 1;
  mlir::OpPrintingFlags flags;
  if (!noLocations)
    flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false).useLocalScope();
  ir->print(os, flags);
  os << "\n";
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::SetVersionPrinter([](llvm::raw_ostream &os) { os << "ingotc " << INGOT_VERSION << "\n"; });
  cl::HideUnrelatedOptions(category);
  if (!cl::ParseCommandLineOptions(argc, argv, "Ingot: model description -> training executable\n",
                                   &llvm::errs()))
    return 1;

  auto buffer = llvm::MemoryBuffer::getFileOrSTDIN(inputFile, /*IsText=*/false);
  if (std::error_code ec = buffer.getError()) {
    llvm::WithColor::error(llvm::errs(), "ingotc")
        << "cannot read '" << inputFile << "': " << ec.message() << "\n";
    return 1;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());

  mlir::MLIRContext context;
  lang::registerFrontendDialects(context);

  std::string errorMessage;
  auto output = mlir::openOutputFile(outputFile, &errorMessage);
  if (!output) {
    llvm::WithColor::error(llvm::errs(), "ingotc") << errorMessage << "\n";
    return 1;
  }

  int status;
  if (verifyDiagnostics) {
    mlir::SourceMgrDiagnosticVerifierHandler handler(sourceMgr, &context);
    compile(sourceMgr, context, output->os());
    status = mlir::failed(handler.verify()) ? 1 : 0;
  } else {
    mlir::SourceMgrDiagnosticHandler handler(sourceMgr, &context);
    status = compile(sourceMgr, context, output->os());
  }
  if (status == 0)
    output->keep();
  return status;
}
