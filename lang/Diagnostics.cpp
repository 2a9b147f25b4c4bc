//===- Diagnostics.cpp ----------------------------------------------------===//
#include "lang/Diagnostics.h"

#include "mlir/IR/BuiltinAttributes.h"

#include "llvm/Support/WithColor.h"

using namespace ingot::lang;

mlir::Location Diagnostics::location(llvm::SMLoc loc) const {
  unsigned bufferId = sourceMgr.FindBufferContainingLoc(loc);
  if (bufferId == 0)
    return mlir::UnknownLoc::get(&context);
  auto [line, col] = sourceMgr.getLineAndColumn(loc, bufferId);
  llvm::StringRef name = sourceMgr.getMemoryBuffer(bufferId)->getBufferIdentifier();
  return mlir::FileLineColLoc::get(&context, name, line, col);
}

mlir::InFlightDiagnostic Diagnostics::error(llvm::SMLoc loc) {
  ++errors;
  mlir::InFlightDiagnostic diag = mlir::emitError(location(loc));
  if (errors > kMaxErrors) {
    diag.abandon(); // still accepts text and notes, but is never reported
    if (errors == kMaxErrors + 1)
      llvm::WithColor::note(llvm::errs())
          << "too many errors; only the first " << kMaxErrors << " are shown\n";
  }
  return diag;
}

void Diagnostics::commandLineError(const llvm::Twine &message) {
  ++errors;
  if (errors <= kMaxErrors)
    llvm::WithColor::error(llvm::errs(), "ingotc") << message << "\n";
}
