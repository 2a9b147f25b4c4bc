//===- Diagnostics.h - Located errors for the front end ---------*- C++ -*-===//
//
// Every front-end error goes through MLIR's diagnostic engine with a FileLineColLoc, so the same
// handlers serve the language and the IR: SourceMgrDiagnosticHandler prints
// `file:line:col: error: ...` with the source line and a caret, and
// SourceMgrDiagnosticVerifierHandler checks `// expected-error` comments in .ingot tests.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LANG_DIAGNOSTICS_H
#define INGOT_LANG_DIAGNOSTICS_H

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/SMLoc.h"
#include "llvm/Support/SourceMgr.h"

namespace ingot::lang {

class Diagnostics {
public:
  Diagnostics(llvm::SourceMgr &sourceMgr, mlir::MLIRContext &context)
      : sourceMgr(sourceMgr), context(context) {}

  /// The location `loc` (a pointer into a buffer of the source manager) as a FileLineColLoc.
  mlir::Location location(llvm::SMLoc loc) const;

  /// Emits an error at `loc` and counts it. Stream more text into the result. Past kMaxErrors
  /// the error is still counted but not shown.
  mlir::InFlightDiagnostic error(llvm::SMLoc loc);

  /// An error about the command line, not the source (`--set`): printed on stderr as
  /// `ingotc: error: MESSAGE`, without a location, and counted.
  void commandLineError(const llvm::Twine &message);

  unsigned errorCount() const { return errors; }
  llvm::SourceMgr &getSourceMgr() { return sourceMgr; }
  mlir::MLIRContext &getContext() { return context; }

  /// After this many errors the front end stops reporting (and stops early).
  static constexpr unsigned kMaxErrors = 50;
  bool tooManyErrors() const { return errors >= kMaxErrors; }

private:
  llvm::SourceMgr &sourceMgr;
  mlir::MLIRContext &context;
  unsigned errors = 0;
};

} // namespace ingot::lang

#endif // INGOT_LANG_DIAGNOSTICS_H
